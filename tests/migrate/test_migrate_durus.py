"""durus-bdb migrate / export against storages written and read by real Durus.

Sources are written here by Durus's own FileStorage (Shelf), FileStorage2
and SqliteStorage: graphs of PersistentDict, PersistentList and BTree,
objects overwritten and deleted, transactions before and after a pack.
Each is migrated with the durus-bdb command; then

  * every record of the home (read back through `durus-bdb export --format
    dump`, parsed here) equals the last version Durus reads from the source;
  * every object Durus reaches from the root through durus-bdb (the
    durus_bdb module when built, and always Durus's FileStorage on the
    exported Shelf file) equals what Durus reads from the source;
  * the home's counts equal a recount (migrate_check_home).

Environment (tests/migrate/CMakeLists.txt): DURUS_BDB, MIGRATE_CHECK_HOME,
DURUS_SOURCE_DIR and PYTHONPATH.  Without Durus the tests skip, except
under CI=true where that is a failure.
"""
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
import unittest
import zlib

DURUS_BDB = os.environ.get('DURUS_BDB', '')
CHECK_HOME = os.environ.get('MIGRATE_CHECK_HOME', '')

try:
    from durus.btree import BTree
    from durus.connection import Connection
    from durus.file_storage import FileStorage
    from durus.file_storage2 import FileStorage2
    from durus.persistent import PersistentObject as Persistent
    from durus.persistent_dict import PersistentDict
    from durus.persistent_list import PersistentList
    from durus.serialize import unpack_record
    from durus.sqlite_storage import SqliteStorage

    class Order(Persistent):
        """A class of this module: the census names it test_migrate_durus.Order."""

    DURUS_ERROR = None
    import logging
    logging.getLogger('durus').setLevel(logging.WARNING)  # no "Transaction at" lines
except ImportError as e:  # pragma: no cover - depends on the machine
    DURUS_ERROR = e


def setUpModule():
    if DURUS_ERROR is not None:
        msg = 'Durus is not importable (DURUS_SOURCE_DIR=%r): %s' % (
            os.environ.get('DURUS_SOURCE_DIR'), DURUS_ERROR)
        if os.environ.get('CI') == 'true':
            raise RuntimeError('CI=true and ' + msg)
        raise unittest.SkipTest(msg)
    for name, path in (('DURUS_BDB', DURUS_BDB), ('MIGRATE_CHECK_HOME', CHECK_HOME)):
        if not path or not os.access(path, os.X_OK):
            raise RuntimeError('%s does not name an executable: %r' % (name, path))


def durus_bdb_module():
    """durus_bdb.BerkeleyDBStorage if the Python module is built, else None."""
    try:
        from durus_bdb import BerkeleyDBStorage
        return BerkeleyDBStorage
    except ImportError:
        return None


def run(*args, expect=0):
    p = subprocess.run([DURUS_BDB] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, universal_newlines=True, timeout=120)
    if expect is not None and p.returncode != expect:
        raise AssertionError('durus-bdb %s: exit %d, expected %d\nstdout: %s\nstderr: %s'
                             % (' '.join(args), p.returncode, expect, p.stdout, p.stderr))
    return p


# --- building sources with Durus ------------------------------------------

def build_graph(storage, pack=True, extra=0):
    """Commits a graph into `storage`, with overwrites, deletions and
    (if `pack`) a pack between two series of transactions."""
    conn = Connection(storage)
    root = conn.get_root()
    root['dict'] = PersistentDict()
    for i in range(60):
        root['dict'][i] = PersistentList([i, str(i) * 3, PersistentDict(n=i)])
    tree = root['tree'] = BTree()
    for i in range(2500):
        tree[i] = 'value %d' % i
    root['many'] = PersistentList(PersistentDict(k=i) for i in range(extra))
    conn.commit()
    for i in range(0, 60, 3):            # overwrite objects
        root['dict'][i].append('changed')
        root['dict'][i][2]['n'] = -i
    for i in range(0, 2500, 7):
        tree[i] = 'new %d' % i
    conn.commit()
    for i in range(10, 20):              # delete: unreachable from now on
        del root['dict'][i]
    for i in range(100, 400):
        del tree[i]
    conn.commit()
    if pack:
        conn.pack()
    root['after'] = PersistentList(range(50))  # transactions after the pack
    root['dict'][1].append(PersistentDict(late=True))
    for i in range(2500, 2700):
        tree[i] = i
    conn.commit()
    del root['dict'][30]                 # garbage left unpacked
    root['dict'][2][2]['n'] = 'last'
    conn.commit()
    return conn


def canon(value, seen_depth=0):
    """A comparable form of an object state: persistent refs become oids."""
    if isinstance(value, Persistent):
        return ('P', value._p_oid)
    if isinstance(value, dict):
        return ('d', sorted(((canon(k), canon(v)) for k, v in value.items()), key=repr))
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, [canon(v) for v in value])
    return value


def snapshot(conn):
    """{oid: (class name, canonical state)} of everything reachable from the root."""
    out = {}
    todo = [conn.get_root()]
    while todo:
        obj = todo.pop()
        if obj._p_oid in out:
            continue
        if obj._p_is_ghost():
            obj._p_load_state()
        state = obj.__getstate__()
        out[obj._p_oid] = (type(obj).__name__, canon(state))

        def walk(v):
            if isinstance(v, Persistent):
                if v._p_oid not in out:
                    todo.append(v)
            elif isinstance(v, dict):
                for k, x in v.items():
                    walk(k)
                    walk(x)
            elif isinstance(v, (list, tuple)):
                for x in v:
                    walk(x)
        walk(state)
    return out


def read_dump(path):
    """Parses a durus-bdb dump (doc/dump-format.md): {oid: record}, next_oid."""
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == b'DURUSDMP', data[:8]
    version, flags, next_oid, _res, crc = struct.unpack('>IIQII', data[8:32])
    assert version == 1 and zlib.crc32(data[:28]) == crc
    pos, records, chain = 32, {}, 0
    nrec = nbytes = nblocks = 0
    last = -1
    while data[pos:pos + 4] == b'DBLK':
        count, raw_len, comp_len, raw_crc, hcrc = struct.unpack('>IIIII', data[pos + 4:pos + 24])
        assert zlib.crc32(data[pos:pos + 20]) == hcrc
        raw = zlib.decompress(data[pos + 24:pos + 24 + comp_len])
        assert len(raw) == raw_len and zlib.crc32(raw) == raw_crc
        chain = zlib.crc32(struct.pack('>I', raw_crc), chain)
        p = 0
        for _ in range(count):
            (n,) = struct.unpack('>I', raw[p:p + 4])
            rec = raw[p + 4:p + 4 + n]
            oid = struct.unpack('>Q', rec[:8])[0]
            assert oid > last, 'dump not sorted'
            last = oid
            records[rec[:8]] = rec
            p += 4 + n
            nrec += 1
            nbytes += n
        assert p == raw_len
        nblocks += 1
        pos += 24 + comp_len
    assert data[pos:pos + 4] == b'DEND'
    _r, trec, tbytes, tblocks, tchain, tcrc = struct.unpack('>IQQQII', data[pos + 4:pos + 40])
    assert zlib.crc32(data[pos:pos + 36]) == tcrc
    assert (trec, tbytes, tblocks, tchain) == (nrec, nbytes, nblocks, chain)
    assert pos + 40 == len(data)
    return records, next_oid


def durus_records(path, kind):
    """What Durus reads from a source: {oid: last record}."""
    if kind == 'shelf':
        s = FileStorage(path, readonly=True)
        try:
            return dict(s.gen_oid_record())
        finally:
            s.close()
    if kind == 'fs2':
        s = FileStorage2(path, readonly=True)
        try:
            return dict((oid, s.load(oid)) for oid in s.index)
        finally:
            s.close()
    if kind == 'sqlite':
        s = SqliteStorage(path)
        try:
            return dict((oid, s.load(oid)) for oid in s._list_all_oids())
        finally:
            s.close()
    raise ValueError(kind)


def durus_snapshot(path, kind):
    cls = {'shelf': FileStorage, 'fs2': FileStorage2}[kind]
    s = cls(path, readonly=True)
    try:
        return snapshot(Connection(s))
    finally:
        s.close()


class MigrateTestCase(unittest.TestCase):

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix='durus-bdb-migrate-')

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def home_records(self, home):
        dump = self.path(os.path.basename(home) + '.check.dump')
        run('export', home, dump, '--format', 'dump')
        records, _next = read_dump(dump)
        os.unlink(dump)
        return records

    def check_home(self, home, objects):
        p = subprocess.run([CHECK_HOME, home], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=120)
        self.assertEqual(p.returncode, 0, 'counts differ from a recount:\n' + p.stderr)
        self.assertIn('objects=%d ' % objects, p.stdout)
        return p.stdout

    def assert_reads_like(self, home, expected_snapshot):
        """Durus reads the same objects through durus-bdb."""
        BerkeleyDBStorage = durus_bdb_module()
        if BerkeleyDBStorage is not None:
            s = BerkeleyDBStorage(home, readonly=True)
            try:
                self.assertEqual(snapshot(Connection(s)), expected_snapshot)
            finally:
                s.close()
        shelf = self.path(os.path.basename(home) + '.check.durus')
        run('export', home, shelf)
        self.assertEqual(durus_snapshot(shelf, 'shelf'), expected_snapshot)
        os.unlink(shelf)


class SourcesTest(MigrateTestCase):
    """Each Durus storage format, migrated and read back."""

    def migrate_and_compare(self, src, kind, snap):
        expected = durus_records(src, kind)
        home = self.path('home-' + kind)
        p = run('migrate', src, home, '--verify')
        self.assertTrue(p.stdout.startswith('migrated %d objects' % len(expected)), p.stdout)
        self.assertIn('verified', p.stdout)
        self.assertEqual(self.home_records(home), expected)
        self.check_home(home, len(expected))
        if snap is not None:
            self.assert_reads_like(home, snap)
        return home, expected

    def test_shelf_filestorage(self):
        src = self.path('shelf.durus')
        s = FileStorage(src)
        build_graph(s, pack=True)
        s.close()
        home, expected = self.migrate_and_compare(src, 'shelf', durus_snapshot(src, 'shelf'))
        # Garbage left after the pack (deleted oids) is queued, not lost.
        out = self.check_home(home, len(expected))
        self.assertNotIn('pending=0 ', out)

    def test_shelf_never_packed(self):
        src = self.path('unpacked.durus')
        s = FileStorage(src)
        build_graph(s, pack=False)
        s.close()
        self.migrate_and_compare(src, 'shelf', durus_snapshot(src, 'shelf'))

    def test_filestorage2(self):
        src = self.path('fs2.durus')
        s = FileStorage2(src)
        build_graph(s, pack=True)
        s.close()
        with open(src, 'rb') as f:
            self.assertEqual(f.read(6), b'DFS20\0')
        self.migrate_and_compare(src, 'fs2', durus_snapshot(src, 'fs2'))

    def test_sqlite(self):
        src = self.path('store.sqlite')
        s = SqliteStorage(src)
        conn = build_graph(s, pack=False)
        snap = snapshot(conn)
        s.close()
        self.migrate_and_compare(src, 'sqlite', snap)

    def test_explicit_format_and_bdb_source(self):
        src = self.path('shelf.durus')
        s = FileStorage(src)
        build_graph(s)
        s.close()
        run('migrate', src, self.path('a'), '--format', 'shelf', '--quiet')
        p = run('migrate', self.path('a'), self.path('b'), '--format', 'bdb')
        self.assertIn(' bdb records', p.stdout)
        self.assertEqual(self.home_records(self.path('b')), durus_records(src, 'shelf'))
        p = run('migrate', src, self.path('c'), '--format', 'filestorage2', expect=1)
        self.assertIn('not a FileStorage2 file', p.stderr)


class RoundTripTest(MigrateTestCase):

    def setUp(self):
        super().setUp()
        self.src = self.path('src.durus')
        s = FileStorage(self.src)
        build_graph(s)
        s.close()
        self.expected = durus_records(self.src, 'shelf')
        self.snap = durus_snapshot(self.src, 'shelf')
        run('migrate', self.src, self.path('home'), '--quiet')

    def test_bdb_to_shelf_to_bdb(self):
        out = self.path('exported.durus')
        p = run('export', self.path('home'), out)
        self.assertIn('exported %d objects' % len(self.expected), p.stdout)
        # Durus's own FileStorage opens it and reads every object.
        self.assertEqual(durus_records(out, 'shelf'), self.expected)
        self.assertEqual(durus_snapshot(out, 'shelf'), self.snap)
        # ... and can keep using it: commit, pack, reopen.
        work = self.path('work.durus')
        shutil.copy(out, work)
        s = FileStorage(work)
        conn = Connection(s)
        conn.get_root()['added'] = PersistentList([1, 2])
        conn.commit()
        conn.pack()
        s.close()
        self.assertEqual(durus_snapshot(work, 'shelf')[b'\0' * 8][0], 'PersistentDict')
        # Back into durus-bdb: identical records.
        run('migrate', out, self.path('home2'), '--verify', '--quiet')
        self.assertEqual(self.home_records(self.path('home2')), self.expected)

    def test_bdb_to_dump_to_bdb(self):
        dump = self.path('exported.dump')
        run('export', self.path('home'), dump, '--format', 'dump', '--level', '9')
        records, next_oid = read_dump(dump)
        self.assertEqual(records, self.expected)
        self.assertGreater(next_oid, max(struct.unpack('>Q', k)[0] for k in records))
        p = run('migrate', dump, self.path('home3'), '--verify')
        self.assertIn(' dump records', p.stdout)
        self.assertEqual(self.home_records(self.path('home3')), self.expected)
        self.check_home(self.path('home3'), len(self.expected))

    def test_export_refuses_existing_destination_and_missing_home(self):
        dest = self.path('exists')
        with open(dest, 'w') as f:
            f.write('keep me')
        p = run('export', self.path('home'), dest, expect=1)
        self.assertIn('already exists', p.stderr)
        with open(dest) as f:
            self.assertEqual(f.read(), 'keep me')
        run('export', self.path('nohome'), self.path('x.durus'), expect=1)
        self.assertFalse(os.path.exists(self.path('x.durus')))
        run('export', self.path('home'), self.path('y'), '--format', 'zip', expect=2)

    def test_serve_migrated_home_to_unmodified_durus_client(self):
        """Acceptance: migrate, then `durus-bdb serve` serves the same objects."""
        if run('serve', '--help', expect=None).returncode != 0:
            self.skipTest('this durus-bdb has no serve command yet')
        from durus.client_storage import ClientStorage
        proc = subprocess.Popen([DURUS_BDB, 'serve', '--home', self.path('home'),
                                 '--host', '127.0.0.1', '--port', '0', '--log-level', 'warn'],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            line = b''
            deadline = time.time() + 60
            while b'ready on' not in line and time.time() < deadline:
                r, _, _ = select.select([proc.stderr], [], [], 1)
                if r:
                    chunk = os.read(proc.stderr.fileno(), 4096)
                    if not chunk:
                        break
                    line += chunk
            m = re.search(rb'ready on (\S+):(\d+)', line)
            self.assertIsNotNone(m, 'server not ready: %r' % line)
            cs = ClientStorage(host=m.group(1).decode(), port=int(m.group(2)))
            self.assertEqual(snapshot(Connection(cs)), self.snap)
            cs.close()
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


class DamagedSourceTest(MigrateTestCase):

    def make_torn(self, cls, name):
        """A file whose last transaction is cut in the middle; returns
        (path, offset where the torn transaction starts)."""
        src = self.path(name)
        s = cls(src)
        conn = build_graph(s)
        size_before = os.path.getsize(src)
        root = conn.get_root()
        root['last'] = PersistentList(range(1000))
        root['dict'][1].append('lost')
        conn.commit()
        s.close()
        size_after = os.path.getsize(src)
        with open(src, 'r+b') as f:
            f.truncate(size_before + (size_after - size_before) // 2)
        return src, size_before

    def check_torn(self, cls, kind, name):
        src, torn_at = self.make_torn(cls, name)
        # --strict: fail, no home.
        p = run('migrate', src, self.path('strict'), '--strict', expect=1)
        self.assertIn('torn last transaction at byte offset %d' % torn_at, p.stderr)
        self.assertFalse(os.path.exists(self.path('strict')))
        # Default: reported and skipped, like Durus's repair.
        p = run('migrate', src, self.path('home'), '--verify')
        self.assertIn('warning: torn last transaction at byte offset %d' % torn_at, p.stderr)
        self.assertIn('torn tail skipped', p.stdout)
        repaired = self.path('repaired')
        shutil.copy(src, repaired)
        s = cls(repaired, repair=True)
        s.close()
        self.assertLess(os.path.getsize(repaired), os.path.getsize(src))
        self.assertEqual(self.home_records(self.path('home')), durus_records(repaired, kind))

    def test_torn_shelf(self):
        self.check_torn(FileStorage, 'shelf', 'torn.durus')

    def test_torn_filestorage2(self):
        self.check_torn(FileStorage2, 'fs2', 'torn2.durus')

    def test_truncated_shelf_is_corrupt_with_offset(self):
        src = self.path('packed.durus')
        s = FileStorage(src)
        build_graph(s)
        s.close()
        with open(src, 'r+b') as f:
            f.truncate(5000)  # inside the initial (packed) transaction
        p = run('migrate', src, self.path('home'), expect=1)
        self.assertRegex(p.stderr, r'byte offset \d+')
        self.assertIn('truncated', p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertFalse(os.path.exists(self.path('home')))

    def test_damage_in_the_middle_is_an_error_and_salvage_reports_it(self):
        """Issue 11, finding 2: a Durus FileStorage of 501 objects with 4
        bytes overwritten near 47 KB, complete transactions after it.
        Durus refuses the file; migrate used to take it for a torn tail,
        drop half the objects and exit 0."""
        src = self.path('damaged.durus')
        s = FileStorage(src)
        conn = Connection(s)
        root = conn.get_root()
        for t in range(10):
            for i in range(50):
                root['k%d_%d' % (t, i)] = PersistentDict(x='v' * 50, t=t)
            conn.commit()
        s.close()
        intact = durus_records(src, 'shelf')
        self.assertEqual(len(intact), 501)
        with open(src, 'rb') as f:
            data = f.read()
        # The item (u64 length, oid, record) whose length field is the
        # first at or after 47000, and its transaction.
        (n,) = struct.unpack('>Q', data[8:16])
        (map_bytes,) = struct.unpack('>Q', data[16 + n:24 + n])
        pos, item, txns_after = 16 + n + 8 + map_bytes, None, 0
        while pos < len(data):
            (t,) = struct.unpack('>Q', data[pos:pos + 8])
            p = pos + 8
            while p < pos + 8 + t:
                (length,) = struct.unpack('>Q', data[p:p + 8])
                if item is None and p >= 47000:
                    item = (p, 8 + length, data[p + 8:p + 16])
                p += 8 + length
            if item is not None and item[0] < pos:
                txns_after += 1
            pos += 8 + t
        at, item_size, lost_oid = item
        self.assertGreaterEqual(txns_after, 2)
        with open(src, 'r+b') as f:
            f.seek(at)
            f.write(b'\x7f\x7f\x7f\x7f')
        with self.assertRaises(Exception):  # Durus itself refuses the file
            FileStorage(src, readonly=True).close()

        p = run('migrate', src, self.path('home'), expect=1)
        self.assertIn('%s: corrupt Shelf file at byte offset %d' % (src, at), p.stderr)
        self.assertIn('use --salvage', p.stderr)
        self.assertEqual(len(p.stderr.strip().splitlines()), 1, p.stderr)
        self.assertFalse(os.path.exists(self.path('home')))

        p = run('migrate', src, self.path('home'), '--salvage', '--verify', '--json')
        report = json.loads(p.stdout)
        self.assertEqual([(k['offset'], k['length']) for k in report['skipped']],
                         [(at, item_size)])
        self.assertEqual([(l['oid'], l['offset'], l['older_version_kept'])
                          for l in report['lost']],
                         [(struct.unpack('>Q', lost_oid)[0], at, False)])
        self.assertIn('salvage: skipped bytes %d..%d' % (at, at + item_size - 1), p.stderr)
        self.assertTrue(report['verified'])
        home = self.home_records(self.path('home'))
        self.assertEqual(set(home), set(intact) - {lost_oid})
        for oid, rec in home.items():  # the data of every other object intact
            (dlen,) = struct.unpack('>I', rec[8:12])
            self.assertEqual(rec[:12 + dlen], intact[oid][:12 + dlen])
        self.check_home(self.path('home'), 500)

        from durus_bdb import migration
        if migration._HAVE_MIGRATE:
            r = migration.migrate(src, self.path('py'), salvage=True)
            self.assertEqual(r['skipped'], [dict(offset=at, length=item_size, unit='bytes',
                                                 reason=report['skipped'][0]['reason'])])
            self.assertEqual(r['objects'], 500)
            with self.assertRaises(Exception) as cm:
                migration.migrate(src, self.path('py2'))
            self.assertIn('byte offset %d' % at, str(cm.exception))

    def test_damaged_sqlite_page_is_an_error_and_salvage_skips_its_rows(self):
        import sqlite3
        src = self.path('damaged.sqlite')
        s = SqliteStorage(src)
        conn = Connection(s)
        root = conn.get_root()
        for i in range(1500):
            root[i] = PersistentDict(x='%d' % i * 100)
        conn.commit()
        s.close()
        intact = durus_records(src, 'sqlite')
        page_size = 4096
        pages = os.path.getsize(src) // page_size
        with open(src, 'r+b') as f:  # a page in the middle: a leaf of objects
            f.seek(page_size * (pages // 2))
            f.write(b'\xff' * 16)
        # What SQLite still reads, row by row.
        db = sqlite3.connect('file:%s?mode=ro' % src, uri=True)
        readable = set()
        for oid in intact:
            try:
                db.execute('SELECT data, refs FROM objects WHERE id = ?',
                           (struct.unpack('>Q', oid)[0],)).fetchall()
                readable.add(oid)
            except sqlite3.DatabaseError:
                pass
        db.close()
        self.assertLess(len(readable), len(intact))
        self.assertGreater(len(readable), len(intact) // 2)

        p = run('migrate', src, self.path('home'), expect=1)
        self.assertIn(src + ': cannot read row', p.stderr)
        self.assertIn('use --salvage', p.stderr)
        self.assertFalse(os.path.exists(self.path('home')))

        p = run('migrate', src, self.path('home'), '--salvage', '--json')
        report = json.loads(p.stdout)
        ids = lambda oids: set(struct.unpack('>Q', o)[0] for o in oids)
        missing = ids(intact) - ids(readable)
        for k in report['skipped']:
            self.assertEqual(k['unit'], 'row ids')
            inside = set(range(k['offset'], k['offset'] + k['length']))
            self.assertFalse(inside & ids(readable), 'a readable row was skipped')
            missing -= inside
        self.assertEqual(missing, set(), 'unreadable rows outside the skipped ranges')
        home = self.home_records(self.path('home'))
        self.assertEqual(set(home), readable)
        for oid in readable - {struct.pack('>Q', 0)}:
            self.assertEqual(home[oid], intact[oid])

    def test_empty_file_and_wrong_magic(self):
        empty = self.path('empty.durus')
        open(empty, 'w').close()
        p = run('migrate', empty, self.path('h1'), expect=1)
        self.assertIn('empty', p.stderr)
        junk = self.path('junk.durus')
        with open(junk, 'wb') as f:
            f.write(b'PK\x03\x04 definitely not durus')
        p = run('migrate', junk, self.path('h2'), expect=1)
        self.assertIn('unknown format', p.stderr)
        for h in ('h1', 'h2'):
            self.assertFalse(os.path.exists(self.path(h)))
        run('migrate', empty, expect=2)  # usage
        run('migrate', empty, self.path('h3'), '--bogus', expect=2)

    def test_non_empty_target(self):
        src = self.path('s.durus')
        s = FileStorage(src)
        build_graph(s)
        s.close()
        target = self.path('occupied')
        os.mkdir(target)
        with open(os.path.join(target, 'precious.txt'), 'w') as f:
            f.write('x')
        p = run('migrate', src, target, expect=1)
        self.assertIn('not empty', p.stderr)
        self.assertEqual(os.listdir(target), ['precious.txt'])
        run('migrate', src, self.path('home'), '--quiet')
        before = self.home_records(self.path('home'))
        p = run('migrate', src, self.path('home'), expect=1)
        self.assertIn('already a durus-bdb home', p.stderr)
        self.assertEqual(self.home_records(self.path('home')), before)


class CommandLineTest(MigrateTestCase):
    """`durus-bdb stat --census` and `migrate` of a file a Durus process holds (issue 15)."""

    def test_census_names_classes_with_their_module(self):
        src = self.path('orders.durus')
        s = FileStorage(src)
        conn = Connection(s)
        conn.get_root()['orders'] = PersistentList(Order() for _ in range(3))
        conn.commit()
        s.close()
        home = self.path('home')
        run('migrate', src, home, '--quiet')
        census = json.loads(run('stat', '--json', '--census', home).stdout)['census']
        self.assertEqual(census, {'%s.Order' % __name__: 3,
                                  'durus.persistent_dict.PersistentDict': 1,
                                  'durus.persistent_list.PersistentList': 1})
        text = run('stat', '--census', home).stdout
        self.assertRegex(text, r'\n  3\t%s\.Order\n' % re.escape(__name__))

    def hold(self, path, cls):
        """A Durus process with `path` open for writing (as a Durus server
        holds its file), until the test ends; returns its pid."""
        code = ('import sys, time\n'
                'from %s import %s as Storage\n'
                's = Storage(sys.argv[1])\n'
                'print("open", flush=True)\n'
                'time.sleep(120)\n' % (cls.__module__, cls.__name__))
        child = subprocess.Popen([sys.executable, '-c', code, path], stdout=subprocess.PIPE,
                                 universal_newlines=True)
        self.addCleanup(child.stdout.close)
        self.addCleanup(child.wait)
        self.addCleanup(child.kill)
        self.assertEqual(child.stdout.readline(), 'open\n')
        return child.pid

    def test_migrate_refuses_a_file_a_durus_process_holds(self):
        for cls in (FileStorage, FileStorage2):
            with self.subTest(cls.__name__):
                src = self.path(cls.__name__ + '.durus')
                s = cls(src)
                build_graph(s, pack=False)
                s.close()
                pid = self.hold(src, cls)
                home = self.path('home-' + cls.__name__)
                p = run('migrate', src, home, expect=1)
                self.assertIn('%s is in use by a running Durus process (pid %d)' % (src, pid),
                              p.stderr)
                self.assertIn('--force', p.stderr)
                self.assertEqual(p.stderr.count('\n'), 1, p.stderr)
                self.assertFalse(os.path.exists(home))
                # --force reads it anyway (the caller vouches it is quiet).
                run('migrate', src, home, '--force', '--quiet')
                kind = 'shelf' if cls is FileStorage else 'fs2'
                self.assertEqual(self.home_records(home), durus_records(src, kind))
                # The Python API: the same refusal, naming its own way out
                # (force=True, not the command's flag), and force=True.
                from durus_bdb import migration
                if migration._HAVE_MIGRATE:
                    pyhome = self.path('py-' + cls.__name__)
                    with self.assertRaises(Exception) as cm:
                        migration.migrate(src, pyhome)
                    self.assertIn('in use by a running Durus process (pid %d)' % pid,
                                  str(cm.exception))
                    self.assertIn('force=True', str(cm.exception))
                    self.assertFalse(os.path.exists(pyhome))
                    migration.migrate(src, pyhome, force=True)
                    self.assertEqual(self.home_records(pyhome), durus_records(src, kind))


class ProgressTest(MigrateTestCase):

    def setUp(self):
        super().setUp()
        self.src = self.path('big.durus')
        s = FileStorage(self.src)
        build_graph(s, extra=3000)
        s.close()

    def test_piped_output_is_one_summary_line(self):
        p = run('migrate', self.src, self.path('home'))
        self.assertEqual(p.stderr, '')
        lines = p.stdout.splitlines()
        self.assertEqual(len(lines), 1, p.stdout)
        self.assertRegex(lines[0], r'^migrated \d+ objects .* records/s')
        p = run('export', self.path('home'), self.path('out.durus'))
        self.assertEqual(p.stderr, '')
        self.assertEqual(len(p.stdout.splitlines()), 1)
        p = run('migrate', self.src, self.path('home2'), '--quiet')
        self.assertEqual((p.stdout, p.stderr), ('', ''))

    def test_terminal_shows_progress(self):
        master, slave = pty.openpty()
        proc = subprocess.Popen([DURUS_BDB, 'migrate', self.src, self.path('home')],
                                stdout=subprocess.PIPE, stderr=slave)
        os.close(slave)
        seen = b''
        while True:
            try:
                r, _, _ = select.select([master], [], [], 60)
                if not r:
                    break
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
        out, _ = proc.communicate(timeout=60)
        os.close(master)
        self.assertEqual(proc.returncode, 0)
        text = seen.decode('utf-8', 'replace')
        self.assertIn('load: ', text)
        self.assertIn('records/s', text)
        self.assertIn('ETA', text)        # a mid-phase update (>= 1024 records)
        self.assertIn('count: ', text)
        self.assertIn('done in', text)
        self.assertTrue(out.startswith(b'migrated '))


if __name__ == '__main__':
    unittest.main()
