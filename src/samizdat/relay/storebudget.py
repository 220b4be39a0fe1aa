"""A budget of store time per address: what one device's queries may cost the node, not just how many it sends.

Theory of operation
-------------------

The REQ rate (40 a second per address) counts requests, but one request may cost 3 ms of the store's time or a
second of it: a ``COUNT`` of ten filters each naming fifty ``#t`` values took 0.9 s of CPU on a 120,000-event
store, a ``REQ`` of ten ``search`` filters narrowed by ``kinds`` and ``authors`` 0.3 s (``bench/reqcost.py``). At
the allowed rate such requests keep a core busy for good. So each remote address also has a token bucket of
*seconds* (:class:`StoreBudget`): every turn it holds at the store (:class:`~samizdat.relay.fair.FairScheduler`:
a page of a REQ, a COUNT, a NIP-77 storage build) is charged to it for as long as it was held, and may take it
into debt (a read is never cut short for it; ``store_seconds`` bounds each one). Before its next read the address
waits until the debt is paid back at ``rate`` seconds a second (:meth:`StoreBudget.wait`): its queries are
paced, not refused. A read whose wait would be longer than ``max_wait`` is refused at once (:class:`OverBudget`,
which the relay turns into ``CLOSED "rate-limited: ..."``), so waiting never piles up for long.

The reader checks again once it holds its turn (:meth:`StoreBudget.delay`), so an address's queries that waited
together do not all run once the debt is paid: an address spends at most its burst, plus ``rate`` seconds a
second, plus one read. A phone's reading (pages of a few dozen posts, a few ms each) or a LAN peer's sync of a
whole store stays far inside the default burst. Loopback connections (the operator's own processes) are not
counted: their address is not a string.

Time is injected (``clock``, ``sleep``). Not thread-safe: one event loop owns it. With ``--workers N`` the budget
of each address is kept in the file the workers share (:class:`samizdat.relay.shared.SharedStoreBudget`): an
address whose connections land on several workers has one budget for all of them.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable

#: Addresses whose debt is remembered; past it, the one not heard of longest is forgotten (with its debt).
MAX_TRACKED = 4096
#: Rounds of waiting for the debt to be paid before a read is refused (each sleeps until it should be).
MAX_ROUNDS = 100
OVER_BUDGET = "rate-limited: this address's queries take the relay too much time; slow down"


class OverBudget(Exception):
    """The address owes more store time than it may wait to pay back: refuse the read (:data:`OVER_BUDGET`)."""


class StoreBudget:
    """Per-address budgets of seconds at the store (see the module doc)."""

    def __init__(
        self,
        rate: float,
        burst: float,
        *,
        max_wait: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.max_wait = max_wait
        self.clock = clock
        self.sleep = sleep
        self._tokens: OrderedDict[str, tuple[float, float]] = OrderedDict()  # address -> (seconds left, as of)
        #: Reads refused (for tests and status), and seconds charged in all.
        self.refused = 0
        self.charged = 0.0

    def _left(self, address: str, now: float) -> float:
        tokens, stamp = self._tokens.get(address, (self.burst, now))
        return min(self.burst, tokens + max(0.0, now - stamp) * self.rate)

    def charge(self, address: Hashable, seconds: float) -> None:
        """``address`` held a turn at the store for ``seconds`` (loopback, not a string, is not counted)."""
        if not isinstance(address, str) or seconds <= 0:
            return
        self._spend(address, seconds, self.clock())
        self.charged += seconds

    def _spend(self, address: str, seconds: float, now: float) -> None:
        self._tokens[address] = (self._left(address, now) - seconds, now)
        self._tokens.move_to_end(address)
        if len(self._tokens) > MAX_TRACKED:
            del self._tokens[next(iter(self._tokens))]

    def delay(self, address: Hashable) -> float:
        """Seconds until ``address`` is out of debt (0 when it has budget left, and for loopback)."""
        if not isinstance(address, str):
            return 0.0
        left = self._left(address, self.clock())
        return 0.0 if left >= 0 else -left / self.rate

    async def wait(self, address: Hashable) -> None:
        """Return once ``address`` is out of debt. Raises OverBudget when that would take more than ``max_wait``."""
        for _ in range(MAX_ROUNDS):
            delay = self.delay(address)
            if delay <= 0:
                return
            if delay > self.max_wait:
                break
            await self.sleep(delay)
        self.refused += 1
        raise OverBudget(OVER_BUDGET)
