"""Relays sharing one store (relay/follow.py, relay/bus.py, relay/cluster.py), in one process: two RelayServers on
two SqliteStores of one file, woken by the unix datagram bus. A post to one reaches the other's subscribers, read
from the store; what arrives on the bus is a number and never an event."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from websockets.asyncio.client import ClientConnection, connect

from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.relay.bus import LocalBus, store_bus
from samizdat.relay.cluster import LOOP_KINDS, Cluster, join
from samizdat.relay.follow import Follower
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import JoinedRelays, relays_as_workers

TIMEOUT = 10.0
NOW = int(time.time()) - 10


Pair = JoinedRelays[LocalBus]  # two relays on one store file, each with a follower on a LocalBus


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[Pair]:
    """Two relays on one store file, each with a follower on a LocalBus in one directory."""
    stores = [await SqliteStore.open(tmp_path / "events.sqlite") for _ in range(2)]
    buses = [LocalBus(tmp_path / "bus", f"w{i}") for i in range(2)]
    async with relays_as_workers(stores, buses) as joined:
        yield joined


async def subscribed(url: str) -> ClientConnection:
    ws = await connect(url, close_timeout=1)
    await ws.send(orjson.dumps(["REQ", "live", {"kinds": [1], "limit": 0}]).decode())
    async with asyncio.timeout(TIMEOUT):
        while orjson.loads(await ws.recv())[0] != "EOSE":
            pass
    return ws


async def next_events(ws: ClientConnection, n: int) -> list[str]:
    ids: list[str] = []
    async with asyncio.timeout(TIMEOUT):
        while len(ids) < n:
            message = orjson.loads(await ws.recv())
            if message[0] == "EVENT":
                ids.append(message[2]["id"])
    return ids


async def publish(url: str, event: Event) -> None:
    async with connect(url, close_timeout=1) as ws:
        await ws.send(orjson.dumps(["EVENT", event.to_dict()]).decode())
        async with asyncio.timeout(TIMEOUT):
            reply = orjson.loads(await ws.recv())
    assert reply[:3] == ["OK", event.id, True], reply


async def test_a_post_to_one_relay_reaches_the_other_relays_subscribers_once(pair: Pair, key: SecretKey) -> None:
    here, there = await subscribed(pair.url(0)), await subscribed(pair.url(1))
    try:
        events = [sign_event(key, 1, f"post {i}", [], created_at=NOW) for i in range(5)]
        for i, event in enumerate(events):
            await publish(pair.url(i % 2), event)
        want = [e.id for e in events]
        assert sorted(await next_events(here, 5)) == sorted(want)
        assert sorted(await next_events(there, 5)) == sorted(want)
        # Each exactly once: one more post, and it is the next thing each subscriber gets.
        last = sign_event(key, 1, "last", [], created_at=NOW)
        await publish(pair.url(0), last)
        assert await next_events(here, 1) == [last.id]
        assert await next_events(there, 1) == [last.id]
    finally:
        await here.close()
        await there.close()


async def test_what_comes_over_the_bus_is_never_taken_for_an_event(pair: Pair, key: SecretKey, tmp_path: Path) -> None:
    there = await subscribed(pair.url(1))
    try:
        forged = sign_event(key, 1, "forged: only on the bus", [], created_at=NOW)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            for data in (orjson.dumps(["EVENT", "live", forged.to_dict()]), b"-5", b"x" * 5000, b"99999999999"):
                sock.sendto(data, str(pair.buses[1].path))
        real = sign_event(key, 1, "stored", [], created_at=NOW)
        await publish(pair.url(0), real)
        assert await next_events(there, 1) == [real.id]  # the forged one never came
        assert await pair.servers[1].store.get(forged.id) is None
    finally:
        await there.close()


async def test_a_follower_that_missed_the_wake_ups_catches_up_from_the_store(tmp_path: Path, key: SecretKey) -> None:
    async with await SqliteStore.open(tmp_path / "events.sqlite") as store:
        bus = LocalBus(tmp_path / "bus", "alone")  # nobody publishes on it
        delivered: list[str] = []
        follower = Follower(store, bus, lambda event: delivered.append(event.id))
        try:
            await follower.start()
            events = [
                sign_event(key, 1, f"while away {i}", [], created_at=NOW) for i in range(1200)
            ]  # more than a page
            await store.add_many(events)
            assert await follower.catch_up() == 1200
            assert delivered == [e.id for e in events]  # in insertion order
            assert await follower.catch_up() == 0
        finally:
            await bus.close()


async def test_a_follower_of_a_few_kinds_reads_only_them_and_counts_the_others_bytes(
    tmp_path: Path, key: SecretKey
) -> None:
    """Worker 0 with no live subscription and no LAN link to push to (relay/cluster.py LOOP_KINDS): its loops get the
    posts and deletion requests the others store, the rest only counts, by size, toward the next carry pass."""
    async with await SqliteStore.open(tmp_path / "events.sqlite") as store:
        bus = LocalBus(tmp_path / "bus", "alone")
        delivered: list[str] = []
        skipped: list[int] = []
        follower = Follower(store, bus, lambda event: delivered.append(event.id), skipped=skipped.append)
        try:
            await follower.start()
            events = [
                sign_event(key, 2333 if i % 7 == 0 else 1, f"while away {i}", [], created_at=NOW) for i in range(1200)
            ]  # more than a page, mostly other kinds
            await store.add_many(events)
            assert await follower.catch_up(frozenset({2333, 5})) == 172
            assert delivered == [e.id for e in events if e.kind == 2333]
            assert sum(skipped) == sum(len(e.to_json()) for e in events if e.kind != 2333)
            assert follower.cursor == await store.last_seq()  # past every row, read or not
            later = sign_event(key, 1, "a reader subscribes", [], created_at=NOW)
            await store.add(later)
            assert await follower.catch_up() == 1  # every kind again from there on
            assert delivered[-1] == later.id
        finally:
            await bus.close()


async def test_worker_0_reads_every_event_only_while_a_subscriber_or_a_lan_link_takes_them(
    tmp_path: Path,
) -> None:
    store = await SqliteStore.open(tmp_path / "events.sqlite")
    bus = LocalBus(tmp_path / "bus", "w0")
    server = RelayServer(store)
    links_take_pushes = False
    follower = join(server, Cluster(bus, index=0, workers=2), pushing=lambda: links_take_pushes)
    other = join(RelayServer(store), Cluster(LocalBus(tmp_path / "bus", "w1"), index=1, workers=2))
    try:
        await server.start("127.0.0.1", 0)
        assert follower.wanted() == LOOP_KINDS == {2333, 5}  # what its loops use: posts, deletion requests
        assert other.wanted() is False  # nobody there takes any
        links_take_pushes = True
        assert follower.wanted() is True  # a LAN link is pushed every stored event
        links_take_pushes = False
        ws = await subscribed(f"ws://127.0.0.1:{server.port}")
        assert follower.wanted() is True  # a live subscriber may want any kind
        await ws.close()
    finally:
        await server.stop()
        await bus.close()
        await other.bus.close()
        await store.close()


async def test_a_follower_stops_when_cancelled_as_it_is_woken(tmp_path: Path) -> None:
    """A stop that comes in the same turn as a wake-up stops the follower (Python 3.11's asyncio.wait_for dropped
    such a cancellation, and a worker that was told to stop followed on for ever)."""
    async with await SqliteStore.open(tmp_path / "events.sqlite") as store:
        bus = LocalBus(tmp_path / "bus", "alone")
        follower = Follower(store, bus, lambda event: None)
        try:
            await follower.start()
            task = asyncio.create_task(follower.run())
            await asyncio.sleep(0.05)  # waiting for a wake-up
            follower._wake.set()
            task.cancel()
            done, _ = await asyncio.wait({task}, timeout=TIMEOUT)
            assert task in done, "the follower went on after it was told to stop"
            assert task.cancelled()
        finally:
            await bus.close()


class NotifyingStore:
    """A store that tells of its growth by itself, as the PostgreSQL store's LISTEN/NOTIFY does."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.grown: asyncio.Queue[int] = asyncio.Queue()

    def __getattr__(self, name: str) -> object:
        return getattr(self.store, name)

    async def watch(self) -> AsyncIterator[int]:
        while True:
            yield await self.grown.get()


async def test_a_store_that_notifies_is_its_own_bus(tmp_path: Path, key: SecretKey) -> None:
    assert store_bus(object()) is None  # SQLite needs a bus; it has no watch()
    async with await SqliteStore.open(tmp_path / "events.sqlite") as store:
        notifying = NotifyingStore(store)
        bus = store_bus(notifying)
        assert bus is not None
        delivered: list[str] = []
        came = asyncio.Event()

        def deliver(event: Event) -> None:
            delivered.append(event.id)
            came.set()

        follower = Follower(store, bus, deliver)
        await follower.start()
        task = asyncio.create_task(follower.run())
        try:
            event = sign_event(key, 1, "notified", [], created_at=NOW)
            await store.add(event)
            await bus.publish(1)  # nothing to do: the store's commit notifies
            notifying.grown.put_nowait(await store.last_seq())
            async with asyncio.timeout(TIMEOUT):
                await came.wait()
            assert delivered == [event.id]
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
