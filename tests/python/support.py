"""Shared helpers for the durus_bdb Python tests.

Tests that need Durus call require_durus() from setUpModule: it skips the
whole module with a clear message when Durus is not importable, except
under CI=true where that is a failure (CI must run them).  ctest marks the
test as skipped through SKIP_REGULAR_EXPRESSION on SKIP_MESSAGE.
"""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

SKIP_MESSAGE = "DURUS NOT IMPORTABLE"

HERE = os.path.dirname(os.path.abspath(__file__))


def durus_available():
    try:
        import durus.connection  # noqa: F401
    except ImportError:
        return False
    return True


def require_durus():
    if durus_available():
        return
    where = os.environ.get("DURUS_SOURCE_DIR", "../shared/durus")
    if os.environ.get("CI") == "true":
        # Not SKIP_MESSAGE: ctest must report a failure, not a skip.
        raise RuntimeError("Durus cannot be imported (expected at %s) and "
                           "CI=true: these tests must run" % where)
    raise unittest.SkipTest("%s: Durus is not on PYTHONPATH (expected at %s); "
                            "these tests need it" % (SKIP_MESSAGE, where))


def durus_command():
    """Durus's command line: its bin/durus script when the source tree is
    known (DURUS_SOURCE_DIR), else `python -m durus` (the same code)."""
    script = os.path.join(os.environ.get("DURUS_SOURCE_DIR", ""), "bin", "durus")
    if os.environ.get("DURUS_SOURCE_DIR") and os.path.isfile(script):
        return [sys.executable, script]
    return [sys.executable, "-m", "durus"]


def oid(n):
    return n.to_bytes(8, "big")


def record(n, data=b"", refs=()):
    """A Durus record (durus.serialize.pack_record) for oid n."""
    return (oid(n) + len(data).to_bytes(4, "big") + data
            + b"".join(oid(r) for r in sorted(set(refs))))


class TempDirTestCase(unittest.TestCase):
    """A fresh temporary directory per test, removed afterwards."""

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="durus_bdb_test_")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def home(self, name="home"):
        return os.path.join(self.tmp, name)


def child_env(with_durus=True):
    """Environment for a child Python: same PYTHONPATH (build tree + Durus),
    or without Durus when with_durus is False."""
    env = dict(os.environ)
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if not with_durus:
        durus_dir = os.environ.get("DURUS_SOURCE_DIR")
        paths = [p for p in paths
                 if not os.path.exists(os.path.join(p, "durus", "__init__.py"))
                 and (durus_dir is None or
                      os.path.abspath(p) != os.path.abspath(durus_dir))]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    return env


def run_python(code, *args, with_durus=True, timeout=120, check=True):
    """Run `code` in a new Python process; returns CompletedProcess."""
    proc = subprocess.run([sys.executable, "-c", code] + list(args),
                          env=child_env(with_durus), capture_output=True,
                          text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError("child failed (%d):\nstdout:\n%s\nstderr:\n%s"
                             % (proc.returncode, proc.stdout, proc.stderr))
    return proc


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, limit=60.0):
    """Wait until something accepts on 127.0.0.1:port, failing fast if
    `proc` exits.  `limit` bounds a hang; it is not a timing assertion."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError("server exited with %s:\n%s\n%s"
                                 % (proc.returncode, out, err))
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("server on port %d never accepted" % port)
