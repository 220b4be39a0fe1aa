"""Following the store: fan out the events other processes stored, in insertion order, read from the store.

Theory of operation
-------------------

A relay process that shares its store (workers of ``serve --workers N``, or relays behind a bus) fans out what it
stores itself at once, as a single relay does. For the rest, :class:`Follower` keeps a cursor: the store's
insertion number up to which everything has been fanned out. It wakes up when the :class:`~samizdat.relay.bus.Bus`
brings a number above the cursor, or every :data:`POLL_SECONDS` when it brings nothing (a lost message, a bus
that is down), and then reads the new rows from the store in insertion order (``Store.events_since``), a page at a
time, and hands each event it did not fan out itself to the relay (:meth:`RelayServer.fan_out_stored`). Events
come from the store, never from the bus, so the bus cannot inject one.

Its own events: the relay tells the follower of each event it stored before it fans it out
(:meth:`Follower.own`); their ids are remembered (at most :data:`OWN_MAX`) so they are not sent twice when the
cursor passes them, and once per turn of the event loop the follower publishes the store's newest insertion
number, so the others read them at once. (Should the follower read such an event between its commit and that
call, it delivers it, and the relay does not fan it out again.)

Ephemeral events (never stored) travel on the bus themselves: :meth:`Follower.share` sends the ones this process
took (at most :data:`EPHEMERAL_PER_SECOND` a second, :data:`~samizdat.relay.bus.EPHEMERAL_MAX_BYTES` each; beyond
that they reach this process's subscribers only), and the follower delivers the ones other processes sent after
checking each: its size, the rate it takes them at (the same bound), that it parses as an event of an ephemeral
kind, its signature, and the relay's event limits (core/admission.py, as at every door). A message that fails is
dropped and counted (:attr:`Follower.refused_ephemeral`); the bus is never trusted.

An event committed by another process with a lower insertion number than one already read (two writers' batches
interleave only in commit order, and a reader sees whole commits) cannot be skipped: SQLite gives insertion
numbers in commit order, one writer at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Collection

from samizdat.core.admission import DEFAULT_EVENT_LIMITS, EventLimits, admit
from samizdat.core.event import Event, parse_event_json
from samizdat.core.kinds import is_ephemeral
from samizdat.errors import RemoteProtocolError, SamizdatError
from samizdat.relay.bus import EPHEMERAL_MAX_BYTES, Bus
from samizdat.relay.connection import TokenBucket
from samizdat.store.base import Store

logger = logging.getLogger("samizdat.relay.follow")

#: Seconds between looks at the store's newest insertion number when the bus says nothing.
POLL_SECONDS = 1.0
#: Events read per page while catching up.
PAGE = 500
#: Ids of events this process fanned out itself, remembered until the cursor passes them.
OWN_MAX = 200_000
#: Ids of events the follower delivered lately (an event this process stored may be read back before the relay
#: fans it out: then the relay leaves it, see :meth:`Follower.own`).
DELIVERED_MAX = 10_000
#: Ephemeral events a process sends to the bus a second (and takes from it), with a burst of twice that; beyond
#: it they stay on their own process. Verifying one costs about 35 µs: this bounds that to a few % of a core.
EPHEMERAL_PER_SECOND = 1000.0
#: Ids of ephemeral events this process sent lately (NATS brings a process's own messages back to it).
SHARED_MAX = 4096


def _now() -> float:
    return time.monotonic()


class Follower:
    """Fans out, through ``deliver``, every event another process stored. Run :meth:`run` as a task."""

    def __init__(
        self,
        store: Store,
        bus: Bus,
        deliver: Callable[[Event], None],
        wanted: Callable[[], bool | Collection[int]] = lambda: True,
        *,
        skipped: Callable[[int], None] | None = None,
        limits: EventLimits = DEFAULT_EVENT_LIMITS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """``wanted()``: whether anybody here would get the events (live subscriptions, the loops); while not, the
        follower only moves its cursor to the store's newest number instead of reading the events; while it is a
        set of kinds (what the loops of worker 0 use, with no live subscription and no LAN link to push to), the
        follower reads and delivers only events of those kinds, and tells ``skipped`` the bytes of the others (a
        flood of them still brings the carry pass forward: services/upkeep.py). ``limits`` and ``clock``: what an
        ephemeral event from the bus must pass, as at every door (core/admission.py)."""
        self.limits = limits
        self.clock = clock
        self.store = store
        self.bus = bus
        self.deliver = deliver
        self.wanted = wanted
        self.skipped = skipped
        self.cursor = 0
        self._own: OrderedDict[str, None] = OrderedDict()
        self._delivered: OrderedDict[str, None] = OrderedDict()  # the last DELIVERED_MAX ids delivered
        self._wake = asyncio.Event()
        self._seen = 0  # the highest number the bus brought
        self._publishing: asyncio.Task[None] | None = None
        self._publish_again = False
        self.delivered = 0  # events fanned out for other processes (for tests and status)
        self.ephemeral_delivered = 0  # ephemeral events from other processes, verified and fanned out
        self.refused_ephemeral = 0  # bus messages dropped: too large, too many, malformed or badly signed
        self._shared: OrderedDict[str, None] = OrderedDict()  # ids of ephemeral events sent lately
        self._outgoing: list[bytes] = []
        self._sending: asyncio.Task[None] | None = None
        now = _now()
        self._send_bucket = TokenBucket(EPHEMERAL_PER_SECOND, int(2 * EPHEMERAL_PER_SECOND), now)
        self._take_bucket = TokenBucket(EPHEMERAL_PER_SECOND, int(2 * EPHEMERAL_PER_SECOND), now)

    def own(self, event: Event) -> bool:
        """The relay stored ``event`` and is about to fan it out: do not deliver it again; tell the others
        (coalesced). False if the follower already delivered it (it read the row between the commit and this
        call): then the relay does not fan it out a second time."""
        if self._delivered.pop(event.id, 0) is None:
            return False
        self._own[event.id] = None
        if len(self._own) > OWN_MAX:
            self._own.popitem(last=False)
        if self._publishing is None:
            self._publishing = asyncio.ensure_future(self._publish())
        else:
            self._publish_again = True
        return True

    def share(self, event: Event) -> None:
        """This process took the ephemeral ``event`` (and fanned it out): send it to the others, if it is within
        the size and rate bounds."""
        data = event.to_json()
        if len(data) > EPHEMERAL_MAX_BYTES or not self._send_bucket.take(_now()):
            return
        self._shared[event.id] = None
        if len(self._shared) > SHARED_MAX:
            self._shared.popitem(last=False)
        self._outgoing.append(data)
        if self._sending is None:
            self._sending = asyncio.ensure_future(self._send_ephemeral())

    async def _send_ephemeral(self) -> None:
        """Send what was shared in this turn of the event loop, as few messages as fit: events joined by newlines
        (an event's JSON has none) up to EPHEMERAL_MAX_BYTES a message. A unix datagram socket queues only a few
        datagrams (net.unix.max_dgram_qlen, 10 by default), so one per event would be lost in a burst."""
        try:
            await asyncio.sleep(0)  # gather what this turn shares
            while self._outgoing:
                pending, self._outgoing = self._outgoing, []
                batch: list[bytes] = []
                size = 0
                for data in pending:
                    if batch and size + 1 + len(data) > EPHEMERAL_MAX_BYTES:
                        await self.bus.publish_ephemeral(b"\n".join(batch))
                        batch, size = [], 0
                    batch.append(data)
                    size += len(data) + 1
                if batch:
                    await self.bus.publish_ephemeral(b"\n".join(batch))
        except Exception:
            logger.exception("sending ephemeral events failed")
        finally:
            self._outgoing = []
            self._sending = None

    def take_ephemeral(self, data: bytes) -> Event | None:
        """The ephemeral event another process sent as ``data``, checked (see the module), or None if dropped."""
        if len(data) > EPHEMERAL_MAX_BYTES or not self._take_bucket.take(_now()):
            self.refused_ephemeral += 1
            return None
        try:
            event = parse_event_json(data)  # verifies the id and the signature
        except (SamizdatError, ValueError):
            self.refused_ephemeral += 1
            return None
        if not is_ephemeral(event.kind):
            self.refused_ephemeral += 1
            return None
        try:
            admit(event, self.clock(), self.limits)  # the relay's own limits: the bus is a door like any other
        except RemoteProtocolError:
            self.refused_ephemeral += 1
            return None
        if event.id in self._shared:  # our own, back from NATS
            return None
        return event

    async def _listen_ephemeral(self) -> None:
        async for message in self.bus.ephemeral():
            for data in message.split(b"\n"):
                event = self.take_ephemeral(data)
                if event is None:
                    continue
                self.ephemeral_delivered += 1
                try:
                    self.deliver(event)
                except Exception:
                    logger.exception("delivering an ephemeral event failed")

    async def _publish(self) -> None:
        try:
            while True:
                self._publish_again = False
                await asyncio.sleep(0)  # one read and one message for all stored in this turn
                await self.bus.publish(await self.store.last_seq())
                if not self._publish_again:
                    return
        except Exception:
            logger.exception("announcing stored events failed")
        finally:
            self._publishing = None

    async def start(self) -> None:
        """Begin at the store's newest event: what is stored before this process serves is not live."""
        self.cursor = await self.store.last_seq()

    async def run(self) -> None:
        """Follow until cancelled. Call :meth:`start` first."""
        listener = asyncio.ensure_future(self._listen())
        ephemeral = asyncio.ensure_future(self._listen_ephemeral())
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(POLL_SECONDS):
                        await self._wake.wait()
                self._wake.clear()
                try:
                    wanted = self.wanted()
                    if wanted is True:
                        await self.catch_up()
                    elif wanted:  # only some kinds; the others are read later by a REQ, like all of them below
                        await self.catch_up(frozenset(wanted))
                    else:  # nobody would get them; a REQ made later reads them from the store anyway
                        newest = await self.store.last_seq()
                        if not self.wanted():  # still: a subscription made meanwhile may predate that read
                            self.cursor = max(self.cursor, newest)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    logger.exception("reading new events from the store failed; trying again")
        finally:
            for task in (listener, ephemeral):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            for pending in (self._publishing, self._sending):
                if pending is not None:
                    pending.cancel()

    async def _listen(self) -> None:
        async for seq in self.bus.subscribe():
            if seq > self.cursor:
                self._seen = max(self._seen, seq)
                self._wake.set()

    async def catch_up(self, kinds: frozenset[int] | None = None) -> int:
        """Deliver everything stored after the cursor (of ``kinds`` only, if given); returns how many events were
        delivered."""
        delivered = 0
        while True:
            if kinds is None:
                rows = await self.store.events_since(self.cursor, PAGE)
                more, last = len(rows) == PAGE, rows[-1][0] if rows else self.cursor
            else:
                last, rows, size = await self.store.scan_kinds(self.cursor, PAGE, kinds)
                more = last > self.cursor  # rows were scanned: there may be more
                if size and self.skipped is not None:
                    self.skipped(size)
            for seq, event in rows:
                self.cursor = seq
                if self._own.pop(event.id, 0) is None:  # ours: fanned out when stored
                    continue
                self._delivered[event.id] = None
                if len(self._delivered) > DELIVERED_MAX:
                    self._delivered.popitem(last=False)
                self.deliver(event)
                delivered += 1
            self.cursor = last
            if not more:
                break
        self.delivered += delivered
        return delivered
