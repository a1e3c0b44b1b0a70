"""Clients that follow the master (issue 13, doc/replication.md "Clients
that follow the master"): the info request R on a plain server, on a
Durus server that does not know it, and on the sites of a group (with a
`since`); a client of a restarted single server invalidating its whole
cache (no journal: "all"); client_storage(addresses) finding
the master, and
after a SIGKILL of the master: the interrupted commit raises a conflict,
the retry commits on the new master, nothing acknowledged is lost, and an
object the client had cached and another client changed on the new master
*before* the client reconnected is invalidated (from the journal, through
R's `since`: the new connection's own invalidations cannot know it); a
client leaving a master that was paused, replaced and demoted.
"""
import os
import signal
import socket
import subprocess
import sys
import time

from repl_harness import (GroupTestCase, ask_info, client_storage, durus_address,
                          follow_module, free_ports, server_harness, wait_info)


def wait_for(condition, timeout):
    """Whether condition() became true within timeout seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def read_status(home):
    """The running server's status file (bdb/status_file.h), or ''."""
    try:
        with open(os.path.join(home, 'durus-bdb.status')) as f:
            return f.read()
    except OSError:
        return ''


def commit_retrying(conn, change, attempts=200):
    """What a Durus application does: run `change`, commit, and on a
    conflict abort and run it again.  Returns the number of conflicts."""
    from durus.error import ConflictError
    conflicts = 0
    for _ in range(attempts):
        try:
            change(conn.get_root())
            conn.commit()
            return conflicts
        except ConflictError:
            conflicts += 1
            conn.abort()
            time.sleep(0.05)
    raise AssertionError('no commit after %d attempts' % attempts)


def read_retrying(conn, read, attempts=200):
    """read(root) in a transaction, retried on a conflict."""
    from durus.error import ConflictError
    for _ in range(attempts):
        try:
            return read(conn.get_root())
        except ConflictError:
            conn.abort()
            time.sleep(0.05)
    raise AssertionError('no read after %d attempts' % attempts)


def committed_on(site, retry_for=60):
    """A plain Durus connection to `site`, retried until the site serves it
    (a new master may drop clients for a moment)."""
    from durus.client_storage import ClientStorage
    from durus.connection import Connection
    deadline = time.time() + retry_for
    while True:
        try:
            return Connection(ClientStorage(address=site.client_address()))
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)


class InfoOnSingleServersTest(GroupTestCase):

    def test_plain_server_answers_role_none_and_all(self):
        server = self.start_server()
        info = ask_info(server)
        self.assertEqual(info['role'], 'none')
        self.assertIsNone(info['master'])
        self.assertIsNone(info['site'])
        self.assertEqual(info['in_flight'], [])
        self.assertNotIn('changed_since', info)
        # No journal: with a `since`, it cannot tell what changed.
        self.assertEqual(ask_info(server, since=(3, 5))['changed_since'], 'all')
        # A bad request ends the connection (and only it).
        s = server_harness.raw_connect(server)
        s.sendall(b'R\0\0\0\x02[]')
        self.assertTrue(server_harness.wait_closed(s))
        s.close()
        s = server_harness.raw_connect(server)
        s.sendall(b'R\0\x10\0\0')  # 1 MiB announced: refused unread
        self.assertTrue(server_harness.wait_closed(s))
        s.close()
        self.assertIsNotNone(server.wait_log(r'info request \(R\) of 1048576 bytes', timeout=30),
                             server.log())
        # client_storage works against a single durus-bdb server.
        from durus.connection import Connection
        st = client_storage([durus_address(server)], timeout=10)
        conn = Connection(st)
        conn.get_root()['x'] = 1
        conn.commit()
        st.close()
        check = committed_on(server)
        self.assertEqual(check.get_root()['x'], 1)
        check.storage.close()

    def test_restarted_single_server_invalidates_the_whole_cache(self):
        # A server outside any group keeps no journal: after a reconnect
        # R answers "all", and the client invalidates every oid it holds.
        # Without that, `shared` (loaded, unchanged by the client) would
        # keep the value it had before the restart.
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        path = os.path.join(self.tmp, 'sock')
        server = self.start_server(address=path)
        st = client_storage([path], timeout=30)
        conn = Connection(st)
        conn.get_root()['shared'] = PersistentDict(v=1)
        conn.commit()
        conn.abort()
        self.assertEqual(conn.get_root()['shared']['v'], 1)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait()
        server = self.start_server(address=path)
        other = committed_on(server)
        other.get_root()['shared']['v'] = 2
        other.commit()
        other.storage.close()
        conn.abort()  # reconnects
        self.assertGreaterEqual(st.reconnects, 1)
        self.assertEqual(conn.get_root()['shared']['v'], 2)
        st.close()

    def test_durus_server_is_not_durus_bdb(self):
        # An unmodified Durus server drops the client on R: client_storage
        # says so at once instead of waiting for a master.
        NotDurusBdbError = follow_module().NotDurusBdbError
        port = free_ports(1)[0]
        proc = subprocess.Popen(
            [sys.executable, '-m', 'durus', '-s', '--port', str(port),
             '--file', os.path.join(self.tmp, 'plain.durus')],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=server_harness.child_env())
        try:
            deadline = time.time() + 30
            while True:
                try:
                    socket.create_connection(('127.0.0.1', port), timeout=1).close()
                    break
                except OSError:
                    if time.time() > deadline or proc.poll() is not None:
                        raise AssertionError('durus -s did not listen')
                    time.sleep(0.05)
            t0 = time.time()
            with self.assertRaises(NotDurusBdbError):
                client_storage(['127.0.0.1:%d' % port], timeout=600)
            # Not the 600 s of looking for a master (a bound, not a timing).
            self.assertLess(time.time() - t0, 300)
        finally:
            proc.kill()
            proc.wait()


class FollowTest(GroupTestCase):

    def test_info_on_sites_and_client_follows_a_failover(self):
        from durus.connection import Connection
        from durus.error import ConflictError
        from durus.persistent_dict import PersistentDict

        a, b, c = self.start_group()
        self.assertIs(self.wait_master([a]), a)
        for s in (b, c):
            self.assertIsNotNone(s.wait_log(r'replication: role replica', timeout=60), s.log())

        # The client is given a replica first: it asks R and follows.
        storage = client_storage([durus_address(s) for s in (b, c, a)],
                                           timeout=30, refresh=0)
        self.assertEqual(storage.address, ('127.0.0.1', a.port))
        conn = Connection(storage)
        root = conn.get_root()
        root['items'] = PersistentDict()
        root['shared'] = PersistentDict(v='before')
        conn.commit()
        acknowledged = set()
        for i in range(10):
            root['items'][i] = i
            conn.commit()
            acknowledged.add(i)

        # R on the sites: the master names itself, the replicas name it.
        info = ask_info(a)
        self.assertEqual(info['role'], 'master')
        self.assertEqual(info['master'], durus_address(a))
        self.assertEqual(info['site'], '127.0.0.1:%d' % a.repl_port)
        self.assertGreaterEqual(info['journal_seq'], 11)
        self.assertGreater(info['generation'], 0)
        for s in (b, c):
            r = wait_info(s, lambda i: i['master'] == durus_address(a))
            self.assertEqual(r['role'], 'replica')
            self.assertEqual(r['site'], '127.0.0.1:%d' % s.repl_port)
            self.assertEqual(r['master_site'], '127.0.0.1:%d' % a.repl_port)
            self.assertEqual(r['generation'], info['generation'])

        # R with a `since`: the oids of the commits after it, exactly.
        pos = (info['journal_seq'], info['journal_time'])
        shared_oid = int.from_bytes(root['shared']._p_oid, 'big')
        items_oid = int.from_bytes(root['items']._p_oid, 'big')
        self.assertEqual(ask_info(a, since=pos)['changed_since'], [])
        root['shared']['v'] = 'touched'
        conn.commit()
        self.assertEqual(ask_info(a, since=pos)['changed_since'], [shared_oid])
        self.assertEqual(ask_info(a, since=(pos[0] - 1, 0))['changed_since'], 'all')  # other history
        self.assertEqual(ask_info(a, since=(pos[0] + 1000, 0))['changed_since'], 'all')
        self.assertEqual(sorted(ask_info(a, since=(0, 0))['changed_since'])[:1], [0])

        # The client holds `shared` in its cache (a loaded, unchanged object).
        self.assertEqual(root['shared']['v'], 'touched')
        conn.abort()
        self.assertEqual(root['shared']['v'], 'touched')
        self.assertFalse(root['shared']._p_is_ghost())

        # A second following client whose next request will be a load:
        # `shared` is a ghost in its cache, `root` is loaded.
        reader_storage = client_storage([durus_address(s) for s in (a, b, c)],
                                                  timeout=30, refresh=0)
        reader = Connection(reader_storage)
        reader.abort()

        # SIGKILL the master.  The next commit raises a conflict.
        marks = [b.mark(), c.mark()]
        a.proc.send_signal(signal.SIGKILL)
        a.proc.wait()
        root['items'][10] = 10
        with self.assertRaises(ConflictError):
            conn.commit()
        new = self.wait_master([b, c], start_marks=marks)
        after = wait_info(new, lambda i: i['role'] == 'master')
        self.assertGreater(after['generation'], info['generation'])  # an election

        # Another client changes `shared` on the new master before the
        # following client reconnects: only the journal can tell it.
        other = committed_on(new)

        def other_change(r):
            r['shared']['v'] = 'changed on the new master'
        commit_retrying(other, other_change)

        # The reader's load fails with the connection: a ReadConflictError
        # that Durus's Connection handles by syncing (which reconnects)
        # and loading again, or that reaches the application's retry.
        self.assertEqual(read_retrying(reader, lambda r: r['shared']['v']),
                         'changed on the new master')
        self.assertGreaterEqual(reader_storage.reconnects, 1)
        reader_storage.close()

        # The application's retry loop commits on the new master.
        conn.abort()

        def change(r):
            r['items'][10] = 10
        commit_retrying(conn, change)
        acknowledged.add(10)
        self.assertEqual(storage.address, ('127.0.0.1', new.port))
        self.assertGreaterEqual(storage.reconnects, 1)
        # Seen through invalidations (not through a fresh cache).
        self.assertEqual(root['shared']['v'], 'changed on the new master')

        # Nothing acknowledged is lost.
        check = committed_on(new)
        self.assertEqual(set(check.get_root()['items'].keys()), acknowledged)
        check.storage.close()

        # A commit another client makes after the failover reaches the
        # following client at its next sync.
        def later(r):
            r['shared']['v'] = 'later'
        commit_retrying(other, later)
        conn.abort()
        self.assertEqual(root['shared']['v'], 'later')
        storage.close()
        other.storage.close()

    def test_client_leaves_a_demoted_master(self):
        # The master stopped (SIGSTOP) long enough for the others to elect
        # a new one, then resumed: it is demoted while the client is still
        # connected to it.  The client's next R (refresh=0: at every sync)
        # says "replica": it looks for the master again instead of staying
        # on a site that would refuse its commits.
        from durus.connection import Connection
        a, b, c = self.start_group()
        self.assertIs(self.wait_master([a]), a)
        for s in (b, c):
            self.assertIsNotNone(s.wait_log(r'replication: role replica', timeout=60), s.log())
        storage = client_storage([durus_address(s) for s in (a, b, c)], timeout=30, refresh=0)
        conn = Connection(storage)
        conn.get_root()['n'] = 1
        conn.commit()
        self.assertEqual(storage.address, ('127.0.0.1', a.port))
        marks = [b.mark(), c.mark()]
        mark_a = a.mark()
        a.proc.send_signal(signal.SIGSTOP)
        try:
            new = self.wait_master([b, c], start_marks=marks)
            # The new master's background thread runs while the old master
            # is stopped: its status file (rewritten each second by that
            # thread) says master.  It hung before, in the lag sampler's
            # connection to the stopped master (bdb/replication.h).
            self.assertTrue(wait_for(lambda: 'repl_role master\n' in read_status(new.home), 30),
                            read_status(new.home))
            # A commit on the new master first: with its log ahead, the
            # resumed site cannot win the election a second master causes.
            other = committed_on(new)
            commit_retrying(other, lambda r: r.__setitem__('n', 'new master'))
            other.storage.close()
        finally:
            a.proc.send_signal(signal.SIGCONT)
        self.assertIsNotNone(a.wait_log(r'replication: role replica', timeout=60, start=mark_a),
                             a.log())
        conn.abort()  # R says replica: the client reconnects
        # (To whichever site is master now: b and c may hold one more
        # election among themselves, so not necessarily `new`.)
        self.assertNotEqual(storage.address, ('127.0.0.1', a.port))

        def change(r):
            r['n'] = 2
        commit_retrying(conn, change)
        master = [s for s in (a, b, c) if ('127.0.0.1', s.port) == storage.address][0]
        check = committed_on(master)
        self.assertEqual(check.get_root()['n'], 2)
        check.storage.close()
        storage.close()
