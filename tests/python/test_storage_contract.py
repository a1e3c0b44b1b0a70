"""The Durus storage contract through durus_bdb.BerkeleyDBStorage, on real
Berkeley DB homes: Durus's own MemoryStorage test sequence, gen_oid_record
reachability, commit validation, options, life cycle.  Durus is not needed
here except where a test says so."""

import os
import sys
import threading
import unittest

from durus_bdb import (BerkeleyDBStorage, ConflictError, InvalidArgumentError,
                       MissingObjectError, ReferenceConflictError,
                       StorageError)
from support import (TempDirTestCase, durus_available, oid, record,
                     run_python)

ROOT = oid(0)


class DurusSequenceTest(TempDirTestCase):
    """durus/test/utest_storage.py check_memory_storage, step by step."""

    def test_memory_storage_sequence(self):
        # gc_background=False keeps the unreferenced oid 1 until pack().
        b = BerkeleyDBStorage(self.home(), gc_background=False)
        self.addCleanup(b.close)
        self.assertEqual(b.new_oid(), oid(0))
        self.assertEqual(b.new_oid(), oid(1))
        self.assertEqual(b.new_oid(), oid(2))
        self.assertRaises(KeyError, b.load, oid(0))
        rec = record(0, b"ok")
        b.begin()
        b.store(oid(0), rec)
        b.end()
        self.assertEqual(b.sync(), [])
        b.begin()
        b.store(oid(1), record(1, b"no"))
        b.end()
        # Durus's MemoryStorage walks from the root when given no start;
        # like FileStorage, ours lists every record without one.
        self.assertEqual(len(list(b.gen_oid_record(start_oid=ROOT))), 1)
        self.assertEqual(len(list(b.gen_oid_record())), 2)
        self.assertEqual(rec, b.load(oid(0)))
        self.assertEqual(len(list(b.bulk_load([oid(0), oid(1)]))), 2)
        records = b.bulk_load([oid(0), oid(1), oid(2)])
        self.assertRaises(KeyError, list, records)
        # pack() removes the unreachable oid 1 and reports it via sync().
        b.pack()
        self.assertEqual([o for o, _ in b.gen_oid_record()], [oid(0)])
        self.assertEqual(b.sync(), [oid(1)])
        self.assertEqual(b.sync(), [])

    def test_is_a_durus_storage(self):
        if not durus_available():
            self.skipTest("needs durus")
        import durus.storage
        with BerkeleyDBStorage(self.home()) as s:
            self.assertIsInstance(s, durus.storage.Storage)


class GenOidRecordTest(TempDirTestCase):

    def setUp(self):
        super().setUp()
        self.s = BerkeleyDBStorage(self.home(), gc_background=False)
        self.addCleanup(self.s.close)
        for _ in range(8):
            self.s.new_oid()
        # Reachable: 0 -> 1, 2; 1 -> 3; 2 -> 3, 4; 4 -> 1 (a reachable cycle).
        # Unreachable: 5 -> 6, 6 -> 7.
        graph = {0: [1, 2], 1: [3], 2: [3, 4], 3: [], 4: [1],
                 5: [6], 6: [7], 7: []}
        self.s.begin()
        for n, refs in graph.items():
            self.s.store(oid(n), record(n, b"data%d" % n, refs))
        self.s.end()

    def test_from_root_visits_exactly_the_reachable(self):
        for batch_size in (1, 2, 100):
            seen = [o for o, _ in self.s.gen_oid_record(ROOT, batch_size=batch_size)]
            self.assertEqual(sorted(seen), [oid(n) for n in range(5)], batch_size)
            self.assertEqual(len(seen), len(set(seen)))
            self.assertEqual(seen[0], ROOT)

    def test_from_other_start(self):
        seen = sorted(o for o, _ in self.s.gen_oid_record(start_oid=oid(5)))
        self.assertEqual(seen, [oid(5), oid(6), oid(7)])

    def test_records_match_load(self):
        for o, rec in self.s.gen_oid_record(ROOT):
            self.assertEqual(rec, self.s.load(o))

    def test_without_start_lists_everything_in_oid_order(self):
        items = list(self.s.gen_oid_record())
        self.assertEqual([o for o, _ in items], [oid(n) for n in range(8)])
        self.assertEqual(items[3][1], record(3, b"data3"))

    def test_accepts_extra_keywords(self):
        # FileStorage.gen_oid_record takes `seen`; callers pass it around.
        self.assertEqual(len(list(self.s.gen_oid_record(ROOT, seen=None, other=1))), 5)

    def test_scan_crosses_batches(self):
        # More records than one internal scan batch (1000).
        first = int.from_bytes(self.s.new_oid(), "big")
        self.s.begin()
        refs = list(range(first, first + 2500))
        for n in refs:
            self.assertEqual(self.s.new_oid() if n != first else oid(first), oid(n))
            self.s.store(oid(n), record(n, b"x"))
        self.s.store(ROOT, record(0, b"root", [1, 2] + refs))
        self.s.end()
        oids = [o for o, _ in self.s.gen_oid_record()]
        self.assertEqual(len(oids), 8 + 2500)
        self.assertEqual(oids, sorted(oids))
        self.assertEqual(len(list(self.s.gen_oid_record(ROOT))), 5 + 2500)


class CommitTest(TempDirTestCase):

    def setUp(self):
        super().setUp()
        self.s = BerkeleyDBStorage(self.home())
        self.addCleanup(self.s.close)
        self.assertEqual(self.s.new_oid(), ROOT)
        self.s.begin()
        self.s.store(ROOT, record(0, b"root"))
        self.s.end()

    def test_bad_oid_length_is_value_error_naming_it(self):
        self.s.begin()
        with self.assertRaises(ValueError) as cm:
            self.s.store(b"abc", record(0))
        self.assertIn("b'abc'", str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            self.s.load(b"\x01" * 9)
        self.assertIn(repr(b"\x01" * 9), str(cm.exception))

    def test_malformed_record_is_value_error_naming_the_oid(self):
        n = int.from_bytes(self.s.new_oid(), "big")
        self.s.begin()
        truncated = record(n, b"abcdef")[:-3]
        with self.assertRaises(InvalidArgumentError) as cm:
            self.s.store(oid(n), truncated)
        self.assertIsInstance(cm.exception, ValueError)
        self.assertIn("oid %d" % n, str(cm.exception))
        self.assertIn(self.s.get_filename(), str(cm.exception))
        # Record stored under another oid than the one it embeds.
        with self.assertRaises(ValueError) as cm:
            self.s.store(oid(n), record(n + 1, b"x"))
        self.assertIn(str(n), str(cm.exception))
        # refs not a multiple of 8 bytes
        with self.assertRaises(ValueError):
            self.s.store(oid(n), record(n, b"x") + b"\0\0\0")

    def test_non_bytes_is_type_error(self):
        self.s.begin()
        with self.assertRaises(TypeError):
            self.s.store("x" * 8, record(0))
        with self.assertRaises(TypeError):
            self.s.store(ROOT, bytearray(record(0)))
        with self.assertRaises(TypeError):
            self.s.load(0)

    def test_failed_store_keeps_earlier_records(self):
        n = int.from_bytes(self.s.new_oid(), "big")
        self.s.begin()
        self.s.store(oid(n), record(n, b"good"))
        self.assertRaises(ValueError, self.s.store, oid(n), b"short")
        self.s.store(ROOT, record(0, b"root2", [n]))
        self.s.end()
        self.assertEqual(self.s.load(oid(n)), record(n, b"good"))

    def test_begin_discards_pending(self):
        self.s.begin()
        self.s.store(ROOT, record(0, b"discarded"))
        self.s.begin()
        self.s.end()
        self.assertEqual(self.s.load(ROOT), record(0, b"root"))

    def test_last_store_of_an_oid_wins(self):
        self.s.begin()
        self.s.store(ROOT, record(0, b"one"))
        self.s.store(ROOT, record(0, b"two"))
        self.s.end()
        self.assertEqual(self.s.load(ROOT), record(0, b"two"))

    def test_dangling_reference_is_refused_with_a_conflict(self):
        n = int.from_bytes(self.s.new_oid(), "big")
        missing = n + 1000
        self.s.begin()
        self.s.store(oid(n), record(n, b"new"))
        self.s.store(ROOT, record(0, b"root2", [n, missing]))
        with self.assertRaises(ConflictError) as cm:
            self.s.end()
        e = cm.exception
        self.assertIsInstance(e, ReferenceConflictError)
        self.assertIn(oid(missing), e.oids)
        self.assertIn("oid %d" % missing, str(e))
        self.assertIn(self.s.get_filename(), str(e))
        # Nothing was written and the batch is gone.
        self.assertEqual(self.s.load(ROOT), record(0, b"root"))
        self.assertRaises(KeyError, self.s.load, oid(n))
        self.s.end()
        self.assertRaises(KeyError, self.s.load, oid(n))

    def test_new_oids_are_unique_and_never_stored_ones(self):
        handed = {self.s.new_oid() for _ in range(500)}
        self.assertEqual(len(handed), 500)
        self.assertNotIn(ROOT, handed)

    def test_end_passes_collected_oids_to_handle_invalidations(self):
        n = int.from_bytes(self.s.new_oid(), "big")
        self.s.begin()
        self.s.store(oid(n), record(n, b"child"))
        self.s.store(ROOT, record(0, b"root", [n]))
        self.s.end()
        self.s.begin()
        self.s.store(ROOT, record(0, b"root"))
        self.s.end()
        self.s.collect()          # n had no referrer left: collected
        seen = []
        self.s.begin()
        self.s.store(ROOT, record(0, b"root3"))
        self.s.end(seen.extend)
        self.assertEqual(seen, [oid(n)])
        self.assertEqual(self.s.sync(), [])   # already handed over

    def test_handle_invalidations_raising_aborts_the_commit(self):
        n = int.from_bytes(self.s.new_oid(), "big")
        self.s.begin()
        self.s.store(oid(n), record(n, b"child"))
        self.s.store(ROOT, record(0, b"root", [n]))
        self.s.end()
        self.s.begin()
        self.s.store(ROOT, record(0, b"root"))
        self.s.end()
        self.s.collect()

        class Refused(Exception):
            pass

        def refuse(oids):
            raise Refused(oids)
        self.s.begin()
        self.s.store(ROOT, record(0, b"never"))
        self.assertRaises(Refused, self.s.end, refuse)
        self.assertEqual(self.s.load(ROOT), record(0, b"root"))


class PackTest(TempDirTestCase):

    def test_get_packer_collects_unreferenced_objects(self):
        import time
        s = BerkeleyDBStorage(self.home(), gc_background=False)
        self.addCleanup(s.close)
        s.new_oid()
        child = s.new_oid()
        s.begin()
        s.store(child, record(1, b"child"))
        s.store(ROOT, record(0, b"root", [1]))
        s.end()
        s.begin()
        s.store(ROOT, record(0, b"root"))
        s.end()
        self.assertEqual(s.stat()["pending_garbage"], 1)
        steps = list(s.get_packer())       # what StorageServer does
        self.assertTrue(steps and all(isinstance(x, str) for x in steps))
        # The pack may run on the storage's own thread: wait (bounded).
        deadline = time.monotonic() + 60
        removed = []
        while child not in removed:
            self.assertLess(time.monotonic(), deadline, "child never collected")
            removed += s.sync()
            time.sleep(0.01)
        self.assertRaises(KeyError, s.load, child)
        self.assertEqual(s.stat()["object_count"], 1)

    def test_pack_frees_unreachable_cycles(self):
        with BerkeleyDBStorage(self.home(), gc_background=False) as s:
            for _ in range(4):
                s.new_oid()
            s.begin()
            s.store(ROOT, record(0, b"root", [1, 3]))
            s.store(oid(1), record(1, b"a", [2]))
            s.store(oid(2), record(2, b"b", [1]))      # 1 <-> 2
            s.store(oid(3), record(3, b"kept"))
            s.end()
            s.begin()
            s.store(ROOT, record(0, b"root", [3]))      # drop the cycle
            s.end()
            s.collect()                                  # counts stay 1: not freed
            self.assertEqual(s.stat()["object_count"], 4)
            report = s.pack()
            self.assertTrue(report["cycles"])
            self.assertEqual(report["collected"], 2)
            self.assertEqual(sorted(s.sync()), [oid(1), oid(2)])
            self.assertEqual([o for o, _ in s.gen_oid_record()], [ROOT, oid(3)])

    def test_pack_reports(self):
        with BerkeleyDBStorage(self.home(), gc_background=False) as s:
            s.new_oid()
            s.begin()
            s.store(ROOT, record(0, b"root"))
            s.end()
            report = s.pack()
            for key in ("collected", "bytes_freed", "pending_after", "cycles"):
                self.assertIn(key, report)
            self.assertEqual(report["collected"], 0)


class LifeCycleTest(TempDirTestCase):

    def test_reopen_in_a_new_process_sees_commits(self):
        path = self.home()
        with BerkeleyDBStorage(path) as s:
            s.new_oid()
            s.new_oid()
            s.begin()
            s.store(oid(1), record(1, b"one"))
            s.store(ROOT, record(0, b"root", [1]))
            s.end()
        code = (
            "import sys\n"
            "from durus_bdb import BerkeleyDBStorage\n"
            "with BerkeleyDBStorage(sys.argv[1], readonly=True) as s:\n"
            "    for o, r in s.gen_oid_record():\n"
            "        print(o.hex(), r.hex())\n")
        out = run_python(code, path).stdout.split()
        self.assertEqual(out, [oid(0).hex(), record(0, b"root", [1]).hex(),
                               oid(1).hex(), record(1, b"one").hex()])

    def test_new_oid_after_reopen_skips_stored_oids(self):
        path = self.home()
        with BerkeleyDBStorage(path) as s:
            stored = [s.new_oid() for _ in range(10)]
            s.begin()
            s.store(ROOT, record(0, b"root", range(1, 10)))
            for o in stored[1:]:
                s.store(o, record(int.from_bytes(o, "big")))
            s.end()
        with BerkeleyDBStorage(path) as s:
            self.assertNotIn(s.new_oid(), stored)

    def test_context_manager_repr_str_filename(self):
        path = self.home()
        with BerkeleyDBStorage(path, durability="write_nosync") as s:
            self.assertEqual(s.get_filename(), path)
            self.assertEqual(str(s), "BerkeleyDBStorage(%r)" % path)
            self.assertIn(path, repr(s))
            self.assertIn("write_nosync", repr(s))
            self.assertFalse(s.closed)
        self.assertTrue(s.closed)
        self.assertIn("closed", repr(s))
        s.close()  # idempotent

    def test_use_after_close_is_storage_error_naming_path(self):
        s = BerkeleyDBStorage(self.home())
        s.close()
        for call in (lambda: s.load(ROOT), s.new_oid, s.sync, s.stat,
                     lambda: list(s.gen_oid_record())):
            with self.assertRaises(StorageError) as cm:
                call()
            self.assertEqual(cm.exception.code, "Closed")
            self.assertIn(self.home(), str(cm.exception))

    def test_stat(self):
        with BerkeleyDBStorage(self.home(), cache_mb=16) as s:
            s.new_oid()
            s.begin()
            s.store(ROOT, record(0, b"x" * 100))
            s.end()
            st = s.stat()
            self.assertEqual(st["object_count"], 1)
            self.assertEqual(st["record_bytes"], len(record(0, b"x" * 100)))
            self.assertEqual(st["durability"], "sync")
            self.assertEqual(st["path"], self.home())
            for key in ("pending_garbage", "next_oid", "format_version",
                        "disk_bytes", "collected_total", "trace_running"):
                self.assertIn(key, st)
            self.assertEqual(s.get_refcount(ROOT), 0)

    def test_every_durability(self):
        for d in ("sync", "write_nosync", "nosync"):
            path = self.home(d)
            with BerkeleyDBStorage(path, durability=d, flush_interval_ms=10) as s:
                s.new_oid()
                s.begin()
                s.store(ROOT, record(0, d.encode()))
                s.end()
                self.assertEqual(s.stat()["durability"], d)
            with BerkeleyDBStorage(path) as s:
                self.assertEqual(s.load(ROOT), record(0, d.encode()))

    def test_readonly(self):
        path = self.home()
        with BerkeleyDBStorage(path) as s:
            s.new_oid()
            s.begin()
            s.store(ROOT, record(0, b"r"))
            s.end()
        with BerkeleyDBStorage(path, readonly=True) as s:
            self.assertEqual(s.load(ROOT), record(0, b"r"))
            s.begin()
            s.store(ROOT, record(0, b"w"))
            with self.assertRaises(StorageError) as cm:
                s.end()
            self.assertEqual(cm.exception.code, "ReadOnly")
            self.assertIn(path, str(cm.exception))
            self.assertEqual(s.load(ROOT), record(0, b"r"))
            self.assertEqual(str(cm.exception).count(path), 1, str(cm.exception))
            # Durus's server asks any storage for a packer: none here.
            self.assertEqual(list(s.get_packer()), [])

    def test_path_like_and_repair_accepted(self):
        import pathlib
        with BerkeleyDBStorage(pathlib.Path(self.home()), repair=True) as s:
            self.assertEqual(s.get_filename(), self.home())

    def test_missing_path_is_an_error(self):
        self.assertRaises(ValueError, BerkeleyDBStorage, None)
        with self.assertRaises(StorageError) as cm:
            BerkeleyDBStorage(self.home("absent"), create_if_missing=False)
        self.assertIn(self.home("absent"), str(cm.exception))

    def test_busy_home_names_the_path(self):
        path = self.home()
        BerkeleyDBStorage(path).close()
        code = (
            "import sys\n"
            "from durus_bdb import BerkeleyDBStorage, StorageError\n"
            "try:\n"
            "    BerkeleyDBStorage(sys.argv[1])\n"
            "except StorageError as e:\n"
            "    print(e.code); print(e)\n")
        with BerkeleyDBStorage(path):
            out = run_python(code, path).stdout.splitlines()
        self.assertEqual(out[0], "Busy")
        self.assertIn(path, out[1])


class OptionsTest(TempDirTestCase):

    def test_unknown_options_are_a_type_error_naming_them(self):
        with self.assertRaises(TypeError) as cm:
            BerkeleyDBStorage(self.home(), gc_batch=10, bogus=1, other_one=2)
        self.assertIn("bogus", str(cm.exception))
        self.assertIn("other_one", str(cm.exception))
        self.assertFalse(os.path.exists(self.home()))

    def test_bad_values(self):
        with self.assertRaises(TypeError) as cm:
            BerkeleyDBStorage(self.home(), gc_batch="10")
        self.assertIn("gc_batch", str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            BerkeleyDBStorage(self.home(), checkpoint_interval_ms=-1)
        self.assertIn("checkpoint_interval_ms", str(cm.exception))
        with self.assertRaises(ValueError) as cm:
            BerkeleyDBStorage(self.home(), durability="fast")
        self.assertIn("fast", str(cm.exception))
        with self.assertRaises(TypeError):
            BerkeleyDBStorage(self.home(), gc_background="yes")

    def test_all_documented_options_accepted(self):
        with BerkeleyDBStorage(self.home(), durability="nosync", cache_mb=8,
                               flush_interval_ms=100, checkpoint_interval_ms=500,
                               max_commit_records=1000, create_if_missing=True,
                               gc_background=False, gc_batch=16, gc_per_second=100,
                               gc_interval_ms=20) as s:
            self.assertEqual(s.new_oid(), ROOT)


class ThreadsTest(TempDirTestCase):
    """Several Python threads on one storage while its own background
    threads run; close() racing with loads must not crash."""

    def test_concurrent_loads_and_commits_then_close(self):
        s = BerkeleyDBStorage(self.home(), checkpoint_interval_ms=5)
        oids = [s.new_oid() for _ in range(200)]
        s.begin()
        s.store(ROOT, record(0, b"root", range(1, 200)))
        for o in oids[1:]:
            s.store(o, record(int.from_bytes(o, "big"), b"v0"))
        s.end()
        errors = []
        stop = threading.Event()

        def reader():
            try:
                while not stop.is_set():
                    for o in oids:
                        s.load(o)
            except StorageError as e:
                if e.code != "Closed":
                    errors.append(e)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(e)

        threads = [threading.Thread(target=reader) for _ in range(3)]
        for t in threads:
            t.start()
        for i in range(50):
            s.begin()
            s.store(oids[1], record(1, b"v%d" % i))
            s.end()
        self.assertEqual(s.load(oids[1]), record(1, b"v49"))
        s.close()            # races with the readers on purpose
        stop.set()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])


class GilTest(TempDirTestCase):
    """Storage calls release the GIL.  With a huge switch interval the main
    thread never hands the GIL over while running Python code, so a watcher
    thread can only run while main is inside a call that released it."""

    def watch(self, fn):
        state = {"inside": False, "seen": 0, "stop": False}

        def watcher():
            import time
            while not state["stop"]:
                if state["inside"]:
                    state["seen"] += 1
                time.sleep(0.0002)   # releases the GIL between looks

        old = sys.getswitchinterval()
        sys.setswitchinterval(100.0)
        t = threading.Thread(target=watcher)
        t.start()
        try:
            state["inside"] = True
            fn()
            state["inside"] = False
        finally:
            state["stop"] = True
            sys.setswitchinterval(old)
            t.join()
        return state["seen"]

    def test_storage_calls_release_the_gil(self):
        s = BerkeleyDBStorage(self.home(), durability="sync")
        self.addCleanup(s.close)
        oids = [s.new_oid() for _ in range(30001)]
        s.begin()
        s.store(ROOT, record(0, b"root", range(1, 30001)))
        for o in oids[1:]:
            s.store(o, record(int.from_bytes(o, "big"), b"x" * 200))
        self.assertGreater(self.watch(s._commit), 0, "commit held the GIL")

        def loads():
            for _ in range(3):
                for o in oids:
                    s.load(o)
        self.assertGreater(self.watch(loads), 0, "load held the GIL")


if __name__ == "__main__":
    unittest.main()
