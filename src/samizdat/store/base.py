"""The Store interface: what the relay, sync and command line need from a place that keeps events.

The default is :class:`samizdat.store.sqlite.SqliteStore`; :class:`samizdat.store.memory.MemoryStore` is its
in-memory twin for tests. Both pass the same shared test suite. The interface is async so that a store can keep
its I/O off the event loop (SQLite in threads) or on the network (PostgreSQL, later); an encrypted store wraps
the same interface.

Rules every store follows (NIP-01, 09, 40):

* ``add`` returns only once the event is durable (or known not to need storing).
* Ephemeral events (kinds 20000-29999) are never stored: ``add`` answers ``EPHEMERAL``.
* Replaceable and addressable events: for each (kind, pubkey[, d]) only the newest is kept; on equal
  ``created_at`` the lowest id wins. An older one arriving later answers ``OUTDATED``.
* A kind-5 deletion request deletes the events it names (``e`` ids and ``a`` addresses up to its own
  ``created_at``) **only when they have the same pubkey as the request**; the request itself is stored and served.
  An event arriving after its deletion request answers ``DELETED`` and is not stored.
* When a deletion request erases a channel's amendment (a retraction or a correction of a post:
  :func:`samizdat.store.rules.withdrawn_record`), the store keeps a small record of it (:class:`Withdrawn`: no
  content) for the owner's removal review only; it is never served (not by a query, a count or NIP-77, nor in
  anything built from them). At most :data:`~samizdat.store.rules.WITHDRAWN_PER_AUTHOR` per author (the oldest by
  the amendment's date go first), and ``purge_expired`` drops those made (the deletion's arrival, by the store's
  clock) more than :data:`~samizdat.store.rules.WITHDRAWN_DAYS` days ago.
* Expired events (NIP-40) are never returned by queries; ``purge_expired`` removes them. An already-expired event
  answers ``EXPIRED``.
* Queries return the newest first (``created_at`` descending, then id ascending), each filter capped by its
  ``limit``; events matched by several filters are returned once. For a NIP-50 ``search`` filter the limit may
  keep the most recently stored matches rather than the newest by ``created_at`` (NIP-50 leaves ranking to the
  relay; sorting every match of a common word would be slow on millions of events).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from contextvars import ContextVar
from dataclasses import dataclass
from enum import Enum
from typing import Protocol

from samizdat.core.event import Event
from samizdat.core.filters import Filter

#: While set (in the task that reads), a store read that works longer than this many seconds is interrupted and
#: raises TimeoutError: the relay bounds the store time one client's page or COUNT may take. A store that cannot
#: interrupt its reads (the in-memory twin) ignores it.
READ_SECONDS: ContextVar[float | None] = ContextVar("samizdat_store_read_seconds", default=None)
#: The remote address a store call is made for, while set (the relay sets it around each HTTP request it hands
#: on: Blossom's photo requests); the photo store in PostgreSQL shares its connections out by it (store/pgblobs.py).
CALLER: ContextVar[str | None] = ContextVar("samizdat_store_caller", default=None)


class AddOutcome(Enum):
    STORED = "stored"  # new and durable
    DUPLICATE = "duplicate"  # we had it already
    OUTDATED = "outdated"  # a newer replaceable/addressable version is stored
    DELETED = "deleted"  # its author asked for it to be deleted (NIP-09)
    EXPIRED = "expired"  # its NIP-40 expiration has passed
    EPHEMERAL = "ephemeral"  # never stored (kinds 20000-29999)

    @property
    def accepted(self) -> bool:
        """Whether a relay answers ``OK true`` for this outcome (NIP-01: duplicates are accepted)."""
        return self in (AddOutcome.STORED, AddOutcome.DUPLICATE, AddOutcome.EPHEMERAL)

    @property
    def reply(self) -> str:
        """The NIP-01 OK message for this outcome."""
        return _REPLIES[self]


_REPLIES = {
    AddOutcome.STORED: "",
    AddOutcome.DUPLICATE: "duplicate: already have this event",
    AddOutcome.OUTDATED: "duplicate: a newer version of this event is stored",
    AddOutcome.DELETED: "blocked: this event was deleted by its author",
    AddOutcome.EXPIRED: "invalid: this event has expired",
    AddOutcome.EPHEMERAL: "",
}


@dataclass(frozen=True, slots=True)
class Withdrawn:
    """What a store keeps of a channel's amendment its author deleted (NIP-09): the amendment's ``id``, its
    ``author``, its ``action`` ("retraction" or "correction"), the ``target`` post's id, the channel's ``address``,
    its ``created_at``, and the deletion request's ``deletion`` id and ``deleted_at`` (the date the request gives,
    which its signer chose). Not its content: the reason of a retraction may name someone, and the record is one
    more thing on a node that can be seized."""

    id: str
    author: str
    action: str
    target: str
    address: str
    created_at: int
    deletion: str
    deleted_at: int


class Store(Protocol):
    async def add(self, event: Event) -> AddOutcome:
        """Store ``event`` (already verified by the caller) and return once it is durable."""
        ...

    async def add_many(self, events: Sequence[Event]) -> list[AddOutcome]:
        """Store several events in one transaction; outcomes in the same order."""
        ...

    async def query(self, filters: Sequence[Filter]) -> list[Event]:
        """Events matching any filter, newest first, each filter capped by its limit (or the default)."""
        ...

    def query_pages(
        self,
        filters: Sequence[Filter],
        *,
        page_events: int = ...,
        page_bytes: int = ...,
        before_read: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> AsyncIterator[list[Event]]:
        """The events of :meth:`query` in pages of at most ``page_events`` events and about ``page_bytes`` bytes
        of JSON, each read when asked for, so that no more than a page is held (the relay's REQ answers). Each
        read of the store runs inside ``before_read()`` (the relay waits there for room and a turn), and only
        when another page may follow."""
        ...

    async def count(self, filters: Sequence[Filter]) -> int:
        """How many stored, unexpired events match any filter (NIP-45)."""
        ...

    async def get(self, event_id: str) -> Event | None: ...

    async def has(self, event_ids: Sequence[str]) -> set[str]:
        """Which of ``event_ids`` are stored."""
        ...

    def negentropy_items(self, filters: Sequence[Filter]) -> AsyncIterator[tuple[int, bytes]]:
        """(created_at, 32-byte id) of every matching event, ascending, unlimited (for set reconciliation)."""
        ...

    async def events_since(self, rowid: int, limit: int) -> list[tuple[int, Event]]:
        """Up to ``limit`` stored events inserted after ``rowid``, in insertion order, with their rowids (for
        streaming the whole store, e.g. into a bundle)."""
        ...

    async def scan_kinds(
        self, rowid: int, limit: int, kinds: frozenset[int]
    ) -> tuple[int, list[tuple[int, Event]], int]:
        """Scan up to ``limit`` stored events inserted after ``rowid``, in insertion order; return the insertion
        number of the last one scanned (``rowid`` when none), those among them of ``kinds``, with their numbers,
        and the bytes of the JSON of the others. A follower of a few kinds resumes from the number returned without
        reading, or parsing, the others."""
        ...

    async def last_seq(self) -> int:
        """The insertion number of the newest stored event: it changes whenever anything is stored."""
        ...

    async def purge_expired(self) -> int:
        """Delete events whose NIP-40 expiration has passed; return how many. Drops the :class:`Withdrawn`
        records past their time too (not counted)."""
        ...

    async def withdrawn(self, author: str) -> list[Withdrawn]:
        """The records of ``author``'s amendments that its deletion requests erased, newest first (for the owner's
        review of a removal only: never served to anyone)."""
        ...

    async def stats(self) -> dict[str, int]:
        """Counts for status displays: ``events``, and per-kind class where cheap."""
        ...

    async def close(self) -> None: ...
