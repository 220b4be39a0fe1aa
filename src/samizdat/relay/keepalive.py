"""Keep-alive pings for every connection of the relay from one task, instead of one task per connection.

Theory of operation
-------------------

``websockets`` keeps a connection alive with a task of its own that sleeps ``ping_interval``, pings, and waits for
the pong: a task, its coroutine frames and a timer for every idle reader (about 1 KB each, with 20,000 readers of
one channel 20 MB). :class:`Keepalive` does the same for all of them from one task: the connections are spread
over :data:`SLICES` groups (by their number), and every ``interval / SLICES`` seconds one group is visited, so each
connection is visited once per ``interval``. A visit sends a ping unless the last one is still unanswered: then
the connection is dropped, as ``websockets`` closes a connection whose pong does not come within ``ping_timeout``
(here: within ``interval``). The ping is what ``ws.ping()`` sends, written straight to the transport, and its
future is filed in ``ws.pending_pings``, where ``websockets`` resolves it when the pong arrives: ``ws.ping()``'s
own machinery (an async context manager, a random payload) cost about a third of a ping's CPU. A connection whose
socket is congested is not pinged (the ping would wait behind the queued frames); the relay's send timeout deals
with a reader that does not read.

Time is injected (``sleep``), so the tests run with short intervals.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol

from websockets.asyncio.server import ServerConnection
from websockets.protocol import OPEN

logger = logging.getLogger("samizdat.relay")

_PING_HEADER = bytes((0x89, 4))  # FIN, the ping opcode; an unmasked payload of 4 bytes (RFC 6455, 5.5.2)
#: Groups the connections are spread over: one is visited every ``interval / SLICES`` seconds.
SLICES = 30


class Pinged(Protocol):
    """What :class:`Keepalive` needs of a connection (the relay's :class:`~samizdat.relay.client_conn.Client`)."""

    id: int
    ws: ServerConnection
    dropped: bool
    blocked: bool
    pong: asyncio.Future[float] | None

    def drop(self, why: str) -> None: ...


class Keepalive:
    """Pings each connection :meth:`add` ed once per ``interval`` seconds; drops one that did not answer the ping
    before. Run :meth:`run` as a task (cancel it to stop); :meth:`discard` a connection once it is closed."""

    def __init__(self, interval: float, *, sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.interval = interval
        self.sleep = sleep
        self._slices: list[set[Pinged]] = [set() for _ in range(SLICES)]
        #: Pings sent, and connections dropped because their pong did not come (for tests).
        self.pings = 0
        self.timeouts = 0
        self._serial = 0  # ping payloads: a counter, so one connection's pending pings never share one

    def add(self, conn: Pinged) -> None:
        self._slices[conn.id % SLICES].add(conn)

    def discard(self, conn: Pinged) -> None:
        self._slices[conn.id % SLICES].discard(conn)

    async def run(self) -> None:
        turn = 0
        while True:
            await self.sleep(self.interval / SLICES)
            for conn in list(self._slices[turn % SLICES]):
                self._visit(conn)
            turn += 1

    def _visit(self, conn: Pinged) -> None:
        if conn.dropped:
            return
        ws = conn.ws
        last = conn.pong
        if last is not None:
            conn.pong = None
            if not last.done():
                self.timeouts += 1
                conn.drop("keepalive ping timeout")
                return
        if ws.protocol.state is not OPEN or conn.blocked or ws.transport.is_closing():
            return
        transport = ws.transport
        if transport.get_write_buffer_size() + 64 >= transport.get_write_buffer_limits()[1]:
            return  # (nearly) congested: see the module's docstring
        # What ws.ping() does, without its per-call machinery (an async context, a random payload): the ping
        # frame written at once, its future filed where websockets resolves it when the pong comes back.
        self._serial = serial = (self._serial + 1) & 0xFFFFFFFF
        data = serial.to_bytes(4, "big")
        loop = asyncio.get_running_loop()
        pong = loop.create_future()
        ws.pending_pings[data] = (pong, loop.time())
        transport.write(_PING_HEADER + data)
        conn.pong = pong
        self.pings += 1
