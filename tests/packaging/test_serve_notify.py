"""`durus-bdb serve` under a stand-in for systemd's NOTIFY_SOCKET: the
datagrams a Type=notify unit needs (packaging/sd_notify.h): a STATUS while
the home opens, READY=1 with the address once listening (a client can
connect when it arrives), STOPPING=1 on SIGTERM, then a clean exit."""

import os
import socket
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from support import TempDirTestCase  # noqa: E402


class ServeNotifyTest(TempDirTestCase):

    def test_ready_status_stopping(self):
        binary = os.environ.get("DURUS_BDB")
        if not binary:
            self.skipTest("run through ctest (needs DURUS_BDB)")
        path = os.path.join(self.tmp, "notify")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(sock.close)
        sock.bind(path)
        sock.settimeout(120)  # bounds a hang; not a timing assertion
        home = os.path.join(self.tmp, "home")
        proc = subprocess.Popen([binary, "serve", "--home", home, "--port", "0"],
                                env=dict(os.environ, NOTIFY_SOCKET=path),
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.addCleanup(lambda: proc.poll() is None and proc.kill())
        messages = []
        while not any(m.startswith("READY=1") for m in messages):
            messages.append(sock.recv(4096).decode())
        self.assertEqual(messages[0], "STATUS=opening %s (recovery)" % home)
        fields = dict(line.split("=", 1) for line in messages[-1].split("\n"))
        self.assertEqual(fields["MAINPID"], str(proc.pid))
        prefix = "serving %s on 127.0.0.1:" % home
        self.assertTrue(fields["STATUS"].startswith(prefix), fields)
        port = int(fields["STATUS"][len(prefix):])
        socket.create_connection(("127.0.0.1", port), timeout=60).close()
        proc.terminate()
        self.assertEqual(sock.recv(4096).decode(), "STOPPING=1\nSTATUS=stopping")
        _, err = proc.communicate(timeout=120)
        self.assertEqual(proc.returncode, 0, err)


if __name__ == "__main__":
    unittest.main()
