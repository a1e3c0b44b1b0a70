"""A Durus client process putting a server under a steady light load for
the status page test: commits (a counter under the root) and loads (a
fresh connection's read of it), until killed or after 60 s.

  load_client.py HOST:PORT
"""
import sys
import time

from durus.client_storage import ClientStorage
from durus.connection import Connection
from durus.error import ConflictError
from durus.persistent_dict import PersistentDict


def main(address):
    host, _, port = address.rpartition(':')
    conn = Connection(ClientStorage(host=host, port=int(port)))
    root = conn.get_root()
    if 'load' not in root:
        root['load'] = PersistentDict({'n': 0})
        conn.commit()
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            counter = conn.get_root()['load']
            counter['n'] += 1
            conn.commit()
        except ConflictError:
            conn.abort()
        # A load ('L'): the record read again from the server.
        conn.get_storage().load(conn.get_root()['load']._p_oid)
        time.sleep(0.02)


if __name__ == '__main__':
    main(sys.argv[1])
