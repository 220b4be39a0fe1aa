"""Queries cost a bounded amount: a client that asks for everything many times and never reads holds a page, not
the store; heavy clients cannot starve light ones; a query or count that takes too long is closed; NIP-77 storages
share one memory bound; and work for a client that has gone stops."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import psutil
import pytest
from relay_helpers import RawClient, client, make_event, publish, query, recv_json, recv_until

from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import Negentropy, VectorStorage
from samizdat.relay.connection import NegRequest
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import BUSY, IDLE, NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.relay.stored import COUNT_TOO_LONG, QUERY_TOO_LONG, TOO_SLOW
from samizdat.testing import FakeClock, running_relay, wait_until

BASE = int(time.time()) - 200_000
EVENTS = 20_000
BUFFER = 256 * 1024


def rss() -> int:
    return int(psutil.Process(os.getpid()).memory_info().rss)


@pytest.fixture(scope="module")
def stored_events() -> list[Event]:
    """20,000 events of ~1 KB, one second apart (signed once for the module)."""
    key = SecretKey.generate()
    return [make_event(key, 1, f"{i} " + "n" * 900, created_at=BASE + i) for i in range(EVENTS)]


@pytest.fixture
def limits() -> RelayLimits:
    return RelayLimits(send_buffer_bytes=BUFFER, send_timeout=3.0, reqs_burst=1000)


@pytest.fixture
async def relay(tmp_path: Path, limits: RelayLimits, stored_events: list[Event]) -> AsyncIterator[RelayServer]:
    async with running_relay(tmp_path, limits=limits) as running:
        for start in range(0, len(stored_events), 5000):
            await running.store.add_many(stored_events[start : start + 5000])
        yield running.server


def req(sub_id: str, *filters: dict[str, Any]) -> str:
    return orjson.dumps(["REQ", sub_id, *filters]).decode()


def windows(n: int) -> list[dict[str, Any]]:
    """``n`` time windows that each cover (nearly) the whole store, at the highest limit (with a kind, so that
    the cap on broad live subscriptions does not refuse them: this is about what the answers cost)."""
    return [{"kinds": [1], "since": BASE + i, "until": BASE + EVENTS, "limit": 5000} for i in range(n)]


async def test_clients_that_ask_for_everything_and_never_read_hold_a_page(
    relay: RelayServer, stored_events: list[Event], key: SecretKey
) -> None:
    url = f"ws://127.0.0.1:{relay.port}"
    before = rss()
    # Four connections, each with 50 REQs of 10 windows over the whole store (20 MB each, a billion bytes of
    # answers in all), and none of them ever reads a byte.
    attackers = [await asyncio.to_thread(RawClient, relay.port) for _ in range(4)]
    try:
        for n, attacker in enumerate(attackers):
            attacker.send_many([req(f"a{n}-{i}", *windows(10)) for i in range(50)])
        await wait_until(lambda: relay.subscription_count == 200, what="the attackers' 200 subscriptions")
        page = relay.answers.page_bytes
        per_connection = BUFFER // 2 + page + 1200
        peak_total = 0
        async with client(url) as honest:
            # The node still answers everyone else while the attack stands.
            for round_ in range(5):
                got = await query(honest, f"h{round_}", {"kinds": [1], "until": BASE + EVENTS, "limit": 10})
                assert [e["id"] for e in got] == [e.id for e in reversed(stored_events[-10:])]
                await honest.send('["COUNT","c",{"kinds":[1]}]')
                assert await recv_json(honest) == ["COUNT", "c", {"count": EVENTS + round_}]
                fresh = make_event(key, 1, f"honest {round_}")
                assert (await publish(honest, fresh))[:3] == ["OK", fresh.id, True]
                peak_total = max(peak_total, relay.queued.bytes)
                assert all(c.queued <= per_connection for c in relay.clients)
        assert peak_total <= 4 * per_connection + 64 * 1024
        assert rss() - before < 96 * 1024 * 1024  # answering them all at once would take gigabytes
        # With no room for send_timeout, each attacker's subscriptions are closed, not buffered.
        await wait_until(lambda: relay.subscription_count == 0, timeout=20, what="the attackers' subscriptions' end")
        assert len(relay.clients) == 4  # their connections stay: closing a subscription is enough
        messages, _ = await asyncio.to_thread(attackers[0].read_all, 2.0)
        closed = [m for m in messages if m[0] == "CLOSED"]
        assert len(closed) == 50
        assert all(m[2] == TOO_SLOW for m in closed)
        assert not [m for m in messages if m[0] == "EOSE"]
    finally:
        for attacker in attackers:
            attacker.close()


async def test_a_heavy_client_does_not_starve_a_light_one(relay: RelayServer, stored_events: list[Event]) -> None:
    url = f"ws://127.0.0.1:{relay.port}"
    async with client(url) as heavy, client(url) as light:
        # The heavy client reads, so its 30 subscriptions keep asking the store for pages.
        for i in range(30):
            await heavy.send(req(f"h{i}", *windows(5)))

        async def drain() -> None:
            while True:
                await heavy.recv()

        reader = asyncio.create_task(drain())
        try:
            await wait_until(lambda: relay.turns.waiting >= 3, what="the heavy client's pages to queue up")
            heavy_client = next(iter(relay.turns._holding))  # only the heavy client has asked for turns yet
            turns = relay.turns
            taken = turns._take
            order: list[object] = []  # the connections given a turn, in order, from here on

            def logged(address: object, connection: object) -> None:
                order.append(connection)
                taken(address, connection)

            turns._take = logged  # type: ignore[method-assign]
            target = stored_events[123]
            got = await query(light, "l", {"ids": [target.id]})
            assert [e["id"] for e in got] == [target.id]
            # The light query waited for at most a turn or two of the heavy client's, not for its queue (counted
            # up to the light query's own turn: how long its answer then takes to arrive depends on the machine).
            light_turn = next(i for i, connection in enumerate(order) if connection is not heavy_client)
            assert light_turn <= 4
            assert relay.turns.waiting >= 1  # the heavy client still had pages waiting
        finally:
            reader.cancel()


@pytest.mark.parametrize("limits", [RelayLimits(store_seconds=1e-4, reqs_burst=1000)])
async def test_a_query_or_count_that_takes_too_long_is_closed(relay: RelayServer) -> None:
    async with client(f"ws://127.0.0.1:{relay.port}") as ws:
        await ws.send(orjson.dumps(["COUNT", "c", *windows(10)]).decode())
        assert await recv_json(ws) == ["CLOSED", "c", COUNT_TOO_LONG]
        # (The store checks the time every few thousand steps of its work: a page must take that many to be cut.)
        unknown = [{"ids": [f"{i * 1000 + j:064x}" for j in range(1000)]} for i in range(3)]
        await ws.send(req("q", *unknown))
        assert await recv_json(ws) == ["CLOSED", "q", QUERY_TOO_LONG]
        assert relay.subscription_count == 0


async def test_work_for_a_client_that_has_gone_stops(relay: RelayServer) -> None:
    url = f"ws://127.0.0.1:{relay.port}"
    # The store's turns are all taken (by someone else's long reads) when the client asks...
    held = [relay.turns.turn(f"other{i}", f"other{i}") for i in range(relay.turns.slots)]
    for turn in held:
        await turn.__aenter__()
    try:
        ws = await client(url).__aenter__()
        await ws.send(req("q", *windows(10)))
        for i in range(3):
            await ws.send(orjson.dumps(["COUNT", f"c{i}", {"kinds": [1]}]).decode())
        await wait_until(lambda: relay.turns.waiting == 4, what="the client's reads to wait for the store")
        await ws.close()
        # ... and gone before it got one: nothing is read for it any more.
        await wait_until(lambda: relay.turns.waiting == 0 and not relay.clients, what="its work to be dropped")
    finally:
        for turn in held:
            await turn.__aexit__(None, None, None)
    assert relay.turns.busy == 0


# -- NIP-77 ------------------------------------------------------------------------------------------------------


def neg_open(sub_id: str, flt: dict[str, Any]) -> str:
    empty = VectorStorage()
    empty.seal()
    return orjson.dumps(["NEG-OPEN", sub_id, flt, Negentropy(empty).initiate().hex()]).decode()


@pytest.fixture
async def neg_relay(tmp_path: Path, stored_events: list[Event]) -> AsyncIterator[tuple[RelayServer, Any]]:
    clock = FakeClock(1000.0)
    service = NegentropyService(memory_records=3000, idle_seconds=120, min_staleness=0, clock=clock)
    async with running_relay(tmp_path, negentropy=service) as running:
        await running.store.add_many(stored_events[:2000])
        yield running.server, (service, clock)


async def test_negentropy_storages_share_one_memory_bound(neg_relay: tuple[RelayServer, Any]) -> None:
    relay, (service, clock) = neg_relay
    url = f"ws://127.0.0.1:{relay.port}"
    async with client(url) as first, client(url) as second:
        await first.send(neg_open("a", {}))  # 2,000 records, kept while the session is open
        assert (await recv_json(first))[:2] == ["NEG-MSG", "a"]
        assert service.records_in_memory == 2000
        # Another filter needs another 2,000: over the bound while the first session is in use.
        await second.send(neg_open("b", {"kinds": [1]}))
        assert await recv_json(second) == ["NEG-ERR", "b", BUSY]
        assert service.records_in_memory == 2000
        # Once the first session has been idle long enough, it gives way.
        clock.advance(121)
        await second.send(neg_open("b", {"kinds": [1]}))
        assert (await recv_json(second))[:2] == ["NEG-MSG", "b"]
        assert await recv_json(first) == ["NEG-ERR", "a", IDLE]
        assert service.records_in_memory <= 3000
    # Sessions end with their connections: what they held is free (at most the cache stays).
    await wait_until(lambda: not relay.clients)
    assert not service._in_use
    assert not service._tables


async def test_one_address_holds_a_share_of_negentropy_memory(tmp_path: Path, stored_events: list[Event]) -> None:
    """The sessions of one address hold at most their share of the memory bound (beyond their first storage), so
    another address can still sync; storages no session uses are kept only up to the cache's own bounds (an
    attacker asking for ever new filters cannot keep the whole memory bound full of storages nobody shares)."""
    service = NegentropyService(
        memory_records=10_000, records_per_address=2_500, cache_records=1_000, max_cached=3, min_staleness=0
    )
    empty = VectorStorage()
    empty.seal()
    hello = Negentropy(empty).initiate().hex()
    sent: list[Any] = []

    def send(frame: bytes) -> bool:
        sent.append(orjson.loads(frame))
        return True

    async def neg_open(table: Any, sub_id: str, flt: dict[str, Any]) -> str:
        sent.clear()
        await table.handle(NegRequest("NEG-OPEN", sub_id, (flt, hello)))
        assert len(sent) == 1
        assert sent[0][1] == sub_id
        return str(sent[0][0] if sent[0][0] == "NEG-MSG" else sent[0][2])

    async with running_relay(tmp_path) as running:
        store = running.store
        await store.add_many(stored_events[:2000])
        attacker = [service(send, store, address="10.0.0.9") for _ in range(3)]
        honest = service(send, store, address="10.0.0.2")
        assert await neg_open(attacker[0], "a", {"kinds": [1]}) == "NEG-MSG"  # 2,000 records: its first storage
        assert await neg_open(attacker[1], "b", {"since": BASE + 1}) == BUSY  # 3,999 would pass its 2,500
        assert await neg_open(attacker[2], "c", {"since": BASE + 1900}) == "NEG-MSG"  # 100 more still fit
        assert service.held_by("10.0.0.9") == 2_100
        assert await neg_open(honest, "h", {"since": BASE + 2}) == "NEG-MSG"  # another address is not affected
        for table in (*attacker, honest):
            table.close()
        # Nothing is in use now: the cache keeps at most 1,000 records (none of these storages fits).
        assert not service._in_use
        assert service.records_in_memory <= 1_000
        # Ever new filters that match nothing: at most max_cached storages stay.
        table = service(send, store, address="10.0.0.9")
        for n in range(10):
            assert await neg_open(table, f"e{n}", {"authors": [f"{n:064x}"]}) == "NEG-MSG"
            await table.handle(NegRequest("NEG-CLOSE", f"e{n}", ()))
        assert len(service._cache) <= 3
        table.close()
        assert not service._by_address


async def test_a_negentropy_build_for_a_client_that_has_gone_stops(neg_relay: tuple[RelayServer, Any]) -> None:
    relay, (service, _) = neg_relay
    async with service.quick_lane.turn("other", "other"):  # the store is building for someone else
        async with client(f"ws://127.0.0.1:{relay.port}") as ws:
            await ws.send(neg_open("n", {}))
            await wait_until(lambda: service.quick_lane.waiting == 1, what="its build to wait for a turn")
        await wait_until(lambda: service.quick_lane.waiting == 0 and not service._building, what="the build to stop")
    assert service.builds == 0
    await asyncio.sleep(0)


async def test_the_honest_client_reads_everything_it_asked_for(relay: RelayServer, stored_events: list[Event]) -> None:
    # Paging changes nothing for a client that reads: 20,000 events in order, newest first, then EOSE.
    async with client(f"ws://127.0.0.1:{relay.port}") as ws:
        await ws.send(req("all", {"limit": 5000}, {"until": BASE + 9_999, "limit": 5000}))
        messages = await recv_until(ws, "EOSE", timeout=60, limit=20_000)
    ids = [m[2]["id"] for m in messages if m[0] == "EVENT"]
    newest = [e.id for e in reversed(stored_events)]
    assert ids == newest[:5000] + newest[10_000:15_000]
