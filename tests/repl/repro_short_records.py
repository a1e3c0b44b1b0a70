"""By hand, not in CTest (its name is not test_*.py): a killed site that
refuses to reopen ("records.db was shorter than its last page when the
home was opened after a crash, and recovery could not restore what was
lost").

    cd tests/repl
    PYTHONPATH=../../../shared/durus:../../build/python \\
      DURUS_BDB=../../build/tools/durus-bdb REPRO_CACHE_MB=2 \\
      python3 -m unittest -v repro_short_records

test_failover's kill loop (4 Durus client processes committing, ack
quorum, write_nosync; SIGKILL the master, a new one is elected, the killed
site restarts as a replica), with the killed site's home copied right
after the SIGKILL, before the restart: when the restart fails, the copy
(the home as the crash left it, before recovery) and the home after the
failed open are kept under REPRO_KEEP (default /tmp/short-records-repro)
for db_printlog / db_verify.  REPRO_CACHE_MB=2: the small cache with
which the refusal was seen most often.
"""
import os
import shutil
import signal
import time
import unittest

from test_failover import FailoverTest


class ShortRecords(FailoverTest):
    # Only the test below (not the inherited ones).
    test_kill_loop = None
    test_partitioned_master_steps_down_and_rolls_back = None
    test_cut_off_master_refuses_reads = None

    def test_killed_site_reopens(self):
        cache = os.environ.get('REPRO_CACHE_MB')
        keep = os.environ.get('REPRO_KEEP', '/tmp/short-records-repro')
        sites, master, names, logs = self.start_committing_group(
            extra=['--cache-mb', cache] if cache else [])
        for round_ in range(int(os.environ.get('REPRO_ROUNDS', '10'))):
            marks = [s.mark() for s in sites]
            master.proc.send_signal(signal.SIGKILL)
            master.proc.wait()
            before = master.home + '.before-recovery'
            shutil.rmtree(before, ignore_errors=True)
            shutil.copytree(master.home, before)
            survivors = [s for s in sites if s is not master]
            new = self.wait_master(survivors, start_marks=[marks[sites.index(s)]
                                                           for s in survivors])
            self.wait_commit_after(logs, time.time())
            master.create = False
            try:
                master.start()
                ok = master.wait_log(r'replication: role replica', timeout=60) is not None
            except AssertionError:
                ok = False
            if not ok:
                dest = os.path.join(keep, '%d-round%d' % (os.getpid(), round_))
                shutil.rmtree(dest, ignore_errors=True)
                shutil.copytree(before, os.path.join(dest, 'before'))
                shutil.copytree(master.home, os.path.join(dest, 'after'))
                with open(os.path.join(dest, 'site.log'), 'w') as f:
                    f.write(master.log())
                self.fail('round %d: the killed site did not reopen (kept in %s):\n%s' %
                          (round_, dest, master.log()[-3000:]))
            print('round %d: ok' % round_)
            master = new
        self.stop_clients()


if __name__ == '__main__':
    unittest.main()
