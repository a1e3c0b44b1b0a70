"""Helpers for the replication tests: a group of `durus-bdb serve` sites
on 127.0.0.1, each with its own temporary home, Durus port and
replication port (ports from the kernel: bind 0, then pass them on).

Builds on tests/server/server_harness.py (the process, its log, the
Durus-or-skip rule).  Every wait polls a condition with a generous
timeout that only fails; nothing asserts a duration.
"""
import os
import socket
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'server'))

import server_harness  # noqa: E402
from server_harness import DURUS_BDB, ServerProcess, ServerTestCase  # noqa: E402,F401

# Berkeley DB's election and connection-failure messages in every site's
# log (shown when a test fails): what a group that did not elect was doing.
os.environ.setdefault('DURUS_BDB_REPL_VERBOSE', '1')


def free_ports(n):
    """n distinct ports the kernel had free a moment ago."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(('127.0.0.1', 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


class Site(ServerProcess):
    """One site: a Durus port and a replication port fixed in advance."""

    def __init__(self, home, port, repl_port, peers, create=False, extra=()):
        ServerProcess.__init__(self, home)
        self.port = port
        self.host = '127.0.0.1'
        self.repl_port = repl_port
        self.peers = list(peers)
        self.create = create
        self.extra = list(extra)

    def command(self):
        cmd = [DURUS_BDB, 'serve', '--home', self.home, '--log-level', 'info',
               '--host', '127.0.0.1', '--port', str(self.port),
               '--durability', 'write_nosync',
               '--repl-listen', '127.0.0.1:%d' % self.repl_port]
        if '--repl-heartbeat-ms' not in self.extra:
            cmd += ['--repl-heartbeat-ms', '1000']
        for p in self.peers:
            cmd += ['--repl-peer', '127.0.0.1:%d' % p]
        if self.create:
            cmd.append('--repl-create')
        return cmd + self.extra

    def start(self, timeout=90):
        import subprocess
        import threading
        self.lines = []
        self.proc = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()
        if self.wait_log(r'ready on ', timeout=timeout) is None:
            self.kill()
            raise AssertionError('site %d did not become ready:\n%s' % (self.port, self.log()))
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def role_line(self, start=0, timeout=60):
        """The first "replication: role ..." log line at index >= start."""
        return self.wait_log(r'replication: role ', timeout=timeout, start=start)


class GroupTestCase(ServerTestCase):
    """self.sites: a 3-site group formed by start_group()."""

    # Restarts of a rejecting site wait_connected may do once the group
    # formed (repro_membership.py: none, so the race fails the round).
    connect_restarts = 1

    def start_group(self, n=3, extra=(), priorities=None):
        """n sites (len(priorities) when given, each with its
        --repl-priority), started one after the other."""
        if priorities is not None:
            n = len(priorities)
        ports = free_ports(2 * n)
        durus_ports, repl_ports = ports[:n], ports[n:]
        self.sites = []
        for i in range(n):
            site = Site(os.path.join(self.tmp, 'site%d' % i), durus_ports[i], repl_ports[i],
                        [p for j, p in enumerate(repl_ports) if j != i], create=(i == 0),
                        extra=list(extra) + ([] if priorities is None else
                                             ['--repl-priority', str(priorities[i])]))
            self.servers.append(site)
            self.sites.append(site)
            # One after the other: two sites joining at once may be refused
            # for a while (doc/replication-plan.md, gotcha 2).
            site.start()
        wait_connected(self.sites, restarts=self.connect_restarts)
        return self.sites

    def wait_master(self, sites, start_marks=None, timeout=60):
        """The site (of `sites`, alive) that logs "role master" (after its
        mark in start_marks, when given)."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            for k, s in enumerate(sites):
                if not s.alive():
                    continue
                start = start_marks[k] if start_marks else 0
                if s.wait_log(r'replication: role master', timeout=0.05, start=start):
                    return s
            time.sleep(0.05)
        raise AssertionError('no master within %ss:\n%s' % (
            timeout, '\n'.join('--- site %d\n%s%s' % (s.port, s.log(), thread_stacks(s))
                                for s in sites)))


def peer_states(site):
    """{replication site: 'connected' | 'disconnected'} from the running
    site's status file (bdb/status_file.h: "repl_peer HOST:PORT STATE")."""
    states = {}
    try:
        with open(os.path.join(site.home, 'durus-bdb.status')) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 3 and parts[0] == 'repl_peer':
                    states[parts[1]] = parts[2]
    except OSError:
        pass
    return states


def rejections(site):
    """Berkeley DB's "rejecting connection" lines from the site's
    diagnostic files (__db.rep.diag*), the last few."""
    import glob
    lines = []
    for path in sorted(glob.glob(os.path.join(site.home, '__db.rep.diag*'))):
        try:
            with open(path, errors='replace') as f:
                lines += [l.rstrip() for l in f if 'rejecting connection' in l]
        except OSError:
            pass
    return lines[-3:]


def wait_connected(sites, timeout=20, restarts=1):
    """Every live site of `sites` sees every other one connected.  A group
    whose members do not all reach each other cannot elect when its
    master dies: Berkeley DB 5.3 can apply two membership lists out of
    order and then reject a peer for good (doc/replication.md,
    "Membership lists applied out of order").  What an operator does about
    it is done here: a site that logged such rejections is restarted
    (once), which reloads the membership from its own replicated copy; the
    restart is reported on stderr.  Fails, naming the pairs, if the group
    is still not connected."""
    live = [s for s in sites if s.alive()]
    want = {s: set('127.0.0.1:%d' % o.repl_port for o in live if o is not s) for s in live}
    deadline = time.time() + timeout
    while True:
        missing = []
        for s in live:
            st = peer_states(s)
            missing += ['%d -> %s (%s)' % (s.repl_port, p, st.get(p, 'unknown'))
                        for p in sorted(want[s]) if st.get(p) != 'connected']
        if not missing:
            return
        if time.time() > deadline:
            break
        time.sleep(0.1)
    rejecting = [s for s in live if rejections(s)]
    report = '\n'.join('--- site %d: %s' % (s.repl_port, '\n'.join(rejections(s)) or '-')
                       for s in live)
    if restarts > 0 and rejecting:
        sys.stderr.write('\nwait_connected: not connected after %ss (%s); restarting the '
                         'rejecting site(s) %s (Berkeley DB membership race):\n%s\n' % (
                             timeout, ', '.join(missing),
                             ', '.join(str(s.repl_port) for s in rejecting), report))
        for s in rejecting:
            s.stop()
            s.start()
        return wait_connected(sites, timeout, restarts - 1)
    raise AssertionError('replication sites not all connected after %ss: %s\n%s' % (
        timeout, ', '.join(missing), report))


def stop_process(proc, timeout=30):
    """SIGSTOP `proc` and wait until every one of its threads is stopped
    (/proc/PID/task/*/stat state T).  kill() returns before a thread
    running on another core has stopped: a replica sent SIGSTOP was seen
    to acknowledge a commit made right after (test_group)."""
    import signal
    proc.send_signal(signal.SIGSTOP)
    deadline = time.time() + timeout
    task_dir = '/proc/%d/task' % proc.pid
    while time.time() < deadline:
        try:
            states = []
            for tid in os.listdir(task_dir):
                with open(os.path.join(task_dir, tid, 'stat')) as f:
                    # "pid (comm) S ...": the state follows the last ')'.
                    states.append(f.read().rsplit(')', 1)[1].split()[0])
        except OSError:
            states = []  # a thread came or went: look again
        if states and all(st in ('T', 't') for st in states):
            return
        time.sleep(0.005)
    raise AssertionError('pid %d did not stop within %ss' % (proc.pid, timeout))


def thread_stacks(site):
    """Every thread's stack of a live site (gdb, when installed): what a
    site that stopped progressing waits for, in the failure's message."""
    import shutil
    import subprocess
    if not site.alive() or shutil.which('gdb') is None:
        return ''
    try:
        out = subprocess.run(['gdb', '-p', str(site.proc.pid), '-batch', '-nx',
                              '-ex', 'thread apply all bt'],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             timeout=120).stdout.decode('utf-8', 'replace')
    except (OSError, subprocess.TimeoutExpired) as e:
        return '\n(gdb failed: %s)' % e
    keep = [ln for ln in out.splitlines() if ln.startswith(('Thread ', '#'))]
    return '\n--- threads of site %d (pid %d)\n%s' % (site.port, site.proc.pid, '\n'.join(keep))


# --- added by the journal's tests (test_ledger.py, test_journal.py) -------

def read_root_on(site, fn):
    """fn(root) as a fresh Durus connection to `site` sees it; None when
    the site cannot serve it yet (refused, dropped, missing key)."""
    from durus.client_storage import ClientStorage
    from durus.connection import Connection
    try:
        storage = ClientStorage(address=site.client_address())
    except Exception:
        return None
    try:
        return fn(Connection(storage).get_root())
    except Exception:
        return None
    finally:
        storage.close()


def dump_journal_seqs(home):
    """The seqs in HOME/journal.db, read with Berkeley DB's db5.3_dump from
    a closed home (None when the tool is missing)."""
    import shutil
    import subprocess
    tool = shutil.which('db5.3_dump') or shutil.which('db_dump')
    if tool is None:
        return None
    out = subprocess.run([tool, os.path.join(home, 'journal.db')], check=True,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout.decode()
    body = out.split('HEADER=END\n', 1)[1].split('DATA=END', 1)[0].splitlines()
    # Key and value lines alternate, each with one leading space, in hex.
    return [int(line.strip(), 16) for line in body[0::2]]


# --- clients that follow the master (test_follow.py) ---------------------

def durus_address(site):
    """The site's Durus address as "host:port" (what R names)."""
    return '%s:%d' % (site.host, site.port)


def follow_module():
    """durus_bdb.follow: from the built package when it imports, else
    (a sanitizer tree builds no Python extension, and durus_bdb's
    __init__ needs it) the pure-Python file from the source tree."""
    try:
        import durus_bdb.follow
        return durus_bdb.follow
    except ImportError:
        pass
    import importlib.util
    name = 'durus_bdb_follow_from_source'
    if name in sys.modules:
        return sys.modules[name]
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'python',
                        'durus_bdb', 'follow.py')
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def client_storage(addresses, **kwargs):
    """durus_bdb.client_storage (or follow_module()'s, see there)."""
    try:
        import durus_bdb
    except ImportError:
        return follow_module().client_storage(addresses, **kwargs)
    return durus_bdb.client_storage(addresses, **kwargs)


def ask_info(site, since=None, timeout=20):
    """The site's answer to the info request R (durus_bdb.follow), on a
    fresh connection; `since` is (seq, time)."""
    request_info = follow_module().request_info
    s = server_harness.raw_connect(site, timeout=timeout)
    try:
        return request_info(s, since)
    finally:
        s.close()


def wait_info(site, predicate, timeout=60):
    """Polls ask_info(site) until predicate(answer); returns the answer."""
    deadline = time.time() + timeout
    info = None
    while time.time() < deadline:
        try:
            info = ask_info(site)
        except Exception as e:  # a site syncing may drop us: ask again
            info = e
        if not isinstance(info, Exception) and predicate(info):
            return info
        time.sleep(0.05)
    raise AssertionError('site %d: R answered %r, not what was awaited after %ss:\n%s'
                         % (site.port, info, timeout, site.log()))
