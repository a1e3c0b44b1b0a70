"""Conflicts and invalidations through durus.connection.Connection (an
unmodified Durus application) against `durus-bdb serve`; and Durus's own
interactive client, `durus -c`, as a separate process."""
import os
import subprocess
import sys
import unittest

from server_harness import ServerTestCase, child_env, DURUS_SOURCE_DIR


class ConnectionConflicts(ServerTestCase):

    def setUp(self):
        ServerTestCase.setUp(self)
        self.server = self.start_server()
        self.connections = []

    def tearDown(self):
        for c in self.connections:
            c.get_storage().close()
        ServerTestCase.tearDown(self)

    def connection(self):
        from durus.connection import Connection
        c = Connection(self.server.storage())
        self.connections.append(c)
        return c

    def test_write_write_conflict(self):
        from durus.error import ConflictError
        from durus.persistent_dict import PersistentDict
        c1 = self.connection()
        c2 = self.connection()
        c1.get_root()['d'] = PersistentDict()
        c1.commit()
        c2.abort()
        d1 = c1.get_root()['d']
        d2 = c2.get_root()['d']
        d1['x'] = 1
        d2['x'] = 2
        c1.commit()
        self.assertRaises(ConflictError, c2.commit)
        c2.abort()
        self.assertEqual(c2.get_root()['d']['x'], 1)
        # After the abort c2 commits normally.
        c2.get_root()['d']['x'] = 3
        c2.commit()
        c1.abort()
        self.assertEqual(c1.get_root()['d']['x'], 3)

    def test_read_conflict(self):
        from durus.error import ReadConflictError
        from durus.persistent_dict import PersistentDict
        c1 = self.connection()
        c2 = self.connection()
        root1 = c1.get_root()
        root1['a'] = PersistentDict(v=1)
        root1['b'] = PersistentDict(v=1)
        c1.commit()
        c2.abort()
        root2 = c2.get_root()
        a2 = root2['a']
        b2 = root2['b']
        self.assertEqual(a2['v'], 1)  # a2 loaded in this transaction
        self.assertTrue(b2._p_is_ghost())
        root1['a']['v'] = 2
        root1['b']['v'] = 2
        c1.commit()
        # b2 was committed by c1 after c2's last sync: loading it must fail
        # rather than mix b@2 with a@1 in one transaction.
        self.assertRaises(ReadConflictError, lambda: b2['v'])
        c2.abort()
        self.assertEqual((a2['v'], b2['v']), (2, 2))

    def test_abort_and_commit_sync_invalidations(self):
        from durus.persistent_dict import PersistentDict
        c1 = self.connection()
        c2 = self.connection()
        c1.get_root()['p'] = PersistentDict(n=0)
        c1.commit()
        c2.abort()
        p2 = c2.get_root()['p']
        self.assertEqual(p2['n'], 0)
        for i in range(1, 4):
            c1.get_root()['p']['n'] = i
            c1.commit()
            self.assertEqual(p2['n'], i - 1)  # c2's snapshot until it syncs
            if i % 2:
                c2.abort()
            else:
                c2.commit()  # nothing changed: a commit is a sync
            self.assertEqual(p2['n'], i)

    def test_new_objects_and_bulk_traversal(self):
        from durus.persistent_list import PersistentList
        from durus.persistent_dict import PersistentDict
        c1 = self.connection()
        items = PersistentList(PersistentDict(i=i) for i in range(150))
        c1.get_root()['items'] = items
        c1.commit()
        c2 = self.connection()
        self.assertEqual(sum(d['i'] for d in c2.get_root()['items']), sum(range(150)))
        # gen_oid_record walks the graph with bulk loads ('B').
        records = list(c2.get_storage().gen_oid_record(start_oid=b'\0' * 8))
        self.assertEqual(len(records), 1 + 1 + 150)

    def test_durus_interactive_client(self):
        # `durus -c --port P`: Durus's own command-line client, unmodified.
        script = ("root['from_console'] = 42\n"
                  "connection.commit()\n")
        env = child_env()
        p = subprocess.run([sys.executable, '-m', 'durus', '-c', '--host', self.server.host,
                            '--port', str(self.server.port)],
                           input=script.encode(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           env=env, timeout=60)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        c = self.connection()
        self.assertEqual(c.get_root()['from_console'], 42)


if __name__ == '__main__':
    unittest.main()
