"""A Durus client process for the contention test and benchmark: increments
one shared counter (a PersistentDict under the root) as a Durus application
does, retrying the whole transaction on ConflictError.

  counter_client.py setup ADDRESS            create root['counter'] = {'n': 0}
  counter_client.py run ADDRESS COUNT START  COUNT increments, starting at
                                             time.time() >= START; with
                                             COUNT < 0, increment for -COUNT
                                             seconds instead
  counter_client.py read ADDRESS             print the counter

ADDRESS is HOST:PORT or a unix socket path.  `run` prints one JSON line:
commits, read_conflicts, write_conflicts, worst (the most retries one
increment needed), seconds.
"""
import json
import sys
import time

from durus.client_storage import ClientStorage
from durus.connection import Connection
from durus.error import ConflictError, ReadConflictError
from durus.persistent_dict import PersistentDict


def connect(address):
    host, sep, port = address.rpartition(':')
    if sep and port.isdigit():
        return Connection(ClientStorage(host=host, port=int(port)))
    return Connection(ClientStorage(address=address))


def main(argv):
    cmd, address = argv[1], argv[2]
    conn = connect(address)
    if cmd == 'setup':
        conn.get_root()['counter'] = PersistentDict({'n': 0})
        conn.commit()
    elif cmd == 'read':
        conn.abort()
        print(json.dumps({'n': conn.get_root()['counter']['n']}))
    elif cmd == 'run':
        count, start = int(argv[3]), float(argv[4])
        while time.time() < start:
            time.sleep(0.001)
        t0 = time.time()
        stats = {'commits': 0, 'read_conflicts': 0, 'write_conflicts': 0, 'worst': 0}
        while (stats['commits'] < count) if count >= 0 else (time.time() - t0 < -count):
            retries = 0
            while True:
                try:
                    counter = conn.get_root()['counter']
                    counter['n'] = counter['n'] + 1
                    conn.commit()
                    break
                except ConflictError as e:
                    kind = 'read_conflicts' if isinstance(e, ReadConflictError) else 'write_conflicts'
                    stats[kind] += 1
                    retries += 1
                    conn.abort()
            stats['commits'] += 1
            stats['worst'] = max(stats['worst'], retries)
        stats['seconds'] = time.time() - t0
        print(json.dumps(stats))
    else:
        raise SystemExit('unknown command %r' % cmd)
    conn.storage.close()


if __name__ == '__main__':
    main(sys.argv)
