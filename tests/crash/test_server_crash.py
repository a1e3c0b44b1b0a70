"""Server crash loop (issue 7): SIGKILL `durus-bdb serve` while several
real Durus clients (separate processes, ClientStorage) commit; restart it;
every commit a client saw acknowledged must be there, with its data intact,
and the home must verify clean.

One client also asks for packs (online cycle traces) so kills land during
traces too.  Environment: DURUS_BDB (the binary), DURUS_CHECK_STORE
(tests/crash/check_store_main.cc), PYTHONPATH with Durus and tests/server
(server_harness).  CRASH_SERVER_KILLS overrides the kills per mode.
"""
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

from server_harness import ServerProcess, require_durus, child_env

HERE = os.path.dirname(os.path.abspath(__file__))
CLIENT = os.path.join(HERE, 'server_crash_client.py')
WORKERS = 4
KILLS = int(os.environ.get('CRASH_SERVER_KILLS', '6'))


def client_env():
    env = child_env()
    env['PYTHONPATH'] = HERE + os.pathsep + env.get('PYTHONPATH', '')
    return env


def run_client(*args, timeout=120):
    p = subprocess.run([sys.executable, CLIENT] + [str(a) for a in args], env=client_env(),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    return p


def check_store(home, collect=False):
    tool = os.environ.get('DURUS_CHECK_STORE')
    if not tool:
        return None
    cmd = [tool, home] + (['--collect'] if collect else [])
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=300)
    return p.returncode, p.stdout.decode('utf-8', 'replace')


class ServerCrashLoop(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        require_durus()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='durus-server-crash-')
        self.server = None

    def tearDown(self):
        if self.server is not None:
            self.server.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def loop(self, mode, kills, must_keep_acks):
        home = os.path.join(self.tmp, mode)
        rng = random.Random(os.getpid())
        acked = {w: -1 for w in range(WORKERS)}
        total_acks = 0
        lost = 0
        for k in range(kills):
            self.server = ServerProcess(home, args=['--durability', mode]).start()
            host, port = self.server.host, self.server.port
            if k == 0:
                p = run_client('setup', host, port, WORKERS)
                self.assertEqual(p.returncode, 0, p.stderr.decode())
            else:
                # Every acknowledged commit of the previous rounds is back.
                for w in range(WORKERS):
                    p = run_client('check', host, port, w, acked[w] + 1)
                    if p.returncode != 0:
                        msg = p.stderr.decode()
                        if must_keep_acks:
                            self.fail('%s, after kill %d: %s' % (mode, k, msg))
                        lost += 1
            clients = [subprocess.Popen(
                [sys.executable, '-u', CLIENT, 'run', host, str(port), str(w), '0',
                 '7' if w == 0 else '0'],
                env=client_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                for w in range(WORKERS)]
            outs = [[] for _ in clients]
            readers = [threading.Thread(target=lambda c=c, o=o: o.extend(c.stdout), daemon=True)
                       for c, o in zip(clients, outs)]
            for r in readers:
                r.start()
            # Kill at a random moment once every client is committing (a
            # loaded machine may take seconds to start Python and Durus).
            deadline = time.time() + 60
            while time.time() < deadline and not all(
                    any(l.startswith(b'ack') for l in o) for o in outs):
                time.sleep(0.05)
            time.sleep(0.2 + rng.random() * 1.0)
            self.server.proc.send_signal(signal.SIGKILL)
            self.server.wait_exit()
            for w, c in enumerate(clients):
                try:
                    c.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    c.kill()
                    self.fail('client %d hung after the server was killed' % w)
                readers[w].join(30)
                err = c.stderr.read()
                self.assertEqual(c.returncode, 0, err.decode())
                for m in re.finditer(rb'^ack (\d+) (\d+)$', b''.join(outs[w]), re.M):
                    acked[w] = max(acked[w], int(m.group(2)))
                    total_acks += 1
        # Final restart: everything acknowledged is there; then a clean
        # stop and a full check of the home (counts, queue, no dangling
        # reference; after a complete collection, no garbage left).
        self.server = ServerProcess(home, args=['--durability', mode]).start()
        for w in range(WORKERS):
            p = run_client('check', self.server.host, self.server.port, w, acked[w] + 1)
            if must_keep_acks:
                self.assertEqual(p.returncode, 0, p.stderr.decode())
        self.server.stop()
        result = check_store(home, collect=True)
        if result is not None:
            self.assertEqual(result[0], 0, result[1])
        print('%s: %d kills survived, %d commits acknowledged, %d checks with losses; %s'
              % (mode, kills, total_acks, lost, result[1].strip().splitlines()[-1] if result else ''))
        self.assertGreater(total_acks, 0)

    def test_sync(self):
        self.loop('sync', KILLS, True)

    def test_write_nosync(self):
        self.loop('write_nosync', KILLS, True)


if __name__ == '__main__':
    unittest.main()
