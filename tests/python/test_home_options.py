"""The options a home keeps (doc/options.md), seen from Python and from
Durus's own server: an opener that passes nothing -- BerkeleyDBStorage(path),
`durus -s --storage-class=durus_bdb.BerkeleyDBStorage` -- gets the home's
durability, and DURUS_BDB_DURABILITY overrides it (issue 15)."""

import json
import os
import subprocess
import time
import unittest

from support import (TempDirTestCase, child_env, durus_command, free_port,
                     require_durus, run_python, wait_for_port)

from durus_bdb import BerkeleyDBStorage


def setUpModule():
    require_durus()


def durus_bdb_binary():
    return os.path.join(os.environ["DURUS_BDB_BUILD_DIR"], "tools", "durus-bdb")


class HomeOptionsTest(TempDirTestCase):

    def migrate_write_nosync(self):
        """A home as `durus-bdb migrate --durability write_nosync` makes it."""
        with BerkeleyDBStorage(self.home("src")):
            pass
        subprocess.run([durus_bdb_binary(), "migrate", "-q", "--durability",
                        "write_nosync", self.home("src"), self.home()],
                       check=True, capture_output=True, timeout=120)

    def test_default_open_uses_the_homes_durability(self):
        self.migrate_write_nosync()
        with BerkeleyDBStorage(self.home()) as s:
            self.assertEqual(s.stat()["durability"], "write_nosync")
            self.assertEqual(s.durability, "write_nosync")
            self.assertIn("write_nosync", repr(s))
        # An explicit value applies to its open only.
        with BerkeleyDBStorage(self.home(), durability="sync") as s:
            self.assertEqual(s.stat()["durability"], "sync")
        with BerkeleyDBStorage(self.home(), durability=None, cache_mb=None) as s:
            self.assertEqual(s.stat()["durability"], "write_nosync")

    def test_environment_overrides_the_home(self):
        self.migrate_write_nosync()
        code = ("import sys; from durus_bdb import BerkeleyDBStorage\n"
                "s = BerkeleyDBStorage(sys.argv[1]); print(s.stat()['durability'])")
        env = child_env()
        env["DURUS_BDB_DURABILITY"] = "nosync"
        out = subprocess.run([os.sys.executable, "-c", code, self.home()],
                             env=env, capture_output=True, text=True,
                             check=True, timeout=120).stdout
        self.assertEqual(out.strip(), "nosync")
        # A bad value names the variable, and the home is untouched.
        env["DURUS_BDB_DURABILITY"] = "fast"
        proc = subprocess.run([os.sys.executable, "-c", code, self.home()],
                              env=env, capture_output=True, text=True,
                              timeout=120)
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn("DURUS_BDB_DURABILITY", proc.stderr)
        self.assertEqual(run_python(code, self.home()).stdout.strip(),
                         "write_nosync")

    def test_durus_server_uses_the_home_then_the_environment(self):
        self.migrate_write_nosync()
        durus_server = durus_command() + [
            "-s", "--storage-class=durus_bdb.BerkeleyDBStorage", "--file=" + self.home()]
        self.assertEqual(self.served_durability(durus_server, child_env()),
                         "write_nosync")
        env = child_env()
        env["DURUS_BDB_DURABILITY"] = "nosync"
        self.assertEqual(self.served_durability(durus_server, env), "nosync")

    def test_durus_bdb_serve_uses_the_home_unless_given(self):
        self.migrate_write_nosync()
        serve = [durus_bdb_binary(), "serve", "--home", self.home()]
        self.assertEqual(self.served_durability(serve, child_env()), "write_nosync")
        self.assertEqual(self.served_durability(serve + ["--durability=sync"], child_env()),
                         "sync")

    def served_durability(self, command, env):
        """A server on the home, as a user starts it; the mode its storage
        runs in, from the figures the holder publishes."""
        port = free_port()
        server = subprocess.Popen(
            command + ["--port=%d" % port],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            wait_for_port(port, server)
            # The holder publishes its figures about once a second: wait
            # for them (a bound on a hang, not a timing assertion).
            deadline = time.monotonic() + 60
            while True:
                proc = subprocess.run([durus_bdb_binary(), "stat", "--json", self.home()],
                                      capture_output=True, text=True, timeout=60)
                if proc.returncode == 0:
                    return json.loads(proc.stdout)["durability"]
                if time.monotonic() > deadline:
                    raise AssertionError(proc.stdout + proc.stderr)
                time.sleep(0.1)
        finally:
            server.kill()
            server.wait()

    def test_a_filestorage_file_is_named(self):
        path = self.home("data.durus")
        with open(path, "wb") as f:
            f.write(b"SHELF-1\n" + b"\0" * 16)
        with self.assertRaises(Exception) as cm:
            BerkeleyDBStorage(path)
        self.assertIn("is a Durus FileStorage file: durus-bdb migrate", str(cm.exception))


if __name__ == "__main__":
    unittest.main()
