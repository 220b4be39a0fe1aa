"""Fair turns at the store: to the address that used it least lately, then round-robin by connection.

Theory of operation
-------------------

The store has a few reader threads. Every read the relay does for a client (a page of a REQ's stored events, a
COUNT, a NIP-77 storage build) first takes a *turn* from a :class:`FairScheduler` with that many ``slots``. A
connection holds at most one turn at a time, and when turns are scarce they go round-robin: to the next *address*
that waits, and within that address to its next connection that waits. So one client's heavy queries (fifty REQs
of ten filters each) queue behind each other, never in front of another client's light one: a light query waits
for at most one turn of each other address that is waiting, and every turn is bounded (a page, or the relay's
``store_seconds``). Opening more connections from one address does not buy more turns. Loopback connections are
each an address of their own (the operator's own processes).

One address never holds every slot: at most ``per_address`` turns at once (by default one fewer than the slots,
when there are two or more), even when nobody else waits. So whatever one address keeps the store busy with (a
COUNT of everything, a NIP-77 storage build, pages of a broad REQ), a light query from another address finds a
free slot at once instead of waiting up to ``store_seconds`` for one of that address's turns to end. A lone heavy
client gets fewer slots than there are; that is the price of answering the next one at once.

Which address goes next: the waiting one that has held turns for the fewest seconds lately (the time it held
them, halved every ``half_life`` seconds), the earliest in the round-robin among equals. Round-robin by turns
alone put a newcomer behind every address already waiting: a device that gave itself 60 addresses on a hub's
Wi-Fi, each with a COUNT that takes the store its whole 2 seconds, made a phone's REQ wait more than 30 seconds
(red-team finding). By time used, the phone's address, which used the store for milliseconds, goes before all of
them, and heavy addresses share the store by the time they take, not by the turns. Loopback connections (the
operator's own processes) are not remembered: they count as having used nothing.

Cancelling a task that waits for a turn takes it out of the queue; leaving the ``async with`` (also by
cancellation) frees the slot and hands it on. Not thread-safe: one event loop owns a scheduler.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter, OrderedDict, deque
from collections.abc import AsyncIterator, Callable, Hashable
from contextlib import asynccontextmanager
from types import TracebackType

from samizdat.relay.storebudget import StoreBudget

#: Addresses whose time at the store is remembered; past it, those not heard of longest are forgotten.
MAX_TRACKED = 4096


class FairScheduler:
    """``slots`` turns at a time, handed out to the address that used the fewest seconds of them lately, then
    round-robin by connection (see the module doc)."""

    def __init__(
        self,
        slots: int,
        per_address: int | None = None,
        *,
        half_life: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        budget: StoreBudget | None = None,
    ) -> None:
        if slots < 1:
            raise ValueError("a scheduler needs at least one slot")
        self.slots = slots
        #: Turns one address may hold at once (see the module doc).
        self.per_address = max(1, slots - 1) if per_address is None else max(1, min(per_address, slots))
        self.busy = 0  # turns held
        self.granted = 0  # turns given since start (for tests and status)
        self._holding: set[Hashable] = set()  # connections that hold a turn
        self._held: Counter[Hashable] = Counter()  # address -> turns it holds
        self.half_life = half_life
        self.clock = clock
        #: Charged with the seconds each turn of a remote address was held (relay/storebudget.py).
        self.budget = budget
        self._used: dict[Hashable, tuple[float, float]] = {}  # address -> (seconds of turns held, as of when)
        self._began: dict[Hashable, float] = {}  # connection -> when its turn began
        # address -> connection -> waiters (futures), in round-robin order at both levels
        self._waiting: OrderedDict[Hashable, OrderedDict[Hashable, deque[asyncio.Future[None]]]] = OrderedDict()

    @property
    def waiting(self) -> int:
        """How many tasks wait for a turn."""
        return sum(len(q) for conns in self._waiting.values() for q in conns.values())

    def turn(self, address: Hashable, connection: Hashable) -> Turn:
        """``async with scheduler.turn(address, connection):`` holds one turn for ``connection`` (of ``address``)
        while the block runs."""
        return Turn(self, address, connection)

    async def _acquire(self, address: Hashable, connection: Hashable) -> None:
        if (
            self.busy < self.slots
            and not self._waiting
            and connection not in self._holding
            and self._held[address] < self.per_address
        ):
            self._take(address, connection)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.setdefault(address, OrderedDict()).setdefault(connection, deque()).append(waiter)
        self._hand_on()
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(address, connection)  # the turn came just as we were cancelled: pass it on
            else:
                self._forget(address, connection, waiter)
            raise

    def used(self, address: Hashable, now: float) -> float:
        """Seconds of turns ``address`` held lately, as of ``now`` (halved every ``half_life`` seconds)."""
        seconds, when = self._used.get(address, (0.0, now))
        return seconds * 0.5 ** ((now - when) / self.half_life) if seconds else 0.0

    def _take(self, address: Hashable, connection: Hashable) -> None:
        self.busy += 1
        self.granted += 1
        self._holding.add(connection)
        self._held[address] += 1
        self._began[connection] = self.clock()

    def _release(self, address: Hashable, connection: Hashable) -> None:
        self.busy -= 1
        self._holding.discard(connection)
        now = self.clock()
        held = now - self._began.pop(connection, now)
        if self.budget is not None:
            self.budget.charge(address, held)
        total = self.used(address, now) + held
        self._used.pop(address, None)
        # Only remote addresses (strings) are remembered: a loopback connection is an address of its own, the
        # connection object itself, which the table must not keep alive.
        if total > 0 and isinstance(address, str):
            self._used[address] = (total, now)  # last in the dict: the most recently heard of
            if len(self._used) > MAX_TRACKED:
                del self._used[next(iter(self._used))]
        left = self._held[address] - 1
        if left > 0:
            self._held[address] = left
        else:
            del self._held[address]
        self._hand_on()

    def _forget(self, address: Hashable, connection: Hashable, waiter: asyncio.Future[None]) -> None:
        conns = self._waiting.get(address)
        if conns is None or connection not in conns:
            return
        queue = conns[connection]
        try:
            queue.remove(waiter)
        except ValueError:
            return
        if not queue:
            del conns[connection]
            if not conns:
                del self._waiting[address]

    def _hand_on(self) -> None:
        """Give free slots to the next waiters: of the addresses that may take one more turn and have a connection
        waiting that holds none, the one that used the fewest seconds lately (the earliest in the round-robin among
        equals), and its next connection in the round-robin."""
        while self.busy < self.slots and self._waiting:
            chosen = None
            least = 0.0
            now = self.clock()
            for address, conns in self._waiting.items():
                if self._held[address] >= self.per_address:
                    continue
                used = self.used(address, now)
                if chosen is not None and used >= least:
                    continue
                for connection in conns:
                    if connection not in self._holding:
                        chosen, least = (address, conns, connection), used
                        break
            if chosen is None:
                return  # every waiting connection already holds a turn
            address, conns, connection = chosen
            queue = conns[connection]
            waiter = queue.popleft()
            if queue:
                conns.move_to_end(connection)
            else:
                del conns[connection]
            if conns:
                self._waiting.move_to_end(address)
            else:
                del self._waiting[address]
            if waiter.done():
                continue  # its task was cancelled and has not yet run to take it out
            self._take(address, connection)
            waiter.set_result(None)


class Turn:
    """One turn of a :class:`FairScheduler` (an async context manager; a class, not a generator: it is on every
    query's path)."""

    __slots__ = ("scheduler", "address", "connection")

    def __init__(self, scheduler: FairScheduler, address: Hashable, connection: Hashable) -> None:
        self.scheduler = scheduler
        self.address = address
        self.connection = connection

    async def __aenter__(self) -> None:
        await self.scheduler._acquire(self.address, self.connection)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.scheduler._release(self.address, self.connection)


@asynccontextmanager
async def both(first: Turn, second: Turn) -> AsyncIterator[None]:
    """Hold ``first``, then ``second`` as well (a NIP-77 build: the one build slot, then a turn at the store's
    reader threads, which it shares with REQ and COUNT under the same per-address bound)."""
    async with first, second:
        yield
