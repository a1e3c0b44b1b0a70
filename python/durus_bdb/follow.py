"""durus_bdb.client_storage(addresses=[...], timeout=10): a Durus client
storage that follows the master of a durus-bdb replication group.

    from durus.connection import Connection
    from durus_bdb import client_storage
    storage = client_storage(["db1:2972", "db2:2972", "db3:2972"])
    connection = Connection(storage)

It is a durus.client_storage.ClientStorage (pure Python, protocol 1) that
finds the master by asking each address durus-bdb's info request R, and
after a failover finds it again.  A request that fails because the master
went away raises what a Durus application already retries: a load raises
ReadConflictError, a commit WriteConflictError (its outcome is unknown: it
may have survived on the new master).  The next sync() then returns the
oids changed since the client's last known position in the group's commit
journal, or every oid it has loaded when the journal cannot tell.  Design:
doc/replication-plan.md 8; the user's page: doc/replication.md "Clients
that follow the master".

Not thread-safe (neither is ClientStorage): one per Connection.
"""
import json
import socket
import struct
import time

from durus.client_storage import ClientStorage
from durus.error import DurusError, ProtocolError, ReadConflictError, WriteConflictError
from durus.storage_server import SocketAddress, StorageServer
from durus.utils import int4_to_str, int8_to_str, join_bytes, read, read_int4, write, write_all

__all__ = ["client_storage", "FollowingClientStorage", "NoMasterError", "NotDurusBdbError",
           "parse_address", "request_info"]

# How long one address may take to connect and answer V and R while the
# client looks for the master (a replica syncing with a new master may
# hold reads for a few seconds: doc/replication.md).
ATTEMPT_TIMEOUT = 3.0
# Pause between rounds over the addresses while no master answers.
BACKOFF = 0.1
# Connections in a row a sync, new-oid or pack request may break before
# it gives up (each is followed by a new search for the master).
MAX_ATTEMPTS = 5


class NoMasterError(DurusError):
    """No address answered as the master within the timeout."""


class NotDurusBdbError(ProtocolError):
    """Every address that answered is a Durus server that does not know R
    (an unmodified Durus server closes the connection on it)."""


def parse_address(address):
    """(host, port) from "host:port", ("host", port) or a port number; a
    string with no colon is a Unix socket path (as Durus takes it)."""
    if isinstance(address, int):
        return ("127.0.0.1", address)
    if isinstance(address, (tuple, list)):
        host, port = address
        return (host, int(port))
    host, sep, port = address.rpartition(":")
    if not sep:
        return address
    return (host.strip("[]"), int(port))


def _recv_info(s):
    n = read_int4(s)
    try:
        info = json.loads(read(s, n).decode("utf-8"))
    except ValueError as e:
        raise ProtocolError("info request: the answer is not JSON: %s" % e)
    if not isinstance(info, dict) or "role" not in info:
        raise ProtocolError("info request: unexpected answer %r" % (info,))
    return info


def request_info(s, since=None):
    """Asks the server on socket `s` R: returns its answer (a dict:
    role, master, master_site, site, generation, journal_seq, journal_time,
    in_flight, and with `since` -- (seq, time) -- changed_since).  A
    server that does not know R closes the connection: ShortRead (an
    OSError)."""
    request = {"since": None}
    if since is not None:
        request = {"since": since[0], "since_time": since[1]}
    body = json.dumps(request).encode("ascii")
    write_all(s, b"R", struct.pack(">I", len(body)), body)
    return _recv_info(s)


class FollowingClientStorage(ClientStorage):
    """See the module's docstring.  `addresses`: the group's Durus
    addresses (any order; one address of a single durus-bdb server works
    too).  `timeout`: how long finding a master may take, at the start and
    after each failover, before NoMasterError.  `refresh`: seconds between
    the R requests that move the client's journal position forward (one
    extra round trip at a sync, at most that often)."""

    def __init__(self, addresses, timeout=10, refresh=10.0):
        if isinstance(addresses, (str, int)):
            addresses = [addresses]
        self.addresses = [parse_address(a) for a in addresses]
        if not self.addresses:
            raise ValueError("client_storage: no address given")
        self.timeout = timeout
        self.refresh = refresh
        self.s = None
        self.address = None
        self.oid_pool = []
        self.oid_pool_size = 32
        self.begin()
        # The connection's number: a transaction whose commit spans a
        # reconnect is refused (its reads and its new oids are the old
        # master's).
        self.epoch = 0
        self.txn_epoch = 0
        self.reconnects = 0
        self.last_info = None
        # Journal position the client's cache is consistent with: every
        # commit up to it has reached the client (in a sync's answer), and
        # `seen` holds every oid the client may hold a newer version of
        # (the invalidations and its own commits since).  None: unknown.
        self.position = None
        self.seen = set()
        # Set by an R, made the position by the next sync's answer.
        self.candidate = None
        # Invalidations owed to the Connection after a reconnect, or all
        # of them (`known`: every oid loaded or stored through here).
        self.pending = set()
        self.pending_all = False
        self.known = set()
        self._connect(first=True)

    def __str__(self):
        return "FollowingClientStorage(%s, master %s)" % (
            ", ".join("%s:%s" % a if isinstance(a, tuple) else a for a in self.addresses),
            self.address)

    # --- finding the master ---------------------------------------------

    def _open(self, address, deadline):
        """A socket to `address` past the V handshake, or None."""
        addr = SocketAddress.new(address)
        sock = socket.socket(addr.get_address_family(), socket.SOCK_STREAM)
        sock.settimeout(max(0.05, min(ATTEMPT_TIMEOUT, deadline - time.time())))
        try:
            if isinstance(address, tuple):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.connect(address)
            protocol = StorageServer.protocol
            write_all(sock, "V", protocol)
            if read(sock, 4) != protocol:
                raise ProtocolError("Protocol version mismatch.")
        except Exception:
            sock.close()
            raise
        return sock

    def _connect(self, first=False):
        """Finds the master and connects to it; on a reconnect, asks it
        what changed since `position` and owes that to the Connection."""
        deadline = time.time() + self.timeout
        since = None if first else self.position
        preferred = []   # masters named by replicas, asked first
        errors = {}
        while True:
            not_durus_bdb = 0
            tried = 0
            candidates = preferred + [a for a in self.addresses if a not in preferred]
            preferred = []
            for address in candidates:
                if time.time() >= deadline:
                    break
                tried += 1
                try:
                    sock = self._open(address, deadline)
                except (OSError, ProtocolError) as e:
                    errors[address] = e
                    continue
                try:
                    info = request_info(sock, since if not first else None)
                except socket.timeout as e:  # slow (a replica syncing): not an answer
                    sock.close()
                    errors[address] = e
                    continue
                except OSError as e:
                    # V answered, then R closed the connection: a Durus
                    # server without R (or one that died just now).
                    sock.close()
                    not_durus_bdb += 1
                    errors[address] = NotDurusBdbError(
                        "%s answered V but not R: not a durus-bdb server (%s)" % (address, e))
                    continue
                except ProtocolError as e:
                    sock.close()
                    errors[address] = e
                    continue
                role = info.get("role")
                if role == "master" or (role == "none" and not info.get("site")):
                    sock.settimeout(None)
                    self._adopt(sock, address, info, first)
                    return
                sock.close()
                master = info.get("master")
                errors[address] = ProtocolError("%s is %s (master %s)" % (address, role, master))
                if master:
                    named = parse_address(master)
                    if named not in preferred and named != address:
                        preferred.append(named)
            if tried and not_durus_bdb == tried:
                raise NotDurusBdbError("; ".join(str(errors[a]) for a in candidates
                                                 if a in errors))
            if time.time() >= deadline:
                raise NoMasterError("no master among %s within %ss: %s" % (
                    self.addresses, self.timeout,
                    "; ".join("%s: %s" % (a, e) for a, e in errors.items())))
            if not preferred:
                time.sleep(BACKOFF)

    def _adopt(self, sock, address, info, first):
        self.s = sock
        self.address = address
        self.last_info = info
        self.epoch += 1
        in_flight = set(int8_to_str(o) for o in info.get("in_flight", ()))
        if not first:
            self.reconnects += 1
            # The old master's unused oids may be handed out again here.
            self.oid_pool = []
            changed = info.get("changed_since")
            if self.position is None or changed == "all" or changed is None:
                self.pending_all = True
            else:
                self.pending.update(int8_to_str(o) for o in changed)
                self.pending.update(self.seen)
            self.pending.update(in_flight)
        self.candidate = ((info["journal_seq"], info["journal_time"]), in_flight)
        self.next_refresh = time.time() + self.refresh

    def _broken(self):
        """The connection failed: drop it; the next request reconnects."""
        if self.s is not None:
            try:
                self.s.close()
            except OSError:
                pass
        self.s = None

    def _ensure_connected(self):
        if self.s is None:
            self._connect()

    def _give_up_after(self, attempt, error):
        # A request that is not a transaction's (S, M, P) is asked again
        # of the master found next; a server that keeps dropping it ends it.
        if attempt + 1 >= MAX_ATTEMPTS:
            raise NoMasterError("%s: the connection broke %d times in a row, last: %s"
                                % (self, MAX_ATTEMPTS, error))

    def _owes_invalidations(self):
        return self.pending_all or bool(self.pending)

    # --- the storage methods ----------------------------------------------

    def _refresh_if_due(self):
        """R before a drain (S, or C's invalidation list), at most every
        `refresh` seconds: the journal position it names counts once the
        drain's answer reached the Connection (_drained)."""
        if self.candidate is None and time.time() >= self.next_refresh:
            info = request_info(self.s)
            self.next_refresh = time.time() + self.refresh
            self.last_info = info
            if info.get("role") == "replica":
                # Demoted while we were connected (a partition healed, an
                # election): it would refuse our commits.  Look again.
                raise ConnectionError("%s is no longer the master" % (self.address,))
            self.candidate = ((info["journal_seq"], info["journal_time"]),
                              set(int8_to_str(o) for o in info.get("in_flight", ())))

    def _drained(self, oids):
        """The server's invalidations `oids` (an S or a C list) reached the
        Connection: every commit up to the candidate position has reached
        it too."""
        if self.candidate is not None:
            self.position, extra = self.candidate
            self.seen = set(extra)
            self.candidate = None
        self.seen.update(oids)

    def sync(self):
        """S; after a reconnect, with the oids owed.  A failure here is not
        a conflict: the sync is asked again of the master found next."""
        for attempt in range(MAX_ATTEMPTS):
            self._ensure_connected()
            try:
                self._refresh_if_due()
                oids = ClientStorage.sync(self)
            except OSError as e:
                self._broken()
                self._give_up_after(attempt, e)
                continue
            break
        if self.pending_all:
            oids = list(set(oids) | self.known | self.pending)
        elif self.pending:
            oids = list(set(oids) | self.pending)
        self.pending = set()
        self.pending_all = False
        self._drained(oids)
        return oids

    def load(self, oid):
        self._ensure_connected()
        if self._owes_invalidations():
            raise ReadConflictError([oid])
        try:
            write_all(self.s, "L", oid)
            record = self._get_load_response(oid)  # 'I' and 'K' as Durus answers them
        except OSError:
            self._broken()
            raise ReadConflictError([oid])
        self.known.add(oid)
        return record

    def bulk_load(self, oids):
        oids = list(oids)
        self._ensure_connected()
        if self._owes_invalidations():
            raise ReadConflictError(oids[:1])
        # Every reply is read before an 'I' or 'K' is raised, so the
        # connection stays in step with the server.
        results = []
        try:
            write_all(self.s, "B", int4_to_str(len(oids)), join_bytes(oids))
            for oid in oids:
                try:
                    results.append(self._get_load_response(oid))
                except (ReadConflictError, KeyError) as e:
                    results.append(e)
        except OSError:
            self._broken()
            raise ReadConflictError(oids[:1])
        self.known.update(oids)
        for r in results:
            if isinstance(r, Exception):
                raise r
            yield r

    def begin(self):
        ClientStorage.begin(self)
        self.txn_epoch = getattr(self, "epoch", 0)

    def new_oid(self):
        # Only inside a commit: a reconnect here makes its end() refuse it.
        attempt = 0
        while not self.oid_pool:
            self._ensure_connected()
            try:
                write(self.s, "M%s" % chr(self.oid_pool_size))
                pool = read(self.s, 8 * self.oid_pool_size)
            except OSError as e:
                self._broken()
                self._give_up_after(attempt, e)
                attempt += 1
                continue
            self.oid_pool = [pool[i:i + 8] for i in range(0, len(pool), 8)]
            self.oid_pool.reverse()
        oid = self.oid_pool.pop()
        self.transaction_new_oids.append(oid)
        return oid

    def _refuse_commit(self):
        # Durus's own conflict path in end(), without giving new oids back
        # (they may be the previous master's).
        self.begin()
        raise WriteConflictError()

    def end(self, handle_invalidations=None):
        if self.s is None:
            self._ensure_connected()  # a new epoch: refused below
        if self.epoch != self.txn_epoch or self._owes_invalidations():
            self._refuse_commit()
        stored = list(self.records)
        told = []

        def handle(oids):
            # Connection's handler looks at every oid before it raises a
            # conflict: they have reached it either way.
            told.extend(oids)
            self._drained(oids)
            if handle_invalidations is not None:
                handle_invalidations(oids)

        try:
            self._refresh_if_due()
            ClientStorage.end(self, handle)
        except OSError:
            # The commit's outcome is unknown (it may be on the new
            # master); the application retries it from the new state.
            self._broken()
            self._refuse_commit()
        if not told:
            self._drained(())  # an empty list is a drain too
        self.seen.update(stored)
        self.known.update(stored)

    def pack(self):
        for attempt in range(MAX_ATTEMPTS):
            self._ensure_connected()
            try:
                return ClientStorage.pack(self)
            except OSError as e:
                self._broken()
                self._give_up_after(attempt, e)

    def info(self, since=None):
        """The current server's answer to R (see request_info)."""
        self._ensure_connected()
        try:
            return request_info(self.s, since)
        except OSError:
            self._broken()
            raise

    def close(self):
        if self.s is not None:
            try:
                write(self.s, ".")
            except OSError:
                pass
            self._broken()


def client_storage(addresses, timeout=10, refresh=10.0):
    """A Durus storage for Connection that follows the group's master
    (FollowingClientStorage)."""
    return FollowingClientStorage(addresses, timeout=timeout, refresh=refresh)
