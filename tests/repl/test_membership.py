"""Operations on a running replication group (issue 13): `durus-bdb stat`
on a master and a replica (role, master, peers, lag), adding a fresh site
to a populated group (internal init) that then serves loads, a hot backup
taken from a replica that restores and verifies, and removing a site
(`durus-bdb repl-remove` through a replica): the removed site's server
exits with its message and the group keeps committing.

One group for the whole story (forming one costs seconds).  Every wait
polls a condition; nothing asserts a duration.
"""
import json
import os
import subprocess
import time
import unittest

from repl_harness import DURUS_BDB, GroupTestCase, Site, free_ports, thread_stacks

N_OBJECTS = 10000


def run_tool(*args, timeout=120):
    p = subprocess.run([DURUS_BDB] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def stat_json(home):
    rc, out, err = run_tool('stat', home, '--json')
    if rc != 0:
        raise AssertionError('stat %s: %s %s' % (home, rc, err))
    return json.loads(out)


def wait_stat(home, predicate, what, timeout=60, site=None):
    """`durus-bdb stat --json` of `home` until predicate(its replication
    object) holds; returns that object.  On a timeout the failure carries
    `site`'s thread stacks when given (a replica whose lag never reached 0
    under TSan, 2026-12-08: what were its message threads doing?)."""
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            last = stat_json(home).get('replication')
        except AssertionError as e:  # the status file not yet written
            last = e
        if isinstance(last, dict) and predicate(last):
            return last
        time.sleep(0.1)
    raise AssertionError('%s: stat never showed %s; last: %r%s' % (
        home, what, last, '' if site is None else '\n' + site.log() + thread_stacks(site)))


def read_root(site, key):
    from durus.client_storage import ClientStorage
    from durus.connection import Connection
    storage = ClientStorage(address=site.client_address())
    try:
        return Connection(storage).get_root().get(key)
    finally:
        storage.close()


def wait_loaded(site, fn, want, timeout=60):
    """A fresh connection to `site` until fn(root) == want."""
    from durus.client_storage import ClientStorage
    from durus.connection import Connection
    deadline = time.time() + timeout
    got = None
    while time.time() < deadline:
        try:
            storage = ClientStorage(address=site.client_address())
            try:
                got = fn(Connection(storage).get_root())
            finally:
                storage.close()
        except Exception as e:  # a site catching up may drop us: try again
            got = e
        if got == want:
            return
        time.sleep(0.1)
    raise AssertionError('site %d: got %r, want %r:\n%s' % (site.port, got, want, site.log()))


def item_sum(root):
    items = root.get('items')
    return None if items is None else sum(items[k].value for k in (0, N_OBJECTS // 2, N_OBJECTS - 1))


class MembershipTest(GroupTestCase):

    def test_stat_add_backup_remove(self):
        from durus.client_storage import ClientStorage
        from durus.connection import Connection
        from durus.persistent import Persistent
        from durus.persistent_dict import PersistentDict

        # Commits of 1,000 objects on a busy 2-core machine: a generous
        # ack timeout, so none is a failed (not replicated) commit.
        extra = ('--repl-ack-timeout-ms', '10000')
        a, b, c = self.start_group(extra=extra)
        self.assertIs(self.wait_master([a]), a)
        site = lambda s: '127.0.0.1:%d' % s.repl_port  # noqa: E731

        conn = Connection(ClientStorage(address=a.client_address()))
        root = conn.get_root()
        root['first'] = 'x'
        conn.commit()
        # A hot backup from a replica, while its server runs, of a young
        # group: the copied log still creates Berkeley DB's replication
        # database, which the copy must not keep (recovery recreated it).
        wait_loaded(b, lambda root: root.get('first'), 'x')
        dest = os.path.join(self.tmp, 'backup')
        rc, out, err = run_tool('backup', b.home, dest)
        self.assertEqual(rc, 0, out + err)
        self.assertIn('is a plain home', out)
        self.assertFalse(os.path.exists(os.path.join(dest, '__db.rep.system')))
        rc, out, err = run_tool('verify', dest)
        self.assertEqual(rc, 0, out + err)
        restored = os.path.join(self.tmp, 'restored')
        rc, out, err = run_tool('restore', dest, restored)
        self.assertEqual(rc, 0, out + err)
        rc, out, err = run_tool('verify', restored)
        self.assertEqual(rc, 0, out + err)
        self.assertFalse(os.path.exists(os.path.join(restored, '__db.rep.system')))
        # The restored home serves alone, with every object.
        from server_harness import ServerProcess
        alone = ServerProcess(restored)
        self.servers.append(alone)
        alone.start()
        wait_loaded(alone, lambda root: root.get('first'), 'x', timeout=10)
        alone.stop()

        # Populate: 10,000 objects.
        items = PersistentDict()
        root['items'] = items
        for k in range(N_OBJECTS):
            o = Persistent()
            o.value = k
            items[k] = o
            if k % 1000 == 999:
                conn.commit()
        root['n'] = N_OBJECTS
        conn.commit()
        want_sum = 0 + N_OBJECTS // 2 + N_OBJECTS - 1

        # stat on the master: its role, itself as master, both peers.
        r = wait_stat(a.home, lambda r: len(r['peers']) == 2 and
                      all(p['connected'] for p in r['peers']), 'two connected peers')
        self.assertEqual(r['role'], 'master')
        self.assertEqual(r['site'], site(a))
        self.assertEqual(r['master_site'], site(a))
        self.assertEqual(r['master_durus'], '127.0.0.1:%d' % a.port)
        self.assertEqual(sorted(p['site'] for p in r['peers']), sorted([site(b), site(c)]))
        self.assertEqual((r['lag_bytes'], r['lag_seconds']), (0, 0))
        # stat on a replica: the master by both addresses, lag 0 once caught up.
        r = wait_stat(b.home, lambda r: r['lag_known'] and r['lag_bytes'] == 0 and
                      r['lag_seconds'] == 0 and r['in_sync'], 'lag 0', site=b)
        self.assertEqual(r['role'], 'replica')
        self.assertEqual(r['master_site'], site(a))
        self.assertEqual(r['master_durus'], '127.0.0.1:%d' % a.port)
        self.assertIn(site(a), [p['site'] for p in r['peers'] if p['connected']])
        # The replica's counters are the master's (replicated meta.db), not
        # those of its open (an empty home then).
        # (The root, the dict and the items; each file is up to 1 s old.)
        for s in (a, b):
            deadline = time.time() + 30
            while stat_json(s.home)['object_count'] != N_OBJECTS + 2 and time.time() < deadline:
                time.sleep(0.1)
            self.assertEqual(stat_json(s.home)['object_count'], N_OBJECTS + 2)
        # The text form; the lag may move between two samples (the idle
        # master's fence heartbeat is a replicated write: seen under TSan,
        # "154 log bytes, 1.0 s behind"), so until a sample shows 0.
        deadline = time.time() + 30
        while True:
            rc, out, err = run_tool('stat', b.home)
            self.assertEqual(rc, 0, err)
            if '0 log bytes, 0.0 s behind the master' in out or time.time() > deadline:
                break
            time.sleep(0.2)
        self.assertIn('replica (site %s), in sync' % site(b), out)
        self.assertRegex(out, r'master +127\.0\.0\.1:%d \(site %s\)' % (a.port, site(a)))
        self.assertIn('0 log bytes, 0.0 s behind the master', out)

        # Add a fresh site with an empty home: internal init, then it serves
        # loads of the populated group.
        d_port, d_repl = free_ports(2)
        d = Site(os.path.join(self.tmp, 'site3'), d_port, d_repl,
                 [a.repl_port, b.repl_port, c.repl_port], extra=extra)
        self.servers.append(d)
        d.start()
        wait_loaded(d, lambda root: (root.get('n'), item_sum(root)), (N_OBJECTS, want_sum))
        wait_stat(a.home, lambda r: site(d) in [p['site'] for p in r['peers'] if p['connected']],
                  'the new site connected')

        # The master cannot be removed; the new site can, through a replica.
        rc, out, err = run_tool('repl-remove', '--home', b.home, site(a))
        self.assertNotEqual(rc, 0)
        self.assertIn('it is the master', err)
        # (libdb_cxx's DbSite::remove crashed the replica on this refusal.)
        self.assertTrue(a.alive() and b.alive(), b.log())
        rc, out, err = run_tool('repl-remove', '--home', b.home, site(d))
        self.assertEqual(rc, 0, out + err)
        self.assertNotEqual(d.wait_exit(timeout=60), 0, d.log())
        self.assertIn('was removed from its replication group', d.log())
        wait_stat(a.home, lambda r: site(d) not in [p['site'] for p in r['peers']],
                  'the removed site gone from the peers')

        # The group keeps committing (quorum of the three left).
        root['after'] = 1
        conn.commit()
        conn.storage.close()
        for s in (b, c):
            wait_loaded(s, lambda root: root.get('after'), 1)


if __name__ == '__main__':
    unittest.main()
