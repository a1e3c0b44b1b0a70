"""By hand, not in CTest (its name is not test_*.py): form 3-site groups
again and again and check that every site reaches every other one
(doc/replication.md, "Membership lists applied out of order").

    cd tests/repl
    PYTHONPATH=../../../shared/durus:../../build/python \\
      DURUS_BDB=../../build/tools/durus-bdb REPRO_ROUNDS=30 \\
      python3 -m unittest -v repro_membership

Each round starts a fresh group (start_group waits until every site sees
every other one connected; here without the restart the tests allow, so
the race fails the round, naming the pairs and quoting Berkeley DB's
"rejecting connection from unknown or provisional site" lines) and stops
it.
"""
import os
import unittest

from repl_harness import GroupTestCase


class MembershipRepro(GroupTestCase):
    connect_restarts = 0  # the race fails the round (no restart)

    def test_groups_form_fully_connected(self):
        rounds = int(os.environ.get('REPRO_ROUNDS', '20'))
        for r in range(rounds):
            self.tmp_round = os.path.join(self.tmp, 'round%d' % r)
            os.mkdir(self.tmp_round)
            saved = self.tmp
            self.tmp = self.tmp_round
            try:
                sites = self.start_group()
            finally:
                self.tmp = saved
            for s in sites:
                s.stop()
            self.servers = [s for s in self.servers if s not in sites]
            print('round %d: fully connected' % r, flush=True)


if __name__ == '__main__':
    unittest.main()
