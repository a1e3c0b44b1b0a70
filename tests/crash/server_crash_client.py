"""A Durus client for the reliability tests (server crash loop, faults,
stress): commits to its own part of the graph through an unmodified Durus
ClientStorage + Connection and prints every commit the server acknowledged.

Graph: root['w<W>'] is a PersistentDict owned by worker W:
  'next'    the next item number
  'items'   a durus BTree: i -> PersistentDict(i=i, payload=bytes, check=crc32)
  'scratch' a PersistentList of fresh PersistentDicts, replaced every commit
            (the old list becomes garbage for the collector)
  'ring'    two PersistentDicts referencing each other, replaced every 5th
            commit (the old ring is a cycle only the trace frees)
Workers never write each other's objects, so they never conflict.

Usage:
  server_crash_client.py setup HOST PORT WORKERS
  server_crash_client.py run HOST PORT WORKER COUNT [PACK_EVERY]
      commits up to COUNT items (0: until the server goes away), printing
      "ack W I" after each acknowledged commit; exits 0 when the server goes
      away ("gone ..." line) or COUNT is reached; with PACK_EVERY, asks the
      server for a pack (P: an online cycle trace) every PACK_EVERY commits
  server_crash_client.py check HOST PORT WORKER UPTO
      every item 0..UPTO-1 of WORKER present with a good checksum; prints
      "ok W N" (N = items stored), exit 1 with a message otherwise
"""
import os
import sys
import zlib

from durus.btree import BTree
from durus.client_storage import ClientStorage
from durus.connection import Connection
from durus.persistent_dict import PersistentDict
from durus.persistent_list import PersistentList


def connect(host, port):
    return Connection(ClientStorage(host=host, port=int(port)))


def payload(worker, i):
    return (('w%s-i%d-' % (worker, i)) * (1 + (i * 7) % 40)).encode()


def setup(host, port, workers):
    c = connect(host, port)
    root = c.get_root()
    for w in range(int(workers)):
        key = 'w%d' % w
        if key not in root:
            d = PersistentDict()
            d['next'] = 0
            d['items'] = BTree()
            root[key] = d
    c.commit()
    print('setup done')


def run(host, port, worker, count, pack_every=0):
    count, pack_every = int(count), int(pack_every)
    try:
        c = connect(host, port)
        d = c.get_root()['w%s' % worker]
        done = 0
        while count == 0 or done < count:
            i = d['next']
            item = PersistentDict()
            item['i'] = i
            item['payload'] = payload(worker, i)
            item['check'] = zlib.crc32(item['payload'])
            d['items'][i] = item
            d['next'] = i + 1
            scratch = PersistentList()
            for k in range(1 + i % 4):
                s = PersistentDict()
                s['k'] = k
                scratch.append(s)
            d['scratch'] = scratch
            if i % 5 == 0:
                a, b = PersistentDict(), PersistentDict()
                a['peer'], b['peer'] = b, a
                d['ring'] = a
            c.commit()
            sys.stdout.write('ack %s %d\n' % (worker, i))
            sys.stdout.flush()
            done += 1
            if pack_every and done % pack_every == 0:
                c.pack()
    except (OSError, EOFError) as e:
        print('gone %s %r' % (worker, e))
        sys.stdout.flush()
        return
    except Exception as e:  # Durus wraps socket errors in its own classes
        print('gone %s %s %r' % (worker, type(e).__name__, e))
        sys.stdout.flush()
        return


def check(host, port, worker, upto):
    c = connect(host, port)
    root = c.get_root()
    d = root['w%s' % worker]
    items = d['items']
    for i in range(int(upto)):
        if i not in items:
            sys.exit('worker %s: acknowledged item %d is missing (next=%d)' % (worker, i, d['next']))
        item = items[i]
        if item['i'] != i or item['check'] != zlib.crc32(item['payload']) or \
                item['payload'] != payload(worker, i):
            sys.exit('worker %s: item %d is corrupt' % (worker, i))
    if d['next'] < int(upto):
        sys.exit('worker %s: next=%d < acknowledged %s' % (worker, d['next'], upto))
    print('ok %s %d' % (worker, d['next']))


def main(argv):
    cmd = argv[1]
    if cmd == 'setup':
        setup(*argv[2:5])
    elif cmd == 'run':
        run(*argv[2:])
    elif cmd == 'check':
        check(*argv[2:6])
    else:
        sys.exit('unknown command %s' % cmd)


if __name__ == '__main__':
    main(sys.argv)
