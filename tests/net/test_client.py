"""``RelayClient`` against real relays (ours, in-process, and nostr-sdk's ``LocalRelay``) and against small hostile
WebSocket servers written here: publish, fetch with filters, count, live streams; invalid events are skipped; a
refused, silent or vanishing relay gives a transport error, never a hang (every wait is bounded)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from net_helpers import Relay
from websockets.asyncio.server import ServerConnection, serve

from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.errors import BrokenTransport, ClosedTransport, RemoteProtocolError, TransportError
from samizdat.net import client as client_module
from samizdat.net.client import RelayClient
from samizdat.testing import free_port, wait_until

BASE = int(time.time()) - 1000
WAIT = 10.0  # seconds: the bound on every wait in this module


def ids(events: list[Event]) -> set[str]:
    return {e.id for e in events}


# -- relays ----------------------------------------------------------------------------------------------------


Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def hostile(handler: Handler) -> AsyncIterator[str]:
    """A WebSocket server on loopback that runs ``handler`` for each connection; yields its URL."""
    async with serve(handler, "127.0.0.1", 0, close_timeout=1) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


async def drain(events: AsyncIterator[Event], into: list[Event] | None = None) -> None:
    """Consume a stream to its end (or its error), for at most WAIT seconds."""
    async with asyncio.timeout(WAIT):
        async for event in events:
            if into is not None:
                into.append(event)


def frame(*parts: Any) -> str:
    return orjson.dumps(list(parts)).decode()


def on_req(answer: Callable[[ServerConnection, str], Awaitable[None]]) -> Handler:
    """A relay that answers every REQ (and COUNT) with ``answer(ws, subscription id)`` and ignores the rest."""

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] in ("REQ", "COUNT"):
                await answer(ws, message[1])

    return handler


# -- against real relays ---------------------------------------------------------------------------------------


async def test_publish_then_fetch_with_filters(relay: Relay) -> None:
    alice, bob = SecretKey.generate(), SecretKey.generate()
    address = f"30333:{alice.public_key_hex}:minsk"
    a1 = sign_event(alice, 1, "police at the square", [["t", "minsk"]], created_at=BASE + 1)
    a2 = sign_event(alice, 1, "all clear", [["t", "minsk"]], created_at=BASE + 2)
    b1 = sign_event(bob, 1, "need a lawyer", [["p", alice.public_key_hex]], created_at=BASE + 3)
    b2 = sign_event(bob, 2333, "a channel post", [["a", address, ""], ["type", "news"]], created_at=BASE + 4)
    async with await RelayClient.connect(relay.url, timeout=WAIT) as client:
        results = await client.publish_many([a1, a2, b1, b2], timeout=WAIT)
        assert [(r.event_id, r.accepted, r.relay) for r in results] == [
            (e.id, True, relay.url) for e in (a1, a2, b1, b2)
        ]
        again = await client.publish(a1, timeout=WAIT)
        assert again.accepted
        assert again.prefix == "duplicate"

        async def fetch(*filters: Filter) -> set[str]:
            return ids(await client.fetch(list(filters), timeout=WAIT))

        alice_only = frozenset({alice.public_key_hex})
        assert await fetch(Filter(authors=alice_only)) == ids([a1, a2])
        assert await fetch(Filter(tags=(("t", frozenset({"minsk"})),))) == ids([a1, a2])
        assert await fetch(Filter(tags=(("p", alice_only),))) == ids([b1])
        assert await fetch(Filter(kinds=frozenset({2333}), tags=(("a", frozenset({address})),))) == ids([b2])
        assert await fetch(Filter(kinds=frozenset({1}), since=BASE + 2, until=BASE + 3)) == ids([a2, b1])
        assert await fetch(Filter(ids=frozenset({b1.id}))) == ids([b1])
        assert await fetch(Filter(authors=frozenset({alice.public_key_hex, bob.public_key_hex}), limit=1)) == ids([b2])
        assert await fetch(Filter(kinds=frozenset({2333})), Filter(ids=frozenset({a1.id}))) == ids([a1, b2])  # OR
        assert await fetch(Filter(authors=frozenset({SecretKey.generate().public_key_hex}))) == set()
        (got,) = await client.fetch([Filter(ids=frozenset({a2.id}))], timeout=WAIT)
        assert got == a2  # byte for byte what was signed, verified on arrival
        assert client.bytes_in > 0
        assert client.bytes_out > 0


async def test_count(relay: Relay) -> None:
    key = SecretKey.generate()
    events = [sign_event(key, 1, f"note {i}", [["t", "count"]], created_at=BASE + i) for i in range(7)]
    async with await RelayClient.connect(relay.url, timeout=WAIT) as client:
        assert all(r.accepted for r in await client.publish_many(events, timeout=WAIT))
        assert await client.count([Filter(tags=(("t", frozenset({"count"})),))], timeout=WAIT) == 7
        assert await client.count([Filter(authors=frozenset({key.public_key_hex}), since=BASE + 5)], timeout=WAIT) == 2
        assert await client.count([Filter(kinds=frozenset({4242}))], timeout=WAIT) == 0


async def test_stream_gives_stored_then_live_events(relay: Relay) -> None:
    key = SecretKey.generate()
    old = sign_event(key, 1, "stored before", [], created_at=BASE)
    async with (
        await RelayClient.connect(relay.url, timeout=WAIT) as reader,
        await RelayClient.connect(relay.url, timeout=WAIT) as writer,
    ):
        assert (await writer.publish(old, timeout=WAIT)).accepted
        received: list[str] = []
        first = asyncio.Event()

        async def consume() -> None:
            async with contextlib.aclosing(reader.stream([Filter(authors=frozenset({key.public_key_hex}))])) as feed:
                async for event in feed:
                    received.append(event.id)
                    first.set()
                    if len(received) == 2:
                        return

        task = asyncio.create_task(consume())
        try:
            await asyncio.wait_for(first.wait(), WAIT)  # the subscription is open on the relay
            new = sign_event(key, 1, "live", [], created_at=int(time.time()))
            assert (await writer.publish(new, timeout=WAIT)).accepted
            await asyncio.wait_for(task, WAIT)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        assert received == [old.id, new.id]
        if relay.server is not None:  # leaving the stream closed the subscription on the relay
            server = relay.server
            await wait_until(lambda: server.subscription_count == 0, what="the subscription to close on the relay")
        assert reader.is_open  # the connection stays usable
        assert await reader.fetch([Filter(ids=frozenset({new.id}))], timeout=WAIT) == [new]


async def test_a_closed_client_refuses_to_send(samizdat_relay: Relay) -> None:
    client = await RelayClient.connect(samizdat_relay.url, timeout=WAIT)
    await client.close()
    assert not client.is_open
    with pytest.raises(ClosedTransport):
        await client.publish(sign_event(SecretKey.generate(), 1, "late", [], created_at=BASE), timeout=WAIT)
    await client.close()  # twice is fine


# -- hostile and broken relays ---------------------------------------------------------------------------------


async def test_invalid_events_from_a_relay_are_skipped() -> None:
    key = SecretKey.generate()
    good = sign_event(key, 1, "genuine", [], created_at=BASE)
    other = sign_event(key, 1, "also genuine", [], created_at=BASE + 1).to_dict()
    forged_sig = {**other, "sig": other["sig"][:-2] + ("00" if other["sig"][-2:] != "00" else "11")}
    altered = {**other, "content": "altered after signing"}  # the id no longer matches
    impostor = {**other, "pubkey": SecretKey.generate().public_key_hex}

    async def answer(ws: ServerConnection, sub_id: str) -> None:
        await ws.send(frame("NOTICE", "hello from a hostile relay"))
        for bad in (forged_sig, altered, impostor, {"id": "zz"}, "not an event", 42):
            await ws.send(frame("EVENT", sub_id, bad))
        await ws.send("this is not JSON")
        await ws.send(frame("EVENT"))
        await ws.send(frame({"not": "a list"}))
        await ws.send(frame("EVENT", "someone-elses-subscription", good.to_dict()))
        await ws.send(frame("EVENT", sub_id, good.to_dict()))
        await ws.send(frame("EOSE", sub_id))

    async with hostile(on_req(answer)) as url, await RelayClient.connect(url, timeout=WAIT) as client:
        assert await client.fetch([Filter()], timeout=WAIT) == [good]
        assert client.is_open
        assert client.notices
        assert "hostile" in client.notices[0]


async def test_connection_refused_is_a_broken_transport() -> None:
    url = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(BrokenTransport, match=f"cannot connect to {url}") as caught:
        await RelayClient.connect(url, timeout=WAIT)
    assert isinstance(caught.value.__cause__, OSError)


async def test_not_a_websocket_server_is_a_broken_transport() -> None:
    async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1000)
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(hang_up, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(BrokenTransport, match="cannot connect"):
            await RelayClient.connect(f"ws://127.0.0.1:{port}", timeout=WAIT)
    finally:
        server.close()
        await server.wait_closed()


async def test_a_relay_address_must_be_a_websocket_url() -> None:
    with pytest.raises(TransportError, match="not a ws:// or wss://"):
        await RelayClient.connect("http://127.0.0.1:1", timeout=WAIT)


@pytest.mark.parametrize(("how", "error"), [("close", ClosedTransport), ("abort", BrokenTransport)])
async def test_a_relay_that_goes_away_mid_fetch_raises_a_transport_error(how: str, error: type[Exception]) -> None:
    event = sign_event(SecretKey.generate(), 1, "the only one", [], created_at=BASE)

    async def answer(ws: ServerConnection, sub_id: str) -> None:
        await ws.send(frame("EVENT", sub_id, event.to_dict()))
        if how == "close":
            await ws.close()
        else:
            assert ws.transport is not None
            ws.transport.abort()  # no closing handshake: the network failed

    async with hostile(on_req(answer)) as url, await RelayClient.connect(url, timeout=WAIT) as client:
        received: list[Event] = []
        with pytest.raises(error, match=url):
            await drain(client.stream([Filter()], timeout=WAIT, live=False), received)
        assert received == [event]
        assert not client.is_open
        with pytest.raises(TransportError):  # and so does everything after
            await asyncio.wait_for(client.count([Filter()], timeout=WAIT), WAIT)


async def test_a_live_stream_ends_when_the_relay_goes_away() -> None:
    async def answer(ws: ServerConnection, sub_id: str) -> None:
        await ws.send(frame("EOSE", sub_id))
        await asyncio.sleep(0.2)
        await ws.close()

    async with hostile(on_req(answer)) as url, await RelayClient.connect(url, timeout=WAIT) as client:
        with pytest.raises(ClosedTransport):  # a live stream has no timeout of its own: drain() bounds it
            await drain(client.stream([Filter()], live=True))


async def test_a_silent_relay_times_out() -> None:
    async def ignore(ws: ServerConnection) -> None:
        async for _ in ws:
            pass

    event = sign_event(SecretKey.generate(), 1, "anyone there?", [], created_at=BASE)
    async with hostile(ignore) as url, await RelayClient.connect(url, timeout=WAIT) as client:
        with pytest.raises(BrokenTransport, match="did not answer"):
            await client.fetch([Filter()], timeout=0.3)
        with pytest.raises(BrokenTransport, match="did not answer"):
            await client.count([Filter()], timeout=0.3)
        result = await client.publish(event, timeout=0.3)
        assert not result.accepted
        assert result.prefix == "error"
        assert client.is_open


async def test_a_relay_closing_instead_of_answering_an_event() -> None:
    async def hang_up(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.close()

    event = sign_event(SecretKey.generate(), 1, "never acknowledged", [], created_at=BASE)
    async with hostile(hang_up) as url, await RelayClient.connect(url, timeout=WAIT) as client:
        with pytest.raises(ClosedTransport):
            await client.publish(event, timeout=WAIT)


async def test_refusals_are_remote_protocol_errors() -> None:
    async def refuse(ws: ServerConnection, sub_id: str) -> None:
        await ws.send(frame("CLOSED", sub_id, "blocked: not on this relay"))

    async with hostile(on_req(refuse)) as url, await RelayClient.connect(url, timeout=WAIT) as client:
        with pytest.raises(RemoteProtocolError, match="blocked: not on this relay"):
            await client.fetch([Filter()], timeout=WAIT)
        with pytest.raises(RemoteProtocolError, match="refused COUNT"):
            await client.count([Filter()], timeout=WAIT)
        assert client.is_open


async def test_a_subscription_that_overflows_is_closed_with_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(client_module, "SUBSCRIPTION_QUEUE", 20)
    event = sign_event(SecretKey.generate(), 1, "flood", [], created_at=BASE)
    sent = asyncio.Event()
    total = 0

    async def flood(ws: ServerConnection, sub_id: str) -> None:
        nonlocal total
        frames = [frame("EVENT", sub_id, event.to_dict())] * 30 + [frame("EOSE", sub_id)]
        total = sum(len(f) for f in frames)
        for f in frames:
            await ws.send(f)
        sent.set()

    async with hostile(on_req(flood)) as url, await RelayClient.connect(url, timeout=WAIT) as client:
        start = client.bytes_in
        async with contextlib.aclosing(client.stream([Filter()], live=True)) as stream:
            assert await asyncio.wait_for(anext(stream), WAIT) == event
            await asyncio.wait_for(sent.wait(), WAIT)
            # Until our reader has taken in everything the relay sent, without our reading.
            await wait_until(lambda: client.bytes_in - start >= total, what="everything the relay sent to come in")
            with pytest.raises(RemoteProtocolError, match="too slow"):  # it used to wait here forever
                await drain(stream)
        assert client.is_open
