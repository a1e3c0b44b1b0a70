"""Exceptions raised by durus_bdb.

The C++ core reports a status code, a message and the oids concerned; this
module turns them into exception instances.  When Durus is importable the
classes derive from Durus's own, so Durus code (Connection, StorageServer)
handles them exactly as it handles FileStorage's:

=================  ==========================================  =====================
status             with durus                                  without durus
=================  ==========================================  =====================
NotFound (an oid)  MissingObjectError(durus.error.DurusKeyError)  MissingObjectError(KeyError)
Conflict           ReferenceConflictError(durus.error.ConflictError)  (ConflictError(RuntimeError))
ReadConflict       StorageReadConflictError(durus.error.ReadConflictError)  (... ConflictError)
InvalidArgument    InvalidArgumentError(ValueError)            same
anything else      StorageError(RuntimeError)                  same
                   (a missing home is StorageError, code NotFound)
=================  ==========================================  =====================

Every message names the storage path and the oid(s) involved; `.oids` holds
the oids as 8-byte strings and `.code` the core's status code.
"""

try:
    import durus.error as _durus_error
except ImportError:  # Durus is optional for the module itself.
    _durus_error = None


def _oid_int(oid):
    return int.from_bytes(oid, "big")


class StorageError(RuntimeError):
    """Berkeley DB, the file system or the storage's state failed
    (codes Busy, IOError, Corruption, Closed, ReadOnly, NotSupported,
    NotReplicated: a replicated commit the group did not acknowledge)."""

    def __init__(self, message, code="IOError", oids=()):
        RuntimeError.__init__(self, message)
        self.message = message
        self.code = code
        self.oids = list(oids)

    def __str__(self):
        return self.message


class InvalidArgumentError(ValueError):
    """A malformed record, a bad oid or a bad argument."""

    def __init__(self, message, code="InvalidArgument", oids=()):
        ValueError.__init__(self, message)
        self.message = message
        self.code = code
        self.oids = list(oids)

    def __str__(self):
        return self.message


if _durus_error is not None:
    _KeyErrorBase = _durus_error.DurusKeyError
    ConflictError = _durus_error.ConflictError
    _ReadConflictBase = _durus_error.ReadConflictError
else:
    _KeyErrorBase = KeyError

    class ConflictError(RuntimeError):
        """A commit or load conflicted (Durus's ConflictError when Durus is
        importable)."""

        def __init__(self, oids=None):
            RuntimeError.__init__(self, oids)
            self.oids = oids

    class _ReadConflictBase(ConflictError):
        pass


class MissingObjectError(_KeyErrorBase):
    """No record for the oid (Durus: DurusKeyError, a KeyError).

    args[0] is the oid, as FileStorage's DurusKeyError(oid)."""

    def __init__(self, oid, message=None, code="NotFound"):
        KeyError.__init__(self, oid)
        self.oids = [oid]
        self.code = code
        self.message = message or "no record for oid %d" % _oid_int(oid)

    def __str__(self):
        return self.message


class ReferenceConflictError(ConflictError):
    """A commit was refused, nothing written: a record references an oid that
    does not exist (for instance one the collector removed while a client
    still held it).  Abort and retry, as for any ConflictError."""

    def __init__(self, oids, message, code="Conflict"):
        ConflictError.__init__(self, list(oids))
        self.message = message
        self.code = code

    def __str__(self):
        return self.message


class StorageReadConflictError(_ReadConflictBase):
    """A load conflicted with a newer commit (Durus: ReadConflictError)."""

    def __init__(self, oids, message, code="ReadConflict"):
        _ReadConflictBase.__init__(self, list(oids))
        self.message = message
        self.code = code

    def __str__(self):
        return self.message


def make_error(code, message, oids):
    """(code:str, message:str, oids:[bytes]) -> exception instance.
    Registered with the C++ core, which raises what this returns."""
    if code == "NotFound" and oids:
        return MissingObjectError(oids[0], message)
    if code == "Conflict":
        return ReferenceConflictError(oids, message)
    if code == "ReadConflict":
        return StorageReadConflictError(oids, message)
    if code == "InvalidArgument":
        return InvalidArgumentError(message, code, oids)
    return StorageError(message, code, oids)
