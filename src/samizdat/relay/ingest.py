"""The EVENTs clients send, stored in batches: one task, one store call and one commit wait for many events.

Theory of operation
-------------------

The reader loop of every connection hands each valid ``EVENT`` (:class:`~samizdat.relay.connection.StoreEvent`)
to :meth:`Intake.put`, which only appends it to a list; the first ``put`` of a turn of the event loop asks for
:meth:`Intake._start` at the end of that turn. ``_start`` takes everything put meanwhile, from every connection,
and stores it with ONE task: the signatures that are still to be checked (``verify_in_thread``) in one call of the
:class:`~samizdat.relay.verifier.Verifier`, then the events in one ``Store.add_many`` (one job for the store's
writer thread, which commits it with whatever else is queued). Only once ``add_many`` has returned, i.e. after
the commit, does ``finish`` run for each event in the order they came (the server sends its ``OK`` and fans it
out). So an ``OK`` still means durable, and the store sees the events in the order they were read, as with one
task per event; what goes is a Task, a future, a queue hand-over to the writer thread and a wake-up per event
(about a fifth of the relay's own CPU per event, docs/benchmarks.md "Workers").

Lingering: a commit's cost is mostly fixed (the pages it rewrites, the WAL frames, the lock between workers), so
a commit of 20 events costs about 2.5 times as much CPU per event as one of 1,000 (docs/benchmarks.md,
"Workers"); a writer that keeps up would commit whatever one turn of the loop read, and spend a core doing so.
So while a batch is being stored the next one gathers, and once it is stored the next one lingers until
:data:`LINGER` after that, unless :data:`LINGER_EVENTS` are already waiting. Only a crowd lingers: fewer than
:data:`LINGER_FROM` waiting events (a client that sends one event at a time and waits for each ``OK``, a post
after a pause) are stored at once. A turn that finds :data:`BATCH_MAX` waiting starts another batch even while
one is being stored.

Failures: a batch the store refuses as a whole (``add_many`` raises) is stored again one event at a time
(``Store.add`` each, all at once: the writer runs each in a transaction of its own when their batch fails), so
one event that cannot be stored fails alone, with its own ``OK false``. A batch waits for nothing but the store:
while it commits, the next one gathers.

Bounds: a connection counts its events from ``put`` until ``finish`` (``client.pending``) and stops reading at
``max_pending_events`` (the server's reader loop), so a batch holds at most that many per connection; a batch is
cut at ``batch_max`` events. A count is not enough: an event of 2,000 short tags is 30 KB of JSON but about 340 KB
of Python objects, and one device's 64 connections of 256 such events each, while the store lagged behind them,
held 5 GB (red-team finding). So the intake also weighs what it holds (:func:`held_bytes`), per remote address and
in all, and the reader loop stops reading from a connection while its address, or everyone, is over the bound
(:meth:`Intake.crowded`, then :meth:`Intake.wait_room`).

The batch's task is in each of its connections' ``tasks``: a connection that goes waits for its events to be
stored (their ``OK`` goes nowhere), and :meth:`RelayServer.stop` with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence

from samizdat.core.event import Event
from samizdat.relay.client_conn import Client
from samizdat.relay.verifier import Verifier
from samizdat.store.base import AddOutcome, Store

logger = logging.getLogger("samizdat.relay")

#: Events stored by one task at most (the store's writer commits up to its own ``batch_max`` at once).
BATCH_MAX = 1000
#: Seconds after a batch was stored during which the next one waits for more events.
LINGER = 0.03
#: Waiting events that end the lingering at once.
LINGER_EVENTS = 500
#: Fewer waiting events than this never linger.
LINGER_FROM = 16

#: Bytes an event's tag costs in memory beyond its JSON (a tuple and its strings; measured: 2,000 tags of short
#: values took 338 KB per event).
TAG_BYTES = 170


def held_bytes(size: int, event: Event) -> int:
    """About what ``event``, read from a message of ``size`` bytes, costs in memory until it is stored: its
    strings (at most twice their UTF-8 size), its cached JSON, and its tags."""
    return 3 * size + TAG_BYTES * len(event.tags)


#: ``finish(client, event, outcome)``: ``outcome`` None when the signature is wrong, an exception when the event
#: could not be stored. Called on the event loop, in the order the events were put.
Finish = Callable[[Client, Event, "AddOutcome | BaseException | None"], None]


class Intake:
    """Batches the events of every connection of one relay into the store (see the module's text)."""

    def __init__(
        self,
        store: Store,
        verifier: Verifier,
        finish: Finish,
        *,
        batch_max: int = BATCH_MAX,
        max_bytes: int = 64 * 1024 * 1024,
        max_bytes_per_ip: int = 8 * 1024 * 1024,
        reserve_per_ip: int = 0,
        overlap: bool = False,
    ) -> None:
        """``overlap``: the events come with their signatures unchecked (``put(..., verified=False)``), and one
        batch's are checked while the batch before it is written."""
        self.store = store
        self.verifier = verifier
        self.finish = finish
        self.batch_max = batch_max
        self.max_bytes = max_bytes
        self.max_bytes_per_ip = max_bytes_per_ip
        self.reserve_per_ip = reserve_per_ip
        self.held = 0  # held_bytes of every event from put until its finish
        self.held_by: dict[str, int] = {}  # ... per remote address (loopback, None, is not counted apart)
        self._room = asyncio.Event()  # set whenever a batch ends (what it held is given back)
        self._queue: list[tuple[Client, Event, bool, int]] = []
        self._scheduled = False  # a call of _start is due (soon, or when the lingering ends)
        self._lingering: asyncio.TimerHandle | None = None
        self._depth = 2 if overlap else 1  # batches stored at once
        self._storing = 0  # batches being stored (their signatures checked, then written)
        self._checking = 0  # ... of which those whose signatures are being checked in the verifier's thread
        self._written: asyncio.Future[None] | None = None  # done once the newest batch started is written
        self._stored_at = float("-inf")  # loop time at which the last batch was stored
        self._tasks: set[asyncio.Task[None]] = set()
        #: Batches started, those started while another was being stored, and events put, for tests and benchmarks.
        self.batches = 0
        self.overlapped = 0
        self.events = 0

    def put(self, client: Client, event: Event, verified: bool, size: int = 0) -> None:
        """Store ``event`` for ``client`` soon (``verified``: its signature is checked already; ``size``: the
        bytes of the message it came in, 0 if unknown); counts it in ``client.pending`` and what it weighs
        (:func:`held_bytes`) in :attr:`held` until ``finish`` has run for it."""
        client.pending += 1
        weight = held_bytes(size or len(event.to_json()), event)
        self.held += weight
        if client.ip is not None:
            self.held_by[client.ip] = self.held_by.get(client.ip, 0) + weight
        queue = self._queue
        queue.append((client, event, verified, weight))
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._start)
        elif len(queue) == LINGER_EVENTS and self._lingering is not None or len(queue) == self.batch_max:
            if self._lingering is not None:
                self._lingering.cancel()
                self._lingering = None
            asyncio.get_running_loop().call_soon(self._start)

    def crowded(self, ip: str | None) -> bool:
        """Whether a connection from ``ip`` (None: loopback, bounded only with everyone) should stop reading until
        the store has taken some of what waits: what ``ip``'s connections have waiting is over
        ``max_bytes_per_ip``, or everything waiting is over ``max_bytes`` and ``ip``'s own is at least
        ``reserve_per_ip`` (so a few devices keeping everyone's bound full do not keep a phone's post out; the
        bound is then passed by at most ``reserve_per_ip`` per address)."""
        if ip is None:
            return self.held > self.max_bytes
        mine = self.held_by.get(ip, 0)
        return mine > self.max_bytes_per_ip or (self.held > self.max_bytes and mine >= self.reserve_per_ip)

    async def wait_room(self) -> None:
        """Return when a batch has ended (or after a second: the caller checks :meth:`crowded` again)."""
        self._room.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await self._room.wait()

    async def drain(self) -> None:
        """Store what is waiting now, without lingering, and wait until every batch is stored."""
        if self._lingering is not None:
            self._lingering.cancel()
            self._lingering = None
        if self._queue:
            self._start(now=True)
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, now: bool = False) -> None:
        """Start storing what is waiting, unless it should wait for the batch being stored or linger."""
        self._lingering = None
        queue = self._queue
        waiting = len(queue)
        if LINGER_FROM <= waiting < self.batch_max and not now:
            if self._checking or self._storing >= self._depth:  # the end of that check or batch calls this again
                return
            loop = asyncio.get_running_loop()
            wait = self._stored_at + LINGER - loop.time()
            if wait > 0 and waiting < LINGER_EVENTS:
                self._lingering = loop.call_later(wait, self._start)
                return
        self._scheduled = False
        size = self.batch_max
        while queue:
            batch, queue = queue[:size], queue[size:]
            self.batches += 1
            self.events += len(batch)
            self.overlapped += self._storing > 0
            self._storing += 1
            before, self._written = self._written, asyncio.get_running_loop().create_future()
            task = asyncio.ensure_future(self._store(batch, before, self._written))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            for client in {item[0] for item in batch}:
                client.tasks.add(task)
                task.add_done_callback(client.tasks.discard)
        self._queue = []

    async def _store(
        self,
        batch: list[tuple[Client, Event, bool, int]],
        before: asyncio.Future[None] | None,
        written: asyncio.Future[None],
    ) -> None:
        """Check ``batch``'s signatures (meanwhile the batch ``before`` is written), wait until ``before`` is
        written, then write ``batch`` and send its answers; ``written`` is done after, whatever happens."""
        finish = self.finish
        try:
            unverified = [event for _, event, verified, _ in batch if not verified]
            if unverified:
                self._checking += 1
                try:
                    good = iter(await self.verifier.verify_many(unverified))
                finally:
                    self._checking -= 1
                    if self._scheduled and self._lingering is None:
                        asyncio.get_running_loop().call_soon(self._start)  # the next batch's check may begin
                checked = [verified or next(good) for _, _, verified, _ in batch]
            else:
                checked = [True] * len(batch)
            if before is not None and not before.done():
                await asyncio.shield(before)  # the store sees the batches, and clients their OKs, in order
            events = [event for (_, event, _, _), ok in zip(batch, checked, strict=True) if ok]
            outcomes = iter(await self._add(events))
            for (client, event, _, _), ok in zip(batch, checked, strict=True):
                finish(client, event, next(outcomes) if ok else None)
        finally:
            if not written.done():
                written.set_result(None)
            held_by = self.held_by
            for client, _, _, weight in batch:
                client.pending -= 1
                self.held -= weight
                if client.ip is not None:
                    if (left := held_by[client.ip] - weight) > 0:
                        held_by[client.ip] = left
                    else:
                        del held_by[client.ip]
            for client in {item[0] for item in batch}:
                client.room.set()
            self._room.set()
            self._storing -= 1
            loop = asyncio.get_running_loop()
            self._stored_at = loop.time()
            if self._scheduled and self._lingering is None and not self._checking and self._storing < self._depth:
                loop.call_soon(self._start)  # it waited for this batch

    async def _add(self, events: Sequence[Event]) -> Sequence[AddOutcome | BaseException]:
        if not events:
            return []
        try:
            return await self.store.add_many(events)
        except TimeoutError as exc:  # the store gave up waiting (store/pgconn.py): one at a time would wait again
            logger.warning("storing %d events timed out: %s", len(events), exc)
            return [exc] * len(events)
        except Exception as exc:
            if len(events) == 1:
                logger.exception("storing an event failed (-v names it)")  # an id names a post: docs/safety.md
                logger.info("the event that was not stored: %s", events[0].id)
                return [exc]
        # One at a time, so that only the events that cannot be stored fail.
        results = await asyncio.gather(*(self.store.add(event) for event in events), return_exceptions=True)
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            logger.error("storing %d of %d events failed", len(failed), len(events), exc_info=failed[0])
        return results
