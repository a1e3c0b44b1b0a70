"""The documented offline install path: `cmake --install BUILD --component
python` puts the package into DURUS_BDB_PYTHON_SITE; here under a DESTDIR
so the test writes nothing outside its temporary directory."""

import os
import subprocess
import sys
import unittest

from support import TempDirTestCase


class InstallTest(TempDirTestCase):

    def test_cmake_install_component_python(self):
        build = os.environ.get("DURUS_BDB_BUILD_DIR")
        site = os.environ.get("DURUS_BDB_PYTHON_SITE")
        cmake = os.environ.get("CMAKE_COMMAND", "cmake")
        if not build or not site:
            self.skipTest("run through ctest (needs DURUS_BDB_BUILD_DIR, DURUS_BDB_PYTHON_SITE)")
        destdir = os.path.join(self.tmp, "destdir")
        env = dict(os.environ, DESTDIR=destdir)
        proc = subprocess.run([cmake, "--install", build, "--component", "python"],
                              env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        if not os.path.isabs(site):
            prefix = os.environ.get("CMAKE_INSTALL_PREFIX", "/usr/local")
            site = os.path.join(prefix, site)
        installed = destdir + site
        package = os.path.join(installed, "durus_bdb")
        names = sorted(os.listdir(package))
        for name in ("__init__.py", "errors.py", "storage.py"):
            self.assertIn(name, names)
        self.assertTrue(any(n.startswith("_durus_bdb.") and n.endswith(".so") for n in names), names)
        # Import from the installed copy only (not the build tree), from
        # another directory, and use it.
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [installed] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep)
                           if p and not os.path.exists(os.path.join(p, "durus_bdb"))])
        code = ("import sys, durus_bdb\n"
                "assert durus_bdb.__file__.startswith(sys.argv[1]), durus_bdb.__file__\n"
                "with durus_bdb.BerkeleyDBStorage(sys.argv[2]) as s:\n"
                "    print(s.new_oid().hex())\n")
        proc = subprocess.run([sys.executable, "-c", code, installed,
                               os.path.join(self.tmp, "home")],
                              env=env, cwd=self.tmp, capture_output=True, text=True,
                              timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "00" * 8)


if __name__ == "__main__":
    unittest.main()
