"""A Durus client process for the concurrency tests (test_concurrency.py).

The shared graph: root['nodes'] is a PersistentList of PersistentDict
nodes {'value': int, 'ops': tuple of op ids, 'leaves': tuple of leaf
PersistentDicts, 'check': crc}; a leaf is {'id': str, 'payload': bytes,
'check': crc32(payload)}.  Transfers move value between two nodes, so the
sum of all values is invariant; every applied op is recorded in the nodes
it touched.

Usage:
  graph_client.py setup HOST PORT NODES
  graph_client.py mixed HOST PORT WORKER OPS SEED   random ops; prints one
      JSON line per acknowledged op
  graph_client.py transfer HOST PORT WORKER OPS SEED   transfers only
  graph_client.py reader HOST PORT WORKER SNAPSHOTS SEED   sums every node
      in one transaction, SNAPSHOTS times; exits 1 on an inconsistent view
  graph_client.py verify HOST PORT   prints the whole graph as JSON
  graph_client.py appender HOST PORT WORKER   commits root['appenders'][WORKER][i] = i
      for i = 0, 1, ... printing each i once acknowledged, until the server
      goes away
"""
import json
import random
import sys
import zlib

from durus.client_storage import ClientStorage
from durus.connection import Connection
from durus.error import ConflictError
from durus.persistent_dict import PersistentDict
from durus.persistent_list import PersistentList

INITIAL_VALUE = 100


def node_check(node):
    leaves = tuple(leaf['id'] for leaf in node['leaves'])
    return zlib.crc32(repr((node['value'], node['ops'], leaves)).encode())


def set_check(node):
    node['check'] = node_check(node)


def connect(host, port):
    return Connection(ClientStorage(host=host, port=int(port)))


def setup(host, port, n):
    c = connect(host, port)
    nodes = PersistentList()
    for _ in range(int(n)):
        node = PersistentDict(value=INITIAL_VALUE, ops=(), leaves=())
        set_check(node)
        nodes.append(node)
    c.get_root()['nodes'] = nodes
    c.commit()


def check_node(node, where):
    if node['check'] != node_check(node):
        raise SystemExit('%s: node checksum mismatch' % where)
    for leaf in node['leaves']:
        if leaf['check'] != zlib.crc32(leaf['payload']):
            raise SystemExit('%s: leaf %s checksum mismatch' % (where, leaf['id']))


def run_ops(host, port, worker, ops, seed, transfers_only):
    rng = random.Random(int(seed))
    c = connect(host, port)
    done = 0
    conflicts = 0
    while done < int(ops):
        c.abort()
        nodes = c.get_root()['nodes']
        op_id = 'w%s-%d' % (worker, done)
        kind = 'transfer' if transfers_only else rng.choice(
            ['transfer', 'transfer', 'grow', 'prune', 'read'])
        record = {'op': op_id, 'kind': kind}
        try:
            if kind == 'read':
                for i in rng.sample(range(len(nodes)), 4):
                    check_node(nodes[i], 'worker %s read' % worker)
                c.abort()
                continue
            if kind == 'transfer':
                i, j = rng.sample(range(len(nodes)), 2)
                amount = rng.randint(1, 10)
                a, b = nodes[i], nodes[j]
                a['value'] -= amount
                b['value'] += amount
                for n in (a, b):
                    n['ops'] = n['ops'] + (op_id,)
                    set_check(n)
                record['nodes'] = [i, j]
            elif kind == 'grow':
                i = rng.randrange(len(nodes))
                payload = bytes(rng.getrandbits(8) for _ in range(rng.randint(10, 400)))
                leaf = PersistentDict(id=op_id, payload=payload, check=zlib.crc32(payload))
                n = nodes[i]
                n['leaves'] = n['leaves'] + (leaf,)
                n['ops'] = n['ops'] + (op_id,)
                set_check(n)
                record['nodes'] = [i]
            else:  # prune: drop the node's first leaf (it becomes garbage)
                i = rng.randrange(len(nodes))
                n = nodes[i]
                if not n['leaves']:
                    c.abort()
                    continue
                record['removed'] = n['leaves'][0]['id']
                n['leaves'] = n['leaves'][1:]
                n['ops'] = n['ops'] + (op_id,)
                set_check(n)
                record['nodes'] = [i]
            c.commit()
        except ConflictError:
            conflicts += 1
            continue
        done += 1
        print(json.dumps(record))
        sys.stdout.flush()
    print(json.dumps({'conflicts': conflicts}))
    c.get_storage().close()


def reader(host, port, worker, snapshots, seed):
    from durus.error import ReadConflictError
    rng = random.Random(int(seed))
    c = connect(host, port)
    good = 0
    conflicts = 0
    while good < int(snapshots):
        if rng.random() < 0.1:  # sometimes start from an empty cache
            c.get_storage().close()
            c = connect(host, port)
        c.abort()
        try:
            nodes = c.get_root()['nodes']
            order = list(range(len(nodes)))
            rng.shuffle(order)
            total = 0
            for i in order:
                total += nodes[i]['value']
                check_node(nodes[i], 'reader %s' % worker)
        except ReadConflictError:
            conflicts += 1
            continue
        expected = INITIAL_VALUE * len(nodes)
        if total != expected:
            raise SystemExit('reader %s saw an inconsistent snapshot: sum %d != %d'
                             % (worker, total, expected))
        good += 1
    print(json.dumps({'snapshots': good, 'conflicts': conflicts}))
    c.get_storage().close()


def verify(host, port):
    c = connect(host, port)
    out = []
    for i, n in enumerate(c.get_root()['nodes']):
        check_node(n, 'verify node %d' % i)
        out.append({'value': n['value'], 'ops': list(n['ops']),
                    'leaves': [leaf['id'] for leaf in n['leaves']]})
    # Every record reachable from the root loads (no dangling references).
    reachable = sum(1 for _ in c.get_storage().gen_oid_record(start_oid=b'\0' * 8))
    print(json.dumps({'nodes': out, 'reachable': reachable}))
    c.get_storage().close()


def appender(host, port, worker):
    c = connect(host, port)
    mine = c.get_root()['appenders'][int(worker)]
    i = 0
    try:
        while True:
            mine[i] = i
            c.commit()
            print(i)
            sys.stdout.flush()
            i += 1
    except Exception as e:  # the server went away (ShortRead, reset, ...)
        print('stopped: %r' % e)


if __name__ == '__main__':
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'setup':
        setup(*args)
    elif cmd == 'mixed':
        run_ops(*args, transfers_only=False)
    elif cmd == 'transfer':
        run_ops(*args, transfers_only=True)
    elif cmd == 'reader':
        reader(*args)
    elif cmd == 'appender':
        appender(*args)
    elif cmd == 'verify':
        verify(*args)
    else:
        raise SystemExit('unknown command ' + cmd)
