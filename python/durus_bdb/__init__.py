"""durus_bdb: a Berkeley DB storage for Durus.

    from durus.connection import Connection
    from durus_bdb import BerkeleyDBStorage
    connection = Connection(BerkeleyDBStorage("/var/lib/app/db"))

See doc/python.md.
"""

from durus_bdb.errors import (ConflictError, InvalidArgumentError,
                              MissingObjectError, ReferenceConflictError,
                              StorageError, StorageReadConflictError)
from durus_bdb.migration import detect_format, export, migrate
from durus_bdb.storage import BerkeleyDBStorage


def client_storage(addresses, timeout=10, refresh=10.0):
    """A Durus ClientStorage that follows the master of a durus-bdb
    replication group (durus_bdb.follow; doc/replication.md)."""
    from durus_bdb.follow import client_storage as make
    return make(addresses, timeout=timeout, refresh=refresh)


__version__ = "0.1.0"

__all__ = [
    "BerkeleyDBStorage",
    "ConflictError",
    "InvalidArgumentError",
    "MissingObjectError",
    "ReferenceConflictError",
    "StorageError",
    "StorageReadConflictError",
    "client_storage",
    "detect_format",
    "export",
    "migrate",
]
