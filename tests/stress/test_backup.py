"""`durus-bdb backup HOME DEST` (issue 7): a hot backup while the server
serves and real Durus clients commit.  DEST must open as a home (its own
recovery ran), verify clean, and hold every commit acknowledged before the
backup began; the server must go on serving and committing throughout and
after.  Also: an offline backup, and refusal of a non-empty DEST.
Environment: DURUS_BDB, DURUS_CHECK_STORE, PYTHONPATH with Durus,
tests/server and tests/crash.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from server_harness import ServerProcess, require_durus, child_env

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, '..', 'crash', 'server_crash_client.py')
DURUS_BDB = os.environ.get('DURUS_BDB', '')
WORKERS = 3


def client(*args, timeout=120):
    return subprocess.run([sys.executable, CLIENT] + [str(a) for a in args], env=child_env(),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)


class Committer(threading.Thread):
    """A Durus client process committing until the server goes away or
    `stop()`; acks[i] = monotonic time at which item i was acknowledged."""

    def __init__(self, srv, worker):
        threading.Thread.__init__(self, daemon=True)
        self.acks = {}
        self.proc = subprocess.Popen(
            [sys.executable, '-u', CLIENT, 'run', srv.host, str(srv.port), str(worker), '0'],
            env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self):
        for line in self.proc.stdout:
            m = re.match(rb'ack \d+ (\d+)', line)
            if m:
                self.acks[int(m.group(1))] = time.monotonic()

    def acked_before(self, t):
        return max([i for i, at in list(self.acks.items()) if at < t], default=-1)

    def stop(self):
        self.proc.kill()
        self.proc.wait()
        self.join(30)


class Backup(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        require_durus()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='durus-backup-')
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, home, *args):
        s = ServerProcess(home, args=list(args)).start()
        self.servers.append(s)
        return s

    def check_dest(self, dest, acked):
        tool = os.environ.get('DURUS_CHECK_STORE')
        if tool:
            c = subprocess.run([tool, dest], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=300)
            self.assertEqual(c.returncode, 0, c.stdout.decode())
        srv = self.start(dest)
        for w, n in acked.items():
            r = client('check', srv.host, srv.port, w, n)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
        srv.stop()
        return c.stdout.decode().strip() if tool else ''

    def hot(self, mode):
        home = os.path.join(self.tmp, 'home-' + mode)
        dest = os.path.join(self.tmp, 'backup-' + mode)
        srv = self.start(home, '--durability', mode)
        self.assertEqual(client('setup', srv.host, srv.port, WORKERS).returncode, 0)
        committers = [Committer(srv, w) for w in range(WORKERS)]
        for c in committers:
            c.start()
        # Back up once every client has committed a few times (a loaded
        # machine may take seconds to start Python and Durus).
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and min(len(c.acks) for c in committers) < 5:
            time.sleep(0.05)
        began = time.monotonic()
        b = subprocess.run([DURUS_BDB, 'backup', home, dest], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=300)
        ended = time.monotonic()
        time.sleep(1)  # commits go on after the backup
        after = {w: c.acked_before(time.monotonic()) for w, c in enumerate(committers)}
        for c in committers:
            c.stop()
        self.assertEqual(b.returncode, 0, b.stderr.decode() + srv.log()[-3000:])
        self.assertIn(b'hot', b.stdout)
        self.assertIsNone(srv.proc.poll(), 'the server died during the backup')
        before = {w: c.acked_before(began) + 1 for w, c in enumerate(committers)}
        during = {w: len(c.acks) for w, c in enumerate(committers)}
        # The live home is intact and complete too.
        srv.stop()
        srv2 = self.start(home)
        for w, c in enumerate(committers):
            r = client('check', srv2.host, srv2.port, w, after[w] + 1)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
        srv2.stop()
        summary = self.check_dest(dest, before)
        self.assertGreater(sum(before.values()), 0)
        print('\n%s: %s\n  acknowledged before the backup began: %s (all in DEST); '
              'total acknowledged: %s; backup took %.1f s; DEST: %s'
              % (mode, b.stdout.decode().strip(), before, during, ended - began, summary))

    def test_hot_backup_sync(self):
        self.hot('sync')

    def test_hot_backup_nosync(self):
        # Even nosync's acknowledged commits (in the log buffer) are in the
        # backup: it flushes the log before copying it.
        self.hot('nosync')

    def test_offline_backup_and_nonempty_dest(self):
        home = os.path.join(self.tmp, 'home')
        srv = self.start(home)
        self.assertEqual(client('setup', srv.host, srv.port, 1).returncode, 0)
        r = client('run', srv.host, srv.port, 0, 20)
        self.assertEqual(r.returncode, 0)
        srv.stop()
        dest = os.path.join(self.tmp, 'offline')
        b = subprocess.run([DURUS_BDB, 'backup', home, dest], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=300)
        self.assertEqual(b.returncode, 0, b.stderr.decode())
        self.assertIn(b'offline', b.stdout)
        self.check_dest(dest, {0: 20})
        b = subprocess.run([DURUS_BDB, 'backup', home, dest], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=300)
        self.assertNotEqual(b.returncode, 0)
        self.assertIn(b'not empty', b.stderr)
        self.assertEqual(len(b.stderr.decode().strip().splitlines()), 1, b.stderr)


if __name__ == '__main__':
    unittest.main()
