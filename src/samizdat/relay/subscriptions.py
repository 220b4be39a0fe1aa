"""The fan-out index: which live subscriptions want a new event, without looking at all of them.

Theory of operation
-------------------

A NIP-01 filter matches only if *every* condition it states holds. So each filter can be filed under the values of
just one of its conditions, and a new event need only be checked against the filters filed under its own values:

* a filter with ``ids`` is filed under each id; otherwise one with ``authors`` under each author; otherwise one
  with tag conditions under each ``(name, value)`` of its first tag condition; otherwise one with ``kinds`` under
  each kind; a filter with none of these (only ``since``/``until``/``search``, or nothing) goes in the
  *unindexed* bucket. The order puts the most selective field first: kinds come last because ``kinds: [1]``
  would put nearly every subscription in one bucket.
* a filter that can match nothing (an empty list, ``since > until``) is not filed at all.

The candidates for an event are the union of the buckets for its id, its pubkey, its kind, each of its tags'
``(name, first value)`` and the unindexed bucket. Any filter that matches the event is among them (it was filed under
a value the event must have), so checking the candidates with :meth:`Filter.matches` gives exactly the matching
subscriptions (plus a simple word check for NIP-50 ``search``, which ``Filter.matches`` leaves to the store).
Each subscription appears at most once in the answer, however many of its filters match.

The index knows nothing about sockets: a subscription's ``owner`` is whatever the server uses for a connection,
and ``frame_prefix`` is the ``["EVENT","<sub_id>",`` bytes that the server joins with the event's cached JSON, so
an event is serialised once however many subscribers it has.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any, Generic, TypeVar

from samizdat.core.event import Event
from samizdat.core.filters import Filter

O = TypeVar("O", bound=Hashable)  # noqa: E741 - the owner type, as in Subscription[O]


class Subscription(Generic[O]):
    """A live subscription: ``owner``'s ``sub_id`` with its ``filters``. ``active`` turns False on removal."""

    __slots__ = ("owner", "sub_id", "filters", "frame_prefix", "active", "_entries")

    def __init__(self, owner: O, sub_id: str, filters: tuple[Filter, ...], frame_prefix: bytes) -> None:
        self.owner = owner
        self.sub_id = sub_id
        self.filters = filters
        self.frame_prefix = frame_prefix
        self.active = True
        self._entries: list[_Entry[O]] = []

    def __repr__(self) -> str:
        return f"Subscription({self.owner!r}, {self.sub_id!r}, {len(self.filters)} filters)"


class _Entry(Generic[O]):
    """One filter of one subscription, hashed by identity (hashing a Filter's frozensets would be slow)."""

    __slots__ = ("sub", "filter", "buckets", "keys", "tag_name")

    def __init__(self, sub: Subscription[O], filter_: Filter) -> None:
        self.sub = sub
        self.filter = filter_
        # Where it is filed: under each of ``keys`` in ``buckets`` (None: the unindexed bucket).
        self.buckets: dict[Any, set[_Entry[O]]] | None = None
        self.keys: list[Any] = []
        self.tag_name: str | None = None


class SubscriptionIndex(Generic[O]):
    """Live subscriptions of every connection, indexed for fan-out. Not thread-safe; one event loop owns it."""

    def __init__(self) -> None:
        self._ids: dict[str, set[_Entry[O]]] = {}
        self._authors: dict[str, set[_Entry[O]]] = {}
        self._kinds: dict[int, set[_Entry[O]]] = {}
        self._tags: dict[str, dict[str, set[_Entry[O]]]] = {}
        self._unindexed: set[_Entry[O]] = set()
        self._by_owner: dict[O, dict[str, Subscription[O]]] = {}
        self._count = 0

    def __len__(self) -> int:
        """How many subscriptions are live."""
        return self._count

    def get(self, owner: O, sub_id: str) -> Subscription[O] | None:
        subs = self._by_owner.get(owner)
        return subs.get(sub_id) if subs else None

    def of_owner(self, owner: O) -> list[Subscription[O]]:
        return list(self._by_owner.get(owner, {}).values())

    def add(self, owner: O, sub_id: str, filters: Iterable[Filter], frame_prefix: bytes = b"") -> Subscription[O]:
        """Add (or replace: NIP-01) ``owner``'s subscription ``sub_id`` and return it."""
        self.remove(owner, sub_id)
        sub = Subscription(owner, sub_id, tuple(filters), frame_prefix)
        for filter_ in sub.filters:
            if not filter_.is_empty_set:
                sub._entries.append(self._file(_Entry(sub, filter_)))
        self._by_owner.setdefault(owner, {})[sub_id] = sub
        self._count += 1
        return sub

    def remove(self, owner: O, sub_id: str) -> Subscription[O] | None:
        """Remove ``owner``'s subscription ``sub_id``; return it, or None if there was none."""
        subs = self._by_owner.get(owner)
        if not subs or sub_id not in subs:
            return None
        sub = subs.pop(sub_id)
        if not subs:
            del self._by_owner[owner]
        self._unfile(sub)
        return sub

    def remove_owner(self, owner: O) -> int:
        """Remove every subscription of ``owner`` (a closed connection); return how many there were."""
        subs = self._by_owner.pop(owner, None)
        if not subs:
            return 0
        for sub in subs.values():
            self._unfile(sub)
        return len(subs)

    def match(self, event: Event) -> list[Subscription[O]]:
        """The live subscriptions with at least one filter matching ``event``, each once."""
        found: list[Subscription[O]] = []
        seen: set[int] = set()

        def check(bucket: set[_Entry[O]] | None) -> None:
            if not bucket:
                return
            for entry in bucket:
                sub = entry.sub
                if id(sub) not in seen and entry.filter.matches(event) and _search_ok(entry.filter, event):
                    seen.add(id(sub))
                    found.append(sub)

        check(self._ids.get(event.id))
        check(self._authors.get(event.pubkey))
        check(self._kinds.get(event.kind))
        if self._tags:
            tags = self._tags
            for tag in event.tags:
                if len(tag) >= 2:
                    by_value = tags.get(tag[0])
                    if by_value is not None:
                        check(by_value.get(tag[1]))
        check(self._unindexed)
        return found

    # filing

    def _file(self, entry: _Entry[O]) -> _Entry[O]:
        f = entry.filter
        if f.ids is not None:
            _file_in(entry, self._ids, f.ids)
        elif f.authors is not None:
            _file_in(entry, self._authors, f.authors)
        elif f.tags:
            entry.tag_name, values = f.tags[0]
            _file_in(entry, self._tags.setdefault(entry.tag_name, {}), values)
        elif f.kinds is not None:
            _file_in(entry, self._kinds, f.kinds)
        else:
            self._unindexed.add(entry)
        return entry

    def _unfile(self, sub: Subscription[O]) -> None:
        sub.active = False
        self._count -= 1
        for entry in sub._entries:
            buckets = entry.buckets
            if buckets is None:
                self._unindexed.discard(entry)
                continue
            for value in entry.keys:
                bucket = buckets.get(value)
                if bucket is not None:
                    bucket.discard(entry)
                    if not bucket:
                        del buckets[value]
            if entry.tag_name is not None and not buckets:
                self._tags.pop(entry.tag_name, None)
        sub._entries.clear()

    def bucket_sizes(self) -> dict[str, int]:
        """How many filter entries each kind of bucket holds (for status pages and tests)."""
        return {
            "ids": sum(map(len, self._ids.values())),
            "authors": sum(map(len, self._authors.values())),
            "tags": sum(len(b) for by_value in self._tags.values() for b in by_value.values()),
            "kinds": sum(map(len, self._kinds.values())),
            "unindexed": len(self._unindexed),
        }


def _file_in(entry: _Entry[O], buckets: dict[Any, set[_Entry[O]]], values: Iterable[Any]) -> None:
    entry.buckets = buckets
    for value in values:
        bucket = buckets.get(value)
        if bucket is None:
            buckets[value] = bucket = set()
        bucket.add(entry)
        entry.keys.append(value)


def _search_ok(filter_: Filter, event: Event) -> bool:
    """NIP-50 for live events: every search word (``key:value`` extensions aside) is in the content, any case.

    Stored events are searched by the store's full-text index; this keeps live delivery close to it without
    claiming to be the same ranking.
    """
    if filter_.search is None:
        return True
    content = event.content.casefold()
    return all(word in content for word in filter_.search.casefold().split() if ":" not in word)
