"""Helpers for the monitoring tests: a `durus-bdb serve --http` process
(tests/server/server_harness.py's ServerProcess with the HTTP port read
from its "http on HOST:PORT" line), plain GETs, and a parser for the
Prometheus text format that fails on any line it does not understand.
"""
import re
import urllib.error
import urllib.request

from server_harness import ServerProcess, ServerTestCase  # noqa: F401

# name{labels} value: the only kind of non-comment line we write.
SAMPLE_LINE = re.compile(
    r'^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(?P<labels>[^{}]*)\})? '
    r'(?P<value>[-+]?(?:[0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?|Inf|NaN))$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def start_with_http(server):
    """Starts `server` (a ServerProcess given --http) and returns the
    base URL its log names."""
    server.start()
    line = server.wait_log(r'http on ', timeout=30)
    if line is None:
        raise AssertionError('no "http on" line:\n' + server.log())
    m = re.search(r'http on (\S+):(\d+)', line)
    return 'http://%s:%s' % (m.group(1), m.group(2))


def get(url, timeout=10):
    """(status, body text); HTTP errors are returned, not raised."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode('utf-8')
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode('utf-8')


def parse_exposition(text):
    """{(name, frozenset of label pairs): value}; raises ValueError naming
    the first line that is neither a comment nor `name{labels} value`, and
    on a sample whose family has no # TYPE line before it."""
    samples = {}
    typed = set()
    for n, line in enumerate(text.splitlines(), 1):
        if not line:
            continue
        if line.startswith('#'):
            parts = line.split(' ', 3)
            if len(parts) < 4 or parts[1] not in ('HELP', 'TYPE'):
                raise ValueError('line %d: bad comment %r' % (n, line))
            if parts[1] == 'TYPE':
                if parts[3] not in ('counter', 'gauge', 'histogram', 'summary', 'untyped'):
                    raise ValueError('line %d: bad type %r' % (n, line))
                typed.add(parts[2])
            continue
        m = SAMPLE_LINE.match(line)
        if not m:
            raise ValueError('line %d: not `name{labels} value`: %r' % (n, line))
        name = m.group('name')
        family = re.sub(r'_(bucket|sum|count)$', '', name)
        if name not in typed and family not in typed:
            raise ValueError('line %d: %s has no # TYPE line' % (n, name))
        labels = m.group('labels') or ''
        pairs = LABEL.findall(labels)
        if ','.join('%s="%s"' % p for p in pairs) != labels:
            raise ValueError('line %d: bad labels %r' % (n, labels))
        key = (name, frozenset(pairs))
        if key in samples:
            raise ValueError('line %d: duplicate sample %r' % (n, line))
        samples[key] = float(m.group('value'))
    return samples


def value(samples, metric, **labels):
    return samples[(metric, frozenset(labels.items()))]
