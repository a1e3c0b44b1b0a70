"""`durus-bdb verify` on homes written by Durus (issue 11).

- LargeRecords: a Durus application storing a record of 2 MiB next to small
  ones.  verify used to see 1 record of 3 (its chunked reader stopped at the
  first record larger than its 1 MiB buffer), reported the others missing,
  and `--repair` then dropped the references to them so that the next
  `gc --cycles` deleted live objects.  Now verify is clean, repair changes
  nothing, and Durus reads back every object after `gc --cycles`.
- DamagedRecord: 4 bytes flipped inside a stored record of a home with page
  checksums.  verify used to say "no problems found" (and Durus got an
  UnpicklingError); now it names the record's oid and the damaged page,
  exits 1 saying the home needs salvage or a backup, and --repair changes
  nothing.

Environment: as test_gc_python (tests/gc/CMakeLists.txt).  Missing Durus,
module or binary: skipped, or a failure when CI=true.
"""
import os
import shutil
import subprocess
import tempfile
import unittest

from test_gc_python import DURUS_BDB, require_durus, require_module, verify


class HomeTest(unittest.TestCase):
    """A fresh home directory per test."""

    def setUp(self):
        require_durus()
        require_module()
        self.tmp = tempfile.mkdtemp(prefix='durus-verify-test-')
        self.home = os.path.join(self.tmp, 'home')

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)


class LargeRecords(HomeTest):

    def open(self):
        from durus.connection import Connection
        from durus_bdb import BerkeleyDBStorage
        return Connection(BerkeleyDBStorage(self.home))

    def test_a_2_mib_record_verifies_clean_and_repair_keeps_everything(self):
        from durus.persistent_dict import PersistentDict
        blob = os.urandom(2 << 20)
        conn = self.open()
        root = conn.get_root()
        root['big'] = PersistentDict(blob=blob)
        root['small'] = PersistentDict(x=1)
        conn.commit()
        conn.get_storage().close()

        code, report = verify(self.home)
        self.assertEqual(code, 0, report)
        self.assertTrue(report['clean'], report)
        self.assertEqual(report['records'], 3, report)

        code, report = verify(self.home, '--repair')
        self.assertEqual(code, 0, report)
        self.assertEqual(report['records'], 3, report)
        self.assertEqual(sum(report['repaired'].values()), 0, report)

        p = subprocess.run([DURUS_BDB, 'gc', self.home, '--cycles'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 0, p.stderr)
        conn = self.open()
        root = conn.get_root()
        self.assertEqual(root['small']['x'], 1)
        self.assertEqual(root['big']['blob'], blob)
        stat = conn.get_storage().stat()
        self.assertEqual(stat['object_count'], 3, stat)
        conn.get_storage().close()


class DamagedRecord(HomeTest):

    def test_flipped_bytes_inside_a_record_name_its_oid(self):
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        from durus_bdb import BerkeleyDBStorage
        storage = BerkeleyDBStorage(self.home)
        conn = Connection(storage)
        root = conn.get_root()
        for i in range(300):
            root['k%d' % i] = PersistentDict(x=i)
        conn.commit()
        victim = root['k150']._p_oid
        record = storage.load(victim)
        storage.close()
        self.assertEqual(record[:8], victim)

        path = os.path.join(self.home, 'records.db')
        data = bytearray(open(path, 'rb').read())
        at = data.find(record)
        self.assertGreater(at, 0)
        self.assertEqual(data.find(record, at + 1), -1)
        middle = at + len(record) // 2
        data[middle:middle + 4] = bytes(b ^ 0xff for b in data[middle:middle + 4])
        open(path, 'wb').write(bytes(data))
        damaged = bytes(data)

        victim_oid = int.from_bytes(victim, 'big')
        code, report = verify(self.home)
        self.assertEqual(code, 1, report)
        self.assertFalse(report['clean'])
        self.assertTrue(report['damaged'], report)
        named = [p for p in report['samples']
                 if p['kind'] == 'unreadable_record' and p['oid'] == victim_oid]
        self.assertTrue(named, report)
        pages = [p for p in report['samples'] if p['kind'] == 'damaged_page']
        self.assertTrue(pages and 'records.db page' in pages[0]['detail'], report)

        p = subprocess.run([DURUS_BDB, 'verify', self.home, '--repair'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.assertEqual(p.returncode, 1, p)
        self.assertIn(b'nothing was changed', p.stderr)
        self.assertIn(b'oid %d' % victim_oid, p.stdout)
        self.assertEqual(open(path, 'rb').read(), damaged)


if __name__ == '__main__':
    unittest.main()
