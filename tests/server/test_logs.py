"""The server's log (server/log.h) as an operator meets it, on the real
`durus-bdb serve`: --log-file with --log-format json (every line an object
with an ISO 8601 time carrying its UTC offset), reopened on SIGHUP after
logrotate renamed it while the server goes on serving; --log-level warn
writing no INFO line at all while "ready on" is still announced on stderr;
a recovery line after a crash; a line when a pack (Durus's P) finished,
with what it freed.
"""
import json
import os
import re
import signal
import time
import unittest

from server_harness import ServerProcess, ServerTestCase

ISO_TIME = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$')
TEXT_LINE = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d (ERROR|WARN |INFO |DEBUG) ')


def read_lines(path):
    if not os.path.exists(path):
        return []
    with open(path, 'rb') as f:
        return [l.decode('utf-8') for l in f.read().split(b'\n') if l]


def wait_for(predicate, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    return predicate()


class LogTest(ServerTestCase):

    def commit_one(self, server, key, value):
        from durus.connection import Connection
        conn = Connection(server.storage())
        conn.get_root()[key] = value
        conn.commit()
        conn.storage.close()

    def parse_json_lines(self, path):
        objs = []
        for line in read_lines(path):
            try:
                obj = json.loads(line)
            except ValueError:
                self.fail('not JSON: %r (in %s)' % (line, path))
            self.assertIsInstance(obj, dict, line)
            self.assertRegex(obj.get('time', ''), ISO_TIME, line)
            self.assertIn(obj.get('level'), ('error', 'warn', 'info', 'debug'), line)
            self.assertIsInstance(obj.get('msg'), str, line)
            objs.append(obj)
        return objs

    def test_json_log_file_reopened_on_sighup(self):
        path = os.path.join(self.tmp, 'serve.log')
        server = self.start_server(args=['--log-file', path, '--log-format', 'json'])
        # The announcement still reaches stderr (scripts wait for it); the
        # log lines go to the file only.
        self.assertEqual([l for l in server.log().splitlines() if l.strip()],
                         [l for l in server.log().splitlines() if l.startswith('ready on ')])
        self.commit_one(server, 'a', 1)
        first = wait_for(lambda: any('committed' in o['msg'] for o in self.parse_json_lines(path))
                         and self.parse_json_lines(path))
        ready = [o for o in first if o['msg'].startswith('ready on ')]
        self.assertEqual(len(ready), 1, first)
        self.assertEqual(ready[0]['address'], '%s:%d' % (server.host, server.port))
        self.assertRegex(ready[0]['version'], r'^\d+\.\d+')
        self.assertIn('durus-bdb %s' % ready[0]['version'], ready[0]['msg'])

        # logrotate: rename, then SIGHUP.  The server must survive it and
        # write from then on to a new file under the old name.
        rotated = path + '.1'
        os.rename(path, rotated)
        server.signal(signal.SIGHUP)
        reopened = wait_for(lambda: [o for o in self.parse_json_lines(path)
                                     if 'reopened the log file' in o['msg']])
        self.assertTrue(reopened, 'no reopen line in a new %s' % path)
        self.assertIsNone(server.proc.poll(), 'SIGHUP killed the server')
        before = len(read_lines(rotated))
        self.commit_one(server, 'b', 2)
        self.assertTrue(wait_for(lambda: any('committed' in o['msg']
                                             for o in self.parse_json_lines(path))))
        server.stop()
        after = self.parse_json_lines(path)
        self.assertTrue(any(o['msg'].startswith('stopped (') and o.get('event') == 'stopped'
                            for o in after), after)
        # Nothing more went to the renamed file.
        self.assertEqual(len(read_lines(rotated)), before)
        self.parse_json_lines(rotated)
        mode = os.stat(path).st_mode & 0o777
        self.assertEqual(mode & 0o137, 0, oct(mode))  # at most 0640

    def test_sighup_without_log_file_does_not_stop_the_server(self):
        server = self.start_server()
        mark = server.mark()
        server.signal(signal.SIGHUP)
        self.assertIsNotNone(server.wait_log(r'SIGHUP: no log file', start=mark))
        self.commit_one(server, 'a', 1)
        self.assertIsNone(server.proc.poll())
        server.stop()

    def test_text_lines_have_iso_times_with_offset(self):
        server = self.start_server()
        self.commit_one(server, 'a', 1)
        server.stop()
        lines = [l for l in server.log().splitlines() if l]
        self.assertTrue(lines)
        for l in lines:
            self.assertRegex(l, TEXT_LINE)
        self.assertTrue(any(' INFO  ready on ' in l for l in lines), lines)

    def test_warn_level_writes_no_info_line(self):
        # --log-level given last wins over the harness's info.
        server = self.start_server(args=['--log-level', 'warn'])
        self.commit_one(server, 'a', 1)
        server.stop()
        lines = [l for l in server.log().splitlines() if l]
        # The bare announcement, then nothing at INFO: no client, commit,
        # stop or close line.
        self.assertTrue(lines[0].startswith('ready on '), lines)
        self.assertEqual([l for l in lines if ' INFO ' in l or ' DEBUG ' in l], [], lines)

    def test_warn_level_json_file_has_no_info_objects(self):
        path = os.path.join(self.tmp, 'serve.log')
        server = self.start_server(args=['--log-level', 'warn', '--log-file', path,
                                         '--log-format', 'json'])
        self.commit_one(server, 'a', 1)
        server.stop()
        objs = self.parse_json_lines(path)
        self.assertEqual([o for o in objs if o['level'] in ('info', 'debug')], [])

    def test_recovery_is_logged_after_a_crash_only(self):
        server = self.start_server()
        self.commit_one(server, 'a', 1)
        server.stop()
        # A clean stop: the next open says nothing about recovery.
        server = self.start_server()
        self.assertNotIn('not closed cleanly', server.log())
        self.commit_one(server, 'b', 2)
        server.kill()  # SIGKILL: the home is left as by a crash
        server = self.start_server()
        line = server.wait_log(r'not closed cleanly', timeout=5)
        self.assertIsNotNone(line, server.log())
        self.assertRegex(line, r' WARN  .*recovery took \d+\.\d{3} s')
        # Before the ready line: the storage is open when it runs.
        lines = server.log().splitlines()
        self.assertLess(lines.index(line),
                        [i for i, l in enumerate(lines) if 'ready on ' in l][0])
        server.stop()

    def test_pack_finished_is_logged_with_what_it_freed(self):
        from durus.connection import Connection
        from durus.persistent_dict import PersistentDict
        path = os.path.join(self.tmp, 'serve.log')
        server = self.start_server(args=['--log-file', path, '--log-format', 'json'])
        conn = Connection(server.storage())
        root = conn.get_root()
        # A cycle of three: reference counting never frees it, the trace
        # (pack) does.
        a, b, c = PersistentDict(), PersistentDict(), PersistentDict()
        a['next'], b['next'], c['next'] = b, c, a
        a['pad'] = os.urandom(2000)  # incompressible (Durus compresses records)
        root['cycle'] = a
        conn.commit()
        del root['cycle']
        conn.commit()
        conn.pack()
        finished = wait_for(lambda: [o for o in self.parse_json_lines(path)
                                     if o['msg'].startswith('pack finished')])
        conn.storage.close()
        self.assertEqual(len(finished), 1, self.parse_json_lines(path))
        f = finished[0]
        self.assertEqual(f['level'], 'info')
        self.assertEqual(f['event'], 'pack_finished')
        self.assertEqual(f['objects_freed'], 3, f)
        self.assertGreater(f['bytes_freed'], 2000, f)
        self.assertGreaterEqual(f['reachable'], 1, f)  # the root
        self.assertIn('3 unreachable objects freed (%d bytes)' % f['bytes_freed'], f['msg'])
        server.stop()


if __name__ == '__main__':
    unittest.main()
