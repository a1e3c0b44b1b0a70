"""Durus's own client-storage test sequence (Durus test/utest_client_storage.py,
check_client_storage) against `durus-bdb serve`, over TCP, a unix-domain
socket and an abstract socket, with unmodified durus.client_storage.

Deviation from Durus's sequence, forced by the storage contract: Durus's
FileStorage keeps unreferenced records until a pack, while durus-bdb
collects them in the background, so the root here references oid 1 until
the test drops that reference on purpose to watch the collector's
invalidations arrive (Durus's "pack, then ReadConflictError until sync").
"""
import os
import time
import unittest

from server_harness import ServerTestCase


class ClientStorageSequence(ServerTestCase):

    def sequence(self, server):
        from durus.error import ConflictError, DurusKeyError, ReadConflictError, WriteConflictError
        from durus.serialize import pack_record
        from durus.utils import int8_to_str, as_bytes

        o = int8_to_str
        b = server.storage()
        c = server.storage()
        self.assertEqual(b.new_oid(), o(0))
        self.assertEqual(b.new_oid(), o(1))
        self.assertEqual(b.new_oid(), o(2))
        self.assertRaises(KeyError, b.load, o(0))
        record = pack_record(o(0), as_bytes('ok'), as_bytes(''))
        b.begin()
        b.store(o(0), record)
        self.assertIsNone(b.end())
        self.assertEqual(b.load(o(0)), record)
        self.assertEqual(b.sync(), [])
        record0 = pack_record(o(0), as_bytes('ok'), o(1))  # root -> 1 keeps 1 alive
        b.begin()
        b.store(o(1), pack_record(o(1), as_bytes('no'), as_bytes('')))
        b.store(o(0), record0)
        b.end()
        self.assertEqual(len(list(b.gen_oid_record())), 2)
        self.assertEqual(len(list(b.gen_oid_record(start_oid=o(0)))), 2)
        self.assertEqual(len(list(b.bulk_load([o(0), o(1)]))), 2)
        self.assertRaises(DurusKeyError, list, b.bulk_load([o(0), o(1), o(2)]))
        # c has not synced since b's commits: both oids are invalid for it.
        self.assertRaises(ReadConflictError, c.load, o(0))
        self.assertRaises(ReadConflictError, c.load, o(0))
        self.assertRaises(ReadConflictError, c.load, o(1))
        self.assertEqual(set(c.sync()), set([o(0), o(1)]))
        self.assertEqual(c.load(o(0)), record0)
        self.assertEqual(c.sync(), [])

        # Drop the only reference to 1 and pack: the collector removes it
        # and every client hears of it through sync.
        b.begin()
        b.store(o(0), record)
        b.end()
        b.pack()
        removed = set()
        deadline = time.time() + 60
        while o(1) not in removed and time.time() < deadline:
            removed.update(b.sync())
            time.sleep(0.05)
        self.assertIn(o(1), removed, 'the collector never reported oid 1')
        self.assertEqual(len(list(b.gen_oid_record())), 1)
        self.assertRaises(ReadConflictError, c.load, o(1))
        self.assertEqual(set(c.sync()), set([o(0), o(1)]))
        self.assertRaises(DurusKeyError, c.load, o(1))
        self.assertEqual(c.load(o(0)), record)
        # A commit that still references the collected oid is refused.
        c.begin()
        c.store(o(0), pack_record(o(0), as_bytes('stale'), o(1)))
        self.assertRaises(WriteConflictError, c.end)
        # (A refused commit's oids may reach other clients as invalidations:
        # they are published before the storage decides.  Harmless: b syncs.)
        b.sync()
        self.assertEqual(b.load(o(0)), record)
        b.close()
        c.close()
        server.stop()
        self.assertRegex(server.log(), r'client \d+ committed 2 objects')
        self.assertIn('storage closed', server.log())

    def test_tcp(self):
        self.sequence(self.start_server())

    def test_unix_socket(self):
        path = os.path.join(self.tmp, 'durus.sock')
        server = self.start_server(address=path)
        mode = os.stat(path).st_mode & 0o777
        self.assertEqual(mode, 0o600, 'socket file should be owner-only, is %o' % mode)
        self.sequence(server)
        self.assertFalse(os.path.exists(path), 'socket file left behind')

    def test_abstract_socket(self):
        self.sequence(self.start_server(address='@durus-bdb-test-%d' % os.getpid()))


if __name__ == '__main__':
    unittest.main()
