"""BerkeleyDBStorage: a Durus storage kept in a Berkeley DB home directory.

Drop-in for Durus's FileStorage: Connection(BerkeleyDBStorage(path)), or
`durus -s --storage-class=durus_bdb.BerkeleyDBStorage --file=DIR`.

The hot methods (load, store, new_oid, begin, sync) are the C++ core's own
(durus_bdb._durus_bdb.StorageCore); this class adds Durus's generator
methods and the end() invalidation step.  Every call into Berkeley DB
releases the GIL.
"""

import heapq
import os

from durus_bdb import _durus_bdb
from durus_bdb import errors as _errors

try:
    from durus.storage import Storage as _DurusStorage
except ImportError:  # Durus is optional; Connection needs the real base.
    _DurusStorage = object

_durus_bdb._set_error_factory(_errors.make_error)

ROOT_OID = b"\0" * 8

# Records fetched per Scan call when gen_oid_record() walks everything.
_SCAN_BATCH = 1000


def _record_refs(record):
    """The 8-byte oids referenced by a Durus record (durus/serialize.py)."""
    data_len = int.from_bytes(record[8:12], "big")
    refs = record[12 + data_len:]
    return [refs[i:i + 8] for i in range(0, len(refs), 8)]


class BerkeleyDBStorage(_durus_bdb.StorageCore, _DurusStorage):
    """BerkeleyDBStorage(path, readonly=False, repair=False, durability=None,
    cache_mb=None, **options)

    path        the home directory (created when missing unless
                create_if_missing=False).
    readonly    open read-only: store/end/new_oid raise StorageError.
    repair      accepted for Durus's command line; Berkeley DB recovery
                always runs at open, so there is nothing more to repair.
    durability  "sync" (fsync every commit), "write_nosync" (survives a
                process crash, not an OS crash) or "nosync".
    cache_mb    Berkeley DB cache size, MiB.
                None (the default, here and for every option): the
                DURUS_BDB_<NAME> environment variable, else the value the
                home keeps (`durus-bdb config HOME`), else the built-in
                default (sync, 64); see doc/options.md.  A value given here
                applies to this open only.
    options     flush_interval_ms, checkpoint_interval_ms,
                max_commit_records, create_if_missing, gc_background,
                gc_batch, gc_per_second, gc_interval_ms, log_file_mb
                (see doc/python.md, doc/options.md).
                Unknown names raise TypeError naming them.
    """

    def __init__(self, path, readonly=False, repair=False, durability=None,
                 cache_mb=None, **options):
        if path is None:
            raise ValueError("BerkeleyDBStorage needs a home directory path "
                             "(durus: --file=DIR)")
        memory_model = bool(options.pop("_memory_model", False))
        path = os.path.abspath(os.fsdecode(path))
        if durability is not None and not isinstance(durability, str):
            raise TypeError("durability must be a str, not %s"
                            % type(durability).__name__)
        _durus_bdb.StorageCore.__init__(
            self, path, bool(readonly), durability,
            None if cache_mb is None else int(cache_mb), options,
            memory_model)
        self.repair = bool(repair)

    # -- the Durus storage interface ----------------------------------
    # load, begin, store, sync, new_oid, close, get_filename: StorageCore.

    def end(self, handle_invalidations=None):
        """Commit the records stored since begin(), atomically.

        Like ClientStorage, first hands the oids the collector removed since
        the last sync() to handle_invalidations (Connection raises
        WriteConflictError there if this transaction used one of them).
        Raises a ConflictError subclass, writing nothing, if a record
        references an oid that does not exist.
        """
        if handle_invalidations is not None:
            removed = self.sync()
            if removed:
                try:
                    handle_invalidations(removed)
                except BaseException:
                    self.begin()
                    raise
        self._commit()

    def bulk_load(self, oids, batch_size=100):
        """Records for `oids`, in order.  A missing oid raises
        MissingObjectError (a KeyError) when the iteration reaches it."""
        load_many = self._bulk_load
        batch = []
        for oid in oids:
            batch.append(oid)
            if len(batch) >= batch_size:
                for oid2, record in zip(batch, load_many(batch)):
                    yield record if record is not None else self.load(oid2)
                batch = []
        if batch:
            for oid2, record in zip(batch, load_many(batch)):
                yield record if record is not None else self.load(oid2)

    def gen_oid_record(self, start_oid=None, batch_size=100, **kw):
        """(oid, record) pairs.

        Without start_oid: every stored record, in oid order (reachable or
        not).  With start_oid: breadth-first over references from it, as
        Durus's Storage.gen_oid_record (each reachable object once).  Extra
        keyword arguments (FileStorage's `seen`) are accepted and ignored.
        """
        if start_oid is None:
            start = 0
            while True:
                batch = self._scan(start, _SCAN_BATCH)
                for item in batch:
                    yield item
                if len(batch) < _SCAN_BATCH:
                    return
                start = int.from_bytes(batch[-1][0], "big") + 1
        todo = [start_oid]
        seen = set()
        batch_size = max(1, int(batch_size))
        while todo:
            batch = []
            while todo and len(batch) < batch_size:
                oid = heapq.heappop(todo)
                if oid not in seen:
                    batch.append(oid)
                    seen.add(oid)
            for oid, record in zip(batch, self.bulk_load(batch, batch_size)):
                yield oid, record
                for ref in _record_refs(record):
                    if ref not in seen:
                        heapq.heappush(todo, ref)

    def get_packer(self):
        """An incremental packer for Durus's StorageServer: its first step
        starts an online collection (a trace from the root that also frees
        cycles) that runs on the storage's own thread, so the server keeps
        serving.  Removed oids reach clients through sync().  A read-only
        storage does not pack (an empty packer, as FileStorage's)."""
        if self.readonly:
            return iter(())

        def packer():
            if not self._start_pack():
                # No online pack in this storage: collect now.
                self.collect(True)
            yield "pack started in %s" % self.get_filename()
        return packer()

    def pack(self):
        """Full collection now (blocking): queued garbage and unreachable
        cycles.  Returns the collector's report dict; its "cycles" entry
        says whether unreachable cycles were traced too (only queued
        garbage is collected by storages without the trace)."""
        try:
            report = self.collect(True)
            report["cycles"] = True
        except _errors.StorageError as e:
            if e.code != "NotSupported":
                raise
            report = self.collect(False)
            report["cycles"] = False
        return report

    # -- conveniences --------------------------------------------------

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __str__(self):
        return "%s(%r)" % (type(self).__name__, self.get_filename())

    def __repr__(self):
        state = "closed" if self.closed else self.describe()
        return "<%s %r durability=%s%s [%s]>" % (
            type(self).__name__, self.get_filename(), self.durability,
            " readonly" if self.readonly else "", state)
