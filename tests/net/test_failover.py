"""Failover and what a sync teaches it: a route a sync saw stall is started only when the others failed, a route
can be left out of one try, and a connection says how it went dead (net/failover.py, net/client.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from net_helpers import ConnectProxy, Relay
from websockets.exceptions import ConnectionClosedError
from websockets.frames import Close

from samizdat.core.filters import Filter
from samizdat.core.routes import after_attempt, after_stall, found_by, impairment
from samizdat.errors import BrokenTransport, TransportError
from samizdat.net import failover
from samizdat.net.client import RelayClient
from samizdat.store.local import LocalState
from samizdat.testing import cutting_proxy, free_port

WAIT = 10.0


@pytest.fixture
async def proxy() -> AsyncIterator[ConnectProxy]:
    running = await ConnectProxy().start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
def memory(tmp_path: Path) -> Iterator[LocalState]:
    state = LocalState(tmp_path / "local.sqlite")
    try:
        yield state
    finally:
        state.close()


async def test_a_route_a_sync_saw_stall_is_started_only_when_the_others_fail(
    samizdat_relay: Relay, proxy: ConnectProxy, memory: LocalState
) -> None:
    url = samizdat_relay.url
    now = time.time()
    opened = after_attempt(None, "direct", ok=True, now=now - 10)
    memory.record_route(url, "here", after_stall(opened, "direct", "data.stall", "keepalive ping timeout", now=now))
    routing = failover.Routing(fallback=(proxy.url,))
    # No stagger at all: any route that may join the race joins at once, and the direct one would win it.
    client = await failover.connect(url, routing, memory, network="here", clock=time.time, timeout=WAIT, stagger=0)
    await client.close()
    assert client.route == proxy.url
    assert client.network == "here"
    assert memory.routes(url, "here")["direct"].last_ok == opened.last_ok  # never tried
    # When the other route fails, the held one is tried, and connects.
    refused = f"http://127.0.0.1:{free_port()}"
    routing = failover.Routing(fallback=(refused,))
    client = await failover.connect(url, routing, memory, network="here", clock=time.time, timeout=WAIT, stagger=0)
    await client.close()
    assert client.route == "direct"
    direct = memory.routes(url, "here")["direct"]
    assert impairment(direct, time.time()) == "data.stall"  # the handshake proves nothing against the stall
    assert memory.routes(url, "here")[refused].failures == 1


async def test_a_route_can_be_left_out_of_one_try(samizdat_relay: Relay, proxy: ConnectProxy) -> None:
    routing = failover.Routing(fallback=(proxy.url,))
    client = await failover.connect(samizdat_relay.url, routing, None, clock=time.time, timeout=WAIT,
                                    avoid=("direct",))  # fmt: skip
    await client.close()
    assert client.route == proxy.url
    assert proxy.tunnels == 1
    with pytest.raises(BrokenTransport, match="no other route"):
        await failover.connect(samizdat_relay.url, routing, None, clock=time.time, timeout=WAIT,
                               avoid=("direct", proxy.url))  # fmt: skip


async def ask_until_cut(client: RelayClient) -> None:
    for _ in range(200):  # bounded: the cut comes after 512 bytes of answers (an EOSE is about 30)
        await client.fetch([Filter(kinds=frozenset({1}))], timeout=WAIT)


async def test_a_connection_cut_after_the_handshake_says_so_and_a_closed_one_does_not(
    samizdat_relay: Relay, memory: LocalState
) -> None:
    async with cutting_proxy(512) as cutter:
        routing = failover.Routing(fallback=(cutter.url,))
        client = await failover.connect(samizdat_relay.url, routing, memory, clock=time.time, timeout=WAIT,
                                        avoid=("direct",))  # fmt: skip
        try:
            assert client.breakage() is None  # open
            with pytest.raises(TransportError):
                await ask_until_cut(client)
            assert client.breakage() == "data.reset"
        finally:
            await client.close()
        # Remembered against the route the connection was opened on, and on the network it was opened on.
        failover.remember_stall(memory, client, "data.reset", "cut", now=time.time())
        record = memory.routes(samizdat_relay.url, "none")[cutter.url]
        assert found_by(record) == "sync"
        assert impairment(record, time.time()) == "data.reset"
    # Closed by us, or by the relay with a close frame: the route carried the close, it is not to blame.
    client = await RelayClient.connect(samizdat_relay.url, timeout=WAIT)
    await client.close()
    assert client.breakage() is None


async def test_a_keepalive_that_got_no_answer_is_a_stall(samizdat_relay: Relay) -> None:
    """The keepalive needs 40 s of silence to trip; what it leaves is what the client reads."""
    client = await RelayClient.connect(samizdat_relay.url, timeout=WAIT)
    try:
        client._closed = ConnectionClosedError(None, Close(1011, "keepalive ping timeout"))
        assert client.breakage() == "data.stall"
        client._closed = ConnectionClosedError(Close(1001, "going away"), None)  # the relay said goodbye
        assert client.breakage() is None
        client._closed = ConnectionResetError(104, "Connection reset by peer")
        assert client.breakage() == "data.reset"
    finally:
        client._closed = None
        await client.close()
