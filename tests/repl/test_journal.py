"""The commit journal on a running group (issue 13, bdb/journal.h,
doc/replication.md "The journal"), with a tiny retention
(--repl-journal-keep 5 --repl-journal-keep-s 0: every entry but the
newest five goes at the master's next trim, once a second):

- test_idle_replica_client_past_the_trim: a Durus client of a replica
  caches an object, stays idle while the master changes it and then
  commits far more than the retention, and the trim passes; its next
  sync still invalidates the object and it reads the new value.  (Fails,
  seen, without the replica server's periodic publication: its position
  stays behind, the entry that changed the object is trimmed before
  anyone published it, and the client is dropped at its sync.)  The
  journals are read back with db5.3_dump after the group stops: the trim
  did pass the client's position, and the newest entry stayed.

- test_collected_oids_reach_replica_clients: an object a replica's client
  holds is made unreachable on the master; the master's collector deletes
  it and journals its oid (kind 2); the replica's client is told at a
  sync.  (Fails, seen, without the collector's entries: only the parent's
  oid ever arrives.)
"""
import os
import time
import unittest

from repl_harness import GroupTestCase, dump_journal_seqs, read_root_on

RETENTION = ['--repl-journal-keep', '5', '--repl-journal-keep-s', '0']


class JournalOnGroup(GroupTestCase):

    def group(self):
        a, b, c = self.start_group(extra=RETENTION)
        self.assertIs(self.wait_master([a]), a)
        for s in (b, c):
            self.assertIsNotNone(s.wait_log(r'replication: role replica', timeout=60), s.log())
        return a, b, c

    def master_connection(self, a):
        from durus.client_storage import ClientStorage
        from durus.connection import Connection
        return Connection(ClientStorage(address=a.client_address()))

    def wait_on(self, site, fn, want, timeout=60):
        deadline = time.time() + timeout
        while read_root_on(site, fn) != want:
            self.assertLess(time.time(), deadline, site.log())
            time.sleep(0.05)

    def test_idle_replica_client_past_the_trim(self):
        from durus.client_storage import ClientStorage
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        a, b, c = self.group()
        m = self.master_connection(a)
        root = m.get_root()
        root['watched'] = PersistentDict(v=0)
        root['other'] = PersistentDict(n=0)
        m.commit()
        self.wait_on(b, lambda r: r['other']['n'], 0)

        # The replica's client caches 'watched', then stays idle.
        idle = Connection(ClientStorage(address=b.client_address()))
        watched = idle.get_root()['watched']
        self.assertEqual(watched['v'], 0)

        root['watched']['v'] = 1
        m.commit()
        for n in range(1, 31):  # 30 more entries: 6 x the retention
            root['other']['n'] = n
            m.commit()
        self.wait_on(c, lambda r: r['other']['n'], 30)  # replicated (on c, not b)
        # The master trims once a second: give it a few periods.  (Checked
        # below, from the journals themselves.)
        time.sleep(3)
        for n in range(31, 34):  # and the trim's deletions replicate before these
            root['other']['n'] = n
            m.commit()
        # Applied on b (a fresh connection: its loads catch b's server up,
        # but the entry of v = 1 is long trimmed by then).
        self.wait_on(b, lambda r: r['other']['n'], 33)

        # The idle client's next transaction sees the master's value.
        idle.abort()  # a sync
        self.assertEqual(watched['v'], 1)
        self.assertEqual(idle.get_root()['other']['n'], 33)
        idle.get_storage().close()
        m.get_storage().close()

        for s in (b, c, a):  # replicas first: no election while stopping
            s.stop()
        # 1 + 1 + 30 + 3 commit entries (seqs 1..35; the first is the
        # master's setup of the root); the entry of v = 1 was seq 3.
        for s in (a, b, c):
            seqs = dump_journal_seqs(s.home)
            if seqs is None:
                self.skipTest('db5.3_dump not installed: cannot read the journals back')
            self.assertEqual(seqs[-1], max(seqs), s.home)
            self.assertGreater(seqs[0], 3, 'site %d: not trimmed past the watched entry: %s'
                               % (s.port, seqs))
            self.assertLessEqual(len(seqs), 5 + 3, seqs)  # the retention, + a trim period

    def test_collected_oids_reach_replica_clients(self):
        from durus.client_storage import ClientStorage
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        a, b, c = self.group()
        m = self.master_connection(a)
        root = m.get_root()
        root['doomed'] = PersistentDict(k=1)
        m.commit()
        self.wait_on(b, lambda r: r['doomed']['k'], 1)

        storage = ClientStorage(address=b.client_address())
        reader = Connection(storage)
        doomed = reader.get_root()['doomed']
        self.assertEqual(doomed['k'], 1)
        oid = doomed._p_oid
        root_oid = reader.get_root()._p_oid

        del root['doomed']
        m.commit()  # the root changes; 'doomed' becomes garbage
        seen = set()
        deadline = time.time() + 60
        while oid not in seen:
            self.assertLess(time.time(), deadline,
                            'the collected oid never reached the replica\'s client: got %r\n%s'
                            % (sorted(seen), a.log()))
            seen.update(storage.sync())  # the raw invalidation lists
            time.sleep(0.05)
        self.assertIn(root_oid, seen)
        storage.close()
        m.get_storage().close()


if __name__ == '__main__':
    unittest.main()
