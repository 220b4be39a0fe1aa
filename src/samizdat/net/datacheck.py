"""The data step of ``samizdat netcheck``: does a connection the censor let through also carry data?

Theory of operation: some censors let every handshake through and break the connection afterwards (Russia's TSPU
stalls connections after about 16-20 KB, Iran and Turkmenistan freeze them after the handshake), or slow it down
(Russia throttled Twitter to about 16 KB/s in 2021). A WebSocket upgrade and a NIP-11 document are far smaller
than that, so they pass. :func:`transfer` therefore moves enough data over the open connection, without publishing
anything, and times it:

1. *down*: one ``REQ`` with the broadest filter there is (``{"limit": DOWN_LIMIT}``: the newest events of any
   kind), read until the relay's ``EOSE`` or ``CLOSED``, or until :data:`DATA_BUDGET` bytes came; then ``CLOSE``.
   Any relay that holds events sends them; one holding less than
   :data:`~samizdat.core.interference.DATA_ENOUGH` cannot show a stall, and the step says so (``short``). The rate
   is measured from the first answer to the last, so the request's round trip weighs little in it. Every event
   received is verified (id and signature): an answer in the relay's name by someone else (a censor's server at
   its address) is counted as ``forged``, and the genuine ones' times and ids are kept, to compare with the
   control path's (``relay.impostor``).
2. *up*: ``REQ`` s whose filter lists random event ids (they match nothing, so each is answered by a bare
   ``EOSE``), :data:`UP_CHUNK_IDS` ids each, one after the other, until ``DATA_ENOUGH`` bytes went up: some censors
   count what the client sends. Each answer proves its request arrived; only answered bytes are counted.

Bounds: the down half ends ``2 * idle`` seconds after it began, the whole step at ``limit``; ``idle`` seconds
without a single byte while an answer is owed is a stall. Reading stops at :data:`DATA_BUDGET` bytes (the relay
may have sent the rest of its ``DOWN_LIMIT`` events by then: that bounds the bytes), and ``DATA_ENOUGH`` plus one
request are sent. Nothing here raises for the relay's sake: failures are the measurement.

The subscriptions are named as every other subscription of the client (``s1``, ``s2``, ...), not after netcheck:
on a ``ws://`` relay they travel in clear, and a censor that recognised the probe could let it through and stall
the syncs (red team, round 9, ``docs/blocking.md``).
"""

from __future__ import annotations

import contextlib
import os
import time
from typing import Any

import orjson

from samizdat.core.event import Event, parse_event
from samizdat.core.interference import DATA_ENOUGH, Transfer
from samizdat.errors import RemoteProtocolError, TransportError
from samizdat.net.client import RelayClient

#: Bytes read at most: enough for a rate, several times what a stalling censor lets through, and little on a
#: metered connection (with ``DATA_ENOUGH`` sent, about 200 KB per relay and path).
DATA_BUDGET = 128 * 1024
#: Events asked for in the down half: a relay sends them all whatever we read, so this bounds the bytes too (a
#: few hundred KB of typical notes; relays clamp ``limit`` lower, often to 500).
DOWN_LIMIT = 200
#: Random ids in one upstream request: about 6.7 KB, under every relay's message and filter limits we know.
UP_CHUNK_IDS = 100


class _Reader:
    """Messages of one subscription (and the relay's NOTICEs), and when the connection last carried anything
    at all: the rest of an answer still on its way after a ``CLOSE`` is progress too, not silence."""

    def __init__(self, client: RelayClient) -> None:
        self.client = client
        self.sub_id, self.queue = client.open_subscription()
        self.notices = len(client.notices)
        self.seen = client.bytes_in
        self.last = time.monotonic()

    async def next(self, idle: float, deadline: float) -> list[Any] | None:
        """The next message (a NOTICE counts as one), or None after ``idle`` seconds without a byte or at
        ``deadline``; ``["CLOSED", ...]`` with the client no longer open when the connection ended."""
        while True:
            now = time.monotonic()
            wait = min(self.last + idle, deadline) - now
            if wait <= 0:
                return None
            try:
                message = await self.client.next_message(self.queue, min(wait, 0.25))
            except TransportError:  # no message for us in this slice
                if self.client.bytes_in > self.seen:
                    self.seen = self.client.bytes_in
                    self.last = time.monotonic()
                if len(self.client.notices) > self.notices:
                    self.notices = len(self.client.notices)
                    return ["NOTICE"]
                continue
            self.seen = self.client.bytes_in
            self.last = time.monotonic()
            return message


def _cut(down: int, up: int, started: float, where: str) -> Transfer:
    return Transfer("reset", down, up, time.monotonic() - started, detail=f"the connection ended during the {where}")


async def transfer(client: RelayClient, *, limit: float, idle: float) -> Transfer:
    """Run the data step on ``client`` (see the module); the connection is left open for the caller to close."""
    started = time.monotonic()
    deadline = started + limit
    base_in = client.bytes_in
    try:
        down = await _down(client, started, min(deadline, started + 2 * idle), idle)
        if down.outcome not in ("ok", "short"):
            return down
        return await _up(client, down, started, deadline, idle)
    except TransportError as exc:
        return Transfer("reset", client.bytes_in - base_in, 0, time.monotonic() - started, detail=str(exc)[:200])


async def _down(client: RelayClient, started: float, deadline: float, idle: float) -> Transfer:
    reader = _Reader(client)
    base = client.bytes_in
    first: tuple[float, int] | None = None
    last = (started, 0)
    outcome = ""
    events = forged = 0
    seen: list[tuple[int, str]] = []
    asked_at = int(time.time())
    try:
        await client.send_raw(orjson.dumps(["REQ", reader.sub_id, {"limit": DOWN_LIMIT}]).decode())
        while not outcome:
            message = await reader.next(idle, deadline)
            got = client.bytes_in - base
            if message is None:
                silent = time.monotonic() - reader.last
                outcome = "stalled" if silent >= idle / 2 else "ok"
                break
            if not client.is_open:
                return _cut(got, 0, started, "answer")
            now = time.monotonic()
            if message[0] in ("EVENT", "EOSE", "CLOSED"):
                first = first or (now, got)
                last = (now, got)
            if message[0] == "EVENT":
                events += 1
                event = _genuine(message)
                if event is None:
                    forged += 1
                else:
                    seen.append((event.created_at, event.id))
            if message[0] in ("EOSE", "CLOSED"):
                outcome = "ok" if got >= DATA_ENOUGH else "short"
            elif got >= DATA_BUDGET:
                outcome = "ok"
    finally:
        await _close(client, reader)
    got = client.bytes_in - base
    seconds = time.monotonic() - started
    if outcome == "stalled":
        return Transfer("stalled", got, 0, seconds, detail=f"nothing came for {time.monotonic() - reader.last:.0f} s",
                        events=events, forged=forged, seen=tuple(seen), asked_at=asked_at)  # fmt: skip
    rate = None
    if outcome == "ok" and first is not None:
        span, size = last[0] - first[0], last[1] - first[1]
        if span >= 0.05 and size >= DATA_ENOUGH // 2:
            rate = size / span
        else:  # one burst: the whole answer over the whole wait
            rate = last[1] / max(last[0] - started, 0.001)
    if outcome == "ok" and rate is None:
        outcome = "short"
    return Transfer(outcome, got, 0, seconds, rate, events=events, forged=forged, seen=tuple(seen), asked_at=asked_at)


def _genuine(message: list[Any]) -> Event | None:
    """The event of an ``["EVENT", sub, event]`` if its id and signature verify, else None."""
    try:
        return parse_event(message[2] if len(message) > 2 else None)
    except RemoteProtocolError:
        return None


async def _up(client: RelayClient, down: Transfer, started: float, deadline: float, idle: float) -> Transfer:
    reader = _Reader(client)
    base_in = client.bytes_in
    sent = 0
    try:
        while sent < DATA_ENOUGH:
            if time.monotonic() >= deadline:
                break  # out of time with the answers coming: what went up went up
            ids = [os.urandom(32).hex() for _ in range(UP_CHUNK_IDS)]
            frame = orjson.dumps(["REQ", reader.sub_id, {"ids": ids}]).decode()
            await client.send_raw(frame)
            while True:
                message = await reader.next(idle, deadline)
                if message is None:
                    silent = time.monotonic() - reader.last
                    if silent < idle / 2:
                        return _with_up(down, sent, client.bytes_in - base_in, started)
                    return Transfer("stalled", down.down + client.bytes_in - base_in, sent,
                                    time.monotonic() - started, down.rate,
                                    f"no answer for {silent:.0f} s to what was sent", down.events,
                                    down.forged, down.seen, down.asked_at)  # fmt: skip
                if not client.is_open:
                    return _cut(down.down + client.bytes_in - base_in, sent, started, "upload")
                if message[0] in ("EOSE", "CLOSED", "NOTICE"):
                    break
            sent += len(frame)
    finally:
        await _close(client, reader)
    return _with_up(down, sent, client.bytes_in - base_in, started)


async def _close(client: RelayClient, reader: _Reader) -> None:
    """Let go of the reader's subscription, and tell the relay so while the connection is open."""
    client.drop_subscription(reader.sub_id)
    if client.is_open:
        with contextlib.suppress(TransportError):
            await client.send_raw(orjson.dumps(["CLOSE", reader.sub_id]).decode())


def _with_up(down: Transfer, sent: int, received: int, started: float) -> Transfer:
    return Transfer(
        down.outcome,
        down.down + received,
        sent,
        time.monotonic() - started,
        down.rate,
        down.detail,
        down.events,
        down.forged,
        down.seen,
        down.asked_at,
    )
