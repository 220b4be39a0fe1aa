"""A subscriber that does not read loses its subscription, not the relay's memory; everyone else gets everything."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import psutil
import pytest
from relay_helpers import RawClient, client, event_message, make_event, recv_json, recv_until

from samizdat.core.keys import SecretKey
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import TOO_SLOW, RelayServer
from samizdat.testing import wait_until

BUFFER = 256 * 1024
SLACK = 16 * 1024
N_EVENTS = 3000
CONTENT = "x" * 2000  # 3000 events of 2 KB: 6 MB, far more than every buffer on the way
WINDOW = 50  # the publisher keeps this many EVENTs in flight, as a real client would


@pytest.fixture
def limits() -> RelayLimits:
    return RelayLimits(
        send_buffer_bytes=BUFFER,
        send_buffer_slack=SLACK,
        events_per_second=10_000,
        events_burst=10_000,
        send_timeout=1.0,
    )


@pytest.fixture
async def slow(relay: RelayServer) -> AsyncIterator[RawClient]:
    raw = await asyncio.to_thread(RawClient, relay.port)
    try:
        yield raw
    finally:
        raw.close()


def rss() -> int:
    return int(psutil.Process(os.getpid()).memory_info().rss)


async def test_live_events_to_a_non_reader_close_its_subscription(
    relay: RelayServer, url: str, key: SecretKey, slow: RawClient
) -> None:
    slow.send_text('["REQ","slow",{"kinds":[1]}]')
    await wait_until(lambda: relay.subscription_count == 1)
    events = [make_event(key, 1, f"{i} {CONTENT}") for i in range(N_EVENTS)]
    peak_queue = 0
    rss_before = rss()

    async with client(url) as fast, client(url) as publisher:
        await fast.send('["REQ","fast",{"kinds":[1]}]')
        assert await recv_json(fast) == ["EOSE", "fast"]
        received: list[str] = []

        async def read_fast() -> None:
            while len(received) < N_EVENTS:
                message = await recv_json(fast, timeout=30)
                assert message[:2] == ["EVENT", "fast"]
                received.append(message[2]["id"])

        reader = asyncio.create_task(read_fast())
        try:
            sent = oks = 0
            async with asyncio.timeout(60):
                while oks < N_EVENTS:
                    while sent < N_EVENTS and sent - oks < WINDOW:
                        await publisher.send(event_message(events[sent]))
                        sent += 1
                    message = await recv_json(publisher, timeout=30)
                    assert message[0] == "OK"
                    assert message[2] is True
                    oks += 1
                    peak_queue = max([peak_queue, *(c.queued for c in relay.clients)])
            await asyncio.wait_for(reader, 30)
        finally:
            reader.cancel()
        assert received == [ev.id for ev in events]  # the fast subscriber got everything, in order

    # The slow one's subscription was closed by the relay (its connection may also have been dropped).
    await wait_until(lambda: relay.subscription_count == 0)
    assert peak_queue <= BUFFER + SLACK
    assert rss() - rss_before < 64 * 1024 * 1024
    messages, closed = await asyncio.to_thread(slow.read_all, 2.0)
    assert messages[0] == ["EOSE", "slow"]
    events_got = [m for m in messages if m[0] == "EVENT"]
    assert len(events_got) < N_EVENTS
    assert ["CLOSED", "slow", TOO_SLOW] in messages or closed
    if not closed:
        # It can subscribe again once it reads.
        slow.send_text('["COUNT","c",{"kinds":[1]}]')
        messages, _ = await asyncio.to_thread(slow.read_all, 1.0)
        assert ["COUNT", "c", {"count": N_EVENTS}] in messages


async def test_stored_events_to_a_non_reader_close_the_subscription(
    relay: RelayServer, url: str, key: SecretKey, slow: RawClient
) -> None:
    events = [make_event(key, 1, f"{i} {CONTENT * 8}") for i in range(300)]
    async with client(url) as publisher:
        for ev in events:
            await publisher.send(event_message(ev))
        await recv_until(publisher, "OK")
        for _ in range(len(events) - 1):
            assert (await recv_json(publisher, timeout=30))[2] is True
    slow.send_text('["REQ","all",{"kinds":[1],"limit":5000}]')
    # The answer reads a page only when the queue has room; with none for send_timeout the subscription is
    # closed (not buffered, and the connection stays).
    await wait_until(lambda: relay.subscription_count == 1)
    await wait_until(lambda: relay.subscription_count == 0, timeout=10)
    (conn,) = relay.clients
    page = relay.answers.page_bytes
    assert conn.queued <= BUFFER // 2 + page + len(events[0].to_json()) + 64
    messages, closed = await asyncio.to_thread(slow.read_all, 2.0)
    assert not closed
    assert 0 < len([m for m in messages if m[0] == "EVENT"]) < len(events)
    assert messages[-1] == ["CLOSED", "all", TOO_SLOW]
    async with client(url) as fresh:
        await fresh.send('["COUNT","n",{}]')
        assert await recv_json(fresh) == ["COUNT", "n", {"count": 300}]


async def test_publisher_that_never_reads_oks_is_paused_then_dropped(
    relay: RelayServer, url: str, key: SecretKey, slow: RawClient
) -> None:
    # Many small requests whose answers are never read: the relay stops reading, then drops the connection.
    requests = [f'["COUNT","{i:0>60}",{{}}]' for i in range(20_000)]
    for _ in range(10):  # 10 x 1.8 MB of requests, answers about as big; the relay stops reading first
        if not await asyncio.to_thread(slow.send_many, requests, 3.0):
            break  # the relay stopped reading or dropped us: both are fine
    await wait_until(lambda: len(relay.clients) == 0, timeout=10)
    async with client(url) as fresh:
        await fresh.send('["COUNT","n",{}]')
        assert (await recv_json(fresh))[0] in ("COUNT", "CLOSED")


async def test_a_late_reader_gets_everything_in_order(
    relay: RelayServer, url: str, key: SecretKey, slow: RawClient
) -> None:
    # Far more than the socket buffers (~6 MB): the relay's writes stall on a full socket, then resume once the
    # client reads (within send_timeout); nothing is lost or reordered on the way.
    events = [make_event(key, 1, f"{i} {CONTENT * 8}", created_at=1_700_000_000 + i) for i in range(400)]
    async with client(url) as publisher:
        for ev in events:
            await publisher.send(event_message(ev))
        for _ in events:
            assert (await recv_json(publisher, timeout=30))[2] is True
    slow.send_text('["REQ","old",{"kinds":[1],"limit":400}]')
    await wait_until(lambda: relay.subscription_count == 1)
    # The relay queues while nobody reads: wait until its writes stall on the full socket.
    await wait_until(lambda: any(c.blocked for c in relay.clients), what="the relay's writes to stall")
    slow.send_text('["COUNT","n",{}]')
    messages, closed = await asyncio.to_thread(slow.read_all, 1.0)
    assert not closed
    # The answers to the two requests may interleave; each comes whole and in order.
    assert [m for m in messages if m[1] == "old"] == [
        *(["EVENT", "old", ev.to_dict()] for ev in reversed(events)),
        ["EOSE", "old"],
    ]
    assert [m for m in messages if m[1] == "n"] == [["COUNT", "n", {"count": 400}]]
