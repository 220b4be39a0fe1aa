"""The events a relay holds in a scope, read with plain NIP-01 ``REQ``\\ s: sync with relays that lack NIP-77.

Theory of operation. Without NIP-77 the only way to learn what a relay holds is to ask for the events themselves.
:class:`ReqScan` walks a filter's events newest first, one window of ``created_at`` at a time, and hands each
event it had not seen yet to a callback (which stores what we lack). The walk relies on NIP-01's one promise
about ``limit``: an answer holds the *newest* matching events. So after an answer whose oldest event is at second
``t``, every event newer than ``t`` has been seen, and only second ``t`` may be cut short. The next window asks
again up to and including ``t`` (``until`` is inclusive), and so on down.

Three things relays do that this has to survive:

* **They cap answers.** A relay may send fewer events than ``limit`` asks for (nostr-relay's ``max_limit``,
  NIP-11's ``limitation.max_limit``), so a short answer does not mean the window is exhausted. An answer is
  taken as complete only when it is shorter than what was asked for *and* shorter than the longest answer the
  relay has already given (or than its advertised ``max_limit``): a relay that has sent 500 events at once does
  not cap at 12. Otherwise the walk goes on, and ends with an answer that proves it.
* **Many events share one second.** When a whole answer lies in the one second ``t`` that the window ends at,
  paging by ``until`` cannot move past it. That second is then asked for alone (``since = until = t``) with a
  large ``limit``; if even that answer may be capped, the second is split (per author, kind or tag value the
  filter lists, which covers it exactly; failing that per author and kind seen in the answer, which is the best
  NIP-01 allows and is said in the notes).
* **Some take ``until`` as exclusive** (nostr-relay 1.14 queries ``created_at < until``). Before the first
  window with an ``until``, one event the relay has sent is asked for again with ``until`` at its own second; if
  it does not come back, every ``until`` is sent one second later (and what lies beyond the window is ignored).

Bounds: a scan shares a :class:`Budget` (events received, seconds) with the other filters of the same sync.
When it runs out, the scan stops and says which window it covered (``covered_from``): everything from that
second on. Every answer is bounded too: a relay that sends far more than asked is cut off.

Every event is verified (a relay is a carrier, never trusted with content), and one that does not match the
window asked for is dropped: a relay may not slip us events nobody asked for.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from samizdat.core.event import Event, parse_event
from samizdat.core.filters import Filter
from samizdat.errors import RemoteProtocolError
from samizdat.net.client import RelayClient

PAGE_LIMIT = 500  # events asked for per window (what relays commonly send by default)
SECOND_LIMIT = 5000  # asked for when one second holds a full answer (our relay's max_limit)
ROUND_EVENTS = 100_000  # events received in one sync, at most, over all its filters
ROUND_SECONDS = 300.0  # seconds of reading in one sync, at most
REQ_TIMEOUT = 60.0  # for each answer
FLOOD_SLACK = 100  # messages beyond ``limit`` that one answer may bring before the relay is cut off
MAX_SPLIT = 200  # narrower requests one crowded second may be split into, per dimension
MAX_NOTES = 5
NOTHING_COVERED = 2**62  # ``covered_from`` of a walk stopped before its first answer

#: What the events of one answer may hold in memory, weighed by :func:`weight`, before the rest of the answer is
#: left for the next request: 500 events of 2,000 short tags each are 170 MB parsed, and 8 relays sync side by
#: side. Ordinary posts (a few tags) never come near it: 500 of them weigh about 1.5 MB.
ANSWER_WEIGHT = 24 * 1024 * 1024
#: Bytes a parsed tag holds, about (its tuple and its strings).
TAG_BYTES = 170

OnPage = Callable[[list[Event]], Awaitable[None]]


def weight(event: Event) -> int:
    """About how many bytes ``event`` holds in memory once parsed: its text and, mostly, its tags."""
    return 600 + 2 * len(event.content) + TAG_BYTES * len(event.tags)


class _Spent(Exception):
    """The budget of the sync is spent: stop where the walk is."""


@dataclass
class Budget:
    """What one sync may spend on reading: events received and seconds (from ``clock``)."""

    clock: Callable[[], float] = time.monotonic
    events: int = field(default_factory=lambda: ROUND_EVENTS)
    seconds: float = field(default_factory=lambda: ROUND_SECONDS)
    deadline: float = field(init=False)

    def __post_init__(self) -> None:
        self.deadline = self.clock() + self.seconds

    @property
    def spent(self) -> bool:
        return self.events <= 0 or self.clock() >= self.deadline


@dataclass
class ScanResult:
    """What one filter's walk saw."""

    seen: set[str] = field(default_factory=set)  # ids of the relay's events in the filter
    covered_from: int | None = None  # None: the whole filter; else only events at or after this second
    requests: int = 0
    received: int = 0  # events received, repeats included
    invalid: int = 0  # events that failed verification
    notes: list[str] = field(default_factory=list)


class ReqScan:
    """Walks filters' events on one relay (see the module). One instance per sync: what it learns about the relay
    (how many events it sends at once, how it reads ``until``) serves every filter.

    ``max_limit``: the relay's NIP-11 ``limitation.max_limit``, if it says. Raises :class:`TransportError` when
    the connection fails, :class:`RemoteProtocolError` when the relay refuses a request or floods an answer."""

    def __init__(self, client: RelayClient, budget: Budget, *, max_limit: int | None = None) -> None:
        self.client = client
        self.budget = budget
        self.max_limit = max_limit if max_limit and max_limit > 0 else None
        self.most = 0  # the longest answer the relay has given
        self._most_before = 0  # the same, before the latest answer
        self.until_offset: int | None = None  # added to every ``until`` sent: 0 (NIP-01) or 1; None: not probed
        self._sample: Event | None = None  # an event the relay has sent, for the probe
        self.on_page: OnPage = _ignore
        #: Events asked for per window: PAGE_LIMIT, less once an answer of heavy events was cut (ANSWER_WEIGHT).
        self.page_limit = PAGE_LIMIT

    async def scan(self, flt: Filter, on_page: OnPage) -> ScanResult:
        """Walk ``flt``'s events; ``on_page`` receives each batch of events not seen before, as they come."""
        self.on_page = on_page
        result = ScanResult()
        base = dataclasses.replace(flt, limit=None)
        upper = flt.until  # the window's inclusive upper end; None: the newest
        try:
            while base.since is None or upper is None or upper >= base.since:
                window = dataclasses.replace(base, until=upper)
                page, count = await self._ask(window, self.page_limit, result)
                if self._complete(count, self.page_limit):
                    return result
                if not page:  # a full answer, none of it in the window: the relay ignores ``until``
                    _note(result, "the relay answers with events outside the window asked for")
                    raise _Spent
                oldest = min(e.created_at for e in page)
                if upper is not None and oldest >= upper:  # a full answer, all in one second: take it alone
                    await self._second(base, upper, result)
                    upper -= 1
                else:
                    upper = oldest
            return result
        except _Spent:
            result.covered_from = upper + 1 if upper is not None else NOTHING_COVERED
            if self.budget.spent:
                _note(
                    result,
                    "stopped at the bound of one sync"
                    + (f"; events before {_when(upper + 1)} are left for a later one" if upper is not None else ""),
                )
            return result

    # -- one crowded second -------------------------------------------------------------------------------------

    async def _second(self, flt: Filter, second: int, result: ScanResult) -> None:
        window = dataclasses.replace(flt, since=second, until=second)
        page, count = await self._ask(window, SECOND_LIMIT, result)
        if self._complete(count, SECOND_LIMIT):
            return
        parts, exact = _split(flt, page)
        if not parts:
            _note(
                result,
                f"{count} events at {_when(second)} match one narrowest request and the relay may hold more than it "
                "sends at once",
            )
            return
        if not exact:
            _note(
                result,
                f"more events at {_when(second)} than the relay sends at once: fetched per author and kind seen, so "
                "events of others in that second may be missing",
            )
        for part in parts:
            await self._second(part, second, result)

    # -- requests -----------------------------------------------------------------------------------------------

    def _complete(self, count: int, asked: int) -> bool:
        """Whether an answer of ``count`` events to a request for ``asked`` holds every match (see the module).
        Call after :meth:`_ask`, which raises :attr:`most` to include this answer."""
        if count == 0:  # nothing matched: no cap makes an answer empty
            return True
        if count >= asked:
            return False
        if self.max_limit is not None and count < self.max_limit:
            return True
        return count < self._most_before

    async def _ask(self, window: Filter, limit: int, result: ScanResult) -> tuple[list[Event], int]:
        """Ask for ``window``'s newest ``limit`` events; return those in the window (verified) and how many events
        the answer held. New ones go to ``on_page``."""
        if self.budget.spent:
            raise _Spent
        if window.until is not None and self.until_offset is None:
            await self._probe(window, result)
        wire: dict[str, Any] = window.to_dict()
        wire.setdefault("since", 0)  # a filter of no condition at all matches nothing on some relays (nostr-relay)
        wire["limit"] = limit
        if window.until is not None:
            wire["until"] = window.until + (self.until_offset or 0)
        answer, invalid, cut = await self._request(wire, limit)
        result.requests += 1
        result.received += len(answer)
        result.invalid += invalid
        self.budget.events -= len(answer) + invalid
        if cut:  # it says nothing of the relay's cap; the next windows ask for as many as this one could hold
            self.page_limit = max(1, min(self.page_limit, len(answer)))
        else:
            self._most_before = self.most
            self.most = max(self.most, len(answer) + invalid)
        if answer:
            self._sample = answer[0]
        page = [e for e in answer if window.matches(e)]
        new = [e for e in page if e.id not in result.seen]
        result.seen.update(e.id for e in new)
        if new:
            await self.on_page(new)
        # A cut answer counts as a full one: the next window goes on from its oldest event.
        return page, limit if cut else len(answer) + invalid

    async def _probe(self, window: Filter, result: ScanResult) -> None:
        """Learn whether the relay reads ``until`` as inclusive (NIP-01) from one event it has sent (or, before
        any, one it holds in ``window``'s filter): ask for it by id with ``until`` at its own second."""
        event = self._sample
        if event is None:
            wire: dict[str, Any] = dataclasses.replace(window, until=None).to_dict()
            wire.setdefault("since", 0)
            wire["limit"] = 1
            sample, _, _ = await self._request(wire, 1)
            result.requests += 1
            if not sample:  # the relay holds nothing in this filter: any reading of ``until`` does
                return
            event = sample[0]
        again, _, _ = await self._request({"ids": [event.id], "until": event.created_at, "limit": 1}, 1)
        result.requests += 1
        self.until_offset = 0 if any(e.id == event.id for e in again) else 1

    async def _request(self, wire: dict[str, Any], limit: int) -> tuple[list[Event], int, bool]:
        """One ``REQ`` until ``EOSE``: the verified events of the answer (each once), how many were invalid, and
        whether the answer was cut short: once its events weigh :data:`ANSWER_WEIGHT` the request is closed and the
        rest left for the next one. Raises :class:`_Spent` when the budget's seconds run out meanwhile: each
        message may take REQ_TIMEOUT, and a relay that sends one a little more slowly than that, and never EOSE,
        kept one answer going for hours."""
        events: dict[str, Event] = {}
        invalid = 0
        held = 0
        try:
            async with asyncio.timeout(max(0.0, self.budget.deadline - self.budget.clock())):
                answer = self.client.stored([wire], max_messages=limit + FLOOD_SLACK, timeout=REQ_TIMEOUT)
                async with contextlib.aclosing(answer):
                    async for raw in answer:
                        try:
                            event = parse_event(raw)
                        except RemoteProtocolError:
                            invalid += 1
                            continue
                        if event.id not in events:
                            events[event.id] = event
                            held += weight(event)
                            if held >= ANSWER_WEIGHT:
                                return list(events.values()), invalid, True
        except TimeoutError:
            raise _Spent from None
        return list(events.values()), invalid, False


async def _ignore(events: list[Event]) -> None:
    return None


def _when(second: int) -> str:
    try:
        return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(second))
    except (OverflowError, OSError, ValueError):
        return str(second)


def _note(result: ScanResult, text: str) -> None:
    if len(result.notes) < MAX_NOTES and text not in result.notes:
        result.notes.append(text)


def _split(flt: Filter, page: list[Event]) -> tuple[list[Filter], bool]:
    """Narrower filters that together cover ``flt`` in one second, and whether they cover it exactly (they split
    a list the filter names) or only as far as the events seen (``page``) show."""
    if flt.authors is not None and len(flt.authors) > 1:
        return [dataclasses.replace(flt, authors=frozenset({a})) for a in sorted(flt.authors)][:MAX_SPLIT], True
    if flt.kinds is not None and len(flt.kinds) > 1:
        return [dataclasses.replace(flt, kinds=frozenset({k})) for k in sorted(flt.kinds)][:MAX_SPLIT], True
    for i, (name, values) in enumerate(flt.tags):
        if len(values) > 1:
            narrower = [
                dataclasses.replace(flt, tags=(*flt.tags[:i], (name, frozenset({v})), *flt.tags[i + 1 :]))
                for v in sorted(values)
            ]
            return narrower[:MAX_SPLIT], True
    if flt.authors is None:
        authors = sorted({e.pubkey for e in page})
        if len(authors) > 1:
            return [dataclasses.replace(flt, authors=frozenset({a})) for a in authors][:MAX_SPLIT], False
    if flt.kinds is None:
        kinds = sorted({e.kind for e in page})
        if len(kinds) > 1:
            return [dataclasses.replace(flt, kinds=frozenset({k})) for k in kinds][:MAX_SPLIT], False
    return [], False
