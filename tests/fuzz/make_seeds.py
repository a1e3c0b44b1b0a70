"""Regenerates the seed corpora in corpus/ (run once; the files are
committed).  Shelf and FileStorage2 seeds are written by real Durus
(../shared/durus), the dump seed by `durus-bdb export --format dump`.

  PYTHONPATH=../shared/durus python3 make_seeds.py DURUS_BDB_BINARY
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
C = os.path.join(HERE, 'corpus')


def rec(oid, data, refs=()):
    return struct.pack('>Q', oid) + struct.pack('>I', len(data)) + data + b''.join(
        struct.pack('>Q', r) for r in refs)


def put(kind, name, data):
    with open(os.path.join(C, kind, name), 'wb') as f:
        f.write(data)


def table_reader_seeds():
    # fuzz_table_reader: byte 0 = chunk size (1 + b % 64 KiB) | 0x80 delete
    # mode, then {u8 key length, u16 LE value length, u8 repeat (1 + r % 8 copies),
    # key, value}.
    os.makedirs(os.path.join(C, 'table_reader'), exist_ok=True)

    def entry(key, value, repeat=0):
        return struct.pack('<BHB', len(key), len(value), repeat) + key + value

    def oid(n):
        return struct.pack('>Q', n)
    small = [entry(oid(i), rec(i, b'cmod\nThing\nq.s', [i + 1])) for i in range(5)]
    put('table_reader', 'empty', b'\x00')
    put('table_reader', 'small', b'\x00' + b''.join(small))
    # The issue 11 shape: small, a value of many chunks, small after it.
    big = entry(oid(2), b'B' * 4000, 7)
    put('table_reader', 'big_between', b'\x00' + small[0] + small[1] + big + small[3] + small[4])
    put('table_reader', 'big_between_delete',
        b'\x80' + small[0] + small[1] + big + small[3] + small[4])
    put('table_reader', 'big_first', b'\x03' + big + b''.join(small[3:]))
    put('table_reader', 'odd_keys',
        b'\x01' + entry(b'', b'empty key') + entry(b'\xff' * 40, b'v' * 700, 2) +
        entry(b'\x00', b'') + entry(b'a', b'x' * 1023))


def shelf_item_near_middle(data):
    """The offset of the first item length at or after the middle of a
    Shelf file (damage there is seen: there are no checksums)."""
    (n,) = struct.unpack('>Q', data[8:16])
    (map_bytes,) = struct.unpack('>Q', data[16 + n:24 + n])
    pos = 16 + n + 8 + map_bytes
    while pos < len(data):
        (t,) = struct.unpack('>Q', data[pos:pos + 8])
        p = pos + 8
        while p < pos + 8 + t:
            if p >= len(data) // 2:
                return p
            p += 8 + struct.unpack('>Q', data[p:p + 8])[0]
        pos += 8 + t
    return len(data) // 2


def damaged(data, salvage, at=None):
    """4 bytes overwritten in the middle (or at `at`); the last byte's low
    bit selects salvage mode in fuzz_source.cc."""
    d = bytearray(data)
    at = len(d) // 2 if at is None else at
    d[at:at + 4] = b'\x7f' * 4
    d[-1] = d[-1] | 1 if salvage else d[-1] & ~1
    return bytes(d)


def put_damaged(kind, data):
    at = shelf_item_near_middle(data) if kind == 'shelf' else None
    put(kind, 'damaged', damaged(data, False, at))
    put(kind, 'damaged-salvage', damaged(data, True, at))


def main(durus_bdb):
    recs = [rec(0, b'cdurus.persistent_dict\nPersistentDict\nq.x\x9c', [1, 2]),
            rec(1, b'cmod\nThing\nq.state', []),
            rec(2, b'', [2, 1, 1]),
            rec(7, b'x' * 300, [1, 2, 3, 4])]
    for i, r in enumerate(recs):
        put('record', 'rec%d' % i, r)
    put('record', 'truncated', recs[0][:10])
    put('record', 'badrefs', recs[1] + b'\x01\x02\x03')
    tdata = b''.join(struct.pack('>I', 8 + len(r)) + r[:8] + r for r in recs)
    put('protocol', 'commit4', tdata)
    put('protocol', 'one', struct.pack('>I', 8 + len(recs[1])) + recs[1][:8] + recs[1])
    put('protocol', 'badlen', struct.pack('>I', 4) + b'abcd')
    put('protocol', 'info_since', b'{"since": 3, "since_time": 1700000000000000}')
    table_reader_seeds()

    from durus.connection import Connection
    from durus.file_storage import FileStorage
    from durus.file_storage2 import FileStorage2
    from durus.persistent_dict import PersistentDict
    tmp = tempfile.mkdtemp()
    try:
        for kind, cls in (('shelf', FileStorage), ('dfs20', FileStorage2)):
            path = os.path.join(tmp, kind)
            c = Connection(cls(path))
            root = c.get_root()
            for i in range(3):
                d = PersistentDict()
                d['i'] = i
                root[i] = d
                c.commit()
            root[0]['x'] = 'changed'
            c.commit()
            c.get_storage().close()
            data = open(path, 'rb').read()
            put(kind, 'durus', data)
            put(kind, 'torn', data[:-7])
            put_damaged(kind, data)
        home = os.path.join(tmp, 'home')
        subprocess.check_call([durus_bdb, 'migrate', os.path.join(tmp, 'shelf'), home, '--quiet'])
        subprocess.check_call([durus_bdb, 'export', home, os.path.join(tmp, 'dump'),
                               '--format', 'dump'])
        data = open(os.path.join(tmp, 'dump'), 'rb').read()
        put('dump', 'export', data)
        put_damaged('dump', data)
        put('dump', 'truncated', data[:len(data) // 2])
    finally:
        shutil.rmtree(tmp)


if __name__ == '__main__':
    main(sys.argv[1])
