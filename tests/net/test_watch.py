"""The stall watch (net/watch.py) on loopback: a connection that stops carrying anything while the client waits
for an answer is dropped within seconds and called ``data.stall`` (before, the client waited for its whole time
limit and could not tell a stall from a slow relay); a throttled connection, a relay slow to answer and an idle
live subscription are left alone. The watch's two bounds are shortened here (the same code, smaller numbers)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import orjson
import pytest
from net_helpers import Relay, Stalling, frame, port_of, seed
from websockets.asyncio.server import ServerConnection, serve
from websockets.utils import accept_key

from samizdat.core.event import sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.errors import TransportError
from samizdat.net import watch
from samizdat.net.client import RelayClient


@pytest.fixture(autouse=True)
def quick_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(watch, "QUIET", 0.3)
    monkeypatch.setattr(watch, "PONG_WAIT", 1.0)


async def test_a_connection_that_stops_carrying_anything_is_called_a_stall(samizdat_relay: Relay) -> None:
    await seed(samizdat_relay.url)  # about 150 KB: the answer to a REQ for all of it passes the censor's 16 KB
    async with Stalling(port_of(samizdat_relay.url), down=16_000) as censor:
        client = await RelayClient.connect(censor.url, timeout=10)
        try:
            with pytest.raises(TransportError):
                await client.fetch([Filter(kinds=(1,))], timeout=30)
            assert client.breakage() == "data.stall"  # a route that stalls, not a relay that did not answer
            assert not client.is_open
        finally:
            await client.close(wait=0.1)


async def test_a_stall_of_what_the_client_sends_is_caught_too(samizdat_relay: Relay) -> None:
    """Upstream: the censor swallows what the client sends once 16 KB went up; the ping waits behind it."""
    key = SecretKey.generate()
    events = [sign_event(key, 1, f"{i:03d} " + "y" * 2000, [], created_at=1_700_000_000 + i) for i in range(40)]
    async with Stalling(port_of(samizdat_relay.url), up=16_000) as censor:
        client = await RelayClient.connect(censor.url, timeout=10)
        try:
            with pytest.raises(TransportError):
                await client.publish_many(events, timeout=30)
            assert client.breakage() == "data.stall"
        finally:
            await client.close(wait=0.1)


async def test_a_throttled_connection_is_not_a_stall(samizdat_relay: Relay) -> None:
    """One 30 KB event through a censor that lets 6 KB a second through: its frame takes about 5 s, far longer
    than the watch's bounds, but bytes keep coming, so the answer is waited for."""
    key = SecretKey.generate()
    big = sign_event(key, 1, "z" * 30_000, [], created_at=1_700_000_000)
    async with await RelayClient.connect(samizdat_relay.url, timeout=10) as direct:
        assert (await direct.publish(big)).accepted
    async with Stalling(port_of(samizdat_relay.url), rate=6_000) as censor:
        client = await RelayClient.connect(censor.url, timeout=30)
        try:
            got = await client.fetch([Filter(ids=(big.id,))], timeout=60)
            assert [e.id for e in got] == [big.id]
            assert client.is_open
        finally:
            await client.close(wait=0.1)


async def test_a_relay_slow_to_answer_is_not_a_stall() -> None:
    """A relay that takes 3 s to answer a REQ but answers pings at once (its WebSocket layer does) is slow, not
    stalled: the answer is waited for."""

    async def slow(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "REQ":
                await asyncio.sleep(3)
                await ws.send(frame("EOSE", message[1]))

    async with serve(slow, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        async with await RelayClient.connect(f"ws://127.0.0.1:{port}", timeout=10) as client:
            assert await client.fetch([Filter(kinds=(1,))], timeout=30) == []
            assert client.is_open
            assert client.breakage() is None


async def read_frame(reader: asyncio.StreamReader) -> bytes:
    """One masked client frame's payload (a short one: under 64 KB)."""
    head = await reader.readexactly(2)
    size = head[1] & 0x7F
    if size == 126:
        size = int.from_bytes(await reader.readexactly(2), "big")
    mask = await reader.readexactly(4)
    data = await reader.readexactly(size)
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


@contextlib.asynccontextmanager
async def silent_after_eose() -> AsyncIterator[str]:
    """A relay that answers the handshake and one REQ with EOSE, then never sends another byte (no pong either)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in lines if line.lower().startswith(b"sec-websocket-key"))
        accept = accept_key(key.decode()).encode()
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n")  # fmt: skip
        req = orjson.loads(await read_frame(reader))
        payload = frame("EOSE", req[1]).encode()
        writer.write(bytes((0x81, len(payload))) + payload)
        await writer.drain()
        with contextlib.suppress(OSError):
            while await reader.read(4096):  # pings and all, swallowed
                pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()


async def test_an_idle_live_subscription_is_not_watched() -> None:
    """After EOSE, a live subscription's next event may be hours away: a relay that says nothing then (and whose
    pongs are lost) is websockets' keepalive's to judge, not the stall watch's."""
    async with silent_after_eose() as url:
        client = await RelayClient.connect(url, timeout=10)
        try:
            stream = client.stream([Filter(kinds=(1,))], live=True).__aiter__()
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(stream.__anext__(), 3.0)  # ten times the watch's silence, and more
            assert client.is_open
            assert client.breakage() is None
            await stream.aclose()
        finally:
            await client.close(wait=0.1)
