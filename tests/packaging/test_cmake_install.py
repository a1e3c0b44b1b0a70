"""`cmake --install BUILD` (under a DESTDIR) puts things where the README
and doc/operations.md say: the command in PREFIX/bin, the module in
PREFIX/lib/python3.X/dist-packages for Debian's /usr/bin/python3 (on its
sys.path; not /usr/lib/python3/dist-packages, which Debian's packages own),
the systemd unit naming that binary, the docs."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from support import TempDirTestCase  # noqa: E402


class CmakeInstallTest(TempDirTestCase):

    def test_install_everything_where_the_readme_says(self):
        build = os.environ.get("DURUS_BDB_BUILD_DIR")
        prefix = os.environ.get("CMAKE_INSTALL_PREFIX")
        python = os.environ.get("DURUS_BDB_PYTHON")
        if not build or not prefix or not python:
            self.skipTest("run through ctest (needs DURUS_BDB_BUILD_DIR, CMAKE_INSTALL_PREFIX)")
        destdir = os.path.join(self.tmp, "destdir")
        proc = subprocess.run([os.environ.get("CMAKE_COMMAND", "cmake"), "--install", build],
                              env=dict(os.environ, DESTDIR=destdir), capture_output=True,
                              text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        root = destdir + prefix

        binary = os.path.join(root, "bin", "durus-bdb")
        out = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=60)
        self.assertEqual(out.stdout.strip(), "durus-bdb " + os.environ["DURUS_BDB_VERSION"])

        if python == "/usr/bin/python3" and os.path.isdir("/usr/lib/python3/dist-packages"):
            # Debian's Python: the documented /usr/local/lib/python3.X/dist-packages.
            site = "lib/python%d.%d/dist-packages" % tuple(
                int(x) for x in subprocess.run(
                    [python, "-c", "import sys; print(*sys.version_info[:2])"],
                    capture_output=True, text=True, check=True).stdout.split())
            package = os.path.join(root, site, "durus_bdb")
            self.assertTrue(os.path.isfile(os.path.join(package, "__init__.py")),
                            "not in %s: %s" % (package, sorted(
                                os.path.relpath(os.path.join(d, f), destdir)
                                for d, _, fs in os.walk(destdir) for f in fs if f.endswith(".py"))))
            in_path = subprocess.run([python, "-c", "import sys; print(sys.argv[1] in sys.path)",
                                      os.path.join(prefix, site)],
                                     capture_output=True, text=True, check=True).stdout.strip()
            if prefix == "/usr/local":
                self.assertEqual(in_path, "True")

        unit = os.path.join(root, "lib", "systemd", "system", "durus-bdb@.service")
        with open(unit) as f:
            self.assertIn("\nExecStart=%s/bin/durus-bdb serve " % prefix, f.read())
        for doc in ("README.md", "operations.md", "examples/durus-bdb.conf"):
            self.assertTrue(os.path.isfile(os.path.join(root, "share", "doc", "durus-bdb", doc)), doc)


if __name__ == "__main__":
    unittest.main()
