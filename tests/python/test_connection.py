"""Durus Connection over BerkeleyDBStorage: PersistentDict, PersistentList
and BTree, 10,000+ objects over many commits, abort discards, reopen in a
new process and compare every object."""

import json
import random
import unittest

from support import TempDirTestCase, oid, require_durus, run_python


def setUpModule():
    require_durus()


TREE_ITEMS = 3500      # each: a PersistentDict + a PersistentList
LOG_ITEMS = 2000       # each: a PersistentDict + a PersistentList
PER_COMMIT = 250

# Run in a new process: open the home, walk everything from the root into
# plain JSON, and count what gen_oid_record reaches.
DUMP = r"""
import json, sys
from durus.connection import Connection
from durus_bdb import BerkeleyDBStorage
storage = BerkeleyDBStorage(sys.argv[1])
c = Connection(storage)
root = c.get_root()
def item(d):
    return {"n": d["n"], "name": d["name"], "tags": list(d["tags"])}
out = {
    "keys": sorted(root.keys()),
    "tree": {str(k): item(v) for k, v in root["tree"].items()},
    "log": [{"seq": e["seq"], "payload": list(e["payload"])} for e in root["log"]],
    "reachable": len(list(storage.gen_oid_record(b"\0" * 8))),
    "object_count": storage.stat()["object_count"],
}
storage.close()
json.dump(out, sys.stdout)
"""


class ConnectionTest(TempDirTestCase):

    def test_many_objects_abort_and_reopen_in_new_process(self):
        from durus.btree import BTree
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        from durus.persistent_list import PersistentList
        from durus_bdb import BerkeleyDBStorage

        rng = random.Random(7)
        storage = BerkeleyDBStorage(self.home(), durability="write_nosync")
        c = Connection(storage)
        root = c.get_root()
        root["tree"] = BTree()
        root["log"] = PersistentList()
        c.commit()
        mirror_tree, mirror_log = {}, []
        commits = 0

        def new_item(i):
            tags = [i, i * 2, "x" * (i % 7)]
            d = PersistentDict(n=i, name="item%d" % i, tags=PersistentList(tags))
            mirror_tree[i] = {"n": i, "name": "item%d" % i, "tags": list(tags)}
            return d

        created = 3
        for i in range(TREE_ITEMS):
            root["tree"][i] = new_item(i)
            created += 2
            if i % PER_COMMIT == PER_COMMIT - 1:
                c.commit()
                commits += 1
        for j in range(LOG_ITEMS):
            root["log"].append(PersistentDict(seq=j, payload=PersistentList(range(j % 5))))
            mirror_log.append({"seq": j, "payload": list(range(j % 5))})
            created += 2
            if j % PER_COMMIT == PER_COMMIT - 1:
                c.commit()
                commits += 1
        c.commit()
        self.assertGreaterEqual(created, 10000)
        self.assertGreaterEqual(commits, 20)

        # Modify existing objects over several commits.
        for _ in range(5):
            for i in rng.sample(range(TREE_ITEMS), 100):
                d = root["tree"][i]
                d["name"] = "renamed%d" % i
                d["tags"].append("t%d" % i)
                mirror_tree[i]["name"] = "renamed%d" % i
                mirror_tree[i]["tags"].append("t%d" % i)
            c.commit()
        # Delete some: their dicts and lists become garbage.
        for i in rng.sample(range(TREE_ITEMS), 200):
            del root["tree"][i]
            del mirror_tree[i]
        c.commit()

        # Abort discards new objects, changes and deletions alike.  Empty
        # the garbage queue first so the background collector cannot change
        # the count while we look.
        storage.collect()
        before = storage.stat()["object_count"]
        for i in range(TREE_ITEMS, TREE_ITEMS + 100):
            root["tree"][i] = PersistentDict(n=i, name="aborted",
                                              tags=PersistentList())
        for i in list(mirror_tree)[:50]:
            root["tree"][i]["name"] = "aborted"
            root["tree"][i]["tags"].append("aborted")
        for i in list(mirror_tree)[50:70]:
            del root["tree"][i]
        root["log"].append(PersistentDict(seq=-1, payload=PersistentList()))
        root["extra"] = PersistentDict()
        c.abort()
        self.assertEqual(storage.stat()["object_count"], before)
        self.assertNotIn("extra", root)
        self.assertEqual(len(root["log"]), LOG_ITEMS)
        for i in list(mirror_tree)[:70]:
            self.assertEqual(root["tree"][i]["name"], mirror_tree[i]["name"])
            self.assertEqual(list(root["tree"][i]["tags"]), mirror_tree[i]["tags"])
        self.assertNotIn(TREE_ITEMS, root["tree"])

        # Garbage from the deletions goes (background collector or now).
        storage.collect()
        storage.close()

        out = json.loads(run_python(DUMP, self.home(), timeout=300).stdout)
        self.assertEqual(out["keys"], ["log", "tree"])
        self.assertEqual(out["tree"], {str(k): v for k, v in mirror_tree.items()})
        self.assertEqual(out["log"], mirror_log)
        # Every stored object is reachable and vice versa: the collector
        # removed exactly the deleted items.
        self.assertEqual(out["reachable"], out["object_count"])
        self.assertGreater(out["reachable"], 2 * (TREE_ITEMS - 200 + LOG_ITEMS))

    def test_abort_of_new_objects_writes_nothing(self):
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        from durus_bdb import BerkeleyDBStorage
        storage = BerkeleyDBStorage(self.home())
        self.addCleanup(storage.close)
        c = Connection(storage)
        count = storage.stat()["object_count"]
        c.root["a"] = PersistentDict(x=1)
        c.abort()
        c.commit()
        self.assertEqual(storage.stat()["object_count"], count)
        self.assertEqual(list(storage.gen_oid_record()), [(oid(0), storage.load(oid(0)))])

    def test_crawler_uses_bulk_load(self):
        from durus.connection import Connection
        from durus.persistent_list import PersistentList
        from durus_bdb import BerkeleyDBStorage
        with BerkeleyDBStorage(self.home()) as storage:
            c = Connection(storage)
            c.root["l"] = PersistentList(PersistentList([i]) for i in range(300))
            c.commit()
            c2 = Connection(storage)
            objs = list(c2.get_crawler(batch_size=7))
            self.assertEqual(len(objs), 302)
            self.assertEqual(sorted(o[0] for o in objs[2:]), list(range(300)))


if __name__ == "__main__":
    unittest.main()
