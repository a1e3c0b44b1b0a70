"""Access control (issue 12, doc/security.md): who may stop the server
with Q (--allow-stop), who may connect over TCP (--allow-from), the
warning when listening beyond loopback or on an abstract socket, and
--read-only.  Real sockets, real Durus clients; every peer is on this
machine (a range like 10.0.0.0/8 that excludes loopback stands for a
remote network), and a peer of another uid is a child process that
drops to `nobody` (only possible as root; skipped otherwise)."""
import os
import socket
import subprocess
import unittest

from server_harness import ServerTestCase, DURUS_BDB, raw_connect, recv_exact, wait_closed

NOBODY = 65534

def run_as_nobody(address):
    """Connect to unix socket `address` ('@': abstract) from a process of
    uid nobody, handshake, send Q; 'closed' if the server then closed the
    connection, 'open' if not.  A forked child: the connection's
    credentials (SO_PEERCRED) are those of the process that connects."""
    if os.geteuid() != 0:
        raise unittest.SkipTest('a peer with another uid needs root to start (running as uid %d)'
                                % os.geteuid())
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect('\0' + address[1:] if address.startswith('@') else address)
            s.settimeout(30)
            s.sendall(b'V\0\0\0\x01')
            assert recv_exact(s, 4) == b'\0\0\0\x01'
            s.sendall(b'Q')
            try:
                closed = s.recv(1) == b''
            except socket.timeout:
                closed = False
            os.write(w, b'closed' if closed else b'open')
            code = 0
        except BaseException as e:
            os.write(w, repr(e).encode())
        finally:
            os._exit(code)
    os.close(w)
    out = b''
    while True:
        chunk = os.read(r, 1024)
        if not chunk:
            break
        out += chunk
    os.close(r)
    _, status = os.waitpid(pid, 0)
    if status != 0:
        raise AssertionError('the nobody client failed: %s' % out.decode())
    return out.decode()


class AccessTestCase(ServerTestCase):

    def populate(self, server):
        from durus.connection import Connection
        c = Connection(server.storage())
        c.get_root()['k'] = 'v'
        c.commit()
        c.get_storage().close()

    def assert_serving(self, server):
        from durus.connection import Connection
        self.assertIsNone(server.proc.poll(), 'the server stopped:\n' + server.log())
        c = Connection(server.storage())
        self.assertEqual(c.get_root()['k'], 'v')
        c.get_storage().close()


class AllowStop(AccessTestCase):

    def test_q_from_another_uid_refused_by_default(self):
        address = '@durus-bdb-test-%d' % os.getpid()
        server = self.start_server(address=address)
        self.populate(server)
        mark = server.mark()
        # Before the fix, user nobody stopped the server with one byte.
        self.assertEqual(run_as_nobody(address), 'closed')
        line = server.wait_log(r'quit \(Q\) refused', start=mark)
        self.assertIsNotNone(line, server.log())
        self.assertIn('uid %d' % NOBODY, line)
        self.assert_serving(server)
        self.assertIn('abstract socket', server.wait_log(r'WARN .*abstract socket', timeout=1) or '',
                      'no warning that an abstract socket lets every local user in:\n' + server.log())
        # The server's own user still stops it (durus-bdb stop, Q).
        p = subprocess.run([DURUS_BDB, 'stop', '--address', address], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=120)
        self.assertEqual(p.returncode, 0, p.stdout.decode())
        self.assertEqual(server.wait_exit(), 0)
        self.assertRegex(server.log(), r'stopped \(quit requested by client \d+\)')

    def test_q_from_another_uid_on_a_shared_socket_file(self):
        path = os.path.join(self.tmp, 'db.sock')
        os.chmod(self.tmp, 0o755)  # nobody may reach the socket file
        server = self.start_server(address=path, args=['--socket-mode', '0666'])
        self.populate(server)
        self.assertEqual(run_as_nobody(path), 'closed')
        self.assertIsNotNone(server.wait_log(r'quit \(Q\) refused'), server.log())
        self.assert_serving(server)
        # Durus's own stop, from the server's user.
        from durus.__main__ import stop_durus
        self.assertTrue(stop_durus(path))
        self.assertEqual(server.wait_exit(), 0, server.log())

    def test_allow_stop_any_is_durus_behaviour(self):
        address = '@durus-bdb-test-any-%d' % os.getpid()
        server = self.start_server(address=address, args=['--allow-stop', 'any'])
        run_as_nobody(address)
        self.assertEqual(server.wait_exit(), 0, server.log())
        self.assertRegex(server.log(), r'stopped \(quit requested by client \d+\)')

    def test_allow_stop_none(self):
        server = self.start_server(args=['--allow-stop', 'none'])
        self.populate(server)
        s = raw_connect(server)
        s.sendall(b'Q')
        self.assertTrue(wait_closed(s), 'a refused Q leaves the connection open')
        s.close()
        self.assertIsNotNone(server.wait_log(r'quit \(Q\) refused: --allow-stop none'), server.log())
        p = subprocess.run([DURUS_BDB, 'stop', '--wait', '3'] + server.address_args(),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120)
        self.assertNotEqual(p.returncode, 0, p.stdout.decode())
        self.assert_serving(server)
        server.stop()  # signals still work

    def test_loopback_tcp_may_stop(self):
        server = self.start_server()
        self.assertRegex(server.log(), r'quit \(Q\) honoured from this machine only')
        self.assertNotRegex(server.log(), r'WARN')
        s = raw_connect(server)
        s.sendall(b'Q')
        self.assertEqual(server.wait_exit(), 0, server.log())
        s.close()


class AllowFrom(AccessTestCase):

    def test_loopback_refused_when_only_a_remote_range_is_allowed(self):
        from durus.client_storage import ClientStorage
        server = self.start_server(args=['--allow-from', '10.0.0.0/8, 192.168.0.0/16'])
        mark = server.mark()
        with self.assertRaises(Exception):
            ClientStorage(address=server.client_address())
        line = server.wait_log(r'refused a connection from 127\.0\.0\.1:\d+: not in --allow-from',
                               start=mark)
        self.assertIsNotNone(line, server.log())
        self.assertNotRegex(server.log(), r'client \d+ connected')
        # A refusal per second is logged, the rest counted.
        for _ in range(5):
            s = socket.create_connection((server.host, server.port))
            self.assertTrue(wait_closed(s))
            s.close()
        self.assertIsNone(server.proc.poll())
        refusals = [l for l in server.log().splitlines() if 'not in --allow-from' in l]
        self.assertLess(len(refusals), 6, refusals)
        server.stop()

    def test_allowed_range(self):
        server = self.start_server(args=['--allow-from', '10.0.0.0/8,127.0.0.0/8'])
        self.populate(server)
        self.assert_serving(server)
        self.assertNotIn('not in --allow-from', server.log())

    def test_ipv6(self):
        try:
            probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            probe.bind(('::1', 0))
            probe.close()
        except OSError as e:
            raise unittest.SkipTest('no IPv6 loopback here: %s' % e)
        server = self.start_server(args=['--host', '::1', '--allow-from', '10.0.0.0/8,fd00::/8'])
        s = socket.create_connection(('::1', server.port))
        self.assertTrue(wait_closed(s))
        s.close()
        self.assertIsNotNone(server.wait_log(r'refused a connection from \[::1\]:\d+'), server.log())
        server.stop()
        server = self.start_server(args=['--host', '::1', '--allow-from', '::1/128'])
        s = socket.create_connection(('::1', server.port))
        s.settimeout(30)
        s.sendall(b'V\0\0\0\x01')
        self.assertEqual(recv_exact(s, 4), b'\0\0\0\x01')
        s.close()

    def test_warning_beyond_loopback(self):
        # Bound to every interface; nothing is sent anywhere but loopback.
        server = self.start_server(args=['--host', '0.0.0.0'])
        line = server.wait_log(r'WARN .*beyond loopback without --allow-from', timeout=1)
        self.assertIsNotNone(line, server.log())
        self.assertIn('read and overwrite every object', line)
        self.assertIn('doc/security.md', line)
        server.stop()
        server = self.start_server(args=['--host', '0.0.0.0', '--allow-from', '10.0.0.0/8'])
        self.assertNotIn('beyond loopback', server.log())
        server.stop()

    def test_bad_ranges(self):
        for bad, says in (('10.1.2.3/8', 'did you mean 10.0.0.0/8'),
                          ('10.0.0.0/33', 'prefix length must be 0-32'),
                          ('fd00::/200', 'prefix length must be 0-128'),
                          ('example.com', 'not an IPv4 or IPv6 address'),
                          ('10.0.0.0/8,', 'empty range')):
            p = subprocess.run([DURUS_BDB, 'serve', '--memory', '--port', '0', '--allow-from', bad],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual(p.returncode, 2, p.stdout.decode())
            self.assertIn(says, p.stdout.decode())
        p = subprocess.run([DURUS_BDB, 'serve', '--memory', '--allow-stop', 'maybe'],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=60)
        self.assertEqual(p.returncode, 2)
        self.assertIn('not local, any or none', p.stdout.decode())


class ReadOnly(AccessTestCase):

    def test_read_only(self):
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        writer = self.start_server()
        c = Connection(writer.storage())
        c.get_root()['k'] = 'v'
        c.get_root()['d'] = PersistentDict(n=1)
        c.commit()
        c.get_storage().close()
        writer.stop()
        server = self.start_server(args=['--read-only'])
        self.assertRegex(server.log(), r'ready on .*readonly.*read-only')
        reader = Connection(server.storage())
        root = reader.get_root()
        self.assertEqual(root['d']['n'], 1)
        list(reader.get_storage().bulk_load([b'\0' * 8]))
        reader.abort()  # a sync
        # A commit of a changed object: refused, the client gets an error.
        mark = server.mark()
        root['k'] = 'changed'
        with self.assertRaises(Exception):
            reader.commit()
        self.assertIsNotNone(server.wait_log(r'commit \(C\) refused: the server is read-only',
                                             start=mark), server.log())
        # New objects need new oids: refused too.
        other = Connection(server.storage())
        other.get_root()['new'] = PersistentDict()
        with self.assertRaises(Exception):
            other.commit()
        self.assertIsNotNone(server.wait_log(r'new oids \(M\) refused', start=mark), server.log())
        s = raw_connect(server)
        s.sendall(b'P')
        self.assertTrue(wait_closed(s))
        s.close()
        self.assert_serving(server)
        server.stop()
        check = self.start_server()
        self.assertEqual(Connection(check.storage()).get_root()['k'], 'v')


if __name__ == '__main__':
    unittest.main()
