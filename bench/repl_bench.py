#!/usr/bin/env python3
"""Replication benchmark (issue 13): a 3-site group of real `durus-bdb
serve` processes on loopback (write_nosync, --repl-ack quorum) against a
single `durus-bdb serve` (write_nosync), driven by real Durus clients
(separate processes: Durus 4.3's ClientStorage and Connection), in one run.

Not a test: nothing asserts a time.  Prints, with the load average at
start and end:

  commits  commits/s of 1 and of 4 client processes, each committing one
           small change per commit to an object of its own (no conflicts),
           on the master of the group vs on the single server;
           ratio master / single (target >= 0.5).
  loads    random single loads (ClientStorage.load, no unpickling) of 1 and
           of 4 client processes on a replica vs on the master of the same
           group (20,000 objects of ~300 B, idle otherwise);
           ratio replica / master (target >= 0.9).
  lag      while 2 client processes commit on the master, one more commit
           at a time: the time from its `O` on the master to the first
           moment a Durus client of a replica (abort + read, in a loop) sees
           it; median, p90, max.  And the replica's log position behind the
           master's, in bytes, read with `db5.3_stat -r` on both homes, and
           in commits (journal_seq of the info request R on both), each
           pair read at the same moment (10 samples).
  failover over --kills SIGKILLs of the master (while a client commits on
           it): the time from the SIGKILL to the first commit acknowledged
           by the new master, as seen by clients polling every surviving
           address in parallel (a thread per address, each reconnecting and
           trying one commit, 5 ms apart); median, max.  After each kill the
           killed site is restarted (same home, it rejoins as a replica) and
           the last acknowledged value of the committing client is checked
           on the new master (lost acknowledged commits: 0 expected).

  server-bound  the commit and load comparisons again with
           bench/server_loadgen (C++ protocol-1 clients, as server_bench.sh),
           on a group and a single server of their own: the Python clients
           above are CPU-bound on a small machine and compress the ratios.

Rates: --repeats runs of --seconds each, the two sides alternating which
goes first; the median is printed with [min..max], then the ratios.

  bench/repl_bench.py [--build DIR] [--durus DIR] [--seconds 3] [--repeats 3]
                      [--kills 10] [--lag-samples 200] [--csv FILE] [--quick]
                      [--no-loadgen] [--only-failover] [--pollers N]
                      [--stacks DIR] [--site-args "SERVE ARGS"] [--keep]
  --quick: a smoke run (~35 s): 0.5 s runs, 1 repeat, 1 kill, 2,000 objects
  --stacks DIR: gdb stacks of both survivors when no commit was
      acknowledged 2.5 s after a kill (gdb pauses them: slower failovers)

Run as `repl_bench.py worker ...` it is one of its own client processes.
"""
import argparse
import csv
import datetime
import json
import os
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
PYTHON = sys.executable


# ---------------------------------------------------------------- workers

def connect(address, timeout=None):
    from durus.client_storage import ClientStorage
    from durus.connection import Connection
    host, port = address.rsplit(':', 1)
    storage = ClientStorage(host=host, port=int(port))
    if timeout is not None:
        storage.s.settimeout(timeout)
    return Connection(storage)


def worker(argv):
    """worker commit ADDRESS INDEX SECONDS START
       worker load ADDRESS OIDS_FILE SECONDS START
    One JSON line: ops, seconds."""
    mode, address = argv[0], argv[1]
    if mode == 'commit':
        index, seconds, start = int(argv[2]), float(argv[3]), float(argv[4])
        conn = connect(address)
        mine = conn.get_root()['workers'][index]
        n = mine['n']
        while time.time() < start:
            time.sleep(0.001)
        t0 = time.time()
        ops = 0
        while time.time() - t0 < seconds:
            n += 1
            mine['n'] = n
            conn.commit()
            ops += 1
        print(json.dumps({'ops': ops, 'seconds': time.time() - t0}))
    elif mode == 'load':
        oids = [bytes.fromhex(l) for l in open(argv[2]).read().split()]
        seconds, start = float(argv[3]), float(argv[4])
        from durus.client_storage import ClientStorage
        host, port = address.rsplit(':', 1)
        from durus.error import ReadConflictError
        storage = ClientStorage(host=host, port=int(port))
        # A replica's first answer to a fresh connection may be a read
        # conflict for commits applied before it connected (they are put
        # in every client's invalid set when first published): a sync
        # first, as Durus's Connection does on a conflict.
        storage.sync()
        rnd = random.Random(os.getpid())
        while time.time() < start:
            time.sleep(0.001)
        t0 = time.time()
        ops = 0
        while time.time() - t0 < seconds:
            for _ in range(100):
                try:
                    storage.load(oids[rnd.randrange(len(oids))])
                except ReadConflictError:
                    storage.sync()
            ops += 100
        print(json.dumps({'ops': ops, 'seconds': time.time() - t0}))
    else:
        raise SystemExit('unknown worker mode %r' % mode)


# ---------------------------------------------------------------- servers

def free_ports(n):
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(('127.0.0.1', 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Server(object):
    """One `durus-bdb serve` process (a site when repl_port is set); its
    stderr goes to HOME.log."""

    def __init__(self, binary, home, port, repl_port=None, peers=(), create=False, ack='quorum'):
        self.binary, self.home, self.port = binary, home, port
        self.repl_port, self.peers, self.create, self.ack = repl_port, list(peers), create, ack
        self.proc = None
        self.log_path = home + '.log'

    @property
    def address(self):
        return '127.0.0.1:%d' % self.port

    def command(self):
        cmd = [self.binary, 'serve', '--home', self.home, '--host', '127.0.0.1',
               '--port', str(self.port), '--durability', 'write_nosync', '--log-level', 'warn']
        if self.repl_port:
            cmd += ['--repl-listen', '127.0.0.1:%d' % self.repl_port, '--repl-ack', self.ack]
            for p in self.peers:
                cmd += ['--repl-peer', '127.0.0.1:%d' % p]
            if self.create:
                cmd.append('--repl-create')
            cmd += (ARGS.site_args or '').split()
        return cmd

    def start(self, timeout=120):
        mark = os.path.getsize(self.log_path) if os.path.exists(self.log_path) else 0
        # Berkeley DB reads DB_CONFIG from the home at open (a home must
        # exist before one is written: a site gets it at its first restart,
        # in the kill loop); its verbose messages go to stdout, the log here.
        verbose = bool(self.repl_port and ARGS.db_verbose and os.path.exists(self.home))
        if verbose:
            with open(os.path.join(self.home, 'DB_CONFIG'), 'w') as f:
                f.write(''.join('set_verbose %s\n' % v for v in ARGS.db_verbose.split(',')))
        log = open(self.log_path, 'ab')
        self.proc = subprocess.Popen(self.command(), stdout=log if verbose else subprocess.DEVNULL,
                                     stderr=log)
        log.close()
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                break
            with open(self.log_path, 'rb') as f:
                f.seek(mark)
                if b'ready on ' in f.read():
                    return self
            time.sleep(0.02)
        raise RuntimeError('%s did not become ready:\n%s' % (self.home, self.tail()))

    def tail(self, n=4000):
        with open(self.log_path, 'rb') as f:
            return f.read()[-n:].decode('utf-8', 'replace')

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self):
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.kill()


def start_group(binary, tmp, ack='quorum'):
    ports = free_ports(6)
    durus_ports, repl_ports = ports[:3], ports[3:]
    sites = []
    for i in range(3):
        site = Server(binary, os.path.join(tmp, 'site%d' % i), durus_ports[i], repl_ports[i],
                      [p for j, p in enumerate(repl_ports) if j != i], create=(i == 0), ack=ack)
        sites.append(site)
        # One after the other (doc/replication-plan.md, gotcha 2); a
        # joiner says "ready" once it has what the master had.
        site.start()
    return sites


def wait_until(fn, timeout=60, what='condition'):
    deadline = time.time() + timeout
    last = None
    while time.time() < deadline:
        try:
            if fn():
                return
        except Exception as e:  # a site catching up may drop us: try again
            last = e
        time.sleep(0.02)
    raise RuntimeError('%s not reached within %ss (last error: %r)' % (what, timeout, last))


def read_key(address, key, field=None):
    """root[key] (or root[key][field]) as a fresh Durus connection sees it."""
    conn = connect(address, timeout=10)
    try:
        v = conn.get_root().get(key)
        return v[field] if field is not None and v is not None else v
    finally:
        conn.storage.close()


# ---------------------------------------------------------------- the store

def populate(address, objects, tmp):
    """root['workers'] (16 small dicts, one per committing client),
    root['data'] (objects of ~300 B in chunks of 1000); the data oids are
    written to a file for the load workers."""
    from durus.persistent_dict import PersistentDict
    from durus.persistent_list import PersistentList
    conn = connect(address)
    root = conn.get_root()
    root['workers'] = PersistentList(PersistentDict({'n': 0}) for _ in range(16))
    root['stamp'] = PersistentDict({'k': 0})
    conn.commit()
    data = PersistentList()
    root['data'] = data
    oids = []
    for c in range(0, objects, 1000):
        chunk = PersistentList(PersistentDict({'i': i, 'v': 'x' * 250})
                               for i in range(c, min(c + 1000, objects)))
        data.append(chunk)
        conn.commit()
        oids.extend(o._p_oid for o in chunk)
    root['populated'] = True
    conn.commit()
    conn.storage.close()
    path = os.path.join(tmp, 'oids-%d.txt' % len(oids))
    with open(path, 'w') as f:
        f.write('\n'.join(o.hex() for o in oids))
    return path


# ---------------------------------------------------------------- measures

def run_workers(kind, address, n, seconds, arg_of):
    start = time.time() + 0.5 + 0.1 * n  # every process started and connected
    procs = [subprocess.Popen([PYTHON, os.path.abspath(__file__), 'worker', kind, address,
                               str(arg_of(i)), str(seconds), repr(start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
             for i in range(n)]
    total = 0
    secs = 0.0
    for p in procs:
        out, err = p.communicate()
        if p.returncode != 0:
            raise RuntimeError('%s worker failed on %s:\n%s' % (kind, address, err.decode()))
        r = json.loads(out.decode().strip().splitlines()[-1])
        total += r['ops']
        secs = max(secs, r['seconds'])
    return total / secs


def child_env():
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(p for p in [ARGS.durus, env.get('PYTHONPATH')] if p)
    return env


def summary(xs):
    return statistics.median(xs), min(xs), max(xs)


def fmt(xs, unit):
    m, lo, hi = summary(xs)
    return '%10.1f %s [%.1f..%.1f]' % (m, unit, lo, hi)


def alternate(label_a, fa, label_b, fb, repeats):
    """Runs fa and fb `repeats` times each, alternating which goes first."""
    a, b = [], []
    for r in range(repeats):
        order = [(a, fa), (b, fb)] if r % 2 == 0 else [(b, fb), (a, fa)]
        for out, f in order:
            out.append(f())
    return a, b


def db_stat(homes):
    """`db5.3_stat -r` of running sites' homes, started at the same moment
    (Berkeley DB's own tool joins the regions and prints the replication
    statistics); None for a home where it failed."""
    try:
        procs = [subprocess.Popen(['db5.3_stat', '-r', '-h', h], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL) for h in homes]
    except OSError:
        return [None] * len(homes)
    outs = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=10)
            outs.append(out.decode('utf-8', 'replace') if p.returncode == 0 else None)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            outs.append(None)
    return outs


LSN_RE = re.compile(r'^(\d+)/(\d+)\s+(.*)$')


def lsns(out):
    """{description: (file, offset)} of every LSN line of db_stat -r."""
    r = {}
    for line in (out or '').splitlines():
        m = LSN_RE.match(line.strip())
        if m:
            r[m.group(3)] = (int(m.group(1)), int(m.group(2)))
    return r


def bytes_behind(master_home, replica_home, log_file_bytes):
    """The master's next LSN minus the replica's next expected LSN, read
    at (nearly) the same moment; the file number difference is counted
    as whole log files."""
    mo, ro = db_stat([master_home, replica_home])
    ml = lsns(mo).get('Next LSN to be used')
    rl = lsns(ro).get('Next LSN expected')
    if not ml or not rl:
        return None
    return (ml[0] - rl[0]) * log_file_bytes + (ml[1] - rl[1])


def info(address):
    """The info request `R` (doc/server.md) on a fresh connection: the
    server's JSON answer (role, journal_seq, ...), or None when the server
    does not know `R` (a tree before it)."""
    from durus.client_storage import ClientStorage
    from durus.utils import int4_to_str, read, read_int4, write_all
    host, port = address.rsplit(':', 1)
    st = ClientStorage(host=host, port=int(port))
    try:
        body = json.dumps({'since': None}).encode()
        write_all(st.s, 'R', int4_to_str(len(body)), body)
        return json.loads(read(st.s, read_int4(st.s)).decode())
    except Exception:
        return None
    finally:
        st.s.close()


def commits_behind(master, replica):
    """The master's journal seq minus the replica's, both asked with `R`
    at the same moment (two threads); None without `R`."""
    out = {}
    ts = [threading.Thread(target=lambda s=s: out.__setitem__(s, info(s.address)))
          for s in (master, replica)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    if not out.get(master) or not out.get(replica):
        return None
    return out[master]['journal_seq'] - out[replica]['journal_seq']


def lag(master, replica, seconds, samples, log_file_bytes):
    """(ms from O to visible, bytes-behind samples) while 2 client
    processes commit on the master."""
    procs = [subprocess.Popen([PYTHON, os.path.abspath(__file__), 'worker', 'commit',
                               master.address, str(10 + i), str(seconds + 60), repr(time.time())],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env=child_env())
             for i in range(2)]
    times, behind, commits = [], [], []
    try:
        time.sleep(1)  # the committers are running
        writer = connect(master.address)
        reader = connect(replica.address)
        stamp = writer.get_root()['stamp']
        k = stamp['k']
        t_end = time.time() + seconds
        while len(times) < samples and time.time() < t_end:
            k += 1
            stamp['k'] = k
            writer.commit()
            t_ok = time.perf_counter()
            while True:
                reader.abort()  # a sync: the replica's invalidations
                if reader.get_root()['stamp']['k'] >= k:
                    break
            times.append((time.perf_counter() - t_ok) * 1000)
            if len(behind) < 10 and len(times) % max(1, samples // 10) == 0:
                b = bytes_behind(master.home, replica.home, log_file_bytes)
                if b is not None:
                    behind.append(b)
                c = commits_behind(master, replica)
                if c is not None:
                    commits.append(c)
        writer.storage.close()
        reader.storage.close()
    finally:
        for p in procs:
            p.kill()
            p.wait()
    return times, behind, commits


def loadgen(binary, server, mode, clients, seconds):
    """bench/server_loadgen's rate (its RESULT line) against `server`."""
    r = subprocess.run([binary, '--port', str(server.port), '--mode', mode, '--clients',
                        str(clients), '--seconds', str(seconds)], capture_output=True)
    if r.returncode != 0:
        raise RuntimeError('server_loadgen --mode %s on :%d failed: %s\n%s' % (
            mode, server.port, r.stderr.decode(), server.tail()))
    out = r.stdout.decode()
    line = [l for l in out.splitlines() if l.startswith('RESULT')][-1]
    return float(line.rsplit('rate=', 1)[1])


def wait_replicas_caught_up(master, replicas, timeout=60):
    """Until every replica's next expected LSN reaches the master's next
    LSN as read now (db5.3_stat -r; a 3 s pause without it), then one
    sync on each replica: its server publishes the journal entries it has
    applied (into the invalid sets of the clients connected now), so that
    a client connecting afterwards gets no read conflict for them (a raw
    protocol client such as server_loadgen stops at the first one; seen
    before replicas published the journal on their own, every monitor
    tick: harmless since)."""
    from durus.client_storage import ClientStorage
    ml = lsns(db_stat([master.home])[0]).get('Next LSN to be used')
    for r in replicas:
        if ml:
            wait_until(lambda r=r: (lsns(db_stat([r.home])[0]).get('Next LSN expected')
                                    or (0, 0)) >= ml, timeout, 'replica %d caught up' % r.port)
        else:
            time.sleep(3)
        st = ClientStorage(host='127.0.0.1', port=r.port)
        st.sync()
        st.s.close()


def failover(sites, kills, log):
    """Failover times in ms; sites[0] is master at the start."""
    master = sites[0]
    results = []
    lost_total = 0
    for k in range(kills):
        # A client committing on the master while it is killed.
        acked = [None]
        stop = threading.Event()

        def commit_loop(address=master.address):
            try:
                conn = connect(address, timeout=10)
                stamp = conn.get_root()['stamp']
                while not stop.is_set():
                    v = stamp['k'] + 1
                    stamp['k'] = v
                    conn.commit()
                    acked[0] = v
            except Exception:
                pass
        t = threading.Thread(target=commit_loop, daemon=True)
        t.start()
        wait_until(lambda: acked[0] is not None, what='commits on the master')
        time.sleep(0.2)
        survivors = [s for s in sites if s is not master]
        t0 = time.perf_counter()
        master.proc.send_signal(signal.SIGKILL)
        won = []
        done = threading.Event()

        attempts = []  # (port, start, end, what): where a slow failover's time went

        def poll(site, delay):
            time.sleep(delay)
            while not done.is_set():
                conn = None
                a0 = time.perf_counter()
                step = 'connect'
                try:
                    conn = connect(site.address, timeout=10)
                    step = 'load root'
                    root = conn.get_root()
                    root['failover'] = k
                    step = 'commit'
                    conn.commit()
                    t1 = time.perf_counter()
                    attempts.append((site.port, a0, t1, 'committed'))
                    if not done.is_set():
                        won.append((t1, site))
                        done.set()
                except Exception as e:
                    attempts.append((site.port, a0, time.perf_counter(),
                                     '%s: %s' % (step, type(e).__name__)))
                    time.sleep(0.005)
                finally:
                    if conn is not None:
                        try:
                            conn.storage.close()
                        except Exception:
                            pass
        # --pollers clients per surviving address, started 100 ms apart: a
        # request caught in a site's promotion holds up only its client.
        if ARGS.stacks:
            # Diagnosis of a slow failover: if no commit was acknowledged
            # 2.5 s after the kill, every thread's stack of both survivors.
            def dump(k=k, survivors=survivors):
                if done.wait(2.5):
                    return
                for s in survivors:
                    path = os.path.join(ARGS.stacks, 'kill%d-site%d.txt' % (k + 1, s.port))
                    with open(path, 'w') as f:
                        subprocess.run(['gdb', '-p', str(s.proc.pid), '-batch', '-ex',
                                        'thread apply all bt'], stdout=f, stderr=subprocess.STDOUT)
                log('    stacks of the survivors at 2.5 s: %s/kill%d-*' % (ARGS.stacks, k + 1))
            threading.Thread(target=dump, daemon=True).start()
        targets = survivors
        if ARGS.poll_master_only:
            # Diagnosis: touch no replica.  Find the new master from
            # Berkeley DB's own statistics (db5.3_stat -r reads the
            # regions, not the databases), then poll only it.
            def is_master(site):
                out = db_stat([site.home])[0] or ''
                return 'configured as a replication master' in out
            while True:
                targets = [s for s in survivors if is_master(s)]
                if targets:
                    break
                time.sleep(0.005)
        pollers = [threading.Thread(target=poll, args=(s, 0.1 * i), daemon=True)
                   for s in targets for i in range(ARGS.pollers)]
        for p in pollers:
            p.start()
        if not done.wait(120):
            raise RuntimeError('no new master 120 s after the kill')
        t1, new_master = won[0]
        ms = (t1 - t0) * 1000
        stop.set()
        master.proc.wait()
        t.join(15)
        for p in pollers:
            p.join(15)
        got = read_key(new_master.address, 'stamp', 'k')
        lost = 1 if acked[0] is not None and got < acked[0] else 0
        lost_total += lost
        results.append(ms)
        log('  kill %d: %7.1f ms (new master :%d; last acknowledged %s, new master has %s)'
            % (k + 1, ms, new_master.port, acked[0], got))
        if ms > 1000:  # where the time went: every attempt that took long
            for port, a0, a1, what in attempts:
                if a1 - a0 > 0.25:
                    log('    :%d attempt %7.1f .. %7.1f ms: %s'
                        % (port, (a0 - t0) * 1000, (a1 - t0) * 1000, what))
        # The killed site rejoins as a replica before the next kill.
        master.start()
        master = new_master
    return results, lost_total


def loadgen_phase(binary, loadgen_bin, tmp, servers, rows, log):
    """The same comparisons with bench/server_loadgen (C++ protocol-1
    clients, no Python on the client side: the servers are the
    bottleneck), on a group and a single server of their own (the load
    generator needs a store it populated itself)."""
    lg_tmp = os.path.join(tmp, 'loadgen')
    os.mkdir(lg_tmp)
    single = Server(binary, os.path.join(lg_tmp, 'single'), free_ports(1)[0]).start()
    servers.append(single)
    sites = start_group(binary, lg_tmp)
    servers.extend(sites)
    master, replica = sites[0], sites[1]
    for s in (master, single):
        subprocess.run([loadgen_bin, '--port', str(s.port), '--mode', 'populate', '--objects',
                        str(ARGS.objects)], check=True, stdout=subprocess.DEVNULL)
    wait_replicas_caught_up(master, sites[1:])
    time.sleep(2)
    log('== server-bound (bench/server_loadgen, C++ clients; a group and a single server of their own) ==')
    for n in (1, 4):
        ms, ss = alternate('master', lambda: loadgen(loadgen_bin, master, 'commit', n, ARGS.seconds),
                           'single', lambda: loadgen(loadgen_bin, single, 'commit', n, ARGS.seconds),
                           ARGS.repeats)
        log('  commits, %d client(s): master %s   single %s' % (n, fmt(ms, 'c/s'), fmt(ss, 'c/s')))
        rows.append(('loadgen commits, %d client(s): master / single' % n, ms, ss, 0.5,
                     'repl_loadgen_commit_%d_client' % n, 'commits/s', 'single_server'))
    wait_replicas_caught_up(master, sites[1:])
    for n in (1, 8):
        rs, ms = alternate('replica', lambda: loadgen(loadgen_bin, replica, 'load', n, ARGS.seconds),
                           'master', lambda: loadgen(loadgen_bin, master, 'load', n, ARGS.seconds),
                           ARGS.repeats)
        log('  loads, %d client(s): replica %s   master %s' % (n, fmt(rs, 'l/s'), fmt(ms, 'l/s')))
        rows.append(('loadgen loads, %d client(s): replica / master' % n, rs, ms, 0.9,
                     'repl_loadgen_load_%d_client' % n, 'loads/s', 'master'))
    for s in [single] + sites:
        s.stop()
        servers.remove(s)


# ---------------------------------------------------------------- main

def loadavg():
    with open('/proc/loadavg') as f:
        return ' '.join(f.read().split()[:3])


def main():
    global ARGS
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--build', default=os.path.join(HERE, '..', 'build'))
    p.add_argument('--durus', default=os.environ.get('DURUS_SOURCE_DIR',
                                                     os.path.join(HERE, '..', '..', 'shared', 'durus')))
    p.add_argument('--seconds', type=float, default=3)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--kills', type=int, default=10)
    p.add_argument('--lag-samples', type=int, default=200)
    p.add_argument('--objects', type=int, default=20000)
    p.add_argument('--csv', default='')
    p.add_argument('--no-loadgen', action='store_true',
                   help='skip the server-bound figures (bench/server_loadgen)')
    p.add_argument('--quick', action='store_true')
    p.add_argument('--keep', action='store_true', help='keep the temporary homes and logs')
    p.add_argument('--pollers', type=int, default=1,
                   help='failover: clients polling each surviving address (default 1)')
    p.add_argument('--stacks', default='',
                   help='failover: a directory for gdb stacks of the survivors when no commit '
                        'was acknowledged 2.5 s after a kill')
    p.add_argument('--site-args', default='',
                   help='more `serve` arguments for the sites of the groups, e.g. '
                        '"--repl-ack-timeout-ms 300"')
    p.add_argument('--db-verbose', default='',
                   help='Berkeley DB verbose messages of the sites into their logs (DB_CONFIG '
                        'set_verbose) from their first restart in the kill loop, e.g. '
                        'DB_VERB_REP_SYNC,DB_VERB_REP_ELECT; with --keep')
    p.add_argument('--poll-master-only', action='store_true',
                   help='failover: poll only the new master, found with db5.3_stat -r (no '
                        'client touches a replica during the failover)')
    p.add_argument('--only-failover', action='store_true', help='just the failover loop')
    ARGS = p.parse_args()
    if ARGS.quick:
        ARGS.seconds, ARGS.repeats, ARGS.kills, ARGS.lag_samples, ARGS.objects = 0.5, 1, 1, 20, 2000
    ARGS.durus = os.path.abspath(ARGS.durus)
    sys.path.insert(0, ARGS.durus)
    binary = os.path.join(os.path.abspath(ARGS.build), 'tools', 'durus-bdb')
    if not os.access(binary, os.X_OK):
        raise SystemExit('missing %s (build the durus-bdb target)' % binary)
    try:
        import durus.client_storage  # noqa: F401
    except ImportError as e:
        raise SystemExit('Durus not importable from %s: %s' % (ARGS.durus, e))

    def log(s):
        print(s, flush=True)

    log('machine: %d cores, load average %s at start (other processes skew the figures)'
        % (os.cpu_count(), loadavg()))
    tmp = tempfile.mkdtemp(prefix='durus-repl-bench-')
    servers = []
    rows = []
    try:
        single = Server(binary, os.path.join(tmp, 'single'), free_ports(1)[0]).start()
        servers.append(single)
        sites = start_group(binary, tmp)
        servers.extend(sites)
        master, replica = sites[0], sites[1]
        log('group: master :%d, replicas :%d :%d; single server :%d (write_nosync, ack quorum)'
            % (master.port, sites[1].port, sites[2].port, single.port))
        oids_file = populate(master.address, ARGS.objects, tmp)
        populate(single.address, 0, tmp)
        for s in sites[1:]:
            wait_until(lambda s=s: read_key(s.address, 'populated'), what='replica caught up')
        time.sleep(2)  # the background checkpoints after the populate

        if not ARGS.only_failover:
            log('== commits/s: master of 3 (quorum) vs single server, Durus client processes ==')
            for n in (1, 4):
                ms, ss = alternate(
                    'master', lambda: run_workers('commit', master.address, n, ARGS.seconds, lambda i: i),
                    'single', lambda: run_workers('commit', single.address, n, ARGS.seconds, lambda i: i),
                    ARGS.repeats)
                log('  %d client(s): master %s   single %s' % (n, fmt(ms, 'c/s'), fmt(ss, 'c/s')))
                rows.append(('commits, %d client(s): master / single' % n, ms, ss, 0.5,
                             'repl_commit_%d_client' % n, 'commits/s', 'single_server'))

            wait_replicas_caught_up(master, sites[1:])
            log('== loads/s: replica vs master (same group), Durus ClientStorage.load processes ==')
            for n in (1, 4):
                rs, ms = alternate(
                    'replica', lambda: run_workers('load', replica.address, n, ARGS.seconds,
                                                   lambda i: oids_file),
                    'master', lambda: run_workers('load', master.address, n, ARGS.seconds,
                                                  lambda i: oids_file),
                    ARGS.repeats)
                log('  %d client(s): replica %s   master %s' % (n, fmt(rs, 'l/s'), fmt(ms, 'l/s')))
                rows.append(('loads, %d client(s): replica / master' % n, rs, ms, 0.9,
                             'repl_load_%d_client' % n, 'loads/s', 'master'))

            log('== replica lag: one commit at a time while 2 client processes commit ==')
            log_file_bytes = 2 * 1024 * 1024  # a small home's log file (bdb/env_shape.cc)
            times, behind, commits = lag(master, replica, max(10.0, ARGS.seconds * 5),
                                         ARGS.lag_samples, log_file_bytes)
            times.sort()
            p90 = times[int(0.9 * (len(times) - 1))]
            log('  O on master -> visible on a replica (%d samples): median %.2f ms, p90 %.2f ms, max %.2f ms'
                % (len(times), statistics.median(times), p90, times[-1]))
            if behind:
                log('  replica log behind master (db5.3_stat -r, %d samples): median %d B, max %d B'
                    % (len(behind), statistics.median(behind), max(behind)))
            else:
                log('  replica log behind master: db5.3_stat -r unavailable or not parsed')
            if commits:
                log('  replica journal behind master (R journal_seq, %d samples): median %s, '
                    'max %d commits' % (len(commits), statistics.median(commits), max(commits)))
            else:
                log('  replica journal behind master: no info request R on this server')

            loadgen_bin = os.path.join(os.path.abspath(ARGS.build), 'bench', 'server_loadgen')
            if ARGS.no_loadgen or not os.access(loadgen_bin, os.X_OK):
                log('== (no server-bound figures: %s) ==' % (
                    '--no-loadgen' if ARGS.no_loadgen else 'build the server_loadgen target'))
            else:
                loadgen_phase(binary, loadgen_bin, tmp, servers, rows, log)

        log('== failover: SIGKILL the master while a client commits (%d kills) ==' % ARGS.kills)
        fo, lost = failover(sites, ARGS.kills, log)
        log('  failover: median %.1f ms, max %.1f ms over %d kills; acknowledged commits lost: %d'
            % (statistics.median(fo), max(fo), len(fo), lost))
    finally:
        for s in servers:
            s.stop()
        log('load average at end: %s' % loadavg())
        if ARGS.keep:
            log('homes and logs kept in %s' % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    log('')
    log('%-44s %10s %8s' % ('ratio (median of repeats)', 'value', 'target'))
    for name, a, b, target, _, _, _ in rows:
        v = statistics.median(a) / statistics.median(b)
        log('%-44s %10.2f %8s %s' % (name, v, '>= %g' % target, 'ok' if v >= target else 'SHORT'))
    if ARGS.csv:
        new = not os.path.exists(ARGS.csv) or os.path.getsize(ARGS.csv) == 0
        with open(ARGS.csv, 'a', newline='') as f:
            w = csv.writer(f)
            if new:
                w.writerow(['date', 'source', 'workload', 'durability', 'unit', 'ours', 'peer',
                            'peer_name', 'ratio', 'cpu_ratio'])
            today = datetime.datetime.utcnow().strftime('%Y-%m-%d')
            for _, a, b, _, workload, unit, peer_name in rows:
                ma, mb = statistics.median(a), statistics.median(b)
                w.writerow([today, 'repl_bench.py', workload, 'write_nosync', unit, ma, mb,
                            peer_name, round(ma / mb, 4), ''])
        log('ratios appended to %s' % ARGS.csv)


ARGS = None

if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'worker':
        worker(sys.argv[2:])
    else:
        main()
