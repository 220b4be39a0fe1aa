"""The SQLite store's fast path: a batch of plain events written in one transaction without Python's GIL.

Theory of operation
-------------------

The store's writer thread (store/writer.py) shares its process's GIL with the event loop. Python's sqlite3 module
lets go of the GIL for each row it steps and must take it back from the busy loop after it, so a commit held
SQLite's write lock about half again as long as its CPU, and the loop and the writer took turns rather than
running side by side (docs/benchmarks.md, "Workers").

:class:`FastAdd` opens a second connection of the writer's own to the same file, prepared with the same pragmas,
and writes a batch whose events are all *plain* (:func:`samizdat.store.queries.add_events`: regular, unexpired,
not a deletion request) through the compiled module ``_fastadd`` (``_fastadd.c``): the rows are read out of the
events with the GIL, then the lookups, the inserts and the ``COMMIT`` run without it. The statements and outcomes
are those of ``queries._add_plain_run``; tests/store/test_fastadd.py holds the two paths to the same results.

Anything else goes the Python way, unchanged: a batch with one event that is not plain, an encrypted store (its
SQLite is SQLite3 Multiple Ciphers, inside apsw, which this module cannot reach), a failed fast write (rolled back,
then written again through Python, which reports the error as it always did; but not a wait for another process's
write lock that ran out, which is reported at once as "locked" rather than waited for again), and a machine where
the module was not built (setup.py builds it when a C compiler and SQLite's headers are there, and the install goes
on without it when not). ``SAMIZDAT_FASTADD=0`` turns it off (benchmarks compare the two).

One SQLite in the process: the module is used only when it calls the very SQLite library that Python's sqlite3
module calls (:func:`same_sqlite`). Two copies of SQLite must never share a file: SQLite keeps the POSIX locks of a
process's connections to a file in a table of its own, and a copy that closes its descriptor of the file drops the
locks the other copy holds (POSIX locks belong to the process), or takes itself for the last connection and
checkpoints and deletes the log under the other's feet (https://www.sqlite.org/howtocorrupt.html, 2.2.1).
setup.py links the module against the system's libsqlite3; a Python whose sqlite3 module carries its own SQLite
(python-build-standalone, as installed by uv; some conda or Homebrew builds) would pair two copies, so there the
store writes through Python.

The fast connection is one of the writer's: it writes only from the writer's thread, between the writer's own
transactions, and it is closed before the writer's connection, so that the writer's connection stays the last to
close and zeroes the plain store's write-ahead log as before (store/dbapi.py, ``scrub_wal``).
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from collections.abc import Sequence
from types import ModuleType

from samizdat.core.event import Event
from samizdat.store.base import AddOutcome
from samizdat.store.queries import is_plain, tag_value
from samizdat.store.rules import indexed_tags, searchable_text

log = logging.getLogger("samizdat.store")

_OUTCOMES = (AddOutcome.STORED, AddOutcome.DUPLICATE, AddOutcome.DELETED)
_SQLITE_BUSY = 5


def _python_sqlite() -> str | None:
    """The file of Python's compiled sqlite3 module (None when it is built into the interpreter)."""
    import _sqlite3

    return getattr(_sqlite3, "__file__", None)


def _compiled() -> ModuleType | None:
    try:
        from samizdat.store import _fastadd  # type: ignore[attr-defined]  # compiled by setup.py, if it could be
    except ImportError:
        return None
    return _fastadd  # type: ignore[no-any-return]


@functools.lru_cache(maxsize=8)  # a loaded library stays where it is: one dlopen per library, not one per store
def _sqlite_of(library: str) -> int | None:
    """Where the SQLite that the loaded ``library`` calls begins (its ``sqlite3_libversion``), or None when it
    shows none (a copy of SQLite linked into it without exporting its symbols)."""
    try:
        import ctypes  # not in every Python (built without libffi): then the fast path is not used
    except ImportError:
        return None
    try:
        function = ctypes.CDLL(library).sqlite3_libversion  # dlsym: the library, then what it is linked against
    except (OSError, AttributeError):
        return None
    address: int | None = ctypes.cast(function, ctypes.c_void_p).value
    return address


def same_sqlite(library: str | None) -> bool:
    """Whether the compiled module calls the same copy of SQLite as the loaded extension ``library`` (a file)."""
    module = _compiled()
    if module is None or module.__file__ is None or library is None:
        return False
    ours = _sqlite_of(module.__file__)
    return ours is not None and ours == _sqlite_of(library)


def _module() -> ModuleType | None:
    module = _compiled()
    if module is None:
        return None
    if not same_sqlite(_python_sqlite()):
        log.debug("the store's fast path calls another SQLite than Python's sqlite3 module: not used")
        return None
    return module


def available() -> bool:
    """Whether the compiled module is installed and calls Python's SQLite (whatever ``SAMIZDAT_FASTADD`` says)."""
    return _module() is not None


def enabled() -> bool:
    """Whether plain stores opened now use the fast path."""
    return os.environ.get("SAMIZDAT_FASTADD", "1") != "0" and available()


class FastAdd:
    """The fast connection of one store's writer. Use from the writer's thread only."""

    def __init__(self, path: str, pragmas: Sequence[str], lock_wait: float) -> None:
        """Raises OSError when the module is missing (or calls another SQLite) or the file cannot be opened,
        ValueError when ``lock_wait`` is not a number of seconds."""
        module = _module()
        if module is None:
            raise OSError("the store's fast path is not built, or calls another SQLite than Python's sqlite3")
        self._module = module
        self._handle = module.open(path, tuple(pragmas), lock_wait)
        self.batches = 0  # batches written this way (for tests and benchmarks)

    def add(self, events: Sequence[Event], now: int) -> list[AddOutcome] | None:
        """Store ``events`` in one committed transaction and return their outcomes, or None (nothing written) when
        one of them is not plain or the write failed: then the caller writes them the Python way.

        Raises sqlite3.OperationalError ("database is locked", nothing written) when another process held the write
        lock for the whole ``lock_wait``: the Python way would only wait as long again before failing the same way,
        and a batch that fails is retried job by job, each waiting again."""
        rows: list[tuple[bytes, bytes, int, int, int | None, bytes]] = []
        tags: list[tuple[int, str, str | bytes]] = []
        texts: list[tuple[int, str]] = []
        for i, event in enumerate(events):
            if not is_plain(event, now):
                return None
            rows.append((bytes.fromhex(event.id), bytes.fromhex(event.pubkey), event.created_at, event.kind,
                         event.expiration, event.to_json()))  # fmt: skip
            tags += [(i, name, tag_value(value)) for name, value in indexed_tags(event)]
            text = searchable_text(event)
            if text:
                texts.append((i, text))
        try:
            codes: list[int] = self._module.add(self._handle, rows, tags, texts)
        except OSError as exc:
            if isinstance(exc.errno, int) and exc.errno & 0xFF == _SQLITE_BUSY:
                locked = sqlite3.OperationalError("database is locked")
                locked.sqlite_errorcode = exc.errno
                locked.sqlite_errorname = "SQLITE_BUSY"
                raise locked from exc
            log.debug("the fast path did not write a batch of %d (%s); writing it through Python", len(rows), exc)
            return None
        except (ValueError, TypeError, OverflowError, UnicodeError) as exc:
            log.debug("the fast path did not write a batch of %d (%s); writing it through Python", len(rows), exc)
            return None
        self.batches += 1
        return [_OUTCOMES[code] for code in codes]

    def execute(self, sql: str) -> None:
        """Run ``sql`` (statements without results) on the fast connection: a setting the writer's connection
        was given too. Raises OSError."""
        self._module.execute(self._handle, sql)

    def close(self) -> None:
        self._module.close(self._handle)
