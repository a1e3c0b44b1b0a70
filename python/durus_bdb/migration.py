"""durus_bdb.migrate() and durus_bdb.export(): streaming migration between
Durus's own storages and a durus-bdb home, the Python face of
`durus-bdb migrate` / `durus-bdb export` (migrate/migrate.h,
doc/migration.md).  Both run in C++ with the GIL released; memory does not
grow with the number of objects.
"""

import os

from durus_bdb import _durus_bdb
from durus_bdb import errors as _errors

_durus_bdb._set_error_factory(_errors.make_error)

_HAVE_MIGRATE = hasattr(_durus_bdb, "_migrate")


def _path(name, value):
    try:
        return os.fspath(value)
    except TypeError:
        raise TypeError("%s must be a str or path-like, not %s"
                        % (name, type(value).__name__)) from None


def _str(name, value):
    if not isinstance(value, str):
        raise TypeError("%s must be a str, not %s" % (name, type(value).__name__))
    return value


def _bool(name, value):
    if isinstance(value, bool) or value in (0, 1) and isinstance(value, int):
        return bool(value)
    raise TypeError("%s must be True or False, not %r" % (name, value))


def _uint(name, value, low=0, high=2 ** 32 - 1):
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError("%s must be an int, not %s" % (name, type(value).__name__))
    if not low <= value <= high:
        raise ValueError("%s = %d is out of range (%d .. %d)" % (name, value, low, high))
    return value


def _callable(value):
    if value is not None and not callable(value):
        raise TypeError("progress must be callable or None, not %s"
                        % type(value).__name__)
    return value


def _require():
    if not _HAVE_MIGRATE:
        raise NotImplementedError("this durus_bdb build has no migrate/ library")


def migrate(source, home, *, format="auto", durability="sync", verify=False,
            strict=False, allow_dangling=False, salvage=False, force=False,
            temp_dir=None,
            cache_mb=128,
            sort_mb=32, progress=None):
    """Copy the Durus storage `source` into the new durus-bdb home `home`.

    source          a Durus FileStorage (Shelf) or FileStorage2 file, a
                    SqliteStorage file, a durus-bdb dump or a durus-bdb home.
    home            the new home; refused (InvalidArgumentError) if it exists
                    and is not empty.
    format          "auto" (by the file's magic), "shelf", "filestorage2",
                    "sqlite", "dump" or "bdb".
    durability      the home's intended mode, "sync", "write_nosync" or
                    "nosync" (the migration itself always ends fsynced).
    verify          re-read the source at the end and check every record
                    and every reference count before the home is complete.
    strict          fail on a torn last transaction instead of skipping it.
    allow_dangling  drop references to oids the source lacks (reported)
                    instead of failing.
    salvage         copy what can be read from a damaged source: skip the
                    damaged ranges instead of failing, and report each of
                    them and every object whose last version was lost
                    (implies allow_dangling).  Without it, damage anywhere
                    but a torn last transaction is an error naming the
                    offset.
    force           read a FileStorage file that a running Durus process
                    holds open for writing; without it such a source is
                    refused (StorageError, code Busy): the file may change
                    under the read.
    temp_dir        where the external-sort runs go (default: the home).
    cache_mb        Berkeley DB cache while loading.
    sort_mb         memory per external sort.
    progress        progress(dict) called now and then on this thread with
                    phase ("load", "count", "verify", "finish"), records, bytes,
                    total_records, total_bytes (0: unknown), phase_seconds,
                    phase_done.  An exception it raises stops further calls
                    and is re-raised when the migration has finished.

    Returns the report as a dict: format, source_records, source_bytes,
    objects, record_bytes, references, pending, next_oid, dangling,
    torn_tail, torn_offset, torn_bytes, torn_records, restarted, verified,
    home_data_bytes, seconds, warnings (list of str), summary (one line),
    salvage, skipped (list of dicts: offset, length, unit -- "bytes", or
    "row ids" for SQLite -- and reason), lost (list of dicts: oid, offset,
    older_version_kept) and lost_superseded (lost versions a later intact
    version replaced).

    Errors: InvalidArgumentError (a ValueError) for an unknown magic or an
    empty source or a non-empty home; StorageError for a missing source
    (code NotFound), a corrupt source (code Corruption, with its offset) or
    I/O; ValueError / TypeError for bad arguments.  On failure the home is
    removed again.
    """
    _require()
    return _durus_bdb._migrate(
        _path("source", source), _path("home", home), _str("format", format),
        _str("durability", durability), _bool("verify", verify),
        _bool("strict", strict), _bool("allow_dangling", allow_dangling),
        _bool("salvage", salvage), _bool("force", force),
        "" if temp_dir is None else _path("temp_dir", temp_dir),
        _uint("cache_mb", cache_mb, 1), _uint("sort_mb", sort_mb, 1),
        _callable(progress))


def export(home, dest, *, format="shelf", level=1, cache_mb=64, progress=None):
    """Write the durus-bdb home `home` to the new file `dest`.

    format    "shelf": a Durus FileStorage file Durus's own FileStorage
              opens; "dump": the portable durus-bdb dump (doc/dump-format.md).
    level     dump only: zlib level 0..9.
    cache_mb  Berkeley DB cache.
    progress  as for migrate(); the phase is "export".

    The home is opened read-only; `dest` must not exist (it is written to
    a temporary file renamed into place at the end).  Returns a dict:
    format, objects, record_bytes, bytes_written, seconds, summary.
    """
    _require()
    return _durus_bdb._export(
        _path("home", home), _path("dest", dest), _str("format", format),
        _uint("level", level, 0, 9), _uint("cache_mb", cache_mb, 1),
        _callable(progress))


def detect_format(path):
    """The source format of `path` by its magic: "shelf", "filestorage2",
    "sqlite", "dump" or "bdb" (a durus-bdb home).  InvalidArgumentError for
    an empty file or an unknown magic, StorageError (NotFound) if missing."""
    _require()
    return _durus_bdb._detect_format(_path("path", path))
