"""The SQLite libraries of the stores: Python's own for a plain node, SQLCipher 4 for an encrypted one.

Every database connection of the stores comes from :func:`connect`. Without a key it is Python's ``sqlite3``, as
before encryption existed: a plain node (a hub, made with ``--no-passphrase``, or a directory from before) keeps
its speed, and its files stay what they were. With a key it is ``sqlcipher3`` (SQLite with SQLCipher's page
encryption built in): every page of the database and of its WAL is encrypted with AES-256-CBC and authenticated
with an HMAC, and nothing is readable without the key. SQLCipher 4's settings but one: the HMAC is HMAC-SHA256
instead of HMAC-SHA512 (as strong for this, and a sixth faster here, where the processor computes SHA-256 itself:
docs/benchmarks.md). SQLCipher's own tools open the files with the key and ``PRAGMA cipher_hmac_algorithm =
HMAC_SHA256``; changing :data:`CIPHER_SETTINGS` makes every existing encrypted file unreadable.
Deleted rows are overwritten (``secure_delete = ON``, as Python's own SQLite does by default and this build does
not), so that free pages do not keep evicted, purged or retracted events for whoever is made to unlock the node.
The stores set ``temp_store = MEMORY``, so no temporary file is written (SQLCipher would encrypt those
too). One node's files are always opened by one library: two copies of SQLite in a process must never share a
file (their POSIX locks would not see each other).

Why not SQLCipher for plain nodes too: its SQLite without a key writes about a quarter slower than Python's on our
store (docs/benchmarks.md, "Encrypted store"), and hubs, which are plain, are the busiest nodes.

Stores import ``sqlite3`` from here, not the standard library's: its exception classes (``sqlite3.Error``,
``sqlite3.OperationalError``, ...) are pairs, one class of each library, so that an ``except sqlite3.Error`` catches
what either library raises. For the type checker it is the standard module, whose API sqlcipher3 copies.

The key is a raw 256-bit key (``PRAGMA key = "x'...'"``), derived from the node's data key
(:mod:`samizdat.core.sealing`): SQLCipher's own passphrase function (PBKDF2) is skipped, as the passphrase has
already gone through Argon2id in the key slots, so opening a connection takes a fraction of a millisecond.

SQLCipher's "memory security" (``cipher_memory_security``: zeroing and locking every allocation SQLite makes) stays
off, its default since SQLCipher 4.5: it halves the encrypted store's speed and protects little here, where every
decrypted row is copied into Python objects (and the key sits in a ``bytes``) that Python frees without wiping.
What protects a seized device is that the files are unreadable and the key is not on the disk; ``samizdat lock``
ends the process that holds the copies (docs/safety.md). It is global and, once on, cannot be turned off again
in the process: nothing here may turn it on.
"""

from __future__ import annotations

import sqlite3 as _stdlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

from sqlcipher3 import dbapi2 as _sqlcipher

from samizdat.errors import StoreError
from samizdat.store import files

_ERRORS = (
    "Warning", "Error", "InterfaceError", "DatabaseError", "DataError", "OperationalError", "IntegrityError",
    "InternalError", "ProgrammingError", "NotSupportedError",
)  # fmt: skip

if TYPE_CHECKING:
    import sqlite3
else:
    sqlite3 = SimpleNamespace(
        connect=_stdlib.connect,  # plain, for tests that make a file by hand
        Connection=_stdlib.Connection,
        Cursor=_stdlib.Cursor,
        **{name: (getattr(_stdlib, name), getattr(_sqlcipher, name)) for name in _ERRORS},
    )

__all__ = ["cipher_version", "connect", "connect_unkeyed", "describe", "prepare_file", "sqlite3"]

# Primary SQLite result codes (low byte of sqlite_errorcode) and what they mean to a person.
_REASONS = {
    3: "permission was denied",
    5: "the database is locked by another process",
    6: "the database is locked by another process",
    7: "the system ran out of memory",
    8: "the database file or its folder is read-only",
    10: "the disk reported an input/output error",
    11: "the database file is damaged",
    13: "the disk is full",
    14: "the database file cannot be opened (its folder is missing or not accessible)",
    26: "the file is not a database or is damaged",
}


def describe(exc: sqlite3.Error) -> str:
    """What went wrong, as the end of a sentence a person can act on."""
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int) and (code & 0xFF) in _REASONS:
        return _REASONS[code & 0xFF]
    return str(exc).rstrip(".") or type(exc).__name__


#: Given after the key on every connection, before the first read: part of the file format.
CIPHER_SETTINGS = ("PRAGMA cipher_hmac_algorithm = HMAC_SHA256",)

#: Check that a key opens the file: reading the schema decrypts the first page (a wrong key or a damaged first
#: page raises SQLITE_NOTADB, "file is not a database").
_CHECK = "SELECT count(*) FROM sqlite_master"


def connect(target: str, key: bytes | None, **options: Any) -> sqlite3.Connection:
    """A connection to ``target`` (a path, or a URI with ``uri=True``): Python's sqlite3 without ``key``, SQLCipher
    keyed with ``key`` (32 bytes) with it.

    Raises ``sqlite3.Error`` (this module's) when it cannot be opened or the key does not open it.
    """
    if key is None:
        plain: sqlite3.Connection = _stdlib.connect(target, **options)
        return plain
    if len(key) != 32:
        raise ValueError("a database key has 32 bytes")
    conn: sqlite3.Connection = _sqlcipher.connect(target, **options)
    try:
        # SQLCipher's own log goes to standard error (an "hmac check failed" per damaged page): the error raised
        # says it once, in our words.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        for setting in CIPHER_SETTINGS:
            conn.execute(setting)
        conn.execute(_CHECK).fetchone()
        # Deleted rows (carry evictions, purges, retractions) are overwritten, as Python's own SQLite does by default
        # and this build does not: otherwise whoever is made to unlock the node could read them in free pages.
        conn.execute("PRAGMA secure_delete = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def connect_unkeyed(target: str, **options: Any) -> sqlite3.Connection:
    """A connection to the plain file ``target`` from SQLCipher's library, without a key: for ``samizdat encrypt``
    (store/encrypting.py), which reads plain files and writes encrypted ones in one process, so both must come
    from one library (see above). Raises ``sqlite3.Error`` (this module's)."""
    conn: sqlite3.Connection = _sqlcipher.connect(target, **options)
    return conn


def cipher_version() -> str:
    """SQLCipher's version (and SQLite's underneath), for reports."""
    conn = _sqlcipher.connect(":memory:")
    try:
        return f"SQLCipher {conn.execute('PRAGMA cipher_version').fetchone()[0]} (SQLite {_sqlcipher.sqlite_version})"
    finally:
        conn.close()


def prepare_file(path: Path, key: bytes | None, create: Callable[[sqlite3.Connection], object], what: str) -> None:
    """Make ``path`` an empty database in WAL mode, its schema made by ``create``, and close it: fast on purpose
    (a duress unlock makes a whole node's files and must take no longer than an ordinary unlock), so the schema is
    written without a journal or a sync per statement, and the file is synced once at the end. An interruption
    leaves a file that is simply made again. A zero-length file is filled in place. Raises StoreError naming
    ``what`` ("the store", "the node state")."""
    try:
        conn = connect(str(path), key, isolation_level=None)
        try:
            conn.execute("PRAGMA synchronous = OFF")
            conn.execute("PRAGMA journal_mode = MEMORY").fetchone()
            create(conn)
            conn.execute("PRAGMA journal_mode = WAL").fetchone()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot create {what} {path}: {describe(exc)}") from exc
    files.sync_file(path)
