"""Bad input over raw sockets against `durus-bdb serve`: each case drops
only the offending client, with a log line saying why, stores nothing of
an incomplete commit, and a well-behaved Durus client keeps working
throughout (checked after every case, and by a second client committing
and loading in a background thread the whole time)."""
import os
import random
import struct
import threading
import time
import unittest

from server_harness import ServerTestCase, raw_connect, recv_exact, wait_closed

MAX_COMMIT = 1 << 20


def int4(n):
    return struct.pack('>L', n)


def oid(n):
    return struct.pack('>Q', n)


def frame(oid_bytes, record):
    return int4(8 + len(record)) + oid_bytes + record


class BadInput(ServerTestCase):

    server_args = ['--max-commit-bytes', str(MAX_COMMIT), '--idle-timeout', '1']

    def setUp(self):
        ServerTestCase.setUp(self)
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        self.server = self.start_server()
        self.good = Connection(self.server.storage())
        root = self.good.get_root()
        root['counter'] = 0
        root['bg'] = PersistentDict(n=0)  # the background client's object
        root['big'] = os.urandom(300000)  # incompressible: a ~300 KB record
        self.good.commit()
        self.root_record = self.good.get_storage().load(oid(0))
        self.stop_background = threading.Event()
        self.background_error = []
        self.background_rounds = [0]
        self.background = threading.Thread(target=self.background_client)
        self.background.start()

    def tearDown(self):
        self.stop_background.set()
        self.background.join()
        ServerTestCase.tearDown(self)

    def background_client(self):
        from durus.connection import Connection
        from durus.error import ConflictError
        try:
            c = Connection(self.server.storage())
            while not self.stop_background.is_set():
                c.abort()
                try:
                    d = c.get_root()['bg']
                    d['n'] += 1
                    c.commit()
                    self.background_rounds[0] += 1
                except ConflictError:
                    pass
                time.sleep(0.005)
            c.get_storage().close()
        except Exception as e:  # reported by check_good
            self.background_error.append(repr(e))

    def check_good(self):
        """The well-behaved client still commits and reads its commits."""
        self.assertEqual(self.background_error, [])
        self.good.abort()
        root = self.good.get_root()
        root['counter'] += 1
        self.good.commit()
        n = root['counter']
        self.good.abort()
        self.assertEqual(self.good.get_root()['counter'], n)

    def expect_drop(self, sock, log_pattern, mark):
        self.assertTrue(wait_closed(sock), 'server kept the connection open')
        sock.close()
        line = self.server.wait_log(log_pattern, timeout=30, start=mark)
        self.assertIsNotNone(line, 'no log line matching %r' % log_pattern)
        self.check_good()

    def root_unchanged_by(self, record_payload):
        self.good.abort()
        self.assertNotIn(record_payload, self.good.get_storage().load(oid(0)))

    def test_each_bad_input(self):
        from durus.serialize import pack_record

        def case(name):
            return self.subTest(case=name)

        with case('unknown command byte'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'Z')
            self.expect_drop(s, r'dropped: unknown command byte 0x5a', m)

        with case('random garbage'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'\xff' + bytes(random.Random(1).getrandbits(8) for _ in range(500)))
            self.expect_drop(s, r'dropped: unknown command byte 0xff', m)

        with case('protocol version mismatch'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'V' + int4(2))
            self.assertEqual(recv_exact(s, 4), int4(1))
            self.expect_drop(s, r'dropped: protocol 2 not supported', m)

        with case('connection closed mid-frame'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'L\0\0\0')
            s.shutdown(1)
            self.expect_drop(s, r'dropped: connection closed by client while reading oid to load', m)

        with case('stuck mid-frame'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'L\0\0\0')  # ... and nothing more
            self.expect_drop(s, r'dropped: timed out while reading oid to load', m)

        with case('bulk load count over the limit'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'B' + int4(0xffffffff))
            self.expect_drop(s, r'dropped: bulk load of 4294967295 oids exceeds', m)

        new_root = pack_record(oid(0), b'EVIL-ROOT', b'')
        with case('commit length over --max-commit-bytes'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'C')
            n = struct.unpack('>L', recv_exact(s, 4))[0]
            recv_exact(s, 8 * n)
            s.sendall(int4(MAX_COMMIT + 1))
            self.expect_drop(s, r'dropped: commit of %d bytes exceeds --max-commit-bytes' % (MAX_COMMIT + 1), m)

        with case('malformed commit: frame runs past the end'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'C')
            n = struct.unpack('>L', recv_exact(s, 4))[0]
            recv_exact(s, 8 * n)
            tdata = int4(8 + len(new_root) + 100) + oid(0) + new_root
            s.sendall(int4(len(tdata)) + tdata)
            self.expect_drop(s, r'dropped: malformed commit', m)
            self.root_unchanged_by(b'EVIL-ROOT')

        with case('malformed commit: record carries another oid'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'C')
            n = struct.unpack('>L', recv_exact(s, 4))[0]
            recv_exact(s, 8 * n)
            tdata = frame(oid(0), new_root) + frame(oid(5), pack_record(oid(6), b'x', b''))
            s.sendall(int4(len(tdata)) + tdata)
            self.expect_drop(s, r'dropped: malformed commit', m)
            self.root_unchanged_by(b'EVIL-ROOT')

        with case('client vanishes mid-commit'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'C')
            n = struct.unpack('>L', recv_exact(s, 4))[0]
            recv_exact(s, 8 * n)
            tdata = frame(oid(0), new_root)
            s.sendall(int4(len(tdata)) + tdata[:len(tdata) // 2])
            s.close()
            line = self.server.wait_log(r'closed by client while reading commit data \(nothing stored\)',
                                        timeout=30, start=m)
            self.assertIsNotNone(line)
            self.check_good()
            self.root_unchanged_by(b'EVIL-ROOT')

        with case('client stalls mid-commit'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'C')
            n = struct.unpack('>L', recv_exact(s, 4))[0]
            recv_exact(s, 8 * n)
            tdata = frame(oid(0), new_root)
            s.sendall(int4(len(tdata)) + tdata[:10])
            self.expect_drop(s, r'dropped: timed out while reading commit data \(nothing stored\)', m)
            self.root_unchanged_by(b'EVIL-ROOT')

        with case('client stalls after its invalidation list'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.sendall(b'C')
            n = struct.unpack('>L', recv_exact(s, 4))[0]
            recv_exact(s, 8 * n)
            self.expect_drop(s, r'dropped: timed out while reading the commit length \(nothing stored\)', m)
            self.root_unchanged_by(b'EVIL-ROOT')

        with case("commit stores another client's unused oid"):
            m = self.server.mark()
            storage = self.good.get_storage()
            taken = storage.new_oid()  # fetched from the server, not yet used
            s = raw_connect(self.server)
            s.sendall(b'C')
            n = struct.unpack('>L', recv_exact(s, 4))[0]
            recv_exact(s, 8 * n)
            tdata = frame(taken, pack_record(taken, b'THIEF', b''))
            s.sendall(int4(len(tdata)) + tdata)
            self.expect_drop(s, r'dropped: commit stores oid \d+, handed out to another client', m)
            from durus.error import DurusKeyError
            self.assertRaises(DurusKeyError, storage.load, taken)

        with case('client does not read its replies'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.setsockopt(__import__('socket').SOL_SOCKET, __import__('socket').SO_RCVBUF, 4096)
            s.sendall((b'L' + oid(0)) * 200)  # ~60 MB of replies, never read
            line = self.server.wait_log(r'dropped: timed out while sending a load reply',
                                        timeout=60, start=m)
            self.assertIsNotNone(line)
            s.close()
            self.check_good()

        with case('connects and leaves without a word'):
            m = self.server.mark()
            s = raw_connect(self.server)
            s.close()
            self.assertIsNotNone(self.server.wait_log(r'disconnected', start=m))
            self.check_good()

        self.stop_background.set()
        self.background.join()
        self.assertEqual(self.background_error, [])
        self.assertGreater(self.background_rounds[0], 0)
        self.good.get_storage().close()
        self.server.stop()
        errors = [l for l in self.server.log().splitlines() if ' ERROR ' in l]
        self.assertEqual(errors, [])


if __name__ == '__main__':
    unittest.main()
