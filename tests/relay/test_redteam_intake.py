"""Red team: events that weigh much more in memory than on the wire, sent while the store lags behind.

An event of 2,000 short tags is 30 KB of JSON but about 340 KB of Python objects. The relay stopped reading a
connection only once 256 of its events waited for the store, so one device's 64 connections could make it hold
16,384 such events: a real ``samizdat serve`` flooded from one address for 40 seconds grew from 130 MB to over
5 GB, and an honest reader's REQ took 19 seconds. What waits for the store is now weighed, per address and in
all, and a connection is not read while its address is over its share.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Sequence
from typing import Any

import orjson
import psutil
from relay_helpers import make_event
from relay_netns import AddressLab
from websockets.asyncio.client import ClientConnection, connect

from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import wait_until

CONNECTIONS = 4
#: As many as the relay took from each connection before it stopped reading.
PER_CONNECTION = 256
TAGS = [["t", f"{i}"] for i in range(1999)]


def rss() -> int:
    return int(psutil.Process(os.getpid()).memory_info().rss)


async def _open(lab: AddressLab, source: str, port: int) -> ClientConnection:
    sock = await asyncio.to_thread(lab.connect, source, port)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)  # the kernel holds little of what waits
    return await connect(f"ws://{lab.relay_address}:{port}/", sock=sock, open_timeout=5, close_timeout=1)


async def _send_all(ws: ClientConnection, frames: Sequence[bytes]) -> None:
    for frame in frames:
        await ws.send(frame.decode())


async def test_heavy_events_from_one_address_hold_a_bounded_share_while_the_store_lags(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey, monkeypatch: Any
) -> None:
    # The store takes nothing until the test opens the gate (a slow SD card, a busy disk).
    gate = asyncio.Event()
    add_many = sqlite_store.add_many

    async def gated(events: Sequence[Event]) -> Any:
        await gate.wait()
        return await add_many(events)

    monkeypatch.setattr(sqlite_store, "add_many", gated)
    flood = [
        orjson.dumps(["EVENT", make_event(key, 1, f"{n}", TAGS).to_dict()]) for n in range(CONNECTIONS * PER_CONNECTION)
    ]
    server = RelayServer(sqlite_store)
    await server.start(sock=lab.listener())
    attackers: list[ClientConnection] = []
    senders: list[asyncio.Task[None]] = []
    try:
        attackers = [await _open(lab, lab.addresses[0], server.port) for _ in range(CONNECTIONS)]
        before = rss()
        senders = [asyncio.create_task(_send_all(ws, flood[i::CONNECTIONS])) for i, ws in enumerate(attackers)]

        def held() -> int:  # events the relay took from the attacker's connections that wait for the store
            return sum(c.pending for c in server.clients if c.ip == lab.addresses[0])

        def stalled() -> bool:
            # The relay took 1,000 of them (the old bound let it take all 1,024), or the events it took from that
            # address weigh its share and it reads no more of them.
            crowded = getattr(server.intake, "crowded", lambda ip: False)
            return held() >= 1000 or crowded(lab.addresses[0])

        await wait_until(stalled, timeout=60, what="the attacker's sends stalled")
        grown = rss() - before
        assert held() < 200, f"the relay took {held()} heavy events of one address while the store lagged"
        assert grown < 96 * 1024 * 1024, f"the relay grew by {grown // 2**20} MB"
        # Another device still gets its post in, and it is stored once the store catches up.
        honest_key = SecretKey.generate()
        post = make_event(honest_key, 1, "the market is open")
        honest = await _open(lab, lab.addresses[1], server.port)
        attackers.append(honest)
        await honest.send(orjson.dumps(["EVENT", post.to_dict()]).decode())
        gate.set()
        answer = orjson.loads(await asyncio.wait_for(honest.recv(), 60))
        assert answer == ["OK", post.id, True, ""]
        stored = await sqlite_store.get(post.id)
        assert stored is not None
        assert stored.id == post.id
    finally:
        gate.set()
        for task in senders:
            task.cancel()
        await asyncio.gather(*senders, return_exceptions=True)
        for ws in attackers:
            ws.transport.abort()
        with contextlib.suppress(Exception):
            await server.stop()
