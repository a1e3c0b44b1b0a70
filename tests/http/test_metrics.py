"""`durus-bdb serve --http`: /metrics in the Prometheus text format counts
what real Durus clients did (commits, loads, a provoked conflict), and
/healthz answers 200 while serving."""
import os
import unittest

from http_harness import (ServerProcess, ServerTestCase, get, parse_exposition,
                          start_with_http, value)


class MetricsTest(ServerTestCase):

    def start(self):
        s = ServerProcess(self.home, args=['--http', '127.0.0.1:0'])
        self.servers.append(s)
        self.url = start_with_http(s)
        return s

    def metrics(self):
        status, body = get(self.url + '/metrics')
        self.assertEqual(status, 200)
        return parse_exposition(body)

    def test_counts_commits_loads_and_conflicts(self):
        from durus.connection import Connection
        from durus.error import ConflictError
        from durus.persistent_dict import PersistentDict
        server = self.start()
        status, body = get(self.url + '/healthz')
        self.assertEqual((status, body.strip()), (200, 'ok'))

        a = Connection(server.storage())  # creates the root: a commit
        before = self.metrics()
        commits = 0
        for i in range(7):
            a.get_root()['k%d' % i] = PersistentDict({'i': i})
            a.commit()
            commits += 1
        # Loads: a second client reads every object.
        b = Connection(server.storage())
        for i in range(7):
            self.assertEqual(b.get_root()['k%d' % i]['i'], i)
        # A write conflict: both change k0, a commits first.
        b.get_root()['k0']['i'] = 'b'
        a.get_root()['k0']['i'] = 'a'
        a.commit()
        commits += 1
        with self.assertRaises(ConflictError):
            b.commit()
        b.abort()
        after = self.metrics()

        def delta(metric, **labels):
            return value(after, metric, **labels) - value(before, metric, **labels)

        self.assertEqual(delta('durus_bdb_commits_total'), commits)
        self.assertEqual(delta('durus_bdb_commit_duration_seconds_count',
                               durability='sync'), commits)
        self.assertEqual(delta('durus_bdb_commit_duration_seconds_bucket',
                               durability='sync', le='+Inf'), commits)
        self.assertGreater(delta('durus_bdb_commit_duration_seconds_sum',
                                 durability='sync'), 0)
        self.assertEqual(delta('durus_bdb_conflicts_total', kind='commit_abandoned'), 1)
        self.assertEqual(delta('durus_bdb_conflicts_total', kind='commit_refused'), 0)
        # Every commit attempt is one C request (the abandoned one too).
        self.assertEqual(delta('durus_bdb_requests_total', command='C', name='commit'),
                         commits + 1)
        # b loaded the root and the seven dicts (at least: Durus may load
        # the root again after the invalidation).
        loads = delta('durus_bdb_requests_total', command='L', name='load')
        self.assertGreaterEqual(loads, 8)
        self.assertEqual(delta('durus_bdb_load_duration_seconds_count'), loads)
        self.assertGreaterEqual(delta('durus_bdb_objects_loaded_total'), loads)
        # Histogram buckets are cumulative and end at the count.
        buckets = sorted(
            (float(dict(k[1])['le']), v) for k, v in after.items()
            if k[0] == 'durus_bdb_commit_duration_seconds_bucket')
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts))
        self.assertEqual(counts[-1], value(after, 'durus_bdb_commit_duration_seconds_count',
                                           durability='sync'))
        self.assertEqual(value(after, 'durus_bdb_clients_connected'), 2)
        self.assertGreater(delta('durus_bdb_received_bytes_total'), 0)
        self.assertGreater(delta('durus_bdb_sent_bytes_total'), 0)
        self.assertGreaterEqual(value(after, 'durus_bdb_objects'), 8)
        # Berkeley DB's own figures (a home, not --memory).
        self.assertGreater(value(after, 'durus_bdb_cache_hits_total')
                           + value(after, 'durus_bdb_cache_misses_total'), 0)
        ratio = value(after, 'durus_bdb_cache_hit_ratio')
        self.assertTrue(0 <= ratio <= 1, ratio)
        self.assertGreater(value(after, 'durus_bdb_log_written_bytes_total'), 0)
        self.assertGreater(value(after, 'durus_bdb_log_flushes_total'), 0)
        self.assertGreater(value(after, 'durus_bdb_log_disk_bytes'), 0)
        self.assertGreater(value(after, 'durus_bdb_disk_bytes'), 0)
        self.assertEqual(value(after, 'durus_bdb_storage_healthy'), 1)
        self.assertEqual(value(after, 'durus_bdb_up'), 1)
        a.get_storage().close()
        b.get_storage().close()
        server.stop()  # SIGTERM: exits cleanly, the HTTP threads too

    def test_memory_storage_has_no_engine_metrics(self):
        s = ServerProcess(self.home, args=['--http', '127.0.0.1:0', '--memory'])
        self.servers.append(s)
        self.url = start_with_http(s)
        m = self.metrics()
        self.assertEqual(value(m, 'durus_bdb_commits_total'), 0)
        self.assertNotIn(('durus_bdb_cache_hit_ratio', frozenset()), m)
        status, _ = get(self.url + '/healthz')
        self.assertEqual(status, 200)
        status, body = get(self.url + '/nowhere')
        self.assertEqual(status, 404)
        s.stop()

    def test_sigterm_with_http_clients_connected(self):
        # An idle keep-alive connection and a half-sent request must not
        # keep the server from exiting (cpp-httplib joins its request
        # threads at stop).
        import socket
        s = ServerProcess(self.home, args=['--http', '127.0.0.1:0'])
        self.servers.append(s)
        self.url = start_with_http(s)
        host, port = self.url[len('http://'):].rsplit(':', 1)
        idle = socket.create_connection((host, int(port)))
        idle.sendall(b'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
        self.assertIn(b' 200 ', idle.recv(4096))
        stalled = socket.create_connection((host, int(port)))
        stalled.sendall(b'GET /metr')
        s.stop()  # SIGTERM; asserts exit status 0 within its timeout
        self.assertIn('storage closed', s.log())
        idle.close()
        stalled.close()

    def test_parser_rejects_what_is_not_the_format(self):
        # The checks above rely on parse_exposition refusing bad lines.
        ok = '# HELP durus_bdb_x x\n# TYPE durus_bdb_x counter\ndurus_bdb_x{a="b"} 1\n'
        self.assertEqual(parse_exposition(ok), {('durus_bdb_x', frozenset([('a', 'b')])): 1.0})
        for bad in ('durus_bdb_x 1\n',  # no TYPE
                    ok + 'durus_bdb_x{a="b"} 2\n',  # duplicate
                    ok.replace('} 1', '} one'), ok.replace('{a="b"}', '{a=b}'),
                    ok.replace('# TYPE', '# TPYE')):
            with self.assertRaises(ValueError, msg=bad):
                parse_exposition(bad)

    def test_bad_address_is_a_usage_error(self):
        import subprocess
        from server_harness import DURUS_BDB
        r = subprocess.run([DURUS_BDB, 'serve', '--memory', '--port', '0', '--http', 'nope'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        # A usage error: exit status 2, one line, before anything opens.
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn(b'--http: nope: expected PORT or HOST:PORT', r.stderr)
        self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


if __name__ == '__main__':
    unittest.main()
