#!/usr/bin/env python3
"""Benchmark: durus_bdb.BerkeleyDBStorage against Durus's FileStorage and
SqliteStorage, in one run, on this machine.  Prints figures and ratios.

    /usr/bin/python3 bench/python_storage_bench.py --build build-python \
        [--durus ../shared/durus] [--records 100000] [--objects 20000]

1. Storage API, in process (issue 3): begin/store x 100/end commits of
   ~300-byte records, then random loads of every record (after reopening).
   Each commit stores 99 leaf records, one "page" record referencing them
   and the previous page, and the root re-stored to reference the newest
   page, so every record stays reachable (our collector would otherwise
   delete unreferenced records).  BerkeleyDBStorage in write_nosync
   (target: >= 1.5x FileStorage, which never fsyncs), sync and nosync.
2. Connection level: commits of 1,000 new PersistentDicts (in a BTree),
   then a cold Connection on the reopened storage loading every one
   (target: >= 1.0x FileStorage).

Figures are ops/s (higher is better); ratio = ours / peer.
"""

import argparse
import gc
import os
import random
import shutil
import sys
import tempfile
import time


def setup_path(args):
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(here)
    build = args.build or os.path.join(repo, "build")
    durus = args.durus or os.path.join(repo, "..", "shared", "durus")
    for p in (os.path.join(build, "python"), durus):
        sys.path.insert(0, os.path.abspath(p))


def oid(n):
    return n.to_bytes(8, "big")


def make_record(n, size, refs=()):
    refs_bytes = b"".join(oid(r) for r in refs)
    data_len = max(1, size - 12 - len(refs_bytes))
    # Incompressible-looking bytes of a fixed pattern per oid.
    data = (n.to_bytes(8, "big") * (data_len // 8 + 1))[:data_len]
    return oid(n) + data_len.to_bytes(4, "big") + data + refs_bytes


# Wall time by default; --clock cpu uses this process's CPU time (all its
# threads, Berkeley DB's background threads included), which stays
# meaningful on a shared, overloaded machine but leaves out time spent
# waiting for fsync (so it flatters `sync`).
CLOCK = time.perf_counter


# -- storage API ---------------------------------------------------------

class Peer(object):
    def __init__(self, name, open_fn, path):
        self.name, self.open_fn, self.path = name, open_fn, path


def storage_api_run(peer, n_records, per_commit, record_size, seed=1):
    """Returns (stores_per_s, loads_per_s, stored)."""
    s = peer.open_fn(peer.path)
    root = s.new_oid()
    assert root == oid(0), root
    s.begin()
    s.store(root, make_record(0, record_size))
    s.end()
    leaves_per_commit = per_commit - 1        # + 1 page; + the root
    commits = n_records // per_commit
    # Records built and oids handed out before timing: we measure the
    # commit path (begin/store/end), the same for every peer.
    plan = []
    prev_page = None
    for _ in range(commits):
        leaves = [int.from_bytes(s.new_oid(), "big") for _ in range(leaves_per_commit)]
        page = int.from_bytes(s.new_oid(), "big")
        page_refs = leaves + ([prev_page] if prev_page is not None else [])
        recs = [(oid(l), make_record(l, record_size)) for l in leaves]
        recs.append((oid(page), make_record(page, record_size, sorted(page_refs))))
        recs.append((root, make_record(0, record_size, [page])))
        plan.append(recs)
        prev_page = page
    gc.collect()
    stored = 0
    t0 = CLOCK()
    for recs in plan:
        s.begin()
        for o, r in recs:
            s.store(o, r)
        s.end()
        stored += len(recs)
    t_store = CLOCK() - t0
    s.close()

    oids = [o for recs in plan for o, _ in recs if o != root]
    random.Random(seed).shuffle(oids)
    s = peer.open_fn(peer.path)
    load = s.load
    gc.collect()
    t0 = CLOCK()
    for o in oids:
        load(o)
    t_load = CLOCK() - t0
    s.close()
    return stored / t_store, len(oids) / t_load, stored


# -- Connection level ------------------------------------------------------

def connection_run(open_fn, path, n_objects, per_commit):
    """Returns (objects_committed_per_s, cold_loads_per_s)."""
    from durus.btree import BTree
    from durus.connection import Connection
    from durus.persistent_dict import PersistentDict
    storage = open_fn(path)
    c = Connection(storage)
    c.root["items"] = BTree()
    c.commit()
    tree = c.root["items"]
    gc.collect()
    t0 = CLOCK()
    for start in range(0, n_objects, per_commit):
        for i in range(start, min(n_objects, start + per_commit)):
            tree[i] = PersistentDict(n=i, name="object %d" % i, tags=["a", "b", i % 13])
        c.commit()
    t_commit = CLOCK() - t0
    storage.close()
    del c, tree

    storage = open_fn(path)
    c = Connection(storage, cache_size=n_objects * 2)
    gc.collect()
    t0 = CLOCK()
    total = 0
    for i, d in c.root["items"].items():
        total += d["n"]            # loads the ghost's state
    t_load = CLOCK() - t0
    assert total == n_objects * (n_objects - 1) // 2
    storage.close()
    return n_objects / t_commit, n_objects / t_load


def fmt(x):
    return "%10.0f" % x


def best_of(args, peers, run):
    """Round-robin over peers `repeat` times (so a load spike on a shared
    machine hits every peer alike); best figures per peer."""
    results = {name: None for name, _ in peers}
    for r in range(args.repeat):
        for name, fn in peers:
            path = os.path.join(args.scratch, "%s-%d" % (name.replace(" ", "_"), r))
            figures = run(fn, path)
            old = results[name]
            results[name] = figures if old is None else tuple(map(max, old, figures))
            if os.path.isdir(path):
                shutil.rmtree(path, True)
            elif os.path.exists(path):
                os.unlink(path)
    return results


def storage_api_section(args, bdb, FileStorage, SqliteStorage):
    print("\n== storage API: %d records of ~%d B, %d per commit "
          "(ops/s, best of %d) ==" % (args.records, args.record_size,
                                      args.per_commit, args.repeat))
    peers = [
        ("FileStorage", lambda p: FileStorage(p)),
        ("SqliteStorage", lambda p: SqliteStorage(p)),
        ("bdb write_nosync", bdb("write_nosync")),
        ("bdb sync", bdb("sync")),
        ("bdb nosync", bdb("nosync")),
    ]

    def run(fn, path):
        st, ld, _ = storage_api_run(Peer(path, fn, path), args.records,
                                    args.per_commit, args.record_size)
        return st, ld
    results = best_of(args, peers, run)
    fs_st, fs_ld = results["FileStorage"]
    sq_st, sq_ld = results["SqliteStorage"]
    print("%-18s %10s %10s %9s %9s %9s %9s" % (
        "storage", "stores/s", "loads/s", "st/File", "ld/File", "st/Sqlite", "ld/Sqlite"))
    for name, _ in peers:
        st, ld = results[name]
        print("%-18s %s %s %8.2fx %8.2fx %8.2fx %8.2fx" % (
            name, fmt(st), fmt(ld), st / fs_st, ld / fs_ld, st / sq_st, ld / sq_ld))
    st, ld = results["bdb write_nosync"]
    print("target write_nosync >= 1.5x FileStorage: stores %.2fx %s, loads %.2fx %s" % (
        st / fs_st, "MET" if st / fs_st >= 1.5 else "NOT MET",
        ld / fs_ld, "MET" if ld / fs_ld >= 1.5 else "NOT MET"))


def connection_section(args, bdb, FileStorage):
    print("\n== Connection: %d new PersistentDicts in a BTree, %d per commit; "
          "cold loads of all (objects/s, best of %d) ==" % (
              args.objects, args.objects_per_commit, args.repeat))
    peers = [
        ("FileStorage", lambda p: FileStorage(p)),
        ("bdb write_nosync", bdb("write_nosync")),
        ("bdb sync", bdb("sync")),
    ]
    results = best_of(args, peers, lambda fn, path: connection_run(
        fn, path, args.objects, args.objects_per_commit))
    fcm, fld = results["FileStorage"]
    print("%-18s %10s %10s %9s %9s" % ("storage", "commit/s", "load/s", "cm/File", "ld/File"))
    for name, _ in peers:
        cm, ld = results[name]
        print("%-18s %s %s %8.2fx %8.2fx" % (name, fmt(cm), fmt(ld), cm / fcm, ld / fld))
    cm, ld = results["bdb write_nosync"]
    print("target write_nosync >= 1.0x FileStorage: commits %.2fx %s, cold loads %.2fx %s" % (
        cm / fcm, "MET" if cm / fcm >= 1.0 else "NOT MET",
        ld / fld, "MET" if ld / fld >= 1.0 else "NOT MET"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--build", help="CMake build dir (default <repo>/build)")
    ap.add_argument("--durus", help="Durus source dir (default <repo>/../shared/durus)")
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--per-commit", type=int, default=100)
    ap.add_argument("--record-size", type=int, default=300)
    ap.add_argument("--objects", type=int, default=20000)
    ap.add_argument("--objects-per-commit", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=1,
                    help="best of N rounds (round-robin over the storages)")
    ap.add_argument("--dir", help="scratch directory (default: a temp dir)")
    ap.add_argument("--section", choices=("all", "api", "connection"), default="all")
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                    help="wall time, or process CPU time (for a busy machine)")
    args = ap.parse_args()
    global CLOCK
    CLOCK = time.perf_counter if args.clock == "wall" else time.process_time
    setup_path(args)

    from durus.logger import logger
    logger.setLevel(40)   # FileStorage/Sqlite log every commit at level 20
    from durus.file_storage import FileStorage
    from durus.sqlite_storage import SqliteStorage
    import durus_bdb
    from durus_bdb import BerkeleyDBStorage

    args.scratch = tempfile.mkdtemp(prefix="durus_bdb_bench_", dir=args.dir)
    print("python %s, durus_bdb from %s" % (sys.version.split()[0],
                                            os.path.dirname(durus_bdb.__file__)))
    print("scratch %s; %s clock; load average at start %.2f" % (
        args.scratch, args.clock, os.getloadavg()[0]))

    def bdb(durability):
        return lambda p: BerkeleyDBStorage(p, durability=durability)

    try:
        if args.section in ("all", "api"):
            storage_api_section(args, bdb, FileStorage, SqliteStorage)
        if args.section in ("all", "connection"):
            connection_section(args, bdb, FileStorage)
    finally:
        shutil.rmtree(args.scratch, True)
    print("load average at end %.2f" % os.getloadavg()[0])


if __name__ == "__main__":
    main()
