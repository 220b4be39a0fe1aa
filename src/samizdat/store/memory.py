"""MemoryStore: the in-memory twin of the SQLite store, for tests of the layers above.

It follows every rule of :mod:`samizdat.store.base` with the plainest code that can (dicts, and a scan of all
events per query), and passes the same shared test suite as :class:`~samizdat.store.sqlite.SqliteStore`. It
reads the rules the same way through :mod:`samizdat.store.rules`. Nothing is durable, and it is meant for
thousands of events, not millions.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager

from samizdat.core.event import Event
from samizdat.core.filters import Filter, FilterLimits
from samizdat.core.kinds import DELETION, is_addressable, is_ephemeral, is_replaceable
from samizdat.errors import StoreError
from samizdat.store.base import AddOutcome, Withdrawn
from samizdat.store.rules import (
    UNDELETABLE_KINDS,
    WITHDRAWN_PER_AUTHOR,
    Search,
    deletion_targets,
    is_filter_tag,
    newest_first,
    parse_search,
    slot_d,
    wins_over,
    withdrawn_cutoff,
    withdrawn_record,
)

_Slot = tuple[str, int, str]  # (pubkey, kind, d)


class MemoryStore:
    """A :class:`~samizdat.store.base.Store` in a few dicts. ``clock`` gives seconds, for NIP-40 expiry."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._default_limit = FilterLimits().default_limit
        self._events: dict[str, tuple[int, Event]] = {}  # id -> (insertion number, event)
        self._slots: dict[_Slot, str] = {}  # replacement slot -> id of its stored version
        self._deleted_ids: set[tuple[str, str]] = set()  # (id, pubkey that asked)
        self._deleted_slots: dict[_Slot, int] = {}  # slot -> versions up to this created_at are deleted
        self._withdrawn: dict[str, dict[str, Withdrawn]] = {}  # author -> amendment id -> record
        self._recorded: dict[str, tuple[int, int]] = {}  # amendment id -> (its seq, when its record was made)
        self._seq = 0
        self._closed = False

    def _now(self) -> int:
        if self._closed:
            raise StoreError("The store is closed.")
        return int(self._clock())

    def _live(self, now: int) -> Iterable[Event]:
        return (event for _, event in self._events.values() if not event.is_expired(now))

    # --- writes -------------------------------------------------------------------------------------------------

    async def add(self, event: Event) -> AddOutcome:
        return self._add(event, self._now())

    async def add_many(self, events: Sequence[Event]) -> list[AddOutcome]:
        now = self._now()
        return [self._add(event, now) for event in events]

    def _add(self, event: Event, now: int) -> AddOutcome:
        if is_ephemeral(event.kind):
            return AddOutcome.EPHEMERAL
        if event.is_expired(now):
            return AddOutcome.EXPIRED
        if event.id in self._events:
            return AddOutcome.DUPLICATE
        d = slot_d(event)
        slot = None if d is None else (event.pubkey, event.kind, d)
        if event.kind not in UNDELETABLE_KINDS:
            if (event.id, event.pubkey) in self._deleted_ids:
                return AddOutcome.DELETED
            if slot is not None and event.created_at <= self._deleted_slots.get(slot, -1):
                return AddOutcome.DELETED
        if slot is not None and slot in self._slots:
            stored = self._events[self._slots[slot]][1]
            if not wins_over(event, stored):
                return AddOutcome.OUTDATED
            self._remove(stored)
        self._seq += 1
        self._events[event.id] = (self._seq, event)
        if slot is not None:
            self._slots[slot] = event.id
        if event.kind == DELETION:
            self._apply_deletion(event)
        return AddOutcome.STORED

    def _remove(self, event: Event) -> None:
        del self._events[event.id]
        d = slot_d(event)
        if d is not None:
            self._slots.pop((event.pubkey, event.kind, d), None)
        if event.kind == DELETION:  # its marks go with it, unless another stored request asks the same
            targets = deletion_targets(event)
            others = [deletion_targets(e) for _, e in self._events.values()
                      if e.kind == DELETION and e.pubkey == event.pubkey]  # fmt: skip
            for target in targets.ids:
                if not any(target in other.ids for other in others):
                    self._deleted_ids.discard((target, event.pubkey))
            for kind, slot_d_tag in targets.slots:
                if not any((kind, slot_d_tag) in other.slots for other in others):
                    self._deleted_slots.pop((event.pubkey, kind, slot_d_tag), None)

    def _apply_deletion(self, request: Event) -> None:
        targets = deletion_targets(request)
        for target in targets.ids:
            self._deleted_ids.add((target, request.pubkey))
            entry = self._events.get(target)
            if entry and entry[1].pubkey == request.pubkey and entry[1].kind not in UNDELETABLE_KINDS:
                self._remove(entry[1])
                if record := withdrawn_record(entry[1], request):
                    self._keep_withdrawn(record, entry[0], self._now())
        for kind, d in targets.slots:
            slot = (request.pubkey, kind, d)
            self._deleted_slots[slot] = max(self._deleted_slots.get(slot, -1), request.created_at)
            stored_id = self._slots.get(slot)
            if stored_id is not None and self._events[stored_id][1].created_at <= request.created_at:
                self._remove(self._events[stored_id][1])

    def _keep_withdrawn(self, record: Withdrawn, seq: int, now: int) -> None:
        mine = self._withdrawn.setdefault(record.author, {})
        if record.id not in mine:
            mine[record.id] = record
            self._recorded[record.id] = (seq, now)
        if len(mine) > WITHDRAWN_PER_AUTHOR:  # those whose amendment arrived last go first
            for old in sorted(mine.values(), key=lambda r: (self._recorded[r.id][0], r.id))[WITHDRAWN_PER_AUTHOR:]:
                del mine[old.id]
                self._recorded.pop(old.id, None)

    async def purge_expired(self) -> int:
        now = self._now()
        expired = [event for _, event in self._events.values() if event.is_expired(now)]
        for event in expired:
            self._remove(event)
        cutoff = withdrawn_cutoff(now)
        for author, mine in list(self._withdrawn.items()):
            for old in [r for r in mine.values() if self._recorded[r.id][1] < cutoff]:
                del mine[old.id]
                self._recorded.pop(old.id, None)
            if not mine:
                del self._withdrawn[author]
        return len(expired)

    async def withdrawn(self, author: str) -> list[Withdrawn]:
        self._now()
        return sorted(self._withdrawn.get(author, {}).values(), key=lambda r: (-r.created_at, r.id))

    # --- reads --------------------------------------------------------------------------------------------------

    @staticmethod
    def _matcher(f: Filter) -> tuple[Filter, Search] | None:
        search = parse_search(f.search)
        if f.is_empty_set or search.matches_nothing or not all(is_filter_tag(name) for name, _ in f.tags):
            return None
        return (f, search)

    def _matching(self, filters: Sequence[Filter], now: int) -> list[Event]:
        matchers = [m for f in filters if (m := self._matcher(f))]
        return [e for e in self._live(now) if any(f.matches(e) and s.matches(e) for f, s in matchers)]

    async def query(self, filters: Sequence[Filter]) -> list[Event]:
        now = self._now()
        ordered = sorted(self._live(now), key=newest_first)
        # NIP-50: a search takes the matches stored most recently (as the SQLite store does).
        latest_stored = list(reversed(list(self._live(now))))
        found: dict[str, Event] = {}
        for f in filters:
            limit = self._default_limit if f.limit is None else f.limit
            matcher = self._matcher(f)
            if matcher is None or limit <= 0:
                continue
            candidates = ordered if matcher[1].phrases is None or f.ids is not None else latest_stored
            hits = [e for e in candidates if f.matches(e) and matcher[1].matches(e)][:limit]
            for event in hits:
                found.setdefault(event.id, event)
        return sorted(found.values(), key=newest_first)

    async def query_pages(
        self,
        filters: Sequence[Filter],
        *,
        page_events: int = 500,
        page_bytes: int = 128 * 1024,
        before_read: Callable[[], AbstractAsyncContextManager[None]] | None = None,
    ) -> AsyncGenerator[list[Event], None]:
        """:meth:`query` cut into pages (this twin holds everything anyway; ``page_bytes`` is not applied)."""
        events = await self.query(filters)
        for start in range(0, len(events), page_events):
            if before_read is None:
                page = events[start : start + page_events]
            else:
                async with before_read():
                    page = events[start : start + page_events]
            yield page

    async def count(self, filters: Sequence[Filter]) -> int:
        return len(self._matching(filters, self._now()))

    async def get(self, event_id: str) -> Event | None:
        now = self._now()
        entry = self._events.get(event_id)
        return None if entry is None or entry[1].is_expired(now) else entry[1]

    async def has(self, event_ids: Sequence[str]) -> set[str]:
        now = self._now()
        return {i for i in event_ids if i in self._events and not self._events[i][1].is_expired(now)}

    async def negentropy_items(self, filters: Sequence[Filter]) -> AsyncGenerator[tuple[int, bytes], None]:
        now = self._now()
        events = list(self._live(now)) if not filters else self._matching(filters, now)
        for item in sorted((e.created_at, bytes.fromhex(e.id)) for e in events):
            yield item

    async def stats(self) -> dict[str, int]:
        self._now()
        kinds = [event.kind for _, event in self._events.values()]
        replaceable = sum(1 for k in kinds if is_replaceable(k))
        addressable = sum(1 for k in kinds if is_addressable(k))
        return {
            "events": len(kinds),
            "regular": len(kinds) - replaceable - addressable,
            "replaceable": replaceable,
            "addressable": addressable,
            "expiring": sum(1 for _, e in self._events.values() if e.expiration is not None),
            "deletion_requests": sum(1 for k in kinds if k == DELETION),
        }

    async def events_since(self, rowid: int, limit: int) -> list[tuple[int, Event]]:
        now = self._now()
        later = sorted((s, e) for s, e in self._events.values() if s > rowid and not e.is_expired(now))
        return later[:limit]

    async def scan_kinds(
        self, rowid: int, limit: int, kinds: frozenset[int]
    ) -> tuple[int, list[tuple[int, Event]], int]:
        scanned = await self.events_since(rowid, limit)
        last = scanned[-1][0] if scanned else rowid
        skipped = sum(len(e.to_json()) for _, e in scanned if e.kind not in kinds)
        return last, [(s, e) for s, e in scanned if e.kind in kinds], skipped

    async def last_seq(self) -> int:
        return self._seq

    async def close(self) -> None:
        self._closed = True
