"""The fan-out index: which live subscriptions want a new event, without looking at all of them.

Theory of operation
-------------------

A NIP-01 filter matches only if *every* condition it states holds. So each filter can be filed under the values of
just one of its conditions, and a new event need only be checked against the filters filed under its own values:

* a filter with ``ids`` is filed under each id; otherwise one with ``authors`` under each author; otherwise one
  with tag conditions under each ``(name, value)`` of its first tag condition; otherwise one with ``kinds`` under
  each kind. The order puts the most selective field first: kinds come last because ``kinds: [1]`` would put
  nearly every subscription in one bucket.
* a filter with none of these but a NIP-50 ``search`` is filed under one word of it (the one fewest filters are
  filed under yet, then the longest); the event's words (as the store's full-text index sees them) give its
  candidates.
* a filter with nothing but ``since``/``until`` (or nothing at all) goes in the *time index*, where an event finds
  exactly the filters whose window holds its ``created_at``, at a cost that does not grow with how many
  non-matching windows there are (see :class:`_TimeIndex`): a flood of subscriptions with time windows that
  never match costs the publishers nothing.
* a filter that can match nothing (an empty list, ``since > until``, a search without words) is not filed.

The candidates for an event are the union of the buckets for its id, its pubkey, its kind, each of its tags'
``(name, first value)``, each of its words, and what the time index finds. Any filter that matches the event is
among them (it was filed under a value the event must have), so checking the candidates with
:meth:`Filter.matches` gives exactly the matching subscriptions (plus the word check of NIP-50 ``search``, which
``Filter.matches`` leaves to the store: every term's words, in order, as the store's search finds them).
Each subscription appears at most once in the answer, however many of its filters match.

Cost: only candidates are checked (:attr:`SubscriptionIndex.checks` counts them, for tests). Equal filters are held
once (a channel's thousands of readers send the same one): each distinct filter is checked once per event, however
many subscriptions share it, and its sets are in memory once. What a subscription
can still cost is matching events it *does* match (that is fan-out, paced by the server's send buffers), and
search filters that are filed under a common word; the server therefore limits live search subscriptions per
connection, per address and in all (``RelayLimits.max_search_subscriptions*``).

The index knows nothing about sockets: a subscription's ``owner`` is whatever the server uses for a connection,
and ``frame_prefix`` is the ``["EVENT","<sub_id>",`` bytes that the server joins with the event's cached JSON, so
an event is serialised once however many subscribers it has.
"""

from __future__ import annotations

import itertools
from bisect import bisect_left, insort
from collections.abc import Callable, Hashable, Iterable
from typing import Any, Generic, TypeVar

from samizdat.core.event import MAX_CREATED_AT, Event
from samizdat.core.filters import Filter
from samizdat.store.rules import Search, live_words, parse_search, searchable_text

O = TypeVar("O", bound=Hashable)  # noqa: E741 - the owner type, as in Subscription[O]

#: The time index's domain: every ``created_at`` (at most MAX_CREATED_AT) is below 2**_TIME_BITS.
_TIME_BITS = MAX_CREATED_AT.bit_length()
_TIME_TOP = (1 << _TIME_BITS) - 1
_NO_SEARCH = Search(None)


class Subscription(Generic[O]):
    """A live subscription: ``owner``'s ``sub_id`` with its ``filters``. ``active`` turns False on removal.

    ``searches`` is True when a filter of it is filed by its search words (the server limits those)."""

    __slots__ = ("owner", "sub_id", "filters", "frame_prefix", "active", "searches", "values", "_entries")

    def __init__(
        self, owner: O, sub_id: str, filters: tuple[Filter, ...], frame_prefix: bytes, values: int | None = None
    ) -> None:
        self.owner = owner
        self.sub_id = sub_id
        self.filters = filters
        self.frame_prefix = frame_prefix
        self.active = True
        self.searches = False
        self.values = sum(map(filter_values, filters)) if values is None else values
        self._entries: list[_Entry[O]] = []

    def __repr__(self) -> str:
        return f"Subscription({self.owner!r}, {self.sub_id!r}, {len(self.filters)} filters)"


class _Entry(Generic[O]):
    """One filter of one subscription, hashed by identity (hashing a Filter's frozensets would be slow)."""

    __slots__ = ("sub", "filter", "search", "buckets", "keys", "tag_name", "serial", "window")

    def __init__(self, sub: Subscription[O], filter_: Filter, serial: int) -> None:
        self.sub = sub
        self.filter = filter_
        self.search: Search = _NO_SEARCH if filter_.search is None else parse_search(filter_.search)
        self.serial = serial  # orders entries with equal times in the time index
        # Where it is filed: under each of ``keys`` in ``buckets``; or in the time index under ``window``.
        self.buckets: dict[Any, set[_Entry[O]]] | None = None
        self.keys: list[Any] = []
        self.tag_name: str | None = None
        self.window: tuple[int, int] | None = None


def filter_values(filter_: Filter) -> int:
    """How many values ``filter_`` lists (ids, authors, kinds, tag values): what it holds in memory, in the index
    and in its own sets, grows with them (a few hundred bytes each); the server bounds them per connection and per
    address."""
    return (
        (0 if filter_.ids is None else len(filter_.ids))
        + (0 if filter_.authors is None else len(filter_.authors))
        + (0 if filter_.kinds is None else len(filter_.kinds))
        + sum(len(values) for _, values in filter_.tags)
    )


def is_broad(filter_: Filter) -> bool:
    """Whether ``filter_`` has no ids, authors, tags or kinds: the index files it by search words or by its time
    window alone, so it may match a large share of every event stored; such subscriptions are capped."""
    return filter_.ids is None and filter_.authors is None and not filter_.tags and filter_.kinds is None


def is_search_only(filter_: Filter) -> bool:
    """Whether the index files ``filter_`` by its search words (no ids, authors, tags or kinds to file it by)."""
    return (
        filter_.search is not None
        and filter_.ids is None
        and filter_.authors is None
        and not filter_.tags
        and filter_.kinds is None
        and bool(parse_search(filter_.search).phrases)
    )


class Tally:
    """How much each key holds (what its connections hold, of something the server bounds per address): in this
    process's memory; :class:`samizdat.relay.shared.SharedTally` keeps it for every worker of a node together."""

    def __init__(self) -> None:
        self._counts: dict[Any, int] = {}

    def of(self, key: Any) -> int:
        return self._counts.get(key, 0)

    def change(self, key: Any, delta: int) -> None:
        _count(self._counts, key, delta)


class SubscriptionIndex(Generic[O]):
    """Live subscriptions of every connection, indexed for fan-out. Not thread-safe; one event loop owns it.

    ``group`` says which group an owner belongs to (the server: its remote address), for
    :meth:`searches_of_group`; None puts an owner in no group. What the groups hold is counted in
    :attr:`group_searches` and :attr:`group_values` (the server shares them with its fellow workers, replacing
    them before the first subscription)."""

    def __init__(self, group: Callable[[O], Hashable | None] = lambda owner: None) -> None:
        self._group = group
        self.group_searches = Tally()  # subscriptions filed by search words, per group of owners
        self.group_values = Tally()  # filter values of the live subscriptions, per group of owners
        self._ids: dict[str, set[_Entry[O]]] = {}
        self._authors: dict[str, set[_Entry[O]]] = {}
        self._kinds: dict[int, set[_Entry[O]]] = {}
        self._tags: dict[str, dict[str, set[_Entry[O]]]] = {}
        self._words: dict[str, set[_Entry[O]]] = {}
        self._time: _TimeIndex[O] = _TimeIndex()
        self._by_owner: dict[O, dict[str, Subscription[O]]] = {}
        self._searching: dict[O, int] = {}  # subscriptions filed by search words, per owner
        self._searches = 0
        self._values: dict[O, int] = {}  # filter values of the live subscriptions, per owner
        self.values = 0  # ... of every owner together
        self._serials = itertools.count()
        self._count = 0
        #: Each distinct filter once, with how many subscriptions use it: a channel's thousands of readers send the
        #: same filter, so they share one (its sets and strings held once, and :meth:`match` checks it once).
        self._filters: dict[Filter, list[Any]] = {}
        #: Filter checks done by :meth:`match` (candidates looked at), for tests of its cost.
        self.checks = 0

    def __len__(self) -> int:
        """How many subscriptions are live."""
        return self._count

    @property
    def distinct_filters(self) -> int:
        """How many distinct filters the live subscriptions hold (each held once, however many use it)."""
        return len(self._filters)

    def get(self, owner: O, sub_id: str) -> Subscription[O] | None:
        subs = self._by_owner.get(owner)
        return subs.get(sub_id) if subs else None

    def of_owner(self, owner: O) -> list[Subscription[O]]:
        return list(self._by_owner.get(owner, {}).values())

    def searches_of(self, owner: O) -> int:
        """How many of ``owner``'s subscriptions are filed by search words."""
        return self._searching.get(owner, 0)

    def searches_of_group(self, group: Hashable) -> int:
        """How many subscriptions of the owners in ``group`` are filed by search words."""
        return self.group_searches.of(group)

    @property
    def searches(self) -> int:
        """How many live subscriptions are filed by search words, of every owner."""
        return self._searches

    def search_refusal(
        self, owner: O, group: Hashable | None, *, per_owner: int, per_group: int, total: int, reserve: int = 0
    ) -> str | None:
        """Why ``owner`` (of ``group``) may not open one more subscription filed by search words, or None: the
        ``CLOSED`` reason when it already has ``per_owner``, its group ``per_group``, or everyone ``total`` while
        its group (an owner of no group: itself) has ``reserve`` (see :meth:`values_refusal` for why)."""
        if self.searches_of(owner) >= per_owner:
            return f"blocked: too many broad live subscriptions (search or time window only; limit {per_owner})"
        held = self.searches_of(owner) if group is None else self.searches_of_group(group)
        if group is not None and held >= per_group:
            return f"blocked: too many broad live subscriptions from this address (limit {per_group})"
        if self._searches >= total and held >= reserve:
            return "blocked: this relay has too many broad live subscriptions now; try again later"
        return None

    def values_of(self, owner: O) -> int:
        """How many filter values (:func:`filter_values`) ``owner``'s subscriptions hold together."""
        return self._values.get(owner, 0)

    def values_of_group(self, group: Hashable) -> int:
        """How many filter values the subscriptions of the owners in ``group`` hold together."""
        return self.group_values.of(group)

    def values_refusal(
        self,
        owner: O,
        group: Hashable | None,
        values: int,
        *,
        per_owner: int,
        per_group: int,
        total: int | None = None,
        reserve: int = 0,
    ) -> str | None:
        """Why ``owner`` (of ``group``) may not open one more subscription holding ``values`` filter values, or
        None: the ``CLOSED`` reason when its subscriptions, or its group's, would hold more than ``per_owner``
        (``per_group``) values together, or everyone's more than ``total`` while its group (an owner of no group:
        itself) would hold more than ``reserve``.

        Why the reserve: one device can give itself a hundred addresses on a hub's Wi-Fi, each with its share, so
        a total is needed; but a total alone would let that device keep every phone's first subscription out. A
        phone's subscriptions list a few hundred values, so each address keeps ``reserve`` of its own."""
        if self.values_of(owner) + values > per_owner:
            return f"blocked: the open subscriptions would list too many values (limit {per_owner}); close some"
        held = self.values_of(owner) if group is None else self.values_of_group(group)
        if group is not None and held + values > per_group:
            return f"blocked: the open subscriptions from this address list too many values (limit {per_group})"
        if total is not None and self.values + values > total and held + values > reserve:
            return "blocked: the open subscriptions of this relay list too many values now; try again later"
        return None

    def add(
        self,
        owner: O,
        sub_id: str,
        filters: Iterable[Filter],
        frame_prefix: bytes = b"",
        *,
        values: int | None = None,
    ) -> Subscription[O]:
        """Add (or replace: NIP-01) ``owner``'s subscription ``sub_id`` and return it. ``values``: its filters'
        :func:`filter_values` together, when the caller has counted them already."""
        self.remove(owner, sub_id)
        sub = Subscription(owner, sub_id, tuple(self._share(f) for f in filters), frame_prefix, values)
        for filter_ in sub.filters:
            if not filter_.is_empty_set:
                entry = self._file(_Entry(sub, filter_, next(self._serials)))
                if entry is not None:
                    sub._entries.append(entry)
        if sub.searches:
            _count(self._searching, owner, 1)
            group = self._group(owner)
            if group is not None:
                self.group_searches.change(group, 1)
            self._searches += 1
        if sub.values:
            self.values += sub.values
            _count(self._values, owner, sub.values)
            group = self._group(owner)
            if group is not None:
                self.group_values.change(group, sub.values)
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
        text: list[str] | None = None
        verdicts: dict[int, bool] = {}  # Filter.matches of each shared filter (by identity), checked once

        def check(bucket: Iterable[_Entry[O]] | None) -> None:
            nonlocal text
            if not bucket:
                return
            for entry in bucket:
                sub = entry.sub
                if id(sub) in seen:
                    continue
                filter_ = entry.filter
                verdict = verdicts.get(id(filter_))
                if verdict is None:
                    verdicts[id(filter_)] = verdict = filter_.matches(event)
                if not verdict:
                    continue
                phrases = entry.search.phrases
                if phrases is not None:
                    if text is None:
                        text = live_words(searchable_text(event))
                    if not phrases or not all(_contains(text, phrase) for phrase in phrases):
                        continue
                seen.add(id(sub))
                found.append(sub)

        for bucket in (self._ids.get(event.id), self._authors.get(event.pubkey), self._kinds.get(event.kind)):
            if bucket:
                self.checks += len(bucket)
                check(bucket)
        if self._tags:
            tags = self._tags
            for tag in event.tags:
                if len(tag) >= 2:
                    by_value = tags.get(tag[0])
                    if by_value is not None:
                        bucket = by_value.get(tag[1])
                        if bucket:
                            self.checks += len(bucket)
                            check(bucket)
        if self._words:
            if text is None:
                text = live_words(searchable_text(event))
            for word in set(text):
                bucket = self._words.get(word)
                if bucket:
                    self.checks += len(bucket)
                    check(bucket)
        if self._time:
            for entry in self._time.stab(event.created_at):
                self.checks += 1
                sub = entry.sub
                if id(sub) not in seen:  # the window holds created_at: nothing else to check
                    seen.add(id(sub))
                    found.append(sub)
        return found

    # filing

    def _file(self, entry: _Entry[O]) -> _Entry[O] | None:
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
        elif entry.search.phrases is not None:
            if not entry.search.phrases:
                return None  # a search without words matches nothing
            # The word fewest filters are filed under yet (then the longest): a crowd of searches that share a
            # common word and differ in a rare one is spread over the rare ones.
            by_word = self._words
            candidates = (w for phrase in entry.search.phrases for w in phrase)
            word = min(candidates, key=lambda w: (len(by_word.get(w, ())), -len(w)))
            _file_in(entry, by_word, (word,))
            entry.sub.searches = True
        else:
            since = 0 if f.since is None else f.since
            until = _TIME_TOP if f.until is None else min(f.until, _TIME_TOP)
            entry.window = (since, until)
            self._time.add(entry)
            # Broad as a search: every event in its window is a match to deliver, so it counts against the same
            # caps (a crowd of `{"since": 1}` subscriptions would multiply every publisher's fan-out).
            entry.sub.searches = True
        return entry

    def _share(self, filter_: Filter) -> Filter:
        held = self._filters.get(filter_)
        if held is None:
            self._filters[filter_] = held = [filter_, 0]
        held[1] += 1
        shared: Filter = held[0]
        return shared

    def _unfile(self, sub: Subscription[O]) -> None:
        sub.active = False
        self._count -= 1
        for filter_ in sub.filters:
            held = self._filters.get(filter_)
            if held is not None:
                held[1] -= 1
                if held[1] <= 0:
                    del self._filters[filter_]
        if sub.searches:
            _count(self._searching, sub.owner, -1)
            group = self._group(sub.owner)
            if group is not None:
                self.group_searches.change(group, -1)
            self._searches -= 1
        if sub.values:
            self.values -= sub.values
            _count(self._values, sub.owner, -sub.values)
            group = self._group(sub.owner)
            if group is not None:
                self.group_values.change(group, -sub.values)
        for entry in sub._entries:
            buckets = entry.buckets
            if buckets is None:
                self._time.remove(entry)
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
            "search": sum(map(len, self._words.values())),
            "time": len(self._time),
        }


def _count(counts: dict[Any, int], key: Any, change: int) -> None:
    left = counts.pop(key, 0) + change
    if left:
        counts[key] = left


def _file_in(entry: _Entry[O], buckets: dict[Any, set[_Entry[O]]], values: Iterable[Any]) -> None:
    entry.buckets = buckets
    for value in values:
        bucket = buckets.get(value)
        if bucket is None:
            buckets[value] = bucket = set()
        bucket.add(entry)
        entry.keys.append(value)


def _contains(text: list[str], phrase: tuple[str, ...]) -> bool:
    """Whether the words ``phrase`` appear in ``text`` in a row (as a full-text phrase query finds them)."""
    n = len(phrase)
    if n == 1:
        return phrase[0] in text
    return any(tuple(text[i : i + n]) == phrase for i in range(len(text) - n + 1))


class _TimeIndex(Generic[O]):
    """Time windows ``[since, until]`` (integers below 2**_TIME_BITS), found by a time they hold.

    An implicit centred interval tree over the integer time line: a window goes to the smallest aligned block
    (of size 2**level) that holds it, i.e. level = bit length of ``since XOR until``; it then spans that
    block's midpoint. A node keeps its windows sorted by start and by end. For a time ``t`` the candidate nodes
    are the one block of each level that holds ``t`` (only levels in use are looked at). Left of a node's
    midpoint, every window whose start is at or before ``t`` holds ``t`` (it reaches the midpoint); right of it,
    every window whose end is at or after ``t``. So a lookup reads only windows that hold ``t``, plus one
    dictionary lookup per level in use: its cost does not grow with the number of windows that do not match.
    """

    def __init__(self) -> None:
        self._nodes: dict[tuple[int, int], _Node[O]] = {}
        self._levels: dict[int, int] = {}  # level -> nodes at that level
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, entry: _Entry[O]) -> None:
        assert entry.window is not None
        since, until = entry.window
        level = (since ^ until).bit_length()
        key = (level, since >> level)
        node = self._nodes.get(key)
        if node is None:
            node = self._nodes[key] = _Node()
            self._levels[level] = self._levels.get(level, 0) + 1
        insort(node.starts, (since, entry.serial, entry))
        insort(node.ends, (-until, entry.serial, entry))
        self._size += 1

    def remove(self, entry: _Entry[O]) -> None:
        if entry.window is None:
            return
        since, until = entry.window
        level = (since ^ until).bit_length()
        key = (level, since >> level)
        node = self._nodes[key]
        del node.starts[bisect_left(node.starts, (since, entry.serial))]
        del node.ends[bisect_left(node.ends, (-until, entry.serial))]
        self._size -= 1
        if not node.starts:
            del self._nodes[key]
            left = self._levels.pop(level) - 1
            if left:
                self._levels[level] = left

    def stab(self, t: int) -> list[_Entry[O]]:
        """The entries whose window holds ``t``."""
        found: list[_Entry[O]] = []
        nodes = self._nodes
        for level in self._levels:
            node = nodes.get((level, t >> level))
            if node is None:
                continue
            if level == 0:  # a one-second window: it is t
                found.extend(entry for _, _, entry in node.starts)
            elif t < ((t >> level) << level) + (1 << (level - 1)):  # left of the midpoint
                for start, _, entry in node.starts:
                    if start > t:
                        break
                    found.append(entry)
            else:
                for neg_end, _, entry in node.ends:
                    if -neg_end < t:
                        break
                    found.append(entry)
        return found


class _Node(Generic[O]):
    __slots__ = ("starts", "ends")

    def __init__(self) -> None:
        self.starts: list[tuple[int, int, _Entry[O]]] = []  # (since, serial, entry), ascending
        self.ends: list[tuple[int, int, _Entry[O]]] = []  # (-until, serial, entry): latest end first
