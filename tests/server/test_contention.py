"""Contention on one hot object, with real Durus client processes
(counter_client.py): 3 clients x 300 increments of one shared counter,
each retrying on ConflictError as Durus applications do, against
`durus-bdb serve` in `sync` and `write_nosync` and against Durus's own
StorageServer on FileStorage, in the same test.

- No lost update: the counter ends at exactly 900 on every server.
- Conflicts per commit and the worst retry count of one increment are
  compared with Durus's.  Both depend on scheduling.  In CI: read
  conflicts (the storm of issue 12: a load of an oid whose commit was in
  flight answered 'I' for the whole fsync, 7,810 ReadConflictErrors for
  900 commits in `sync` against Durus's ~200) at most 2 x Durus's + 0.05
  per commit, and all conflicts at most 2 x Durus's + 0.2 per commit
  (the write conflicts of losers reloading the hot object between two of
  the winner's commits: 0.9-1.3 against Durus's 0.27 before the leases,
  server/lease_table.h; 0.01-0.05 since).  The tight target of the issue
  (<= 1.1 x Durus's per commit, worst retries <= Durus's) applies with
  DURUS_CONTENTION_TIGHT=1 (run by hand; figures in doc/server.md).
- The server's stop line counts what the clients saw: conflicts at commit
  (including the commits clients abandoned after reading their
  invalidations) and 'I' answered to loads.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import unittest

from server_harness import DURUS_BDB, ServerTestCase, child_env

CLIENTS = 3
INCREMENTS = int(os.environ.get('DURUS_CONTENTION_INCREMENTS', '300'))
TIGHT = os.environ.get('DURUS_CONTENTION_TIGHT') == '1'


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


class DurusServer(object):
    """Durus's own StorageServer on a FileStorage (python -m durus -s)."""

    def __init__(self, path):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, '-m', 'durus', '-s', '--file', path, '--port', str(self.port),
             '--logginglevel', '30'],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=child_env())
        deadline = time.time() + 30
        while True:
            try:
                socket.create_connection(('127.0.0.1', self.port)).close()
                return
            except OSError:
                if time.time() > deadline or self.proc.poll() is not None:
                    self.stop()
                    raise AssertionError('Durus server did not start')
                time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(30)


class Contention(ServerTestCase):

    def hammer(self, address):
        """Run the workload; returns the summed figures."""
        self.run_children('counter_client.py', [['setup', address]])
        start = time.time() + 1.5  # every child imported and connected
        outs = self.run_children('counter_client.py',
                                 [['run', address, INCREMENTS, start]] * CLIENTS, timeout=600)
        stats = [json.loads(o.strip().splitlines()[-1]) for o in outs]
        final = json.loads(self.run_children('counter_client.py', [['read', address]])[0])['n']
        total = {
            'final': final,
            'commits': sum(s['commits'] for s in stats),
            'read_conflicts': sum(s['read_conflicts'] for s in stats),
            'write_conflicts': sum(s['write_conflicts'] for s in stats),
            'worst': max(s['worst'] for s in stats),
            'seconds': max(s['seconds'] for s in stats),
        }
        total['conflicts'] = total['read_conflicts'] + total['write_conflicts']
        total['per_commit'] = total['conflicts'] / float(total['commits'])
        return total

    def ours(self, durability):
        server = self.start_server(args=['--durability', durability], home=os.path.join(
            self.tmp, 'home-' + durability))
        figures = self.hammer('%s:%d' % (server.host, server.port))
        # `durus-bdb stat` on the home in use shows the server's counters
        # (published about once a second).
        deadline = time.time() + 10
        while True:
            out = subprocess.run([DURUS_BDB, 'stat', server.home, '--json'], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, universal_newlines=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            live = json.loads(out.stdout).get('server', {})
            if live.get('commits', 0) >= figures['commits'] + 2 or time.time() > deadline:
                break
            time.sleep(0.2)
        # The setup's commits (the root, the counter) come on top.
        self.assertEqual(live.get('commits'), figures['commits'] + 2, out.stdout)
        self.assertEqual(live.get('commit_conflicts'), figures['write_conflicts'], out.stdout)
        self.assertGreaterEqual(live.get('load_conflicts'), figures['read_conflicts'], out.stdout)
        server.stop()
        stop_line = server.wait_log(r' stopped \(', timeout=5)
        self.assertIsNotNone(stop_line, server.log())
        return figures, stop_line

    def test_no_more_conflicts_than_durus(self):
        durus = DurusServer(os.path.join(self.tmp, 'durus.fs'))
        try:
            theirs = self.hammer('127.0.0.1:%d' % durus.port)
        finally:
            durus.stop()
        results = {'durus': theirs}
        lines = {}
        for durability in ('sync', 'write_nosync'):
            results[durability], lines[durability] = self.ours(durability)
        report = '\n'.join('%-12s %s' % (k, json.dumps(v, sort_keys=True)) for k, v in results.items())
        with open('/proc/loadavg') as f:
            load = f.read().split()[:3]
        sys.stderr.write('\ncontention figures (load average %s):\n%s\n' % (' '.join(load), report))
        expected = CLIENTS * INCREMENTS
        for name, r in results.items():
            self.assertEqual(r['final'], expected, 'lost update on %s:\n%s' % (name, report))
            self.assertEqual(r['commits'], expected)
        for durability in ('sync', 'write_nosync'):
            ours = results[durability]
            if TIGHT:
                self.assertLessEqual(ours['per_commit'], 1.1 * theirs['per_commit'] + 1e-9, report)
                self.assertLessEqual(ours['worst'], theirs['worst'], report)
            else:
                self.assertLessEqual(ours['read_conflicts'] / float(expected),
                                     2 * theirs['read_conflicts'] / float(expected) + 0.05, report)
                self.assertLessEqual(ours['per_commit'], 2 * theirs['per_commit'] + 0.2, report)
            # The stop line tells the truth: every write conflict the
            # clients saw was a commit refused or abandoned at the server,
            # and every read conflict came from a load answered 'I' (a
            # ReadConflictError may take two: the load, then its retry
            # after the connection's sync).
            line = lines[durability]
            m = re.search(r'(\d+) commit conflicts .*?(\d+) loads answered I', line)
            self.assertIsNotNone(m, line)
            self.assertEqual(int(m.group(1)), ours['write_conflicts'], line)
            self.assertGreaterEqual(int(m.group(2)), ours['read_conflicts'], line)


if __name__ == '__main__':
    unittest.main()
