"""`pip install --no-build-isolation .` into a fresh virtualenv made from
Debian's /usr/bin/python3 (pyproject.toml and packaging/build_backend),
then, in that venv and from another directory, a Durus Connection on a
BerkeleyDBStorage: commit, reopen, read.  Durus comes from
DURUS_SOURCE_DIR (skip without it, a failure under CI=true).

The CMake tree the backend builds in is kept between runs
(DURUS_BDB_WHEEL_BUILD_DIR, under the ctest build tree): the first run
compiles the engine and the module, later runs only what changed."""

import os
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from support import TempDirTestCase, require_durus  # noqa: E402

SOURCE_DIR = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SYSTEM_PYTHON = "/usr/bin/python3"

USE_DURUS = r"""
import os, sys
import durus_bdb
from durus.connection import Connection
from durus.persistent_dict import PersistentDict
venv, home = sys.argv[1], sys.argv[2]
assert durus_bdb.__file__.startswith(venv), durus_bdb.__file__
connection = Connection(durus_bdb.BerkeleyDBStorage(home))
root = connection.get_root()
root["accounts"] = PersistentDict()
root["accounts"]["alice"] = 42
connection.commit()
connection.get_storage().close()
connection = Connection(durus_bdb.BerkeleyDBStorage(home))
print("read", connection.get_root()["accounts"]["alice"])
connection.get_storage().close()
"""


def setUpModule():
    require_durus()


class PipInstallTest(TempDirTestCase):

    def run_checked(self, cmd, env, timeout, cwd=None):
        proc = subprocess.run(cmd, env=env, cwd=cwd or self.tmp, capture_output=True,
                              text=True, timeout=timeout)
        if proc.returncode != 0:
            self.fail("%s exited with %d\nstdout:\n%s\nstderr:\n%s"
                      % (" ".join(cmd), proc.returncode, proc.stdout[-6000:], proc.stderr[-6000:]))
        return proc

    def test_pip_install_into_a_venv_then_a_durus_connection(self):
        if not os.path.exists(SYSTEM_PYTHON):
            self.skipTest("no %s (Debian's Python)" % SYSTEM_PYTHON)
        venv = os.path.join(self.tmp, "venv")
        # No durus_bdb from the build tree, no Durus: only what pip installs.
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
        # --system-site-packages: Debian's pip (and pybind11-dev's CMake
        # files need no Python package); --without-pip: faster, and the
        # system's pip installs into the venv it runs in.
        self.run_checked([SYSTEM_PYTHON, "-m", "venv", "--system-site-packages",
                          "--without-pip", venv], env, 120)
        python = os.path.join(venv, "bin", "python")
        build_dir = os.environ.get("DURUS_BDB_WHEEL_BUILD_DIR")
        if build_dir:
            env["DURUS_BDB_WHEEL_BUILD_DIR"] = build_dir
        proc = self.run_checked([python, "-m", "pip", "install", "--no-build-isolation",
                                 "--no-index", "--no-deps", SOURCE_DIR], env, 1800)
        self.assertIn("Successfully installed durus-bdb", proc.stdout)

        site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
                              env=env, capture_output=True, text=True, check=True).stdout.strip()
        package = os.path.join(site, "durus_bdb")
        names = os.listdir(package)
        for name in ("__init__.py", "storage.py", "errors.py"):
            self.assertIn(name, names)
        self.assertTrue(any(n.startswith("_durus_bdb.cpython-") and n.endswith(".so")
                            for n in names), names)

        env["PYTHONPATH"] = os.environ["DURUS_SOURCE_DIR"]
        proc = self.run_checked([python, "-c", USE_DURUS, venv, os.path.join(self.tmp, "home")],
                                env, 120, cwd=self.tmp)
        self.assertEqual(proc.stdout.strip(), "read 42")

        # And pip knows it: uninstall removes the package.
        self.run_checked([python, "-m", "pip", "uninstall", "-y", "durus-bdb"], env, 120)
        self.assertFalse(os.path.exists(package))


if __name__ == "__main__":
    unittest.main()
