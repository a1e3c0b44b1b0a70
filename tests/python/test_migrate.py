"""durus_bdb.migrate() / durus_bdb.export() with sources written by real Durus.

A Durus FileStorage (Shelf) is written by Durus's own FileStorage and
Connection (PersistentDict, PersistentList, BTree; objects overwritten and
dropped over several transactions), migrated into a home, and read back
through BerkeleyDBStorage + Connection: every object reachable from the
root equals what Durus reads from the source.  The home is exported back to
Shelf (opened by Durus's FileStorage) and to a dump (migrated again: the
same records).  Errors and the progress callback are checked too.
"""

import os
import pathlib
import threading
import unittest

import support

try:
    import logging
    from durus.btree import BTree
    from durus.connection import Connection
    from durus.file_storage import FileStorage
    from durus.persistent_dict import PersistentDict
    from durus.persistent_list import PersistentList
    logging.getLogger("durus").setLevel(logging.WARNING)
except ImportError:
    pass  # setUpModule skips (or fails under CI=true)

import durus_bdb
from durus_bdb import BerkeleyDBStorage, InvalidArgumentError, StorageError


def setUpModule():
    support.require_durus()
    if not hasattr(durus_bdb._durus_bdb, "_migrate"):
        raise AssertionError("durus_bdb was built without migrate/ (durus_migrate)")


def write_shelf(path, n=400):
    """A Durus FileStorage with a few transactions; returns nothing, the
    expected content is whatever Durus reads back (snapshot_file)."""
    conn = Connection(FileStorage(path))
    root = conn.get_root()
    root["tree"] = BTree()
    root["list"] = PersistentList()
    root["meta"] = PersistentDict(name="fixture", version=1)
    conn.commit()
    for i in range(n):
        d = PersistentDict(index=i, text="object %d " % i * (i % 7 + 1))
        root["tree"][i] = d
        if i % 10 == 0:
            root["list"].append(d)  # shared: referenced twice
    conn.commit()
    # Overwrite some objects, drop others (their old versions stay in the file).
    for i in range(0, n, 3):
        root["tree"][i]["text"] = "rewritten %d" % i
    for i in range(1, n, 5):
        del root["tree"][i]
    root["meta"]["version"] = 2
    root["dropped"] = PersistentDict(gone=True)
    conn.commit()
    del root["dropped"]
    conn.commit()
    conn.get_storage().close()


def snapshot(obj, seen=None):
    """Plain-Python image of everything reachable from obj."""
    if seen is None:
        seen = {}
    if isinstance(obj, BTree):
        return ("BTree", [(k, snapshot(v, seen)) for k, v in obj.items()])
    if isinstance(obj, PersistentDict):
        key = obj._p_oid
        if key in seen:
            return ("ref", key)
        seen[key] = True
        return ("dict", key, sorted((k, snapshot(v, seen)) for k, v in obj.items()))
    if isinstance(obj, PersistentList):
        return ("list", obj._p_oid, [snapshot(v, seen) for v in obj])
    return obj


def snapshot_storage(storage):
    try:
        return snapshot(Connection(storage).get_root())
    finally:
        storage.close()


def records(storage):
    try:
        return dict(storage.gen_oid_record())
    finally:
        storage.close()


class MigrateTest(support.TempDirTestCase):

    def setUp(self):
        super().setUp()
        self.source = os.path.join(self.tmp, "source.durus")
        write_shelf(self.source)
        self.expected = snapshot_storage(FileStorage(self.source, readonly=True))

    def test_migrate_then_connection_reads_the_same_objects(self):
        calls = []
        thread = threading.get_ident()

        def progress(p):
            self.assertEqual(threading.get_ident(), thread)
            calls.append(dict(p))

        home = self.home()
        report = durus_bdb.migrate(self.source, home, verify=True, progress=progress)
        self.assertEqual(report["format"], "shelf")
        self.assertTrue(report["verified"])
        self.assertFalse(report["torn_tail"])
        self.assertGreater(report["source_records"], report["objects"])  # overwritten versions
        self.assertEqual(report["source_bytes"], os.path.getsize(self.source))
        self.assertIn("summary", report)
        self.assertEqual(durus_bdb.detect_format(self.source), "shelf")
        self.assertEqual(durus_bdb.detect_format(home), "bdb")

        # Progress: every phase ends with one phase_done call carrying the totals.
        phases = [c["phase"] for c in calls if c["phase_done"]]
        for phase in ("load", "count", "verify"):
            self.assertIn(phase, phases)
        load_done = [c for c in calls if c["phase"] == "load" and c["phase_done"]][-1]
        self.assertEqual(load_done["records"], report["source_records"])
        self.assertEqual(set(calls[0]), {"phase", "records", "bytes", "total_records",
                                         "total_bytes", "phase_seconds", "phase_done"})

        storage = BerkeleyDBStorage(home, gc_background=False)
        self.assertEqual(storage.stat()["object_count"], report["objects"])
        self.assertEqual(snapshot_storage(storage), self.expected)

    def test_export_shelf_is_read_by_durus_filestorage(self):
        home = self.home()
        durus_bdb.migrate(self.source, home)
        dest = os.path.join(self.tmp, "out.durus")
        calls = []
        report = durus_bdb.export(home, dest, progress=calls.append)
        self.assertEqual(report["format"], "shelf")
        self.assertEqual(report["bytes_written"], os.path.getsize(dest))
        self.assertTrue(any(c["phase"] == "export" and c["phase_done"] for c in calls))
        self.assertEqual(snapshot_storage(FileStorage(dest, readonly=True)), self.expected)
        # And the exported file migrates back to identical records.
        home2 = self.home("home2")
        durus_bdb.migrate(dest, home2, verify=True)
        self.assertEqual(records(BerkeleyDBStorage(home2, readonly=True)),
                         records(BerkeleyDBStorage(home, readonly=True)))

    def test_dump_round_trip_gives_identical_records(self):
        home = self.home()
        durus_bdb.migrate(pathlib.Path(self.source), pathlib.Path(home))  # path-like
        dump = os.path.join(self.tmp, "out.dump")
        report = durus_bdb.export(home, dump, format="dump", level=6)
        self.assertEqual(report["format"], "dump")
        self.assertEqual(durus_bdb.detect_format(dump), "dump")
        home2 = self.home("home2")
        report2 = durus_bdb.migrate(dump, home2, format="dump", verify=True)
        self.assertEqual(report2["objects"], report["objects"])
        self.assertEqual(records(BerkeleyDBStorage(home2, readonly=True)),
                         records(BerkeleyDBStorage(home, readonly=True)))

    def test_progress_exception_is_raised_after_the_call(self):
        calls = []

        def progress(p):
            calls.append(p)
            raise ZeroDivisionError("from the callback")

        home = self.home()
        with self.assertRaisesRegex(ZeroDivisionError, "from the callback"):
            durus_bdb.migrate(self.source, home, progress=progress)
        self.assertEqual(len(calls), 1)  # not called again after it raised
        # The migration itself was not interrupted.
        self.assertEqual(snapshot_storage(BerkeleyDBStorage(home)), self.expected)

    def test_non_empty_home_is_refused(self):
        home = self.home()
        os.mkdir(home)
        with open(os.path.join(home, "precious.txt"), "w") as f:
            f.write("keep me")
        with self.assertRaises(InvalidArgumentError) as cm:
            durus_bdb.migrate(self.source, home)
        self.assertIn("not empty", str(cm.exception))
        self.assertIn(home, str(cm.exception))
        self.assertEqual(os.listdir(home), ["precious.txt"])
        # A complete home is not empty either.
        home2 = self.home("home2")
        durus_bdb.migrate(self.source, home2)
        with self.assertRaises((StorageError, InvalidArgumentError)):
            durus_bdb.migrate(self.source, home2)
        self.assertEqual(snapshot_storage(BerkeleyDBStorage(home2)), self.expected)

    def test_export_refuses_an_existing_dest(self):
        home = self.home()
        durus_bdb.migrate(self.source, home)
        dest = os.path.join(self.tmp, "exists.durus")
        with open(dest, "wb") as f:
            f.write(b"x")
        with self.assertRaisesRegex(InvalidArgumentError, "already exists"):
            durus_bdb.export(home, dest)
        with open(dest, "rb") as f:
            self.assertEqual(f.read(), b"x")


    def test_torn_last_transaction_skipped_or_strict(self):
        with open(self.source, "rb") as f:
            data = f.read()
        torn = os.path.join(self.tmp, "torn.durus")
        with open(torn, "wb") as f:
            f.write(data[:-7])
        report = durus_bdb.migrate(torn, self.home(), verify=True)
        self.assertTrue(report["torn_tail"])
        self.assertGreater(report["torn_offset"], 0)
        self.assertTrue(any("torn" in w for w in report["warnings"]))
        # The last transaction only dropped root["dropped"]: before it, the
        # root still held it.
        got = snapshot_storage(BerkeleyDBStorage(self.home()))
        self.assertEqual([k for k, _ in got[2]], ["dropped", "list", "meta", "tree"])
        with self.assertRaises(StorageError) as cm:
            durus_bdb.migrate(torn, self.home("strict"), strict=True)
        self.assertEqual(cm.exception.code, "Corruption")
        self.assertIn("offset %d" % report["torn_offset"], str(cm.exception))
        self.assertFalse(os.path.exists(self.home("strict")))


class ErrorTest(support.TempDirTestCase):

    def write(self, name, data):
        path = os.path.join(self.tmp, name)
        with open(path, "wb") as f:
            f.write(data)
        return path

    def test_wrong_magic(self):
        source = self.write("bad.durus", b"NOT-A-DURUS-FILE" * 8)
        with self.assertRaises(InvalidArgumentError) as cm:
            durus_bdb.migrate(source, self.home())
        self.assertIsInstance(cm.exception, ValueError)
        self.assertIn(source, str(cm.exception))
        self.assertFalse(os.path.exists(self.home()))
        with self.assertRaises(InvalidArgumentError):
            durus_bdb.detect_format(source)

    def test_empty_file(self):
        source = self.write("empty.durus", b"")
        with self.assertRaises(InvalidArgumentError):
            durus_bdb.migrate(source, self.home())
        self.assertFalse(os.path.exists(self.home()))

    def test_forced_format_mismatch(self):
        source = self.write("bad.durus", b"SHELF-1\n" + b"\xff" * 64)
        with self.assertRaises((StorageError, InvalidArgumentError)):
            durus_bdb.migrate(source, self.home(), format="sqlite")
        self.assertFalse(os.path.exists(self.home()))

    def test_missing_source(self):
        with self.assertRaises(StorageError) as cm:
            durus_bdb.migrate(os.path.join(self.tmp, "nope.durus"), self.home())
        self.assertEqual(cm.exception.code, "NotFound")

    def test_unknown_keyword_names_it(self):
        source = self.write("bad.durus", b"")
        with self.assertRaisesRegex(TypeError, "bogus_option"):
            durus_bdb.migrate(source, self.home(), bogus_option=1)
        with self.assertRaisesRegex(TypeError, "compresion"):
            durus_bdb.export(self.home(), os.path.join(self.tmp, "x"), compresion=3)

    def test_bad_values(self):
        source = self.write("bad.durus", b"")
        home = self.home()
        with self.assertRaisesRegex(ValueError, "format"):
            durus_bdb.migrate(source, home, format="zodb")
        with self.assertRaisesRegex(ValueError, "durability"):
            durus_bdb.migrate(source, home, durability="sometimes")
        with self.assertRaisesRegex(TypeError, "cache_mb"):
            durus_bdb.migrate(source, home, cache_mb="big")
        with self.assertRaisesRegex(ValueError, "sort_mb"):
            durus_bdb.migrate(source, home, sort_mb=-1)
        with self.assertRaisesRegex(TypeError, "progress"):
            durus_bdb.migrate(source, home, progress=42)
        with self.assertRaisesRegex(TypeError, "verify"):
            durus_bdb.migrate(source, home, verify="yes")
        with self.assertRaisesRegex(ValueError, "format"):
            durus_bdb.export(home, os.path.join(self.tmp, "x"), format="zip")
        with self.assertRaisesRegex(ValueError, "level"):
            durus_bdb.export(home, os.path.join(self.tmp, "x"), format="dump", level=10)
        self.assertFalse(os.path.exists(home))

    def test_export_of_missing_home(self):
        with self.assertRaises(StorageError) as cm:
            durus_bdb.export(self.home(), os.path.join(self.tmp, "out.durus"))
        self.assertEqual(cm.exception.code, "NotFound")
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "out.durus")))


if __name__ == "__main__":
    unittest.main()
