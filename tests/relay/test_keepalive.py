"""One task keeps every connection alive: a peer that answers pings stays, one that does not is dropped."""

from __future__ import annotations

import asyncio

from relay_helpers import RawClient, client, recv_json

from samizdat.relay.server import RelayServer
from samizdat.testing import wait_until


async def test_a_peer_that_never_answers_pings_is_dropped_and_one_that_does_stays(relay: RelayServer, url: str) -> None:
    relay.keepalive.interval = 0.3  # every connection pinged about three times a second
    silent = await asyncio.to_thread(RawClient, relay.port)  # never reads, so never answers a ping
    try:
        async with client(url, ping_interval=None) as alive:  # websockets answers pings by itself
            await alive.send('["REQ","s",{"kinds":[1]}]')
            assert await recv_json(alive) == ["EOSE", "s"]
            await wait_until(lambda: relay.keepalive.timeouts == 1, timeout=20)
            await wait_until(lambda: len(relay.clients) == 1, timeout=10)
            pings = relay.keepalive.pings
            await wait_until(lambda: relay.keepalive.pings >= pings + 5, timeout=20)  # five more rounds
            assert relay.keepalive.timeouts == 1
            await alive.send('["REQ","t",{"kinds":[7]}]')
            assert await recv_json(alive) == ["EOSE", "t"]
        _, closed = await asyncio.to_thread(silent.read_all, 2.0)
        assert closed
    finally:
        silent.close()
