"""Injected I/O faults through the server (issue 7).

The real server code (server/server.h) on a real home, built with the fault
hooks (tests/fault/fault_server.cc): SIGUSR1 arms the fault, SIGUSR2 clears
it.  Real Durus clients (ClientStorage in separate processes) commit:
  - while the fault is armed, a committing client gets an exception, not a
    hang (the client process must finish within a bound);
  - the server stays up: another client can still connect and read;
  - once the fault clears, new commits are acknowledged again;
  - after a clean stop, every acknowledged commit is there (checked through
    a restarted `durus-bdb serve` by a Durus client) and the home verifies
    clean (durus_check_store).
Environment: DURUS_FAULT_SERVER, DURUS_BDB, DURUS_CHECK_STORE, PYTHONPATH with
Durus and tests/server (server_harness).
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

from server_harness import ServerProcess, require_durus, child_env

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, '..', 'crash', 'server_crash_client.py')
FAULT_SERVER = os.environ.get('DURUS_FAULT_SERVER', '')


def client(*args, timeout=60):
    """Runs the Durus client; a hang is a test failure (TimeoutExpired)."""
    return subprocess.run([sys.executable, CLIENT] + [str(a) for a in args], env=child_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


def acks(out):
    return [int(m.group(1)) for m in re.finditer(rb'^ack \d+ (\d+)$', out, re.M)]


class FaultServer(ServerProcess):
    def __init__(self, home, mode, spec):
        ServerProcess.__init__(self, home)
        self.mode, self.spec = mode, spec

    def start(self, timeout=60):
        import threading
        cmd = [FAULT_SERVER, self.home, self.mode, self.spec]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_log(r'ready on ', timeout=timeout)
        if line is None:
            self.kill()
            raise AssertionError('fault server did not become ready:\n' + self.log())
        m = re.search(r'ready on (\S+):(\d+) ', line)
        self.host, self.port = m.group(1), int(m.group(2))
        return self


class ServerFaults(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        require_durus()
        if not FAULT_SERVER or not os.access(FAULT_SERVER, os.X_OK):
            raise RuntimeError('DURUS_FAULT_SERVER does not name durus_fault_server')

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='durus-server-fault-')
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.kill()
        if not getattr(self, '_failed', False):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def scenario(self, mode, spec):
        home = os.path.join(self.tmp, 'home')
        srv = FaultServer(home, mode, spec).start()
        self.servers.append(srv)
        h, p = srv.host, srv.port
        self.assertEqual(client('setup', h, p, 2).returncode, 0)
        r = client('run', h, p, 0, 5)
        self.assertEqual(acks(r.stdout), [0, 1, 2, 3, 4], r.stderr.decode())
        acked = 5

        srv.signal(signal.SIGUSR1)  # arm
        mark = srv.mark()
        r = client('run', h, p, 0, 3)
        # The client saw an error (its commit was not acknowledged), quickly.
        self.assertEqual(r.returncode, 0, r.stderr.decode())
        self.assertIn(b'gone', r.stdout, 'a commit was acknowledged under ' + spec)
        self.assertEqual(acks(r.stdout), [], 'a commit was acknowledged under ' + spec)
        self.assertIsNotNone(srv.wait_log(r'commit failed', timeout=10, start=mark),
                             'no "commit failed" log line:\n' + srv.log())
        self.assertIsNone(srv.proc.poll(), 'the server died:\n' + srv.log())
        # Still serving reads.
        r = client('check', h, p, 0, acked)
        self.assertEqual(r.returncode, 0, r.stderr.decode() + srv.log())

        srv.signal(signal.SIGUSR2)  # clear
        r = client('run', h, p, 1, 5)
        after = acks(r.stdout)
        srv.signal(signal.SIGTERM)
        rc = srv.wait_exit()
        # Every acknowledged commit is there after a restart (recovery).
        srv2 = ServerProcess(home).start()
        self.servers.append(srv2)
        r0 = client('check', srv2.host, srv2.port, 0, acked)
        self.assertEqual(r0.returncode, 0, r0.stderr.decode())
        r1 = client('check', srv2.host, srv2.port, 1, len(after))
        self.assertEqual(r1.returncode, 0, r1.stderr.decode())
        srv2.stop()
        tool = os.environ.get('DURUS_CHECK_STORE')
        if tool:
            c = subprocess.run([tool, home], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=120)
            self.assertEqual(c.returncode, 0, c.stdout.decode())
        print('%s %s: client got an error, server stayed up; after clearing: %d commits '
              'acknowledged in place; server exit %d; restart: all acknowledged commits present'
              % (mode, spec, len(after), rc))
        # Once cleared the same server accepts commits again.
        self.assertEqual(len(after), 5, 'no commit acknowledged after the fault cleared:\n' +
                         r.stderr.decode() + srv.log())

    def test_log_enospc_sync(self):
        self.scenario('sync', 'write:ENOSPC:log.')

    def test_log_eio_write_nosync(self):
        self.scenario('write_nosync', 'write:EIO:log.')

    def test_fsync_eio_sync(self):
        self.scenario('sync', 'fsync:EIO')


if __name__ == '__main__':
    unittest.main()
