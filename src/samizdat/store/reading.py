"""What the SQLite and PostgreSQL event stores do the same way: :class:`SharedStore`, their common base.

Both stores are one writer thread with group commit (:class:`~samizdat.store.writer.Writer`) and a pool of read
connections in threads, and both keep their SQL in a module of synchronous functions of the same names and
signatures, each taking a connection: :mod:`samizdat.store.queries` (SQLite) and :mod:`samizdat.store.pgqueries`
(PostgreSQL), described here by :class:`Queries`. So every :class:`~samizdat.store.base.Store` method that only
hands one of those functions to the writer or to a reader is written here once, and each store gives three
things: its ``_writer``, its ``_queries`` module, and ``_read`` (how a function runs on a read connection: its
own snapshot, cancellation and time limits, and, on PostgreSQL, which server answers). What differs in substance
(opening and migrating, Negentropy streams, the carry quota, closing, LISTEN/NOTIFY) stays in each store.

Nothing here imports ``sqlite3`` or ``psycopg``: the connection is a type parameter.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from types import TracebackType
from typing import Generic, Protocol, Self, TypeVar

from samizdat.core.event import Event
from samizdat.core.filters import Filter, FilterLimits
from samizdat.store.base import AddOutcome
from samizdat.store.writer import Writer

C = TypeVar("C")  # a connection: sqlite3.Connection or psycopg.Connection
C_contra = TypeVar("C_contra", contravariant=True)
T = TypeVar("T")

#: Expired events deleted per write transaction by purge_expired (adds run between chunks).
PURGE_CHUNK = 2_000
#: A page of query_pages: at most this many events...
PAGE_EVENTS = 500
#: ... and about this many bytes of event JSON (a page ends with the event that reaches it).
PAGE_BYTES = 128 * 1024


#: One Negentropy item: (created_at, 32-byte id).
Item = tuple[int, bytes]


def ready_items(pending: list[Item]) -> tuple[list[Item], list[Item]]:
    """Split ``pending`` (items read so far, by ``created_at`` only: ties in any order) into the items that may go
    out now, sorted by (created_at, id), and those of the last ``created_at`` read, which more rows may still
    join. Both stores read the item list by ``created_at`` alone so that it comes off an index without a sort;
    at the end of the rows, the rest goes out sorted too."""
    if not pending:
        return [], []
    last, cut = pending[-1][0], len(pending)
    while cut and pending[cut - 1][0] == last:
        cut -= 1
    ready = pending[:cut]
    ready.sort()
    return ready, pending[cut:]


class Pager(Protocol[C_contra]):
    """A REQ's filters read a page at a time (:class:`samizdat.store.queries.Pager`)."""

    @property
    def done(self) -> bool: ...

    def next_page(self, conn: C_contra, now: int, max_events: int, max_bytes: int) -> list[Event]: ...


class Queries(Protocol[C_contra]):
    """The functions of a store's SQL module that :class:`SharedStore` calls (the module itself fits)."""

    def Pager(self, filters: Iterable[Filter], default_limit: int) -> Pager[C_contra]: ...

    def query(self, conn: C_contra, filters: Iterable[Filter], now: int, default_limit: int) -> list[Event]: ...

    def count(self, conn: C_contra, filters: Iterable[Filter], now: int) -> int: ...

    def get(self, conn: C_contra, event_id: str, now: int) -> Event | None: ...

    def ids_with_prefix(self, conn: C_contra, prefix: str, now: int, limit: int) -> list[str]: ...

    def has(self, conn: C_contra, event_ids: Iterable[str], now: int) -> set[str]: ...

    def events_since(self, conn: C_contra, seq: int, limit: int, now: int) -> list[tuple[int, Event]]: ...

    def scan_kinds(
        self, conn: C_contra, seq: int, limit: int, now: int, kinds: frozenset[int]
    ) -> tuple[int, list[tuple[int, Event]], int]: ...

    def last_seq(self, conn: C_contra) -> int: ...

    def stats(self, conn: C_contra) -> dict[str, int]: ...

    def purge_expired_chunk(self, conn: C_contra, now: int, chunk: int) -> int: ...


class SharedStore(Generic[C]):
    """The :class:`~samizdat.store.base.Store` methods common to the SQLite and PostgreSQL stores (see the
    module's docstring). A subclass sets ``_writer``, ``_queries`` and ``_clock`` and implements :meth:`_read`."""

    _writer: Writer
    _queries: Queries[C]
    _clock: Callable[[], float]
    _default_limit: int = FilterLimits().default_limit

    async def _read(self, fn: Callable[[C], T], *, primary: bool = False) -> T:
        """Run ``fn(connection)`` on a read connection in a thread; with ``primary``, on the server that writes
        (a store with read replicas), for reads that must see every acknowledged write."""
        raise NotImplementedError

    def _now(self) -> int:
        return int(self._clock())

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        raise NotImplementedError

    # --- writes -------------------------------------------------------------------------------------------------

    async def add(self, event: Event) -> AddOutcome:
        """Store a verified event; return once it is durable (committed). Raises StoreError (disk full, closed
        store, server gone, ...)."""
        return (await self._writer.add((event,)))[0]

    async def add_many(self, events: Sequence[Event]) -> list[AddOutcome]:
        """Store verified events in one transaction; outcomes in the same order. Raises StoreError."""
        if not events:
            return []
        return await self._writer.add(tuple(events))

    async def purge_expired(self) -> int:
        """Delete the events whose NIP-40 expiration has passed; return how many. Raises StoreError."""
        total = 0
        while True:
            purge = functools.partial(self._queries.purge_expired_chunk, now=self._now(), chunk=PURGE_CHUNK)
            purged = await self._writer.call(purge)
            total += purged
            if purged < PURGE_CHUNK:
                return total

    # --- reads --------------------------------------------------------------------------------------------------

    async def query(self, filters: Sequence[Filter]) -> list[Event]:
        """Events matching any filter, newest first, each filter capped by its limit. Raises StoreError."""
        now, filters, q = self._now(), list(filters), self._queries
        return await self._read(lambda conn: q.query(conn, filters, now, self._default_limit))

    async def query_pages(
        self,
        filters: Sequence[Filter],
        *,
        page_events: int = PAGE_EVENTS,
        page_bytes: int = PAGE_BYTES,
        before_read: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> AsyncGenerator[list[Event], None]:
        """The events of :meth:`query`, a page at a time (see :class:`~samizdat.store.queries.Pager`): each page
        at most ``page_events`` events and about ``page_bytes`` of JSON, read in its own short read when the
        caller asks for it, inside ``before_read()`` if given (entered only when another page may follow).
        ``search`` filters come after the others, most recently stored first. Cancelling the caller while it
        waits for a page interrupts that read. Raises StoreError, and what ``before_read`` raises."""
        pager = self._queries.Pager(filters, self._default_limit)
        while not pager.done:
            read = functools.partial(pager.next_page, max_events=page_events, max_bytes=page_bytes)
            if before_read is None:
                page = await self._read(functools.partial(read, now=self._now()))
            else:
                async with before_read():
                    page = await self._read(functools.partial(read, now=self._now()))
            if page:
                yield page

    async def count(self, filters: Sequence[Filter]) -> int:
        """How many unexpired events match any filter (NIP-45; limits are ignored). Raises StoreError."""
        now, filters, q = self._now(), list(filters), self._queries
        return await self._read(lambda conn: q.count(conn, filters, now))

    async def get(self, event_id: str) -> Event | None:
        """The unexpired event with this id, or None. Raises StoreError."""
        now, q = self._now(), self._queries
        return await self._read(lambda conn: q.get(conn, event_id, now))

    async def ids_with_prefix(self, prefix: str, *, limit: int = 2) -> list[str]:
        """Up to ``limit`` ids of unexpired events starting with the lowercase hex ``prefix``. Raises StoreError."""
        now, q = self._now(), self._queries
        if not prefix or len(prefix) > 64 or any(c not in "0123456789abcdef" for c in prefix):
            return []
        return await self._read(lambda conn: q.ids_with_prefix(conn, prefix, now, limit))

    async def has(self, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` are stored (and not expired). Raises StoreError."""
        now, ids, q = self._now(), list(event_ids), self._queries
        return await self._read(lambda conn: q.has(conn, ids, now))

    async def stats(self) -> dict[str, int]:
        """``events`` and per kind class counts, ``expiring``, ``deletion_requests``, ``file_bytes`` (the file's or
        the database's size)."""
        return await self._read(self._queries.stats)

    async def events_since(self, rowid: int, limit: int) -> list[tuple[int, Event]]:
        """Up to ``limit`` unexpired events stored after insertion number ``rowid``, oldest first, with theirs.

        Insertion numbers only grow, so a caller resumes from the last one it saw. Read from the primary (a
        process woken by another's write must see what woke it). Raises StoreError.
        """
        now, q = self._now(), self._queries
        return await self._read(lambda conn: q.events_since(conn, rowid, limit, now), primary=True)

    async def scan_kinds(
        self, rowid: int, limit: int, kinds: frozenset[int]
    ) -> tuple[int, list[tuple[int, Event]], int]:
        """See :meth:`samizdat.store.base.Store.scan_kinds`; from the primary, as :meth:`events_since`."""
        now, q = self._now(), self._queries
        return await self._read(lambda conn: q.scan_kinds(conn, rowid, limit, now, kinds), primary=True)

    async def last_seq(self) -> int:
        """The insertion number of the newest stored event (0 for none), from the primary: it changes whenever an
        event is stored, so it tells a cache whether the store changed, whoever wrote to it. Raises StoreError."""
        return await self._read(self._queries.last_seq, primary=True)
