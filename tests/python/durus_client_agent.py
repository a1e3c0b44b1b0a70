"""A Durus client in its own process, driven line by line by a test.

    python durus_client_agent.py PORT

Connects a plain Durus ClientStorage + Connection to 127.0.0.1:PORT, then
reads JSON requests from stdin, one per line: {"exec": "statements"} or
{"eval": "expression"}, run with `connection`, `root` (re-read on every
request) and the Durus persistent classes in scope.  Answers one JSON line:
{"value": repr(result)} or {"error": class name, "mro": [...], "message": str}.
"""

import json
import sys

from durus.btree import BTree
from durus.client_storage import ClientStorage
from durus.connection import Connection
from durus.persistent_dict import PersistentDict
from durus.persistent_list import PersistentList


def main():
    port = int(sys.argv[1])
    connection = Connection(ClientStorage(port=port))
    namespace = {"connection": connection, "PersistentDict": PersistentDict,
                 "PersistentList": PersistentList, "BTree": BTree}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        namespace["root"] = connection.get_root()
        try:
            if "exec" in request:
                exec(request["exec"], namespace)
                reply = {"value": None}
            else:
                reply = {"value": repr(eval(request["eval"], namespace))}
        except Exception as e:  # reported to the test, which asserts on it
            reply = {"error": type(e).__name__,
                     "mro": [k.__name__ for k in type(e).__mro__],
                     "message": str(e)}
        print(json.dumps(reply), flush=True)
    connection.storage.close()


if __name__ == "__main__":
    main()
