"""Encrypted SQLite files with AEGIS-256: SQLite3 Multiple Ciphers (PyPI ``apsw-sqlite3mc``), behind the part of
Python's ``sqlite3`` API the stores use.

Why AEGIS and not SQLCipher's AES-256-CBC with HMAC-SHA256 (which nodes made before used, and still open:
store/dbapi.py): an encrypted store pays for every page a commit writes, and CBC encryption is serial (each
16-byte block waits for the one before), about 1 GB/s here, plus an HMAC over the page. AEGIS-256 is an
authenticated cipher built on the AES round instruction that runs many blocks at once, several times faster, and
its tag replaces the HMAC. Each page is encrypted under a fresh random nonce kept in the page's reserved bytes
and authenticated with a tag kept beside it; a page that was changed, or swapped for another, fails to decrypt.
Measured on the event store: docs/benchmarks.md, "Encrypted store".

Every page of the database and of its WAL is encrypted. What stays readable: a random 16-byte salt at the start of
the file and bytes 16-23 of SQLite's header (page size, format versions and the reserved bytes per page), which say
that the file is an encrypted SQLite database and nothing about its content.

The key is the store's 256-bit key from the node's data key (core/sealing.py). SQLite3 Multiple Ciphers always
passes the key through a key derivation (Argon2id for AEGIS); since the key is already random, its costs are set
to the least (one pass over 8 KiB), so opening a connection takes a fraction of a millisecond. These settings and
the cipher are part of the file format (:data:`SETTINGS`): changing them makes every existing file unreadable.

:class:`Connection` is not a full DB-API connection: ``execute``, ``executemany``, ``executescript``,
``in_transaction``, ``set_progress_handler`` and ``close``, always in autocommit mode (``isolation_level=None``:
transactions are begun and ended with SQL, as the stores do), and cursors that fetch and count. Errors are raised as
Python's own ``sqlite3`` exception classes with ``sqlite_errorcode`` set, so ``except sqlite3.Error`` and
:func:`samizdat.store.dbapi.describe` treat them as every other store error.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlencode

import apsw

#: Given before the key on every connection: part of the file format.
SETTINGS = {"cipher": "aegis", "algorithm": "aegis-256", "tcost": "1", "mcost": "8", "pcost": "1"}

_INTEGRITY = (apsw.ConstraintError,)
_DATABASE = (apsw.NotADBError, apsw.CorruptError, apsw.FormatError)
_PROGRAMMING = (apsw.BindingsError, apsw.ExecutionCompleteError, apsw.ConnectionClosedError, apsw.CursorClosedError)


def _raise(exc: apsw.Error) -> NoReturn:
    """``exc`` as the ``sqlite3`` exception class Python's own module would have raised."""
    kind: type[sqlite3.Error]
    if isinstance(exc, _INTEGRITY):
        kind = sqlite3.IntegrityError
    elif isinstance(exc, _DATABASE):
        kind = sqlite3.DatabaseError
    elif isinstance(exc, _PROGRAMMING):
        kind = sqlite3.ProgrammingError
    elif isinstance(exc, apsw.TooBigError | apsw.MismatchError | apsw.RangeError):
        kind = sqlite3.DataError
    else:
        kind = sqlite3.OperationalError
    message = str(exc.args[0]) if exc.args else type(exc).__name__
    prefix = f"{type(exc).__name__}: "
    error = kind(message.removeprefix(prefix))
    code = getattr(exc, "extendedresult", None)
    error.sqlite_errorcode = code if isinstance(code, int) else getattr(exc, "result", -1)
    raise error from exc


class Cursor:
    """What a query returned: rows to fetch, and the rows a change touched (``rowcount``) and the last rowid."""

    __slots__ = ("_lock", "_rows", "lastrowid", "rowcount")

    def __init__(self, rows: Iterator[tuple[Any, ...]], rowcount: int, lastrowid: int, lock: threading.RLock) -> None:
        self._rows = rows
        self.rowcount = rowcount
        self.lastrowid = lastrowid
        self._lock = lock

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        """The rows, read a few at a time under the connection's lock (a Python call per row, with the lock taken
        for each, costs more than the row): 16 first, for a caller that stops early, then :data:`CHUNK`."""
        size = 16
        while True:
            rows = self.fetchmany(size)
            yield from rows
            if len(rows) < size:
                return
            size = CHUNK

    def fetchone(self) -> tuple[Any, ...] | None:
        try:
            with self._lock:
                return next(self._rows, None)
        except apsw.Error as exc:
            _raise(exc)

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return list(islice(self._rows, size))
        except apsw.Error as exc:
            _raise(exc)

    def fetchall(self) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                return list(self._rows)
        except apsw.Error as exc:
            _raise(exc)

    def close(self) -> None:
        close = getattr(self._rows, "close", None)
        if close is not None:
            with self._lock:
                close()


_NO_ROWS: Iterator[tuple[Any, ...]] = iter(())
#: Rows a cursor reads at a time when it is iterated.
CHUNK = 256


class Connection:
    """A connection to one encrypted file (see the module's docstring for what it offers).

    It may be used from several threads, as Python's own connections with ``check_same_thread=False``: a call waits
    for one running in another thread (apsw would raise instead), one call at a time, as SQLite runs them anyway."""

    __slots__ = ("_db", "_lock")

    def __init__(self, db: apsw.Connection) -> None:
        self._db = db
        self._lock = threading.RLock()

    def execute(self, sql: str, parameters: Sequence[Any] | dict[str, Any] = ()) -> Cursor:
        db = self._db
        try:
            with self._lock:
                rows = db.execute(sql, parameters)
                return Cursor(rows, db.changes(), db.last_insert_rowid(), self._lock)
        except apsw.Error as exc:
            _raise(exc)

    def executemany(self, sql: str, seq_of_parameters: Iterable[Sequence[Any] | dict[str, Any]]) -> Cursor:
        db = self._db
        try:
            with self._lock:
                before = db.total_changes()
                for _ in db.executemany(sql, seq_of_parameters):  # one that returns rows runs as they are read
                    pass
                return Cursor(_NO_ROWS, db.total_changes() - before, db.last_insert_rowid(), self._lock)
        except apsw.Error as exc:
            _raise(exc)

    def executescript(self, script: str) -> Cursor:
        db = self._db
        try:
            with self._lock:
                for _ in db.execute(script):  # the statements after one that returns rows run as it is read
                    pass
                return Cursor(_NO_ROWS, db.changes(), db.last_insert_rowid(), self._lock)
        except apsw.Error as exc:
            _raise(exc)

    @property
    def in_transaction(self) -> bool:
        return bool(self._db.in_transaction)

    def set_progress_handler(self, handler: Callable[[], bool] | None, n: int) -> None:
        """Call ``handler`` every ``n`` steps of SQLite's machine; a true result interrupts the statement
        (``sqlite3.OperationalError``), as with Python's own module. ``None`` removes it."""
        self._db.set_progress_handler(handler, n)

    def close(self) -> None:
        try:
            with self._lock:
                self._db.close()
        except apsw.Error as exc:
            _raise(exc)


def connect(
    target: str,
    key: bytes | None,
    *,
    uri: bool = False,
    timeout: float = 5.0,
    isolation_level: None = None,
    check_same_thread: bool = False,
) -> Connection:
    """A connection to the AEGIS-encrypted file ``target`` (a path, or a ``file:`` URI with ``uri=True``), made if
    it does not exist; to a plain file without ``key``. Raises ``sqlite3.Error`` when it cannot be opened; a wrong
    key or another format is ``sqlite3.DatabaseError`` ("file is not a database") at the first read. Python's
    ``isolation_level`` (None only) and ``check_same_thread`` are accepted and mean nothing here: a connection is
    always in autocommit mode and may be used from any thread."""
    flags = apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    if uri:
        flags |= apsw.SQLITE_OPEN_URI  # its ``mode=ro`` opens it read-only
    try:
        db = apsw.Connection(target, flags=flags)
    except apsw.Error as exc:
        _raise(exc)
    try:
        db.set_busy_timeout(int(timeout * 1000))
        if key is not None:
            for name, value in SETTINGS.items():
                db.execute(f"PRAGMA {name} = '{value}'")
            db.execute(f"PRAGMA hexkey = '{key.hex()}'")
    except apsw.Error as exc:
        db.close()
        _raise(exc)
    return Connection(db)


def export_plain(plain: Path | str, target: Path | str, key: bytes) -> None:
    """Copy the plain database ``plain`` into the new encrypted file ``target`` (``VACUUM INTO``: schema, rows,
    sequences and the schema version). Raises ``sqlite3.Error``."""
    target_uri = f"{Path(target).absolute().as_uri()}?{urlencode({**SETTINGS, 'hexkey': key.hex()})}"
    try:
        db = apsw.Connection(
            f"{Path(plain).absolute().as_uri()}?mode=ro", flags=apsw.SQLITE_OPEN_READONLY | apsw.SQLITE_OPEN_URI
        )
    except apsw.Error as exc:
        _raise(exc)
    try:
        db.execute("PRAGMA temp_store = MEMORY")  # no copy of the rows in /tmp on the way (store/dbapi.py)
        db.execute("VACUUM INTO ?", (target_uri,))
    except apsw.Error as exc:
        _raise(exc)
    finally:
        db.close()


def library_version() -> str:
    """SQLite3 Multiple Ciphers' SQLite, for reports."""
    return f"SQLite3 Multiple Ciphers (apsw {apsw.apsw_version()}, SQLite {apsw.sqlite_lib_version()})"
