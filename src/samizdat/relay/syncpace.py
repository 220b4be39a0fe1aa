"""A budget of NIP-77 answer bytes per address, shared by all that address's connections.

Theory of operation
-------------------

A ``NEG-MSG`` of a few bytes may ask for the ids of a whole range, and the relay then sends up to a frame's worth
of them (hundreds of kilobytes) and spends the CPU to make it. ``NEG-OPEN`` counts against the REQ rate, but a
session's ``NEG-MSG`` had no bound of its own: 64 connections from two addresses asking without pause took an
honest reader's REQ p95 to 3.4 s (red-team finding). So each remote address has a token bucket of *bytes*
(:class:`SyncPace`): every frame its NIP-77 sessions are sent is :meth:`SyncPace.spent` from it, and may take it
into debt (an answer is never cut short), and the next message of that address is answered only once the debt is
paid back at ``rate`` bytes a second.

The address's messages are answered one at a time (:meth:`SyncPace.turn`, in the order they came): its
connections do not add up to more than one answer at once, and each waits for the last one's debt. Waiting is the
back-pressure: the connection's reader is held meanwhile (NIP-77 messages of one connection are handled in order),
so the client is paced rather than refused. Two bounds keep waiting from piling up: past ``max_waiting`` messages
of the address waiting, or a debt that would take longer than ``max_wait`` seconds to pay back, the message is
refused with ``NEG-ERR "blocked: ..."`` at once (the client tries again later; NIP-77 says the session is then
closed).

An honest phone or LAN peer sends ids of what differs, once: a store of 100,000 events is 6.4 MB of them, inside
the default burst, so it never waits. Loopback connections (the operator's own processes) are not paced: the server
passes no address for them.

Time is injected (``clock``, ``sleep``). Not thread-safe: one event loop owns it. With ``--workers N`` the bytes of
each address are counted in the file the workers share (:class:`samizdat.relay.shared.SharedSyncPace`): one
budget for all of them, though each worker answers the address's messages one at a time on its own.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

#: Addresses whose debt is remembered; past it, those not heard of longest are forgotten (their debt with them).
MAX_TRACKED = 4096
BUSY = "blocked: this address asks for too much sync at once; try again later"


class Budget:
    """One address's bytes left (below zero: its debt), as of ``stamp``, and its messages waiting their turn."""

    __slots__ = ("tokens", "stamp", "waiting", "lock")

    def __init__(self, tokens: float, stamp: float) -> None:
        self.tokens = tokens
        self.stamp = stamp
        self.waiting = 0  # messages waiting for their turn or for the debt to be paid, and the one answered
        self.lock = asyncio.Lock()  # fair: waiters are woken in the order they came


class SyncPace:
    """Per-address budgets of NIP-77 answer bytes (see the module doc)."""

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        max_wait: float = 10.0,
        max_waiting: int = 8,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.max_wait = max_wait
        self.max_waiting = max_waiting
        self.clock = clock
        self.sleep = sleep
        self._budgets: OrderedDict[str, Budget] = OrderedDict()
        #: Messages refused with BUSY (for tests and status).
        self.refused = 0

    def _budget(self, address: str) -> Budget:
        budget = self._budgets.get(address)
        now = self.clock()
        if budget is None:
            budget = self._budgets[address] = Budget(self.burst, now)
            if len(self._budgets) > MAX_TRACKED:
                for old, kept in self._budgets.items():
                    if not kept.waiting:  # one in use is kept (its lock has waiters)
                        del self._budgets[old]
                        break
        else:
            self._budgets.move_to_end(address)
        self._refill(address, budget, now)
        return budget

    def _refill(self, address: str, budget: Budget, now: float) -> None:
        elapsed = now - budget.stamp
        if elapsed > 0:
            budget.tokens = min(self.burst, budget.tokens + elapsed * self.rate)
            budget.stamp = now

    def _delay(self, budget: Budget) -> float:
        """Seconds until ``budget`` is out of debt."""
        return 0.0 if budget.tokens >= 0 else -budget.tokens / self.rate

    @asynccontextmanager
    async def turn(self, address: str) -> AsyncIterator[str | None]:
        """``async with pace.turn(address) as refusal:`` answer one NIP-77 message of ``address`` inside the block
        when ``refusal`` is None (its turn came and its debt is paid), else refuse it with ``NEG-ERR refusal``."""
        budget = self._budget(address)
        if budget.waiting >= self.max_waiting or self._delay(budget) > self.max_wait:
            self.refused += 1
            yield BUSY
            return
        held = budget  # kept in the table while it has waiters, so _budget(address) returns this one
        held.waiting += 1
        try:
            async with held.lock:
                budget = self._budget(address)
                for _ in range(1000):  # bounded: each round sleeps until the debt should be paid
                    delay = self._delay(budget)
                    if delay <= 0:
                        break
                    if delay > self.max_wait:
                        self.refused += 1
                        yield BUSY
                        return
                    await self.sleep(delay)
                    budget = self._budget(address)
                else:
                    self.refused += 1
                    yield BUSY
                    return
                yield None
        finally:
            held.waiting -= 1

    def spent(self, address: str, size: int) -> None:
        """``size`` bytes were sent to ``address`` for NIP-77 (may take its budget into debt)."""
        self._budget(address).tokens -= size

    def debt(self, address: str) -> float:
        """Bytes ``address`` still owes (0 when it has budget left), as of now."""
        budget = self._budgets.get(address)
        return 0.0 if budget is None else max(0.0, -self._budget(address).tokens)
