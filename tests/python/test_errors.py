"""Error mapping at the Python boundary: each Durus exception type raised
where Durus expects it, messages naming the oid and the path, and the
plain-Python fallbacks when Durus is not importable."""

import unittest

from support import (TempDirTestCase, oid, record,
                     require_durus, run_python)


def setUpModule():
    require_durus()


ROOT = oid(0)


class DurusExceptionTest(TempDirTestCase):

    def setUp(self):
        super().setUp()
        from durus_bdb import BerkeleyDBStorage
        self.storage = BerkeleyDBStorage(self.home(), gc_background=False)
        self.addCleanup(self.storage.close)

    def connection(self):
        from durus.connection import Connection
        return Connection(self.storage)

    def test_missing_oid_is_durus_key_error(self):
        from durus.error import DurusKeyError
        self.storage.new_oid()
        with self.assertRaises(DurusKeyError) as cm:
            self.storage.load(oid(77))
        e = cm.exception
        self.assertIsInstance(e, KeyError)
        self.assertEqual(e.args[0], oid(77))        # as FileStorage's
        self.assertEqual(e.oids, [oid(77)])
        self.assertIn("77", str(e))
        self.assertIn(self.home(), str(e))

    def test_connection_get_of_missing_oid_is_none(self):
        c = self.connection()
        self.assertIsNone(c.get(12345))

    def test_connection_creates_root_on_empty_storage(self):
        from durus.persistent_dict import PersistentDict
        c = self.connection()
        self.assertIsInstance(c.get_root(), PersistentDict)
        self.assertEqual(c.get_root()._p_oid, ROOT)
        self.storage.load(ROOT)

    def _collected_child(self, c):
        """A PersistentDict committed under the root, then dropped and
        collected; returns it (the Python object survives)."""
        from durus.persistent_dict import PersistentDict
        child = PersistentDict()
        child["x"] = 1
        c.root["child"] = child
        c.commit()
        del c.root["child"]
        c.commit()
        report = self.storage.collect()
        self.assertEqual(report["collected"], 1)
        return child

    def test_dangling_reference_commit_is_conflict_error(self):
        from durus.error import ConflictError
        from durus.persistent_dict import PersistentDict
        c = self.connection()
        child = self._collected_child(c)
        # The Connection still holds `child`; give the storage a moment's
        # view: sync() hands the collected oid over, Connection ghosts it.
        c.abort()
        holder = PersistentDict()
        holder["stale"] = child
        c.root["holder"] = holder
        with self.assertRaises(ConflictError) as cm:
            c.commit()
        e = cm.exception
        self.assertIn(child._p_oid, e.oids)
        self.assertIn("oid %d" % int.from_bytes(child._p_oid, "big"), str(e))
        self.assertIn(self.home(), str(e))
        # Nothing was written; the connection recovers after abort().
        c.abort()
        self.assertNotIn("holder", c.root)
        c.root["ok"] = 1
        c.commit()
        self.assertEqual(c.root["ok"], 1)

    def test_collected_object_used_in_transaction_is_write_conflict(self):
        # end(handle_invalidations) hands the collected oid to the
        # Connection, which raises WriteConflictError because the object
        # was accessed in this transaction.
        from durus.error import WriteConflictError
        c = self.connection()
        child = self._collected_child(c)
        child["y"] = 2            # accessed and changed in this transaction
        c.root["z"] = 3
        with self.assertRaises(WriteConflictError) as cm:
            c.commit()
        self.assertIn(child._p_oid, cm.exception.oids)
        c.abort()
        self.assertNotIn("z", c.root)

    def test_ghost_of_collected_object_is_read_conflict(self):
        # Durus turns a DurusKeyError while loading a ghost into
        # ReadConflictError: our MissingObjectError must be a DurusKeyError.
        from durus.error import ReadConflictError
        c = self.connection()
        child = self._collected_child(c)
        c.abort()                 # sync(): the collected oid -> ghost
        self.assertTrue(child._p_is_ghost())
        with self.assertRaises(ReadConflictError):
            child["x"]

    def test_make_error_classes(self):
        import durus.error as de
        from durus_bdb import errors
        cases = [
            ("NotFound", [oid(3)], de.DurusKeyError),
            ("Conflict", [oid(3)], de.ConflictError),
            ("ReadConflict", [oid(3)], de.ReadConflictError),
            ("InvalidArgument", [], ValueError),
            ("Busy", [], errors.StorageError),
            ("IOError", [], errors.StorageError),
            ("Corruption", [oid(3)], errors.StorageError),
            ("NotFound", [], errors.StorageError),     # a missing home
        ]
        for code, oids, cls in cases:
            e = errors.make_error(code, "msg about oid 3 in /x", oids)
            self.assertIsInstance(e, cls, code)
            self.assertEqual(str(e), "msg about oid 3 in /x")
            self.assertEqual(e.oids, oids)
        self.assertTrue(issubclass(errors.StorageError, RuntimeError))

    def test_storage_server_sees_key_error(self):
        # StorageServer answers 'K' for `except KeyError`.
        from durus_bdb import MissingObjectError
        self.assertTrue(issubclass(MissingObjectError, KeyError))


class WithoutDurusTest(TempDirTestCase):

    def test_plain_python_classes_without_durus(self):
        code = (
            "import sys\n"
            "try:\n"
            "    import durus\n"
            "    sys.exit('durus unexpectedly importable')\n"
            "except ImportError:\n"
            "    pass\n"
            "import durus_bdb\n"
            "from durus_bdb import *\n"
            "from durus_bdb import errors\n"
            "assert BerkeleyDBStorage.__mro__[-1] is object\n"
            "assert BerkeleyDBStorage.__mro__[1].__name__ == 'StorageCore'\n"
            "s = BerkeleyDBStorage(sys.argv[1])\n"
            "s.new_oid()\n"
            "try:\n"
            "    s.load(b'\\0' * 7 + b'\\x05')\n"
            "except KeyError as e:\n"
            "    assert type(e) is MissingObjectError, type(e).__mro__\n"
            "    print('key', e)\n"
            "s.begin()\n"
            "s.store(b'\\0' * 8, b'\\0' * 8 + b'\\0\\0\\0\\0' + b'\\0' * 7 + b'\\x09')\n"
            "try:\n"
            "    s.end()\n"
            "except RuntimeError as e:\n"
            "    assert isinstance(e, ConflictError) and isinstance(e, ReferenceConflictError)\n"
            "    print('conflict', e.oids, e)\n"
            "assert issubclass(StorageReadConflictError, RuntimeError)\n"
            "s.close()\n"
            "try:\n"
            "    s.sync()\n"
            "except RuntimeError as e:\n"
            "    assert type(e) is StorageError\n"
            "    print('closed', e)\n")
        out = run_python(code, self.home(), with_durus=False).stdout.splitlines()
        self.assertEqual(len(out), 3, out)
        self.assertTrue(out[0].startswith("key ") and "oid 5" in out[0], out)
        self.assertTrue(out[1].startswith("conflict [b'\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\t']"), out)
        self.assertIn("oid 9", out[1])
        self.assertIn(self.home(), out[2])


if __name__ == "__main__":
    unittest.main()
