"""The SQLite libraries of the stores: Python's own for a plain node, AEGIS-256 encryption for an encrypted one.

Every database connection of the stores comes from :func:`connect`. Without a key it is Python's ``sqlite3``, as
before encryption existed: a plain node (a hub, made with ``--no-passphrase``, or a directory from before) keeps
its speed, and its files stay what they were. With a key it is SQLite3 Multiple Ciphers with the AEGIS-256 cipher
(store/aegis.py: PyPI ``apsw-sqlite3mc``): every page of the database and of its WAL is encrypted and
authenticated, and nothing is readable without the key. Deleted rows are overwritten (``secure_delete = ON``), so
that free pages do not keep evicted, purged or retracted events for whoever is made to unlock the node. And
every encrypted connection sets ``temp_store = MEMORY`` (:data:`TEMP_IN_MEMORY`), so no temporary file is written.

Nodes made before AEGIS have SQLCipher 4 files (AES-256-CBC with HMAC-SHA256, PyPI ``sqlcipher3``), served by
SQLCipher as before (:data:`SQLCIPHER_SETTINGS` are part of that format); every file made from now on is AEGIS.
One file is always opened by one library: two copies of SQLite in a process must never share a file (each would
drop the other's POSIX locks when it closes the file), so a file's format, told from its first bytes without
opening it (:func:`is_sqlcipher`), decides its library before either opens it.

Why not the encrypting library for plain nodes too: its SQLite is a separate build, and hubs, which are plain, are
the busiest nodes; Python's own module serves them as it always did.

Stores import ``sqlite3`` from here, not the standard library's: its exception classes (``sqlite3.Error``,
``sqlite3.OperationalError``, ...) are pairs, one class of Python's module and one of SQLCipher's, so that an
``except sqlite3.Error`` catches what either raises (the AEGIS connections raise Python's own classes). For the
type checker it is the standard module, whose API the others copy.

The key is a raw 256-bit key derived from the node's data key (:mod:`samizdat.core.sealing`): the passphrase has
already gone through Argon2id in the key slots, so opening a connection takes a fraction of a millisecond.

SQLCipher's "memory security" (``cipher_memory_security``: zeroing and locking every allocation SQLite makes) stays
off, its default since SQLCipher 4.5, as does the same setting of SQLite3 Multiple Ciphers: it halves an encrypted
store's speed and protects little here, where every decrypted row is copied into Python objects (and the key sits
in a ``bytes``) that Python frees without wiping. What protects a seized device is that the files are unreadable
and the key is not on the disk; ``samizdat lock`` ends the process that holds the copies (docs/safety.md). It is
global and, once on, cannot be turned off again in the process: nothing here may turn it on.
"""

from __future__ import annotations

import logging
import os
import sqlite3 as _stdlib
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from sqlcipher3 import dbapi2 as _sqlcipher

from samizdat.errors import StoreError
from samizdat.store import aegis, files

log = logging.getLogger("samizdat.store")

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

__all__ = [
    "cipher_version", "connect", "connect_plain", "describe", "is_sqlcipher", "leave_wal_to_serve", "prepare_file",
    "scrub_wal", "sqlite3",
]  # fmt: skip

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


#: Given after the key on every SQLCipher connection (files made before AEGIS), before the first read: part of that
#: file format.
SQLCIPHER_SETTINGS = ("PRAGMA cipher_hmac_algorithm = HMAC_SHA256",)

#: On every encrypted connection, whatever it is for. SQLite's temporary files (a sort or an index build larger
#: than the page cache, a temporary table, VACUUM) are not encrypted, by SQLCipher or by SQLite3 Multiple Ciphers
#: alike, and they go to $SQLITE_TMPDIR, $TMPDIR or /tmp: decrypted rows on a disk outside the data directory
#: (unlinked at once, but in the free blocks of that disk). In memory they cost memory only for the moment of
#: the statement.
TEMP_IN_MEMORY = "PRAGMA temp_store = MEMORY"

#: Check that a key opens the file: reading the schema decrypts the first page (a wrong key or a damaged first
#: page raises SQLITE_NOTADB, "file is not a database").
_CHECK = "SELECT count(*) FROM sqlite_master"


def connect(target: str, key: bytes | None, *, legacy: bool = False, **options: Any) -> sqlite3.Connection:
    """A connection to ``target`` (a path, or a URI with ``uri=True``): Python's sqlite3 without ``key``, an
    encrypted connection keyed with ``key`` (32 bytes) with it: AEGIS-256, or SQLCipher for a file made before
    (and for a new file with ``legacy``: see :func:`is_sqlcipher`).

    Raises ``sqlite3.Error`` (this module's) when it cannot be opened or the key does not open it.
    """
    if key is None:
        # A read-only connection cannot checkpoint, so it never deletes the log: only the others zero it.
        read_only = bool(options.get("uri")) and "mode=ro" in urlsplit(target).query
        factory = _stdlib.Connection if read_only else _PlainConnection
        plain: sqlite3.Connection = _stdlib.connect(target, factory=factory, **options)
        return plain
    if len(key) != 32:
        raise ValueError("a database key has 32 bytes")
    if legacy or is_sqlcipher(_path_of(target, uri=bool(options.get("uri")))):
        return _sqlcipher_connect(target, key, **options)
    conn = aegis.connect(target, key, **options)
    try:
        conn.execute(_CHECK).fetchone()
        # Deleted rows (carry evictions, purges, retractions) are overwritten: otherwise whoever is made to
        # unlock the node could read them in free pages.
        conn.execute("PRAGMA secure_delete = ON")
        conn.execute(TEMP_IN_MEMORY)
    except BaseException:
        conn.close()
        raise
    return cast("sqlite3.Connection", conn)


#: Bytes zeroed per write by :func:`scrub_wal`.
_ZEROS = bytes(1 << 20)


#: Whether plain connections zero the log when they close (:func:`leave_wal_to_serve` turns it off).
_scrub_on_close = True


def leave_wal_to_serve() -> None:
    """For a command run while ``serve`` runs on the same data directory: its plain connections leave the log
    as it is when they close. ``serve`` zeroes it at its own stop; a command's zeroing would take the write lock for
    as long as writing the whole log takes (tens of megabytes: seconds on an SD card) and hold ``serve``'s writers
    up meanwhile, past their wait for the lock. What is left: a command that closes after ``serve`` stopped is the
    last, and the log it leaves (its own pages) is deleted without being zeroed."""
    global _scrub_on_close
    _scrub_on_close = False


class _PlainConnection(_stdlib.Connection):
    """Python's sqlite3 connection, which zeroes its database's write-ahead log before it closes
    (:func:`scrub_wal`): the last connection to close deletes the log, and its blocks would keep the plain pages."""

    def close(self) -> None:
        try:
            if _scrub_on_close:
                scrub_wal(self)
        except (_stdlib.Error, OSError) as exc:  # closing must work whatever the log's state
            log.debug("write-ahead log not zeroed: %s", exc)
        finally:
            super().close()


def scrub_wal(conn: sqlite3.Connection) -> bool:
    """Overwrite the write-ahead log of ``conn``'s plain database with zeros in place, and sync it, if every frame
    in it is in the database file: so that when SQLite deletes the log (as the last connection closes) or a
    checkpoint truncates it, the freed blocks keep none of the plain pages. Returns whether it zeroed the log.

    Safe while other connections, of this process or another, have the database open: a ``RESTART`` checkpoint
    copies every frame into the database (and syncs it) and waits until no reader reads from the log; then, with
    the write lock held (``BEGIN IMMEDIATE``) and no commit by anyone in between (``data_version`` unchanged), no
    frame of the log is needed by anybody, and the next writer starts the log again from its header, which it
    writes anew. Does nothing (returns False) when a reader or writer is busy, a transaction is open on ``conn``,
    or the database is not in WAL mode: the connection that closes last tries again. Raises sqlite3.Error or
    OSError (the log is then as it was, or partly zeroed after all its frames were copied: never a frame needed)."""
    if conn.in_transaction:
        return False
    row = conn.execute("PRAGMA database_list").fetchone()
    if row is None or not row[2]:
        return False  # in memory or a temporary database: no log on a disk
    wal = Path(f"{row[2]}-wal")
    try:
        with wal.open("rb") as f:
            if not any(f.read(32)):  # never written since it was zeroed (the next writer writes a header first)
                return False
    except OSError:
        return False
    if str(conn.execute("PRAGMA journal_mode").fetchone()[0]).lower() != "wal":
        return False
    before = conn.execute("PRAGMA data_version").fetchone()[0]
    try:
        busy, frames, copied = conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
        if busy or frames != copied:
            return False
        conn.execute("BEGIN IMMEDIATE")
    except _stdlib.Error:  # read-only, or someone else writes: not ours to zero now
        return False
    try:
        if conn.execute("PRAGMA data_version").fetchone()[0] != before:
            return False  # another connection committed after the checkpoint: its frames are in the log
        fd = os.open(wal, os.O_WRONLY)
        try:
            size, done = os.fstat(fd).st_size, 0
            while done < size:
                done += os.pwrite(fd, memoryview(_ZEROS)[: size - done], done)
            os.fsync(fd)
        finally:
            os.close(fd)
        return True
    finally:
        conn.execute("ROLLBACK")


def _path_of(target: str, *, uri: bool) -> Path:
    """The file a ``target`` of :func:`connect` names (a path, or a ``file:`` URI)."""
    if uri and target.startswith("file:"):
        return Path(unquote(urlsplit(target).path))
    return Path(target)


def _sqlcipher_connect(target: str, key: bytes, **options: Any) -> sqlite3.Connection:
    """A SQLCipher connection to a file made before AEGIS. Raises ``sqlite3.Error`` (this module's)."""
    conn: sqlite3.Connection = _sqlcipher.connect(target, **options)
    try:
        # SQLCipher's own log goes to standard error (an "hmac check failed" per damaged page): the error raised
        # says it once, in our words.
        conn.execute("PRAGMA cipher_log_level = NONE")
        conn.execute(f"PRAGMA key = \"x'{key.hex()}'\"")
        for setting in SQLCIPHER_SETTINGS:
            conn.execute(setting)
        conn.execute(_CHECK).fetchone()
        conn.execute("PRAGMA secure_delete = ON")  # this build does not overwrite by default
        conn.execute(TEMP_IN_MEMORY)
    except BaseException:
        conn.close()
        raise
    return conn


def is_sqlcipher(path: Path) -> bool:
    """Whether ``path`` is an encrypted database in SQLCipher's format (a node made before AEGIS), told without a
    key: an AEGIS file keeps bytes 16-23 of SQLite's header readable (page size, versions, reserved bytes), where
    SQLCipher's are encrypted like the rest.

    A node keeps one format for all its files: the decoy store a duress unlock makes anew (services/decoy.py) is
    made in the format of the node's other files, so that on a node made before AEGIS new files in the new format
    would not show that a duress unlock happened."""
    try:
        with open(path, "rb") as f:
            head = f.read(24)
    except OSError:
        return False
    if len(head) < 24 or head.startswith(b"SQLite format 3\0"):
        return False
    page_size = int.from_bytes(head[16:18], "big")
    aegis_header = (
        (page_size == 1 or (512 <= page_size <= 32768 and page_size & (page_size - 1) == 0))
        and head[18] in (1, 2)
        and head[19] in (1, 2)
        and head[21:24] == b"\x40\x20\x20"
    )
    return not aegis_header


def connect_plain(target: str, **options: Any) -> sqlite3.Connection:
    """A connection to the plain file ``target`` from the encrypting library, without a key: for ``samizdat
    encrypt`` (store/encrypting.py), which reads plain files and writes encrypted ones in one process, so both
    must come from one library (see above). Raises ``sqlite3.Error`` (this module's)."""
    return cast("sqlite3.Connection", aegis.connect(target, None, **options))


def cipher_version() -> str:
    """The encrypting libraries' versions, for reports."""
    conn = _sqlcipher.connect(":memory:")
    try:
        legacy = f"SQLCipher {conn.execute('PRAGMA cipher_version').fetchone()[0]} (SQLite {_sqlcipher.sqlite_version})"
    finally:
        conn.close()
    return f"{aegis.library_version()}, AEGIS-256; files made before: {legacy}"


def prepare_file(
    path: Path, key: bytes | None, create: Callable[[sqlite3.Connection], object], what: str, *, legacy: bool = False
) -> None:
    """Make ``path`` an empty database in WAL mode, its schema made by ``create``, and close it: fast on purpose
    (a duress unlock makes a whole node's files and must take no longer than an ordinary unlock), so the schema is
    written without a journal or a sync per statement, and the file is synced once at the end. An interruption
    leaves a file that is simply made again. A zero-length file is filled in place. ``legacy`` makes it in
    SQLCipher's format (:func:`is_sqlcipher`). Raises StoreError naming ``what`` ("the store", "the node state")."""
    try:
        conn = connect(str(path), key, legacy=legacy, isolation_level=None)
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
