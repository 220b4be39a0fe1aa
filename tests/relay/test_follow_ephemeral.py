"""Ephemeral events between relays sharing a store (relay/follow.py, relay/bus.py): never stored, they travel on
the bus as signed JSON; the receiving relay delivers one only after checking its kind and signature, and the size
bound keeps a large one on its own relay."""

from __future__ import annotations

import asyncio
import contextlib
import socket

import orjson
from test_follow import NOW, TIMEOUT, Pair, pair, publish  # noqa: F401 - the pair fixture
from websockets.asyncio.client import ClientConnection, connect

from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.relay.bus import EPHEMERAL_MAX_BYTES
from samizdat.testing import relays_as_workers

KIND = 20001
PROBE = 20002


async def subscribed(url: str, kinds: list[int]) -> ClientConnection:
    ws = await connect(url, close_timeout=1, max_size=None)
    await ws.send(orjson.dumps(["REQ", "live", {"kinds": kinds, "limit": 0}]).decode())
    async with asyncio.timeout(TIMEOUT):
        while orjson.loads(await ws.recv())[0] != "EOSE":
            pass
    return ws


async def next_event(ws: ClientConnection, kind: int = KIND) -> dict[str, object]:
    """The next event of ``kind`` that ``ws`` gets (others are passed over)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            message = orjson.loads(await ws.recv())
            if message[0] == "EVENT" and message[2]["kind"] == kind:
                event: dict[str, object] = message[2]
                return event


async def until_listening(url: str, other: ClientConnection, key: SecretKey) -> None:
    """Publish probes (kind PROBE) at ``url`` until ``other``, subscribed to them on another relay, gets one: that
    relay listens (a PostgreSQL listener connects in the background, and what is sent before is not carried)."""
    for i in range(50):
        await publish(url, sign_event(key, PROBE, f"probe {i}", [], created_at=NOW))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.2):
                await next_event(other, PROBE)
                return
    raise AssertionError("the other relay never listened")


async def test_an_ephemeral_event_reaches_the_other_relays_subscribers_once(pair: Pair, key: SecretKey) -> None:  # noqa: F811
    here, there = await subscribed(pair.url(0), [KIND]), await subscribed(pair.url(1), [KIND])
    try:
        first = sign_event(key, KIND, "typing...", [], created_at=NOW)
        await publish(pair.url(0), first)
        assert (await next_event(here))["id"] == first.id
        assert (await next_event(there))["id"] == first.id
        assert await pair.servers[1].store.get(first.id) is None  # ephemeral: stored nowhere
        second = sign_event(key, KIND, "stopped typing", [], created_at=NOW)
        await publish(pair.url(1), second)  # the other way, and each exactly once: it is the next thing each gets
        assert (await next_event(there))["id"] == second.id
        assert (await next_event(here))["id"] == second.id
        assert pair.followers[1].ephemeral_delivered == 1
        assert pair.followers[0].ephemeral_delivered == 1
    finally:
        await here.close()
        await there.close()


async def test_the_bus_cannot_forge_an_ephemeral_event(pair: Pair, key: SecretKey) -> None:  # noqa: F811
    there = await subscribed(pair.url(1), [1, KIND])
    try:
        good = sign_event(key, KIND, "signed", [], created_at=NOW).to_dict()
        badly_signed = dict(good, content="changed after signing")
        other_sig = dict(good, sig="00" * 64)
        stored_kind = sign_event(key, 1, "a post must come from the store, not the bus", [], created_at=NOW)
        from_2100 = sign_event(key, KIND, "dated in 2100: refused at every door", [], created_at=4_102_444_800)
        forged = (orjson.dumps(badly_signed), orjson.dumps(other_sig), stored_kind.to_json(), from_2100.to_json())
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            for data in (*forged, b"{", b"[1]"):
                sock.sendto(b"E" + data, str(pair.buses[1].path))
        real = sign_event(key, KIND, "the real one", [], created_at=NOW)
        await publish(pair.url(0), real)
        assert (await next_event(there))["id"] == real.id  # none of the forged ones came first
        assert pair.followers[1].refused_ephemeral == 6
        assert await pair.servers[1].store.get(stored_kind.id) is None
    finally:
        await there.close()


async def test_a_large_ephemeral_event_stays_on_its_relay(pair: Pair, key: SecretKey) -> None:  # noqa: F811
    here, there = await subscribed(pair.url(0), [KIND]), await subscribed(pair.url(1), [KIND])
    try:
        large = sign_event(key, KIND, "ж" * (EPHEMERAL_MAX_BYTES // 2 + 1), [], created_at=NOW)  # two bytes each
        await publish(pair.url(0), large)
        assert (await next_event(here))["id"] == large.id
        small = sign_event(key, KIND, "small", [], created_at=NOW)
        await publish(pair.url(0), small)
        assert (await next_event(there))["id"] == small.id  # the large one never went over the bus
    finally:
        await here.close()
        await there.close()


async def test_ephemeral_events_between_relays_on_postgresql_without_nats(postgres_url: str, key: SecretKey) -> None:
    """Two relays on one PostgreSQL store and no other bus (LISTEN/NOTIFY): ephemeral events cross by NOTIFY,
    in pieces of at most 8,000 bytes; one larger than a piece stays on its relay."""
    from samizdat.relay.bus import StoreBus, store_bus
    from samizdat.store.postgres import PostgresStore

    stores = [await PostgresStore.open(postgres_url) for _ in range(2)]
    buses: list[StoreBus] = []
    for store in stores:
        bus = store_bus(store)
        assert bus is not None
        buses.append(bus)
    async with relays_as_workers(stores, buses, workers=1) as joined:
        urls = [joined.url(0), joined.url(1)]
        here, there = await subscribed(urls[0], [KIND, PROBE]), await subscribed(urls[1], [KIND, PROBE])
        try:
            await until_listening(urls[0], there, key)
            await until_listening(urls[1], here, key)
            large = sign_event(key, KIND, "x" * 9000, [], created_at=NOW)
            await publish(urls[0], large)
            assert (await next_event(here))["id"] == large.id
            sent = [sign_event(key, KIND, f"typing {i}" + "." * 3000, [], created_at=NOW) for i in range(4)]
            for event in sent:
                await publish(urls[0], event)
            got = [(await next_event(there))["id"] for _ in sent]
            assert sorted(got) == sorted(e.id for e in sent)  # the large one never came, nor any twice
            back = sign_event(key, KIND, "the other way", [], created_at=NOW)
            await publish(urls[1], back)
            assert (await next_event(there))["id"] == back.id
            for _ in sent:
                await next_event(here)
            assert (await next_event(here))["id"] == back.id
        finally:
            await here.close()
            await there.close()
