"""The Debian package: `cpack -G DEB` over the ctest build tree (into a
temporary directory), its contents (`dpkg-deb -c`), its control fields, and
that the unpacked binary and Python module run.  The systemd unit is checked
with `systemd-analyze verify` when that tool exists (no running systemd
needed)."""

import glob
import os
import re
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from support import TempDirTestCase  # noqa: E402

UNIT_DIR = "usr/lib/systemd/system"
UNIT = UNIT_DIR + "/durus-bdb@.service"
UNITS = ("durus-bdb@.service", "durus-bdb-backup@.service", "durus-bdb-backup@.timer")
MODULE_DIR = "usr/lib/python3/dist-packages/durus_bdb"


def output(cmd, **kw):
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, **kw)
    if proc.returncode != 0:
        raise AssertionError("%s exited with %d\n%s\n%s" % (" ".join(cmd), proc.returncode,
                                                          proc.stdout[-6000:], proc.stderr[-6000:]))
    return proc.stdout


class DebTest(TempDirTestCase):

    @classmethod
    def setUpClass(cls):
        cls.build = os.environ.get("DURUS_BDB_BUILD_DIR")
        cls.cpack = os.environ.get("CPACK_COMMAND", "cpack")
        cls.version = os.environ.get("DURUS_BDB_VERSION")
        if not cls.build or not cls.version:
            raise unittest.SkipTest("run through ctest (needs DURUS_BDB_BUILD_DIR, DURUS_BDB_VERSION)")
        for tool in ("dpkg-deb",):
            if shutil.which(tool) is None:
                raise AssertionError("%s not found: apt-get install dpkg" % tool)

    def make_deb(self):
        out = os.path.join(self.tmp, "out")
        output([self.cpack, "-G", "DEB", "--config", os.path.join(self.build, "CPackConfig.cmake"),
                "-B", out], cwd=self.tmp)
        debs = glob.glob(os.path.join(out, "*.deb"))
        self.assertEqual(len(debs), 1, os.listdir(out))
        return debs[0]

    def test_deb_contents_control_and_the_unpacked_programs(self):
        deb = self.make_deb()
        self.assertRegex(os.path.basename(deb), r"^durus-bdb_%s_[a-z0-9]+\.deb$" % re.escape(self.version))

        listing = output(["dpkg-deb", "-c", deb])
        paths = {line.split()[-1].lstrip(".").lstrip("/") for line in listing.splitlines()
                 if line.strip()}
        for path in ("usr/bin/durus-bdb", UNIT_DIR + "/durus-bdb-backup@.service",
                     UNIT_DIR + "/durus-bdb-backup@.timer", UNIT, MODULE_DIR + "/__init__.py",
                     MODULE_DIR + "/storage.py", "usr/share/doc/durus-bdb/README.md",
                     "usr/share/doc/durus-bdb/operations.md",
                     "usr/share/doc/durus-bdb/examples/durus-bdb.conf"):
            self.assertIn(path, paths)
        self.assertTrue(any(re.fullmatch(MODULE_DIR + r"/_durus_bdb\.cpython-\d+[^/]*\.so", p)
                            for p in paths), sorted(paths))
        # Only Debian's module directory: not also the /usr/local one.
        self.assertFalse([p for p in paths if "local/" in p or "site-packages" in p], sorted(paths))

        depends = output(["dpkg-deb", "-f", deb, "Depends"])
        for dep in ("libdb5.3++", "python3 (>= ", "zlib1g", "adduser"):
            self.assertIn(dep, depends)
        control = os.path.join(self.tmp, "control")
        output(["dpkg-deb", "-e", deb, control])
        with open(os.path.join(control, "postinst")) as f:
            self.assertIn("adduser --system", f.read())
        for script in ("postinst", "postrm"):
            output(["sh", "-n", os.path.join(control, script)])  # parses

        root = os.path.join(self.tmp, "root")
        output(["dpkg-deb", "-x", deb, root])
        version = output([os.path.join(root, "usr/bin/durus-bdb"), "--version"])
        self.assertEqual(version.strip(), "durus-bdb " + self.version)

        # The packaged module, alone on the path, with the Python it was
        # built for (the package's Depends name that Python).
        python = os.environ.get("DURUS_BDB_PYTHON", "/usr/bin/python3")
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        env["PYTHONPATH"] = os.path.join(root, "usr/lib/python3/dist-packages")
        code = ("import sys, durus_bdb\n"
                "assert durus_bdb.__file__.startswith(sys.argv[1]), durus_bdb.__file__\n"
                "with durus_bdb.BerkeleyDBStorage(sys.argv[2]) as s:\n"
                "    print(s.new_oid().hex())\n")
        got = output([python, "-c", code, root, os.path.join(self.tmp, "home")], env=env,
                     cwd=self.tmp)
        self.assertEqual(got.strip(), "00" * 8)

        with open(os.path.join(root, UNIT)) as f:
            unit = f.read()
        for line in ("Type=notify", "ExecStart=/usr/bin/durus-bdb serve --home /var/lib/durus-bdb/%i $DURUS_BDB_OPTIONS",
                     "EnvironmentFile=-/etc/durus-bdb/%i.conf",
                     "StateDirectory=durus-bdb/%i durus-bdb-archive/%i",
                     "ProtectSystem=strict", "NoNewPrivileges=yes", "PrivateTmp=yes",
                     "ProtectHome=yes", "User=durus-bdb", "Restart=on-failure"):
            self.assertIn("\n" + line + "\n", unit)
        self.verify_unit(root, unit)

    def verify_unit(self, root, unit):
        analyze = shutil.which("systemd-analyze")
        if analyze is None:
            print("systemd-analyze not found: the units' syntax is not verified")
            return
        # Instances of the templates, with the unpacked binary in place of
        # /usr/bin/durus-bdb (verify checks that commands exist).
        units = os.path.join(self.tmp, "units")
        os.makedirs(units)
        paths = []
        for name in UNITS:
            with open(os.path.join(root, UNIT_DIR, name)) as f:
                text = f.read()
            paths.append(os.path.join(units, name.replace("@", "@test")))
            with open(paths[-1], "w") as f:
                f.write(text.replace("/usr/bin/durus-bdb", os.path.join(root, "usr/bin/durus-bdb")))
        proc = subprocess.run([analyze, "verify", "--man=no"] + paths, capture_output=True,
                              text=True, timeout=120,
                              env=dict(os.environ, SYSTEMD_LOG_LEVEL="warning"))
        problems = [line for line in (proc.stdout + proc.stderr).splitlines()
                    if "durus-bdb" in line]
        self.assertEqual(problems, [], proc.stdout + proc.stderr)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)


if __name__ == "__main__":
    unittest.main()
