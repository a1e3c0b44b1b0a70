"""The status page in a real browser: headless Debian chromium against
`durus-bdb serve --http` under load from a background Durus client.  The
figures the page shows must be present and numeric, must move between
two DOM dumps taken seconds apart, and a screenshot must be a PNG.

Without chromium the test is skipped, except under CI=true where that is a
failure (dev.sh installs it)."""
import os
import re
import shutil
import subprocess
import sys
import time
import unittest

from http_harness import (ServerProcess, ServerTestCase, get, parse_exposition,
                          start_with_http, value)
from server_harness import child_env

HERE = os.path.dirname(os.path.abspath(__file__))
FIGURES = ('clients', 'commits', 'commits-per-s', 'loads', 'loads-per-s', 'conflicts',
           'commit-p50', 'commit-p99', 'backlog', 'freed', 'objects', 'cache-hit')


def find_chromium():
    for name in ('chromium', 'chromium-browser', 'google-chrome'):
        path = shutil.which(name)
        if path:
            return path
    msg = 'chromium is not installed (apt-get install chromium)'
    if os.environ.get('CI') == 'true':
        raise RuntimeError('CI=true and ' + msg)
    raise unittest.SkipTest(msg)


class StatusPageTest(ServerTestCase):

    def setUp(self):
        super().setUp()
        self.chromium = find_chromium()
        self.profile = os.path.join(self.tmp, 'chromium-profile')

    def browser(self, *args):
        # Root in this sandbox: --no-sandbox.  A hung browser must not hang
        # the suite: a timeout, then the process group is killed.
        cmd = [self.chromium, '--headless=new', '--no-sandbox', '--disable-gpu',
               '--disable-dev-shm-usage', '--no-first-run', '--mute-audio',
               '--user-data-dir=' + self.profile] + list(args)
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             start_new_session=True)
        try:
            out, err = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, 9)
            p.communicate()
            raise AssertionError('chromium did not finish within 30 s: %s' % cmd)
        self.assertEqual(p.returncode, 0, err.decode('utf-8', 'replace')[-2000:])
        return out.decode('utf-8', 'replace')

    def dump(self):
        dom = self.browser('--virtual-time-budget=3000', '--dump-dom', self.url + '/')
        shown = {}
        for fid in FIGURES:
            m = re.search(r'id="%s">([^<]*)<' % re.escape(fid), dom)
            self.assertIsNotNone(m, 'no element #%s in the DOM:\n%s' % (fid, dom[:3000]))
            shown[fid] = m.group(1)
        self.assertRegex(dom, r'id="health" class="ok">serving<')
        return shown

    def commits(self):
        status, body = get(self.url + '/metrics')
        self.assertEqual(status, 200)
        return value(parse_exposition(body), 'durus_bdb_commits_total')

    def wait_commits_above(self, n, timeout=20):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.commits() > n:
                return
            time.sleep(0.2)
        self.fail('the load client made no commit beyond %s' % n)

    def test_page_shows_live_figures(self):
        server = ServerProcess(self.home, args=['--http', '127.0.0.1:0'])
        self.servers.append(server)
        self.url = start_with_http(server)
        load = subprocess.Popen(
            [sys.executable, os.path.join(HERE, 'load_client.py'),
             '%s:%d' % (server.host, server.port)], env=child_env())
        try:
            self.wait_commits_above(0)
            first = self.dump()
            for fid, text in first.items():
                self.assertRegex(text, r'^[0-9]+(\.[0-9]+)?$', '#%s shows %r' % (fid, text))
            self.assertEqual(first['clients'], '1')
            self.wait_commits_above(int(first['commits']) + 5)
            second = self.dump()
            self.assertGreater(int(second['commits']), int(first['commits']))
            self.assertGreater(int(second['loads']), int(first['loads']))

            png = os.path.join(self.tmp, 'status.png')
            self.browser('--virtual-time-budget=3000', '--window-size=1280,900',
                         '--hide-scrollbars', '--screenshot=' + png, self.url + '/')
            with open(png, 'rb') as f:
                head = f.read(8)
            self.assertEqual(head, b'\x89PNG\r\n\x1a\n')
            self.assertGreater(os.path.getsize(png), 5000)
            if os.environ.get('DURUS_HTTP_SCREENSHOT'):
                shutil.copy(png, os.environ['DURUS_HTTP_SCREENSHOT'])
        finally:
            load.kill()
            load.wait()
        server.stop()


if __name__ == '__main__':
    unittest.main()
