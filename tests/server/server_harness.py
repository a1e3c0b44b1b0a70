"""Helpers for the server tests: run `durus-bdb serve` as a real process
on a temporary home, wait for its "ready" line, read its log, stop it.

Environment (set by tests/server/CMakeLists.txt):
  DURUS_BDB          the durus-bdb binary
  DURUS_SOURCE_DIR   Durus 4.3 sources (also on PYTHONPATH)
  CI=true            a missing Durus is a failure instead of a skip
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

DURUS_BDB = os.environ.get('DURUS_BDB', '')
DURUS_SOURCE_DIR = os.environ.get('DURUS_SOURCE_DIR', '')


def require_durus():
    """Skip (or, under CI=true, fail) when Durus cannot be imported."""
    try:
        import durus.client_storage  # noqa: F401
    except ImportError as e:
        msg = ('Durus is not importable (DURUS_SOURCE_DIR=%r, PYTHONPATH=%r): %s'
               % (DURUS_SOURCE_DIR, os.environ.get('PYTHONPATH'), e))
        if os.environ.get('CI') == 'true':
            raise RuntimeError('CI=true and ' + msg)
        raise unittest.SkipTest(msg)
    if not DURUS_BDB or not os.access(DURUS_BDB, os.X_OK):
        raise RuntimeError('DURUS_BDB does not name the durus-bdb binary: %r' % DURUS_BDB)


def child_env():
    """Environment for child Python processes (Durus importable)."""
    env = dict(os.environ)
    paths = [DURUS_SOURCE_DIR, os.path.dirname(os.path.abspath(__file__))]
    if env.get('PYTHONPATH'):
        paths.append(env['PYTHONPATH'])
    env['PYTHONPATH'] = os.pathsep.join(p for p in paths if p)
    return env


class ServerProcess(object):
    """One `durus-bdb serve` process.

    By default TCP on 127.0.0.1 with --port 0 (the kernel picks a free
    port; the ready line names it).  `address` switches to a unix socket.
    """

    def __init__(self, home, address=None, args=(), wrapper=()):
        self.home = home
        self.address = address
        self.args = list(args)
        # Prepended to the command, e.g. ['prlimit', '--nofile=128:128'].
        self.wrapper = list(wrapper)
        self.proc = None
        self.lines = []
        self.cond = threading.Condition()
        self.port = None
        self.host = None

    def start(self, timeout=60):
        cmd = self.wrapper + [DURUS_BDB, 'serve', '--home', self.home, '--log-level', 'info']
        if self.address is None:
            cmd += ['--host', '127.0.0.1', '--port', '0']
        else:
            cmd += ['--address', self.address]
        cmd += self.args
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        t = threading.Thread(target=self._read, daemon=True)
        t.start()
        line = self.wait_log(r'ready on ', timeout=timeout)
        if line is None:
            self.kill()
            raise AssertionError('server did not become ready:\n' + self.log())
        m = re.search(r'ready on (\S+):(\d+) ', line)
        if m and self.address is None:
            self.host, self.port = m.group(1), int(m.group(2))
        return self

    def _read(self):
        for raw in self.proc.stderr:
            with self.cond:
                self.lines.append(raw.decode('utf-8', 'replace').rstrip('\n'))
                self.cond.notify_all()
        self.proc.stderr.close()
        with self.cond:
            self.lines.append(None)  # EOF marker
            self.cond.notify_all()

    def log(self):
        with self.cond:
            return '\n'.join(l for l in self.lines if l is not None)

    def wait_log(self, pattern, timeout=30, start=0):
        """First log line at index >= start matching `pattern`, or None."""
        rx = re.compile(pattern)
        deadline = time.time() + timeout
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    l = self.lines[i]
                    if l is None:
                        return None
                    if rx.search(l):
                        return l
                    i += 1
                left = deadline - time.time()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def mark(self):
        with self.cond:
            return len(self.lines)

    def client_address(self):
        """What ClientStorage(address=...) takes."""
        return self.address if self.address is not None else (self.host, self.port)

    def storage(self):
        from durus.client_storage import ClientStorage
        return ClientStorage(address=self.client_address())

    def address_args(self):
        if self.address is not None:
            return ['--address', self.address]
        return ['--host', self.host, '--port', str(self.port)]

    def signal(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=60):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError('server did not exit within %ss:\n%s' % (timeout, self.log()))
        with self.cond:  # let the reader drain the pipe
            deadline = time.time() + 10
            while (not self.lines or self.lines[-1] is not None) and time.time() < deadline:
                self.cond.wait(0.1)
        return rc

    def stop(self):
        """SIGTERM and wait; asserts a clean exit."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.signal(signal.SIGTERM)
        rc = self.wait_exit()
        if rc != 0:
            raise AssertionError('server exited with %s:\n%s' % (rc, self.log()))

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
            self.wait_exit()


class ServerTestCase(unittest.TestCase):
    """A temporary directory per test; self.server started by start_server()."""

    server_args = ()

    @classmethod
    def setUpClass(cls):
        require_durus()

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='durus-server-test-')
        self.home = os.path.join(self.tmp, 'home')
        self.servers = []

    def tearDown(self):
        for s in self.servers:
            s.kill()
        if self._outcome_ok():
            shutil.rmtree(self.tmp, ignore_errors=True)
        else:
            for s in self.servers:
                sys.stderr.write('\n--- server log (%s) ---\n%s\n' % (self.id(), s.log()))
            sys.stderr.write('kept %s\n' % self.tmp)

    def _outcome_ok(self):
        outcome = getattr(self, '_outcome', None)
        if outcome is None:
            return True
        errors = getattr(outcome, 'errors', None)
        if errors is None:  # Python >= 3.11
            result = getattr(outcome, 'result', None)
            if result is None:
                return True
            return all(t is not self for t, _ in result.errors + result.failures)
        return all(exc is None for _, exc in errors)

    def start_server(self, address=None, args=None, home=None):
        s = ServerProcess(home or self.home, address=address,
                          args=self.server_args if args is None else args)
        self.servers.append(s)
        return s.start()

    def run_children(self, script, arg_lists, timeout=120):
        """Run `python3 script args...` for each arg list in parallel;
        returns their stdouts (asserting exit 0)."""
        here = os.path.dirname(os.path.abspath(__file__))
        procs = [subprocess.Popen([sys.executable, os.path.join(here, script)] + [str(a) for a in args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=child_env())
                 for args in arg_lists]
        outs = []
        for p in procs:
            try:
                out, err = p.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                raise AssertionError('child %s timed out' % script)
            self.assertEqual(p.returncode, 0, 'child %s failed:\n%s' % (script, err.decode()))
            outs.append(out.decode())
        return outs


def raw_connect(server, timeout=20):
    """A raw socket to the server, after the protocol handshake."""
    if server.address is not None:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        addr = server.address.replace('@', '\0', 1) if server.address.startswith('@') else server.address
        s.connect(addr)
    else:
        s = socket.create_connection((server.host, server.port))
    s.settimeout(timeout)
    s.sendall(b'V\0\0\0\x01')
    assert recv_exact(s, 4) == b'\0\0\0\x01'
    return s


def recv_exact(s, n):
    data = b''
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def wait_closed(s, timeout=30):
    """True if the server closes the connection within `timeout`."""
    s.settimeout(timeout)
    try:
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return True
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True
