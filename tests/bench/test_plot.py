"""bench/plot.py on the committed CSVs: one PNG each, in a temporary dir.

    /usr/bin/python3 tests/bench/test_plot.py BENCH_DIR

Also: a CSV as `core_bench --csv` writes it, with a row that has no ratio
(skipped), and a file with no ratio at all (nothing drawn, no failure).
"""
import csv
import glob
import os
import subprocess
import sys
import tempfile

BENCH = os.path.abspath(sys.argv[1])
PLOT = os.path.join(BENCH, 'plot.py')
HEADER = 'date,source,workload,durability,unit,ours,peer,peer_name,ratio,cpu_ratio\n'
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def fail(msg):
    print('FAIL: ' + msg)
    sys.exit(1)


def check_png(path):
    if not os.path.isfile(path):
        fail('%s was not written' % path)
    with open(path, 'rb') as f:
        head = f.read(8)
    size = os.path.getsize(path)
    if head != PNG_MAGIC or not 5000 < size < 300000:
        fail('%s: not a PNG of a sensible size (%d bytes, starts %r)' % (path, size, head))


def main():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        if os.environ.get('CI') == 'true':
            fail('matplotlib is not importable by %s and CI=true (python3-matplotlib, dev.sh)'
                 % sys.executable)
        print('MATPLOTLIB MISSING: install python3-matplotlib (dev.sh); skipped')
        return
    committed = sorted(glob.glob(os.path.join(BENCH, 'results', '*.csv')))
    if not committed:
        fail('no CSV in %s/results' % BENCH)
    for path in committed:  # the schema every CSV shares
        with open(path, newline='') as f:
            if f.readline() != HEADER:
                fail('%s: header is not %s' % (path, HEADER.strip()))
            for row in csv.reader(f):
                if len(row) != HEADER.count(',') + 1:
                    fail('%s: row of %d fields: %s' % (path, len(row), row))
    with tempfile.TemporaryDirectory(prefix='bench-plot-') as tmp:
        out = os.path.join(tmp, 'img')
        p = subprocess.run([sys.executable, PLOT, '--out', out], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, universal_newlines=True, timeout=100)
        if p.returncode != 0:
            fail('plot.py exited %d:\n%s' % (p.returncode, p.stdout))
        for path in committed:
            check_png(os.path.join(out, os.path.basename(path)[:-4] + '.png'))
        # A fresh core_bench CSV (a row without ratio is skipped) and an empty one.
        fresh = os.path.join(tmp, 'fresh.csv')
        with open(fresh, 'w') as f:
            f.write(HEADER)
            f.write('2026-12-07,core_bench,commit,write_nosync,rec/s,50000,100000,raw_bdb,0.5,0.6\n')
            f.write('2026-12-07,core_bench,open_warm,write_nosync,ms,185,164,'
                    'same_at_1000_objects,1.13,\n')
            f.write('2026-12-07,core_bench,hot,write_nosync,commits/s,4000,,,,\n')
        empty = os.path.join(tmp, 'empty.csv')
        with open(empty, 'w') as f:
            f.write(HEADER)
        p = subprocess.run([sys.executable, PLOT, '--out', out, fresh, empty],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           universal_newlines=True, timeout=100)
        if p.returncode != 0:
            fail('plot.py on fresh.csv exited %d:\n%s' % (p.returncode, p.stdout))
        check_png(os.path.join(out, 'fresh.png'))
        if os.path.exists(os.path.join(out, 'empty.png')):
            fail('a CSV without ratios was drawn')
    print('ok: %d committed CSVs drawn' % len(committed))


if __name__ == '__main__':
    main()
