"""Red team, round 12 (``docs/blocking.md``): attacking rounds 10-11's impostor detection once more.

In-process, with real relays on loopback reached through two routes (HTTP ``CONNECT`` proxies, as in
``test_redteam_censor10_sync.py``): the first plays the censor's router, the second the fallback.
"""

from __future__ import annotations

import socket
from pathlib import Path

from test_redteam_censor10_sync import fresh_index, impostor_lines, marked, posts, publish, routed, router

from samizdat.core.keys import SecretKey
from samizdat.node import Node
from samizdat.services import sync
from samizdat.testing import cutting_proxy, running_relay


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (a route the censor cuts: its tunnels fail to open)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_data_carried_by_a_route_found_impersonated_does_not_clear_the_finding(
    opened: Node, tmp_path: Path
) -> None:
    """A sync finds a censor's stale copy on the direct route and marks it ``relay.impostor``. The censor then cuts
    the fallback for one sync: failover falls back on the marked route (the last resort), and the censor's copy
    carries a busy feed's new posts (more than 64 KB). Before: that data cleared the mark (a sync's marks are
    forgotten after 64 KB, a rule meant for stalls), so once the fallback was back the next sync went to the
    censor's copy first again, and the status no longer said anything. Now the mark holds."""
    key = SecretKey(bytes([31]) * 32)
    now = int(opened.ctx.now())
    feed = posts(key, now - 7200, 150, "feed")
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as censor,
        router() as censored,
        cutting_proxy(None) as fallback,
    ):
        await relay.store.add_many(feed)
        await censor.store.add_many(feed[:-20])
        ctx = routed(opened, relay.url, censored.url, fallback.url)
        assert (await sync.sync_with(ctx, relay.url, direction="down")).received == len(feed)
        censored.to = censor.port
        second = await sync.sync_with(ctx, relay.url, direction="down")
        assert impostor_lines(second.errors), second.errors
        assert marked(ctx, relay.url, censored.url) == "relay.impostor"
        busy = posts(key, now - 600, 200, "busy")  # about 100 KB of new posts, copied to the censor's relay too
        await publish(relay, busy)
        await publish(censor, busy)
        fallback.to = closed_port()  # the censor cuts the fallback for a while
        third = await sync.sync_with(ctx, relay.url, direction="down")
        assert third.received == len(busy)  # through the censor's copy, the only route that opened
        assert marked(ctx, relay.url, censored.url) == "relay.impostor", third.errors
        fallback.to = None
        tunnels = censored.tunnels
        await sync.sync_with(ctx, relay.url, direction="down")
        assert censored.tunnels == tunnels  # the censor's route is not opened while the fallback works
