"""One client connection of the relay server: its sans-IO protocol, its outgoing queue and its writer.

Split from :mod:`samizdat.relay.server`, which owns the connections' lifecycle, fan-out and storage. Every byte
queued for any client is also counted in one :class:`QueueTotal`, so the relay can bound what all its queues hold
together, not only each one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import OPEN

from samizdat.relay.connection import RelayConnection
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropySession

logger = logging.getLogger("samizdat.relay")


class Dropped(Exception):
    """This connection is being dropped (too slow, or it broke the protocol)."""


class TooSlow(Exception):
    """The client did not make room in its queue (or the relay in all queues) within the send timeout."""


class QueueTotal:
    """The bytes queued for every client together, against ``limit``; :attr:`room` is set while there is room
    (it clears above ``limit`` and is set again once the total is down to half of it)."""

    __slots__ = ("bytes", "limit", "low", "room")

    def __init__(self, limit: int) -> None:
        self.bytes = 0
        self.limit = limit
        self.low = limit // 2
        self.room = asyncio.Event()
        self.room.set()

    @property
    def over(self) -> bool:
        return self.bytes > self.limit

    def taken(self, size: int) -> None:
        self.bytes -= size
        if self.bytes <= self.low and not self.room.is_set():
            self.room.set()


class Client:
    """One WebSocket connection: its protocol, outgoing queue, writer and tasks.

    Frames are written on the loop, without a task switch: :meth:`push` queues a frame and asks the server to
    :meth:`flush` this client once the current callback is done, and :meth:`flush` frames everything queued with
    the sans-IO ``ws.protocol`` and hands it to the transport in ONE write (one ``send`` system call instead of one
    per frame). While the socket is congested (the transport holds ``write_high`` bytes or more), flushing stops
    and the writer task sends the rest through ``ws.send``, which waits for the transport to drain; the queue keeps
    the frames in order either way.
    """

    __slots__ = (
        "ws", "id", "protocol", "log", "queue", "queued", "wake", "drained", "tasks", "queries",
        "pending", "room", "dropped", "neg", "high", "hard", "half", "scheduled", "blocked", "schedule",
        "write_high", "ip", "total", "work", "party",
    )  # fmt: skip

    def __init__(
        self,
        ws: ServerConnection,
        conn_id: int,
        protocol: RelayConnection,
        limits: RelayLimits,
        schedule: Callable[[Client], None],
        total: QueueTotal | None = None,
        ip: str | None = None,
    ) -> None:
        self.ws = ws
        self.id = conn_id
        self.ip = ip  # remote address, None for loopback
        #: Who this connection counts as when the store's turns are shared out: its address, or itself on loopback.
        self.party: object = ip if ip is not None else self
        self.total = total if total is not None else QueueTotal(limits.send_buffer_total_bytes)
        self.protocol = protocol
        self.log = logging.LoggerAdapter(logger, {"conn": conn_id})
        self.queue: deque[bytes] = deque()
        self.queued = 0  # bytes in ``queue``
        self.wake = asyncio.Event()  # the writer has something to do
        self.drained = asyncio.Event()  # the queue went down to half the high-water mark
        self.tasks: set[asyncio.Task[None]] = set()
        self.queries: dict[str, asyncio.Task[None]] = {}
        self.work: set[asyncio.Task[None]] = set()  # COUNT and NIP-77 tasks: cancelled when the client goes
        self.pending = 0  # EVENTs waiting for the store
        self.room = asyncio.Event()  # ``pending`` went below the limit
        self.dropped = False
        self.neg: NegentropySession | None = None
        self.high = limits.send_buffer_bytes
        self.hard = limits.send_buffer_bytes + limits.send_buffer_slack
        self.half = self.high // 2
        self.scheduled = False  # a flush is due (the server holds this client in its list)
        self.blocked = False  # the socket is congested: the writer task sends, flush does nothing
        self.schedule = schedule
        self.write_high = ws.transport.get_write_buffer_limits()[1]

    def __repr__(self) -> str:
        return f"<client {self.id}>"

    def push(self, frame: bytes) -> None:
        """Queue ``frame`` (the caller checked the room) and have it written soon."""
        self.queue.append(frame)
        size = len(frame)
        self.queued += size
        total = self.total
        total.bytes += size
        if total.bytes > total.limit:
            total.room.clear()
        if not self.scheduled:
            self.scheduled = True
            self.schedule(self)

    def send(self, frame: bytes) -> bool:
        """Queue ``frame``; False (and the connection is dropped) when even the slack is used up."""
        if self.dropped:
            return False
        if self.queued + len(frame) > self.hard:
            self.drop("send buffer full")
            return False
        self.push(frame)
        return True

    def has_room(self) -> bool:
        """Whether a page of stored events may be queued now: this queue is at most half full, and all queues
        together are within their limit."""
        return self.queued <= self.half and not self.total.over

    async def wait_room(self, timeout: float) -> None:
        """Wait until :meth:`has_room`; raise TooSlow after ``timeout`` seconds, Dropped if the client goes."""
        if self.has_room():
            return
        try:
            async with asyncio.timeout(timeout):
                while not self.has_room():
                    if self.dropped:
                        raise Dropped
                    if self.queued > self.half:
                        self.drained.clear()
                        await self.drained.wait()
                    else:
                        await self.total.room.wait()
        except TimeoutError:
            raise TooSlow from None
        if self.dropped:
            raise Dropped

    def lost(self) -> None:
        """The connection is gone (closed by either side): stop every piece of work done for it."""
        if not self.dropped:
            self.dropped = True
            self._empty()
        for task in (*self.queries.values(), *self.work):
            task.cancel()

    def drop(self, why: str) -> None:
        if self.dropped:
            return
        self.dropped = True
        self.log.info("dropping connection %d: %s", self.id, why)
        self._empty()
        # Abort rather than close: a client that does not read would never complete a closing handshake.
        transport = self.ws.transport
        if transport is not None:
            transport.abort()

    def _empty(self) -> None:
        self.queue.clear()
        self.total.taken(self.queued)
        self.queued = 0
        self.wake.set()
        self.drained.set()
        self.room.set()

    def flush(self) -> None:
        """Write what is queued, in batches of up to ``write_high`` bytes, while the socket takes it."""
        self.scheduled = False
        queue = self.queue
        if self.dropped or self.blocked or not queue:
            return
        ws = self.ws
        protocol, transport = ws.protocol, ws.transport
        if protocol.state is not OPEN or transport.is_closing():
            # The connection is closing: nothing more can go out (the reader loop is about to clean up).
            queue.clear()
            self.total.taken(self.queued)
            self.queued = 0
            self.drained.set()
            return
        limit = self.write_high
        while queue and transport.get_write_buffer_size() < limit:
            size = 0
            while queue and size < limit:
                frame = queue.popleft()
                size += len(frame)
                protocol.send_text(frame)
            self.queued -= size
            self.total.taken(size)
            chunks = protocol.data_to_send()
            if all(chunks):
                transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            else:  # an end-of-stream marker among them (never after send_text; be safe): websockets' own way
                ws.send_data()
        if self.queued <= self.half:
            self.drained.set()
        if queue:
            self.blocked = True
            self.wake.set()

    async def write_loop(self) -> None:
        """While the socket is congested, send the queue with flow control; then hand back to :meth:`flush`."""
        queue, ws, half = self.queue, self.ws, self.half
        try:
            while not self.dropped:
                if not self.blocked:
                    self.wake.clear()
                    await self.wake.wait()
                    continue
                if not queue:
                    self.blocked = False
                    continue
                frame = queue.popleft()
                self.queued -= len(frame)
                self.total.taken(len(frame))
                if self.queued <= half:
                    self.drained.set()
                await ws.send(frame, text=True)
        except ConnectionClosed:
            pass
