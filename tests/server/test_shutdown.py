"""Stopping `durus-bdb serve`: `durus-bdb stop` (Q), Durus's own
stop_durus (Q), SIGTERM while clients commit, SIGINT; every acknowledged
commit is found after a restart.  Unix-socket handling: owner-only mode,
--socket-mode, a stale socket file replaced, a live one or a non-socket
file refused."""
import os
import signal
import socket
import subprocess
import sys
import time
import unittest

from server_harness import ServerTestCase, ServerProcess, child_env, DURUS_BDB


class Shutdown(ServerTestCase):

    def commit_keys(self, server, keys):
        from durus.connection import Connection
        c = Connection(server.storage())
        for k in keys:
            c.get_root()[k] = k * 2
            c.commit()
        c.get_storage().close()

    def check_keys(self, server, keys):
        from durus.connection import Connection
        c = Connection(server.storage())
        root = c.get_root()
        for k in keys:
            self.assertEqual(root.get(k), k * 2, 'lost acknowledged commit %r' % k)
        c.get_storage().close()

    def test_stop_command_then_restart(self):
        server = self.start_server()
        keys = ['k%d' % i for i in range(20)]
        self.commit_keys(server, keys)
        p = subprocess.run([DURUS_BDB, 'stop'] + server.address_args(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        # stop returns once the server has closed its storage and socket.
        self.assertEqual(server.wait_exit(), 0, server.log())
        self.assertRegex(server.log(), r'stopped \(quit requested by client \d+\)')
        self.assertIn('storage closed', server.log())
        # Nothing listens any more; stop says so.
        p = subprocess.run([DURUS_BDB, 'stop'] + server.address_args(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('no server at', p.stdout.decode())
        self.check_keys(self.start_server(), keys)

    def test_durus_stop_durus(self):
        from durus.__main__ import stop_durus
        server = self.start_server()
        self.commit_keys(server, ['a', 'b'])
        self.assertTrue(stop_durus(server.client_address()))
        self.assertEqual(server.wait_exit(), 0, server.log())
        self.check_keys(self.start_server(), ['a', 'b'])

    def test_sigterm_while_committing(self):
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        server = self.start_server()
        workers = 4
        c = Connection(server.storage())
        c.get_root()['appenders'] = [PersistentDict() for _ in range(workers)]
        c.commit()
        c.get_storage().close()
        here = os.path.dirname(os.path.abspath(__file__))
        procs = [subprocess.Popen([sys.executable, os.path.join(here, 'graph_client.py'), 'appender',
                                   server.host, str(server.port), str(w)],
                                  stdout=subprocess.PIPE, env=child_env())
                 for w in range(workers)]
        # Once every worker has a commit acknowledged, SIGTERM in mid-stream.
        firsts = []
        for p in procs:
            line = p.stdout.readline()
            while line and not line.strip().isdigit():  # Durus's import banner
                line = p.stdout.readline()
            self.assertTrue(line.strip().isdigit(), line)
            firsts.append(line)
        server.signal(signal.SIGTERM)
        self.assertEqual(server.wait_exit(), 0, server.log())
        acked = []
        for w, p in enumerate(procs):
            out, _ = p.communicate(timeout=60)
            lines = firsts[w].decode().splitlines() + out.decode().splitlines()
            nums = [int(l) for l in lines if l.strip().isdigit()]
            self.assertIn('stopped:', out.decode())  # each saw the server go
            acked.append(nums)
        self.assertRegex(server.log(), r'stopped \(signal\)')
        self.assertIn('storage closed', server.log())
        self.assertGreater(sum(len(a) for a in acked), 0)
        restarted = self.start_server()
        c = Connection(restarted.storage())
        appenders = c.get_root()['appenders']
        for w, nums in enumerate(acked):
            for i in nums:
                self.assertEqual(appenders[w].get(i), i, 'worker %d lost acknowledged commit %d' % (w, i))
        c.get_storage().close()

    def test_sigint(self):
        server = self.start_server()
        self.commit_keys(server, ['x'])
        server.signal(signal.SIGINT)
        self.assertEqual(server.wait_exit(), 0, server.log())
        self.check_keys(self.start_server(), ['x'])


class UnixSockets(ServerTestCase):

    def test_modes_stale_live_and_foreign_files(self):
        path = os.path.join(self.tmp, 's')
        # A stale socket file, as a crashed server leaves behind.
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(path)
        stale.close()
        self.assertTrue(os.path.exists(path))
        server = self.start_server(address=path)
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)
        # A second server on the live socket is refused, the first unharmed.
        other = ServerProcess(os.path.join(self.tmp, 'home2'), address=path)
        p = subprocess.run([DURUS_BDB, 'serve', '--home', other.home, '--address', path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn('another server is listening on ' + path, p.stdout.decode())
        from durus.connection import Connection
        c = Connection(server.storage())
        c.get_root()['ok'] = True
        c.commit()
        c.get_storage().close()
        p = subprocess.run([DURUS_BDB, 'stop', '--address', path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        self.assertEqual(server.wait_exit(), 0)
        self.assertFalse(os.path.exists(path))
        # A file that is not a socket is never replaced.
        with open(path, 'w') as f:
            f.write('precious')
        p = subprocess.run([DURUS_BDB, 'serve', '--home', self.home, '--address', path],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 1)
        self.assertIn('not a socket', p.stdout.decode())
        with open(path) as f:
            self.assertEqual(f.read(), 'precious')
        os.unlink(path)
        # --socket-mode widens it on request.
        server = self.start_server(address=path, args=['--socket-mode', '0660'])
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o660)
        server.stop()
        self.assertFalse(os.path.exists(path))


if __name__ == '__main__':
    unittest.main()
