#!/usr/bin/python3
"""Draw the benchmark figures (bench/README.md "Pictures") from CSV.

    bench/plot.py [--results DIR] [--out DIR] [CSV ...]

Every CSV (default: every bench/results/*.csv) has the columns written by
`core_bench --csv=FILE` and `server_bench.sh --csv FILE`:

    date,source,workload,durability,unit,ours,peer,peer_name,ratio,cpu_ratio

`ratio` is ours / peer (higher is better for us); `peer_name` says what the
baseline is (raw_bdb: the raw Berkeley DB loop; durus_server: Durus's
StorageServer; durus_filestorage: Durus's FileStorage; anything else is
named on the chart).  Rows without a ratio are skipped.  One PNG per CSV,
named after it (core.csv -> core.png), in --out (default bench/img): the
ratio of each workload, one bar per source (a run, a commit), against the
baseline at 1.

The shebang is Debian's python3 on purpose: matplotlib comes from the
python3-matplotlib package (dev.sh), which a pyenv or venv python does not
see.
"""
import argparse
import csv
import glob
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

BASELINES = {
    'raw_bdb': 'raw Berkeley DB loop (same environment, same records)',
    'durus_server': "Durus 4.3 StorageServer on FileStorage",
    'durus_filestorage': "Durus 4.3 FileStorage (storage API / Connection)",
    'loopback_floor': 'loopback round-trip floor (../shared/tools/echo_floor.cc)',
}
TITLES = {
    'core': 'durus-bdb storage / raw Berkeley DB loop (core_bench)',
    'server': 'durus-bdb serve / Durus StorageServer (server_bench.sh)',
    'server_floor': 'random loads / loopback round-trip floor (server_bench.sh)',
    'python': 'durus_bdb / Durus FileStorage (python_storage_bench.py)',
}


def read_rows(path):
    rows = []
    with open(path, newline='') as f:
        for row in csv.DictReader(f):
            try:
                ratio = float(row.get('ratio') or 'nan')
            except ValueError:
                continue
            if math.isnan(ratio) or ratio <= 0:
                continue
            row['ratio'] = ratio
            rows.append(row)
    return rows


def label_of(row):
    label = row['workload'].replace('_', ' ')
    if row.get('durability'):
        label += '\n' + row['durability']
    if row['peer_name'] not in BASELINES:  # another baseline than the chart's
        label += '\n(vs %s)' % row['peer_name'].replace('_', ' ')
    return label


def plot(path, out_dir, plt):
    rows = read_rows(path)
    if not rows:
        print('%s: no ratios, nothing drawn' % path, file=sys.stderr)
        return None
    name = os.path.splitext(os.path.basename(path))[0]
    labels, sources = [], []
    for r in rows:  # first-seen order: as the CSV lists them
        if label_of(r) not in labels:
            labels.append(label_of(r))
        src = '%s  %s' % (r['date'], r['source'])
        if src not in sources:
            sources.append(src)
    values = {(label_of(r), '%s  %s' % (r['date'], r['source'])): r['ratio'] for r in rows}
    fig, ax = plt.subplots(figsize=(9, 4.8), dpi=80)
    width = 0.8 / len(sources)
    cmap = plt.get_cmap('tab10')
    for i, src in enumerate(sources):
        xs, ys = [], []
        for j, label in enumerate(labels):
            if (label, src) in values:
                xs.append(j - 0.4 + width * (i + 0.5))
                ys.append(values[(label, src)])
        bars = ax.bar(xs, ys, width, label=src, color=cmap(i % 10))
        if len(sources) <= 4:
            ax.bar_label(bars, fmt='%.2f', fontsize=7, padding=1)
    peers = sorted({r['peer_name'] for r in rows if r['peer_name'] in BASELINES})
    ax.axhline(1.0, color='black', linewidth=1, linestyle='--',
               label='= 1: ' + '; '.join(BASELINES[p] for p in peers))
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, fontsize=8)
    ax.set_ylabel('ratio, durus-bdb / baseline (higher is better)')
    ax.set_title(TITLES.get(name, name), fontsize=11)
    # Headroom for the legend above the tallest bar.
    ax.set_ylim(0, max(max(values.values()), 1.0) * (1.25 + 0.06 * len(sources)))
    ax.legend(fontsize=7, loc='upper left')
    ax.grid(axis='y', alpha=0.3)
    fig.tight_layout()
    out = os.path.join(out_dir, name + '.png')
    fig.savefig(out)
    plt.close(fig)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('csv', nargs='*', help='CSV files (default: every --results/*.csv)')
    ap.add_argument('--results', default=os.path.join(HERE, 'results'))
    ap.add_argument('--out', default=os.path.join(HERE, 'img'))
    args = ap.parse_args()
    try:
        import matplotlib
        matplotlib.use('Agg')  # no display needed
        import matplotlib.pyplot as plt
    except ImportError as e:
        sys.exit('plot.py needs matplotlib (Debian: apt-get install python3-matplotlib; '
                 'run with /usr/bin/python3): %s' % e)
    paths = args.csv or sorted(glob.glob(os.path.join(args.results, '*.csv')))
    if not paths:
        sys.exit('no CSV files in %s' % args.results)
    os.makedirs(args.out, exist_ok=True)
    for p in paths:
        out = plot(p, args.out, plt)
        if out:
            print(out)


if __name__ == '__main__':
    main()
