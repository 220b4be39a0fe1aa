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
then written again through Python, which reports the error as it always did), and a machine where the module was
not built (setup.py builds it when a C compiler and SQLite's headers are there, and the install goes on without it
when not). ``SAMIZDAT_FASTADD=0`` turns it off (benchmarks compare the two).

The fast connection is one of the writer's: it writes only from the writer's thread, between the writer's own
transactions, and it is closed before the writer's connection, so that the writer's connection stays the last to
close and zeroes the plain store's write-ahead log as before (store/dbapi.py, ``scrub_wal``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from types import ModuleType

from samizdat.core.event import Event
from samizdat.store.base import AddOutcome
from samizdat.store.queries import is_plain, tag_value
from samizdat.store.rules import indexed_tags, searchable_text

log = logging.getLogger("samizdat.store")

_OUTCOMES = (AddOutcome.STORED, AddOutcome.DUPLICATE, AddOutcome.DELETED)


def _module() -> ModuleType | None:
    try:
        from samizdat.store import _fastadd  # type: ignore[attr-defined]  # compiled by setup.py, if it could be
    except ImportError:
        return None
    return _fastadd  # type: ignore[no-any-return]


def available() -> bool:
    """Whether the compiled module is installed (whatever ``SAMIZDAT_FASTADD`` says)."""
    return _module() is not None


def enabled() -> bool:
    """Whether plain stores opened now use the fast path."""
    return os.environ.get("SAMIZDAT_FASTADD", "1") != "0" and available()


class FastAdd:
    """The fast connection of one store's writer. Use from the writer's thread only."""

    def __init__(self, path: str, pragmas: Sequence[str], lock_wait: float) -> None:
        """Raises OSError when the module is missing or the file cannot be opened."""
        module = _module()
        if module is None:
            raise OSError("the store's fast path is not built")
        self._module = module
        self._handle = module.open(path, tuple(pragmas), lock_wait)
        self.batches = 0  # batches written this way (for tests and benchmarks)

    def add(self, events: Sequence[Event], now: int) -> list[AddOutcome] | None:
        """Store ``events`` in one committed transaction and return their outcomes, or None (nothing written) when
        one of them is not plain or the write failed: then the caller writes them the Python way."""
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
        except (OSError, ValueError, TypeError, OverflowError, UnicodeError) as exc:
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
