"""One client connection of the relay server: its sans-IO protocol, its outgoing queue and its writer.

Split from :mod:`samizdat.relay.server`, which owns the connections' lifecycle, fan-out and storage. Every byte
queued for any client is also counted in one :class:`QueueTotal`, so the relay can bound what all its queues hold
together, not only each one.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed
from websockets.protocol import OPEN

from samizdat.relay.connection import RelayConnection
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropySession
from samizdat.relay.wire import text_frame

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


def forget_handshake(ws: ServerConnection) -> None:
    """Let go of the opening handshake's headers once the connection is a relay connection: nothing reads them
    after the handshake, and they are about 3 KB of every idle connection. They are emptied in place, because
    ``websockets``' request parser keeps the request object for as long as the connection lasts. The request's
    path and the response's status stay (the door tells a completed handshake by its response)."""
    for message in (ws.request, ws.response):
        if message is not None:
            message.headers.clear()


class Client:
    """One WebSocket connection: its protocol, outgoing queue, writer and tasks.

    Frames are written on the loop, without a task switch: :meth:`push` queues a frame and asks the server to
    :meth:`flush` this client once the current callback is done, and :meth:`flush` hands everything queued to the
    transport in ONE write (one ``send`` system call instead of one per frame). On a connection without
    compression (``raw``) the queue holds finished WebSocket frames (:mod:`samizdat.relay.wire`): a fan-out gives
    every such connection the same bytes object, framed once; with ``permessage-deflate`` it holds payloads, framed
    (and compressed) by the sans-IO ``ws.protocol`` at the flush. While the socket is congested (the transport
    holds ``write_high`` bytes or more), flushing stops and a writer task, started only then, sends the rest with
    flow control (waiting for the transport to drain) and ends once the queue is empty; the queue keeps the frames
    in order either way.

    An idle connection holds as little as possible (20,000 of them are a channel's readers): no writer task, and
    the events, logger and task sets are made the first time they are used (the properties below).
    """

    __slots__ = (
        "ws", "id", "protocol", "_log", "queue", "queued", "_drained", "_tasks", "_queries", "pending",
        "_room", "dropped", "neg", "high", "hard", "half", "scheduled", "blocked", "schedule", "write_high", "ip",
        "total", "_work", "party", "raw", "writer", "pong",
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
        self._log: logging.LoggerAdapter[logging.Logger] | None = None
        #: No compression negotiated: the queue holds whole frames (see the class docstring).
        self.raw = not ws.protocol.extensions
        self.queue: list[bytes] = []  # a list, not a deque: an empty deque holds 600 bytes, a list 56
        self.queued = 0  # bytes in ``queue``
        self._drained: asyncio.Event | None = None
        self._tasks: set[asyncio.Task[None]] | None = None
        self._queries: dict[str, asyncio.Task[None]] | None = None
        self._work: set[asyncio.Task[None]] | None = None
        self.pending = 0  # EVENTs waiting for the store
        self._room: asyncio.Event | None = None
        self.dropped = False
        self.neg: NegentropySession | None = None
        self.high = limits.send_buffer_bytes
        self.hard = limits.send_buffer_bytes + limits.send_buffer_slack
        self.half = self.high // 2
        self.scheduled = False  # a flush is due (the server holds this client in its list)
        self.blocked = False  # the socket is congested: the writer task sends, flush does nothing
        self.writer: asyncio.Task[None] | None = None  # that task, while it runs
        self.pong: asyncio.Future[float] | None = None  # the answer to the last keep-alive ping (relay/keepalive.py)
        self.schedule = schedule
        self.write_high = ws.transport.get_write_buffer_limits()[1]

    def __repr__(self) -> str:
        return f"<client {self.id}>"

    # Made when first used: most connections never need them.

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        if self._log is None:
            self._log = logging.LoggerAdapter(logger, {"conn": self.id})
        return self._log

    @property
    def drained(self) -> asyncio.Event:
        """Set when the queue went down to half the high-water mark (whoever waits clears it first)."""
        if self._drained is None:
            self._drained = asyncio.Event()
        return self._drained

    @property
    def room(self) -> asyncio.Event:
        """Set when ``pending`` went below the limit (the server clears it before it waits)."""
        if self._room is None:
            self._room = asyncio.Event()
        return self._room

    @property
    def tasks(self) -> set[asyncio.Task[None]]:
        """Every task working for this connection (stores, queries, counts, NIP-77)."""
        if self._tasks is None:
            self._tasks = set()
        return self._tasks

    @property
    def queries(self) -> dict[str, asyncio.Task[None]]:
        """The stored-event query of each subscription that is still answering."""
        if self._queries is None:
            self._queries = {}
        return self._queries

    @property
    def work(self) -> set[asyncio.Task[None]]:
        """COUNT and NIP-77 tasks: cancelled when the client goes."""
        if self._work is None:
            self._work = set()
        return self._work

    def _set_drained(self) -> None:
        if self._drained is not None:
            self._drained.set()

    # Queueing

    def push(self, frame: bytes) -> None:
        """Queue the message ``frame`` (the caller checked the room) and have it written soon."""
        self._queue(text_frame(frame) if self.raw else frame)

    def push_framed(self, frame: bytes, wire: bytes) -> None:
        """:meth:`push` for a message already framed as ``wire`` (:func:`~samizdat.relay.wire.text_frame`), the
        same bytes for every connection a fan-out reaches."""
        self._queue(wire if self.raw else frame)

    def _queue(self, data: bytes) -> None:
        self.queue.append(data)
        size = len(data)
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
                        drained = self.drained
                        drained.clear()
                        await drained.wait()
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
        for task in (*(self._queries or {}).values(), *(self._work or ())):
            task.cancel()

    def on_lost(self, _: object) -> None:
        """:meth:`lost`, as a callback of the connection's ``connection_lost_waiter``."""
        self.lost()

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
        self._set_drained()
        if self._room is not None:
            self._room.set()

    def _taken(self, size: int) -> None:
        self.queued -= size
        total = self.total
        total.bytes -= size
        if total.bytes <= total.low and not total.room.is_set():
            total.room.set()

    def _batch(self, limit: int) -> list[bytes]:
        """Take frames from the front of the queue until they reach ``limit`` bytes (at least one)."""
        queue = self.queue
        size = count = 0
        for frame in queue:
            if size >= limit:
                break
            size += len(frame)
            count += 1
        batch = queue[:count]
        del queue[:count]
        self._taken(size)
        return batch

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
            self._set_drained()
            return
        limit = self.write_high
        raw = self.raw
        if raw and len(queue) == 1 and transport.get_write_buffer_size() < limit:
            # A fan-out's usual case: one frame, written as it is (the general loop below, shortened).
            data = queue[0]
            queue.clear()
            self._taken(len(data))
            transport.write(data)
            if self._drained is not None and self.queued <= self.half:
                self._drained.set()
            return
        while queue and transport.get_write_buffer_size() < limit:
            batch = self._batch(limit)
            if raw:
                transport.write(b"".join(batch))
                continue
            for frame in batch:
                protocol.send_text(frame)
            chunks = protocol.data_to_send()
            if all(chunks):
                transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
            else:  # an end-of-stream marker among them (never after send_text; be safe): websockets' own way
                ws.send_data()
        if self.queued <= self.half:
            self._set_drained()
        if queue:
            self.blocked = True
            self.writer = asyncio.ensure_future(self._write_congested())

    async def _write_congested(self) -> None:
        """While the socket is congested, send the queue with flow control; then hand back to :meth:`flush`."""
        queue, ws, half, limit = self.queue, self.ws, self.half, self.write_high
        try:
            while queue and not self.dropped:
                if not self.raw:
                    frame = queue.pop(0)
                    self._taken(len(frame))
                    if self.queued <= half:
                        self._set_drained()
                    await ws.send(frame, text=True)
                    continue
                transport = ws.transport
                if ws.protocol.state is not OPEN or transport.is_closing():
                    queue.clear()  # closing: nothing more can go out (the reader loop cleans up)
                    self._taken(self.queued)
                    self._set_drained()
                    break
                batch = self._batch(limit)
                if self.queued <= half:
                    self._set_drained()
                transport.write(b"".join(batch))
                # websockets' flow control: returns once the transport is below its low-water mark (or lost).
                await ws.drain()
        except (ConnectionClosed, OSError):  # the connection went while we waited
            pass
        finally:
            self.blocked = False
            self.writer = None
