"""Accepting connections under hostile load (issue 12): a client that sends
half a request must not keep new clients from being accepted and served,
and a server out of file descriptors must keep serving the clients it has
(commits that open new Berkeley DB log files included), refuse new ones
with one log line per episode, and accept again once clients leave."""
import os
import re
import shutil
import socket
import threading
import time
import unittest

from server_harness import ServerTestCase, raw_connect, recv_exact

# Long, so that "answered before the idle timeout" is no timing bet.
IDLE_TIMEOUT = 30


class HalfRequest(ServerTestCase):

    server_args = ['--idle-timeout', str(IDLE_TIMEOUT)]

    def test_half_request_does_not_block_accepting(self):
        from durus.client_storage import ClientStorage
        from durus.connection import Connection
        server = self.start_server()
        c = Connection(server.storage())
        c.get_root()['x'] = 1
        c.commit()
        c.get_storage().close()
        root = b'\0' * 8
        # Before the fix the listening socket was an epoll event like a
        # client's: a worker that took it in the same epoll_wait as a half
        # request, behind it, served the client first and waited there for
        # the rest of the request, and nothing was accepted for the whole
        # idle timeout.  To have both events taken together every time, a
        # busy client keeps the one running worker occupied (a long
        # pipeline of loads) while the half requests and the new connection
        # arrive.
        for attempt in range(3):
            busy = raw_connect(server)
            pipeline = 20000
            got = [0]

            def drain():
                # 'O', int4 length, record: read until every reply is in.
                want = None
                buf = b''
                while got[0] < pipeline:
                    chunk = busy.recv(1 << 20)
                    if not chunk:
                        return
                    buf += chunk
                    while True:
                        if len(buf) < 5:
                            break
                        n = int.from_bytes(buf[1:5], 'big')
                        if len(buf) < 5 + n:
                            break
                        buf = buf[5 + n:]
                        got[0] += 1

            reader = threading.Thread(target=drain)
            reader.start()
            stalled = [raw_connect(server) for _ in range(2)]
            busy.sendall((b'L' + root) * pipeline)
            time.sleep(0.005)
            for s in stalled:
                s.sendall(b'L\0\0\0\0')  # half of the oid, and no more
            newcomer = socket.create_connection((server.host, server.port))
            newcomer.settimeout(IDLE_TIMEOUT / 2)
            try:
                # Anything short of the idle timeout shows that accepting did
                # not wait behind the stalled clients; generous on purpose.
                newcomer.sendall(b'V\0\0\0\x01' + b'L' + root)
                reply = recv_exact(newcomer, 4 + 1)
            except socket.timeout:
                reply = b''
            self.assertEqual(reply, b'\0\0\0\x01O',
                             'try %d: a new client was not accepted and answered within %d s '
                             'while 2 clients held half requests (idle timeout %d s)'
                             % (attempt, IDLE_TIMEOUT // 2, IDLE_TIMEOUT))
            newcomer.close()
            reader.join(60)
            self.assertEqual(got[0], pipeline)
            for s in stalled + [busy]:
                s.close()
        # A real Durus client too.
        s = ClientStorage(address=server.client_address())
        self.assertTrue(s.load(root))
        s.close()


class DescriptorLimit(ServerTestCase):

    NOFILE = 128

    def start_limited(self, extra=()):
        from server_harness import ServerProcess
        if shutil.which('prlimit') is None:
            msg = 'prlimit (util-linux) is not installed'
            if os.environ.get('CI') == 'true':
                raise RuntimeError('CI=true and ' + msg)
            raise unittest.SkipTest(msg)
        # 1 MiB log files: the commits below make Berkeley DB open new ones
        # while every descriptor the server may use for clients is taken.
        s = ServerProcess(self.home, args=['--log-file-mb', '1'] + list(extra),
                          wrapper=['prlimit', '--nofile=%d:%d' % (self.NOFILE, self.NOFILE)])
        self.servers.append(s)
        s.start()
        with open('/proc/%d/limits' % s.proc.pid) as f:
            self.assertRegex(f.read(), r'Max open files\s+%d\s+%d' % (self.NOFILE, self.NOFILE))
        return s

    def try_connect(self, server):
        """A handshaken raw socket, or None if the server closed it."""
        s = socket.create_connection((server.host, server.port), timeout=10)
        try:
            s.sendall(b'V\0\0\0\x01')
            if recv_exact(s, 4) == b'\0\0\0\x01':
                return s
        except OSError:
            pass
        s.close()
        return None

    def test_out_of_descriptors(self):
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        server = self.start_limited()
        workers = []
        for i in range(3):
            c = Connection(server.storage())
            c.get_root()['w%d' % i] = PersistentDict()
            c.commit()
            workers.append(c)
        for c in workers:
            c.abort()
        # More idle clients than the server has descriptors for.  Before
        # the fix: "accept: Too many open files" thousands of times, then
        # Berkeley DB failed to open a log file (DB_RUNRECOVERY) and every
        # load and commit failed.
        hoard = []
        refused = 0
        for i in range(self.NOFILE + 20):
            s = self.try_connect(server)
            if s is None:
                refused += 1
            else:
                hoard.append(s)
        self.assertGreater(refused, 0, 'every one of %d connections was served with RLIMIT_NOFILE %d'
                           % (self.NOFILE + 20, self.NOFILE))
        # The connected clients keep working, through commits that make
        # Berkeley DB open new log files (1 MiB each here; ~7 MiB written).
        payload = os.urandom(200000)
        for round_ in range(12):
            for i, c in enumerate(workers):
                c.abort()
                c.get_root()['w%d' % i]['r%d' % round_] = PersistentDict(p=payload + bytes([round_]))
                c.commit()
        for s in hoard[:5]:
            s.sendall(b'L' + b'\0' * 8)
            self.assertEqual(s.recv(1), b'O')
        log = server.log()
        self.assertNotIn('DB_RUNRECOVERY', log)
        self.assertNotRegex(log, r'commit failed|load of oid .* failed')
        # One line when the limit was reached, not one per refusal.
        episode = [l for l in log.splitlines()
                   if 'refusing new connections' in l or re.search(r'\baccept: ', l)]
        self.assertEqual(len(episode), 1, 'expected one log line for the episode of %d refusals, got:\n%s'
                         % (refused, '\n'.join(episode[:20])))
        # Clients leave: new ones are accepted again once the server has
        # seen them leave, and the episode's end is logged (when a tenth
        # of the room is free).
        mark = server.mark()
        for s in hoard[:30]:
            s.close()
        hoard = hoard[30:]
        again = None
        deadline = time.time() + 60
        while again is None and time.time() < deadline:
            fresh = self.try_connect(server)
            if fresh is not None:
                fresh.close()
            again = server.wait_log(r'accepting new connections again \(\d+ refused', start=mark,
                                    timeout=0.1)
        self.assertIsNotNone(again, 'no connection accepted within 60 s after 30 clients left:\n'
                             + server.log()[-3000:])
        durus_client = Connection(server.storage())
        self.assertEqual(durus_client.get_root()['w2']['r11']['p'], payload + bytes([11]))
        durus_client.get_storage().close()
        for s in hoard:
            s.close()
        for c in workers:
            c.get_storage().close()
        server.stop()
        self.assertNotIn('DB_RUNRECOVERY', server.log())
        # The commits crossed log files while the clients held the rest.
        logs = sorted(f for f in os.listdir(self.home) if re.match(r'log\.\d+$', f))
        self.assertGreaterEqual(int(logs[-1][4:]), 4, logs)


if __name__ == '__main__':
    unittest.main()
