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

__version__ = "0.1.0"

__all__ = [
    "BerkeleyDBStorage",
    "ConflictError",
    "InvalidArgumentError",
    "MissingObjectError",
    "ReferenceConflictError",
    "StorageError",
    "StorageReadConflictError",
    "detect_format",
    "export",
    "migrate",
]
