"""Noticing, within seconds, a connection that stopped carrying anything while an answer is awaited.

Theory of operation
-------------------

A censor that lets the handshake through and then drops every packet (Russia's TSPU after about 16 KB) leaves the
socket open: nothing fails, the relay's answer just never comes. ``websockets``' keepalive (a ping every 20 s,
20 s for its pong) noticed after 20 to 40 s, the sync's own wait for a round (60 s) after a minute, and the sync
then tried another route: about 50 s lost on the first sync through such a censor.

What tells a stalled connection from a relay that is slow to answer: nothing at all arrives, not even a pong,
which the relay's WebSocket layer sends at once whatever its application is doing. A throttled connection still
delivers bytes, part of a large frame included. So, while someone waits for an answer (:meth:`Watch.waiting`: a
request's next message, an ``OK``):

* after :data:`QUIET` seconds in which no byte came in (counted from the later of the wait's start and the last
  byte), the watch pings the relay;
* if no byte at all comes in within :data:`PONG_WAIT` seconds of that ping, the connection is stalled:
  ``on_stall`` is called (the client aborts the connection and calls it ``data.stall``);
* any byte (a pong, part of a frame) starts the silence again. A relay that answers pings but not the request is
  left to the waiter's own time limit: it is reached, and slow.

Nothing is watched while nobody waits for an answer (an idle connection, a live subscription between events):
``websockets``' keepalive looks after those. A stall is noticed at most ``QUIET + PONG_WAIT`` seconds after the
last byte: about 20 s instead of 50, and the same bound holds however the censor stalls (replies dropped, or our
own frames, behind which the ping then waits in the same TCP stream).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator

from websockets.asyncio.client import ClientConnection

#: Seconds without a byte from the relay, while an answer is awaited, before it is pinged.
QUIET = 5.0
#: Seconds given to anything at all (its pong) to come back after that ping; then the connection is stalled. As
#: long as ``websockets``' own ping timeout: a slow Tor circuit's round trip fits.
PONG_WAIT = 15.0


class HeardConnection(ClientConnection):
    """``websockets``' client connection that notes when bytes last came in (:attr:`heard`, the loop's clock), a
    frame's first part included."""

    heard = 0.0

    def data_received(self, data: bytes) -> None:
        self.heard = self.loop.time()
        super().data_received(data)


class Watch:
    """The stall watch of one connection (see the module). ``on_stall`` is called once, on the event loop."""

    def __init__(
        self,
        ws: HeardConnection,
        on_stall: Callable[[], None],
        *,
        quiet: float | None = None,
        pong_wait: float | None = None,
    ) -> None:
        self.ws = ws
        self.on_stall = on_stall
        self.quiet = QUIET if quiet is None else quiet
        self.pong_wait = PONG_WAIT if pong_wait is None else pong_wait
        self.stalled = False
        self._waiters = 0
        self._began = 0.0
        self._task: asyncio.Task[None] | None = None

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """Around a wait for the relay's answer: the connection is watched while at least one is under way."""
        if self._waiters == 0:
            self._began = self.ws.loop.time()
        self._waiters += 1
        if self._task is None or self._task.done():
            self._task = self.ws.loop.create_task(self._run(), name="stall watch")
        try:
            yield
        finally:
            self._waiters -= 1

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def _run(self) -> None:
        loop = self.ws.loop
        while self._waiters > 0 and not self.stalled:
            silent_since = max(self.ws.heard, self._began)
            left = silent_since + self.quiet - loop.time()
            if left > 0:
                await asyncio.sleep(left)
                continue
            pinged = loop.time()
            try:
                pong = asyncio.ensure_future(await self.ws.ping())
            except Exception:  # noqa: BLE001 - a connection closing under us: its reader tells the waiters
                return
            pong.add_done_callback(_ignore)  # its outcome is read from ``heard``; never "exception not retrieved"
            await asyncio.sleep(self.pong_wait)
            if self.ws.heard < pinged and self._waiters > 0:
                self.stalled = True
                self.on_stall()
                return


def _ignore(future: asyncio.Future[float]) -> None:
    if not future.cancelled():
        future.exception()
