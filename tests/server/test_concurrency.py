"""Many Durus clients at once, each a separate process (graph_client.py),
against `durus-bdb serve` on Berkeley DB:

- test_random_commits_and_loads: 10 clients run random transfers, leaf
  creations (new oids), leaf removals (garbage for the collector) and
  checked reads on one shared graph; at the end the whole graph is
  verified against the ops the clients saw acknowledged: every ack'd op is
  in exactly the nodes it touched, nothing else is, the value total is
  unchanged, every checksum holds, every leaf is exactly the grown minus
  the pruned, every reachable record loads.

- test_isolation: transfer-only writers run while reader clients sum all
  nodes within one transaction, many times.  A transfer changes two nodes
  at once, so a reader that could see a mix of old and new versions within
  one transaction would see a wrong total; a reader only ever gets either a
  consistent snapshot or ReadConflictError.
"""
import json
import unittest

from server_harness import ServerTestCase

NODES = 24


class Concurrency(ServerTestCase):

    def setUp(self):
        ServerTestCase.setUp(self)
        self.server = self.start_server(args=['--threads', '16'])
        self.hp = [self.server.host, self.server.port]
        self.run_children('graph_client.py', [['setup'] + self.hp + [NODES]])

    def lines(self, out):
        return [json.loads(l) for l in out.splitlines() if l.startswith('{')]

    def verify(self):
        out = self.run_children('graph_client.py', [['verify'] + self.hp])[0]
        return self.lines(out)[-1]

    def test_random_commits_and_loads(self):
        workers, ops = 10, 30
        outs = self.run_children(
            'graph_client.py',
            [['mixed'] + self.hp + [w, ops, 1000 + w] for w in range(workers)], timeout=300)
        acked = {}
        grown, pruned = set(), set()
        for out in outs:
            recs = [r for r in self.lines(out) if 'op' in r]
            self.assertEqual(len(recs), ops)
            for r in recs:
                acked[r['op']] = r
                if r['kind'] == 'grow':
                    grown.add(r['op'])
                if r['kind'] == 'prune':
                    pruned.add(r['removed'])
        graph = self.verify()
        nodes = graph['nodes']
        self.assertEqual(sum(n['value'] for n in nodes), 100 * NODES)
        seen = {}
        for i, n in enumerate(nodes):
            self.assertEqual(len(n['ops']), len(set(n['ops'])), 'op applied twice in node %d' % i)
            for op in n['ops']:
                seen.setdefault(op, []).append(i)
        self.assertEqual(set(seen), set(acked), 'applied ops != acknowledged ops')
        for op, r in acked.items():
            self.assertEqual(sorted(seen[op]), sorted(r['nodes']), op)
        leaves = [leaf for n in nodes for leaf in n['leaves']]
        self.assertEqual(sorted(leaves), sorted(grown - pruned))
        self.assertEqual(graph['reachable'], 1 + 1 + NODES + len(leaves))
        self.server.stop()
        bad = [l for l in self.server.log().splitlines() if ' ERROR ' in l or 'dropped:' in l]
        self.assertEqual(bad, [])

    def test_isolation(self):
        writers, readers = 4, 4
        args = [['transfer'] + self.hp + [w, 60, 2000 + w] for w in range(writers)]
        args += [['reader'] + self.hp + [r, 40, 3000 + r] for r in range(readers)]
        outs = self.run_children('graph_client.py', args, timeout=300)
        stats = [self.lines(o)[-1] for o in outs[writers:]]
        self.assertTrue(all(s['snapshots'] == 40 for s in stats), stats)
        graph = self.verify()
        self.assertEqual(sum(n['value'] for n in graph['nodes']), 100 * NODES)
        self.assertEqual(sum(len(n['ops']) for n in graph['nodes']), 2 * writers * 60)
        self.server.stop()


if __name__ == '__main__':
    unittest.main()
