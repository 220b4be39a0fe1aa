"""Subscriptions the fan-out index cannot file by ids, authors, kinds or tags: thousands of time windows cost a
publisher nothing (the index), and broad live subscriptions (search or time window only) are capped per
connection, per address and in all, since each matching one multiplies every publisher's fan-out. Run from many
addresses in a network namespace (``relay_netns.py``), as devices on a hub's Wi-Fi would."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from relay_helpers import event_message, make_event, recv_json
from relay_netns import AddressLab, websockets_from
from websockets.asyncio.client import ClientConnection

from samizdat.core.keys import SecretKey
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import wait_until

PUBLISHED = 400
WINDOW = 50


@pytest.fixture
def limits() -> RelayLimits:
    return RelayLimits(
        reqs_burst=1000,
        reqs_per_ip_burst=1000,
        events_per_second=10_000,
        events_burst=10_000,
        max_search_subscriptions_total=40,
        search_subscriptions_reserve=0,  # the total alone (tests/relay/test_redteam_sync.py: with a reserve)
    )


@pytest.fixture
async def relay(lab: AddressLab, sqlite_store: SqliteStore, limits: RelayLimits) -> AsyncIterator[RelayServer]:
    server = RelayServer(sqlite_store, limits=limits)
    await server.start(sock=lab.listener())
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def open_ws(lab: AddressLab, relay: RelayServer) -> AsyncIterator[Any]:
    """``await open_ws(source_address)``: a WebSocket to the relay from that address, closed in teardown."""
    async with websockets_from(lab, relay.port) as open_:
        yield open_


async def subscribe(ws: ClientConnection, sub_id: str, *filters: dict[str, Any]) -> Any:
    """Send a REQ and return the first answer (EOSE for an empty store, or CLOSED)."""
    await ws.send(orjson.dumps(["REQ", sub_id, *filters]).decode())
    return await recv_json(ws)


# Broad subscriptions are capped (below); with the caps lifted, this shows the index alone keeps them cheap.
@pytest.mark.parametrize(
    "limits",
    [RelayLimits(reqs_burst=1000, reqs_per_ip_burst=1000, events_per_second=10_000, events_burst=10_000,
                 max_search_subscriptions=50,
                 max_search_subscriptions_per_ip=500, max_search_subscriptions_total=10_000)],
)  # fmt: skip
async def test_thousands_of_time_windows_do_not_slow_a_publisher(
    lab: AddressLab, relay: RelayServer, open_ws: Any, key: SecretKey
) -> None:
    now = int(time.time())
    # 5 devices x 10 connections x 50 subscriptions: 2,500 windows in the past that no new post falls in.
    conns = [await open_ws(lab.addresses[d]) for d in range(5) for _ in range(10)]
    for n, ws in enumerate(conns):
        for i in range(50):
            since = now - 10_000_000 + n * 1000 + i * 7
            assert await subscribe(ws, f"w{i}", {"since": since, "until": since + 3600}) == ["EOSE", f"w{i}"]
    assert relay.subscription_count == 2500
    # A reader of everything recent, on another device, gets every post.
    reader = await open_ws(lab.addresses[10])
    assert await subscribe(reader, "recent", {"since": now - 60}) == ["EOSE", "recent"]

    publisher = await open_ws(lab.addresses[11])
    events = [make_event(key, 1, f"post {i}") for i in range(PUBLISHED)]
    checks = relay.index.checks
    sent = oks = 0
    async with asyncio.timeout(60):
        while oks < PUBLISHED:
            while sent < PUBLISHED and sent - oks < WINDOW:
                await publisher.send(event_message(events[sent]))
                sent += 1
            ok = await recv_json(publisher, timeout=30)
            assert ok[0] == "OK"
            assert ok[2] is True
            oks += 1
    # Each post was checked against the one window that holds it, not the 2,500 that do not.
    assert relay.index.checks - checks <= 2 * PUBLISHED
    received = [await recv_json(reader, timeout=30) for _ in range(PUBLISHED)]
    assert [m[2]["id"] for m in received] == [e.id for e in events]


async def test_live_searches_are_limited_per_connection_address_and_in_all(
    lab: AddressLab, relay: RelayServer, open_ws: Any
) -> None:
    limits = relay.limits
    first = await open_ws(lab.addresses[0])
    for i in range(limits.max_search_subscriptions):
        assert await subscribe(first, f"s{i}", {"search": f"water{i}"}) == ["EOSE", f"s{i}"]
    refused = await subscribe(first, "one-more", {"search": "water"})
    assert refused[:2] == ["CLOSED", "one-more"]
    assert refused[2].startswith("blocked: too many broad live subscriptions")
    # Filters that can be filed otherwise are not limited (kinds + search); time windows alone are broad too.
    assert await subscribe(first, "kinds", {"kinds": [1], "search": "water"}) == ["EOSE", "kinds"]
    assert (await subscribe(first, "window", {"since": 1}))[:2] == ["CLOSED", "window"]

    # More connections from the same address share its allowance.
    per_ip = limits.max_search_subscriptions_per_ip
    same = [await open_ws(lab.addresses[0]) for _ in range(per_ip // limits.max_search_subscriptions)]
    answers = [await subscribe(ws, f"t{n}-{i}", {"search": "power"}) for n, ws in enumerate(same) for i in range(4)]
    assert sum(a[0] == "EOSE" for a in answers) == per_ip - limits.max_search_subscriptions
    assert all(a[2].endswith(f"from this address (limit {per_ip})") for a in answers if a[0] == "CLOSED")

    # Other devices have their own allowance, until the relay's total is reached.
    total = limits.max_search_subscriptions_total
    opened = relay.index.searches
    devices = [await open_ws(lab.addresses[d]) for d in range(1, 20)]
    answers = [await subscribe(ws, f"u{i}", {"search": "bread"}) for ws in devices for i in range(2)]
    assert relay.index.searches == total
    assert sum(a[0] == "EOSE" for a in answers) == total - opened
    assert answers[-1][2] == "blocked: this relay has too many broad live subscriptions now; try again later"
    # Closing one makes room again.
    await devices[0].send('["CLOSE","u0"]')
    await wait_until(lambda: relay.index.searches == total - 1)
    assert await subscribe(devices[-1], "again", {"search": "bread"}) == ["EOSE", "again"]
