"""Durus's own StorageServer over BerkeleyDBStorage, started exactly as a
user would (`durus -s --storage-class=durus_bdb.BerkeleyDBStorage
--file=DIR --port P`), with two unmodified Durus ClientStorage clients in
separate processes.  Also `durus -c --file=DIR --storage-class=...`."""

import json
import os
import subprocess
import sys
import time
import unittest

from support import (HERE, TempDirTestCase, child_env, durus_command,
                     free_port, require_durus, run_python, wait_for_port)


def setUpModule():
    require_durus()


STORAGE_CLASS = "--storage-class=durus_bdb.BerkeleyDBStorage"


class Agent(object):
    """One durus_client_agent.py process."""

    def __init__(self, port):
        self.proc = subprocess.Popen(
            [sys.executable, os.path.join(HERE, "durus_client_agent.py"), str(port)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            env=child_env())
        ready = self.proc.stdout.readline()
        if not ready:
            raise AssertionError("client agent died at start")

    def _call(self, request):
        self.proc.stdin.write(json.dumps(request) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise AssertionError("client agent died on %r" % request)
        return json.loads(line)

    def do(self, code):
        """Run statements; fail the test on an exception."""
        reply = self._call({"exec": code})
        if "error" in reply:
            raise AssertionError("%s raised %s: %s" % (code, reply["error"], reply["message"]))

    def get(self, expr):
        reply = self._call({"eval": expr})
        if "error" in reply:
            raise AssertionError("%s raised %s: %s" % (expr, reply["error"], reply["message"]))
        return reply["value"]

    def error(self, code):
        """Run statements that must raise; returns the error reply."""
        reply = self._call({"exec": code})
        if "error" not in reply:
            raise AssertionError("%s did not raise" % code)
        return reply

    def close(self):
        if self.proc.stdin.closed:
            return
        self.proc.stdin.close()
        self.proc.wait(timeout=60)
        self.proc.stdout.close()


class ServerTest(TempDirTestCase):

    def setUp(self):
        super().setUp()
        self.port = free_port()
        self.log = open(os.path.join(self.tmp, "server.log"), "w+")
        self.addCleanup(self.log.close)
        # Durus's own bin/durus -s, as a user would start it.
        self.server = subprocess.Popen(
            durus_command() + ["-s", STORAGE_CLASS,
             "--file=" + self.home(), "--port=%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT, env=child_env())
        self.addCleanup(self._kill_server)
        wait_for_port(self.port, self.server)
        self.a = Agent(self.port)
        self.addCleanup(self.a.close)
        self.b = Agent(self.port)
        self.addCleanup(self.b.close)

    def _kill_server(self):
        if self.server.poll() is None:
            self.server.kill()
            self.server.wait()

    def stop_server(self):
        self.a.close()
        self.b.close()
        subprocess.run(durus_command() + ["-s", "--stop",
                        "--port=%d" % self.port], env=child_env(), check=True,
                       capture_output=True, timeout=60)
        self.assertEqual(self.server.wait(timeout=60), 0, self.server_log())

    def server_log(self):
        self.log.seek(0)
        return self.log.read()

    def test_commits_and_invalidations_on_abort_and_sync(self):
        self.a.do("root['x'] = 1; connection.commit()")
        # B's root was loaded before A's commit: stale until B syncs.
        self.assertEqual(self.b.get("root.get('x')"), "None")
        self.b.do("connection.abort()")
        self.assertEqual(self.b.get("root['x']"), "1")
        # A commit with no changes also syncs.
        self.a.do("root['x'] = 2; connection.commit()")
        self.b.do("connection.commit()")
        self.assertEqual(self.b.get("root['x']"), "2")
        # The raw 'S' command: the server's invalid set for B.
        self.a.do("root['x'] = 3; connection.commit()")
        self.assertEqual(self.b.get("connection.storage.sync()"), repr([b"\0" * 8]))
        self.assertEqual(self.b.get("connection.storage.sync()"), "[]")
        # Objects made by both clients, new oids from one server.
        self.a.do("root['la'] = PersistentList(PersistentDict(i=i) for i in range(50));"
                  "connection.commit()")
        self.b.do("connection.abort(); root['lb'] = PersistentList(PersistentDict(i=i) for i in range(50));"
                  "connection.commit()")
        self.a.do("connection.abort()")
        self.assertEqual(self.a.get("sum(d['i'] for d in root['lb'])"), str(sum(range(50))))
        oids = self.a.get("len({d._p_oid for d in root['la']} | {d._p_oid for d in root['lb']})")
        self.assertEqual(oids, "100")

        # Everything is in the home after the server stops.
        self.stop_server()
        out = run_python(
            "import sys\n"
            "from durus.connection import Connection\n"
            "from durus_bdb import BerkeleyDBStorage\n"
            "c = Connection(BerkeleyDBStorage(sys.argv[1]))\n"
            "print(c.root['x'], len(c.root['la']), len(c.root['lb']))\n",
            self.home()).stdout
        self.assertEqual(out.split(), ["3", "50", "50"])

    def test_write_write_conflict(self):
        self.a.do("root['y'] = PersistentDict(v=0); connection.commit()")
        self.b.do("connection.abort()")
        self.a.do("root['y']['v'] = 'a'")
        self.b.do("root['y']['v'] = 'b'")
        self.a.do("connection.commit()")
        err = self.b.error("connection.commit()")
        self.assertEqual(err["error"], "WriteConflictError")
        self.assertIn("ConflictError", err["mro"])
        self.b.do("connection.abort()")
        self.assertEqual(self.b.get("root['y']['v']"), "'a'")
        self.b.do("root['y']['v'] = 'b'; connection.commit()")
        self.a.do("connection.abort()")
        self.assertEqual(self.a.get("root['y']['v']"), "'b'")

    def test_read_conflict(self):
        self.a.do("root['p'] = PersistentDict(v=1); root['q'] = PersistentDict(v=1);"
                  "connection.commit()")
        self.b.do("connection.abort()")
        # B reads p in this transaction; q stays a ghost in B.
        self.assertEqual(self.b.get("root['p']['v']"), "1")
        self.a.do("root['p']['v'] = 2; root['q']['v'] = 2; connection.commit()")
        # Loading q now: the server answers 'I' (q is in B's invalid set);
        # p, read in this transaction, changed: a read conflict.
        err = self.b.error("root['q']['v']")
        self.assertEqual(err["error"], "ReadConflictError")
        self.assertIn("ConflictError", err["mro"])
        self.b.do("connection.abort()")
        self.assertEqual(self.b.get("(root['p']['v'], root['q']['v'])"), "(2, 2)")

    def test_pack_and_stale_reference_to_collected_object(self):
        self.a.do("root['tmp'] = PersistentDict(v=1); root['c'] = PersistentDict();"
                  "connection.commit()")
        self.b.do("connection.abort(); t = root['tmp']; t['v']; cc = root['c']")
        self.a.do("del root['tmp']; connection.commit(); connection.pack()")
        # Wait (bounded) until B sees tmp gone: collected, then invalidated.
        deadline = time.monotonic() + 60
        while True:
            self.b.do("connection.abort()")
            reply = self.b._call({"eval": "t['v']"})
            if reply.get("error") == "ReadConflictError":
                break
            self.assertEqual(reply.get("value"), "1", reply)
            self.assertLess(time.monotonic(), deadline, "tmp never collected")
            time.sleep(0.05)
        self.b.do("connection.abort()")
        # B still holds tmp and stores a reference to it: refused.
        err = self.b.error("cc['ref'] = t; connection.commit()")
        self.assertIn("ConflictError", err["mro"])
        # Refused by the storage (server logs it), not by the client.
        self.assertIn("Conflict during commit", self.server_log())
        self.b.do("connection.abort()")
        self.a.do("connection.abort()")
        self.assertEqual(self.a.get("'ref' in root['c']"), "False")
        self.assertEqual(self.a.get("'tmp' in root"), "False")
        self.b.do("cc['ok'] = 1; connection.commit()")
        self.stop_server()


class InteractiveClientTest(TempDirTestCase):

    def test_durus_c_with_storage_class(self):
        script = ("root['cli'] = PersistentList([1, 2, 3])\n"
                  "connection.commit()\n")
        script = "from durus.persistent_list import PersistentList\n" + script
        proc = subprocess.run(
            [sys.executable, "-m", "durus", "-c", STORAGE_CLASS, "--file=" + self.home()],
            input=script, capture_output=True, text=True, env=child_env(), timeout=120)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn("Error", proc.stderr)
        out = run_python(
            "import sys\n"
            "from durus.connection import Connection\n"
            "from durus_bdb import BerkeleyDBStorage\n"
            "with BerkeleyDBStorage(sys.argv[1]) as s:\n"
            "    print(list(Connection(s).root['cli']))\n", self.home()).stdout
        self.assertEqual(out.strip(), "[1, 2, 3]")


if __name__ == "__main__":
    unittest.main()
