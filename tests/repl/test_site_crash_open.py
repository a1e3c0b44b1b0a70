"""A site's open after a crash: a database file shorter than its last page
before recovery is verified after recovery and BEFORE replication starts
(bdb/storage_open.cc, BdbStorage::OpenEnv).

Once repmgr runs, its threads apply the master's log into the cache and
the cache writes pages out in any order, so a verification of the files
on disk then could see a split page before its new page ("invalid
next_pgno", "last_pgno is not correct"): the kill loop's restarted sites
were refused although their homes verified clean afterwards.  A site
whose file really lost pages is refused as before, and it never starts
replication (no message of a started repmgr in its log): a damaged site
stays out of its group.
"""
import os
import signal
import unittest

from repl_harness import GroupTestCase


class SiteCrashOpenTest(GroupTestCase):

    def test_short_file_is_judged_before_replication_starts(self):
        from durus.client_storage import ClientStorage
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict

        site, = self.start_group(n=1)
        self.assertIs(self.wait_master([site]), site)
        storage = ClientStorage(address=site.client_address())
        try:
            conn = Connection(storage)
            root = conn.get_root()
            for i in range(300):  # records.db: many pages
                root['k%d' % i] = PersistentDict(v='x' * 200)
            conn.commit()
        finally:
            storage.close()
        # A clean stop writes every page (a checkpoint); a restart and a
        # SIGKILL leave the lock file naming its holder (a crash) with
        # records.db's pages all on disk.
        site.stop()
        site.start()
        self.assertIs(self.wait_master([site]), site)  # the new process's log
        site.proc.send_signal(signal.SIGKILL)
        site.proc.wait()
        # Its last page lost: recovery (from the last checkpoint) cannot
        # restore it.
        records = os.path.join(site.home, 'records.db')
        size = os.path.getsize(records)
        self.assertGreater(size, 8 * 4096)
        os.truncate(records, size - 4096)
        # Every repmgr message on the site's stderr (bdb/replication.cc).
        verbose = os.environ.get('DURUS_BDB_REPL_VERBOSE')
        os.environ['DURUS_BDB_REPL_VERBOSE'] = '2'
        try:
            with self.assertRaises(AssertionError):
                site.start(timeout=60)
        finally:
            if verbose is None:
                del os.environ['DURUS_BDB_REPL_VERBOSE']
            else:
                os.environ['DURUS_BDB_REPL_VERBOSE'] = verbose
        log = site.log()  # the new process's
        lines = log.splitlines()
        # Configuring the site (before the environment opens) says
        # "REP_UNDEF: ..."; once replication starts every message names
        # the role it has (the old order: "CLIENT: starting election
        # thread", then this damaged site won an election as "MASTER").
        started = [l for l in lines if 'bdb-repl:' in l and
                   (' CLIENT: ' in l or ' MASTER: ' in l)]
        self.assertEqual(started, [], log)
        self.assertIn('was shorter than its last page', log)


if __name__ == '__main__':
    unittest.main()
