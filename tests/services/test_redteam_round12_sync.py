"""Red team, round 12 (``docs/blocking.md``): attacking rounds 10-11's impostor detection once more.

In-process, with real relays on loopback reached through two routes (HTTP ``CONNECT`` proxies, as in
``test_redteam_censor10_sync.py``): the first plays the censor's router, the second the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_redteam_censor10_sync import fresh_index, impostor_lines, marked, posts, publish, routed, router

from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.net.client import RelayClient
from samizdat.node import Node
from samizdat.services import areas, relay_memory, sync
from samizdat.testing import FakeClock, cutting_proxy, running_relay


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


@contextlib.asynccontextmanager
async def trickling_proxy() -> AsyncIterator[list[str]]:
    """An HTTP ``CONNECT`` proxy whose tunnels carry the WebSocket handshake, then one byte from the relay every
    half second: a censor that slows a route to a crawl without ever stalling it (each byte keeps the watch, which
    looks for silence, quiet). Yields a list: its transport string, then one more item per tunnel opened; stopped
    on the way out."""
    seen: list[str] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream: asyncio.StreamWriter | None = None
        pump: asyncio.Task[None] | None = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            host, _, port = head.split(b" ", 2)[1].decode().rpartition(":")
            up_reader, upstream = await asyncio.open_connection(host.strip("[]"), int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            seen.append("tunnel")
            pump = asyncio.create_task(_forward(reader, upstream))
            writer.write(await up_reader.readuntil(b"\r\n\r\n"))  # the handshake's answer, at once
            while data := await up_reader.read(1):
                writer.write(data)
                await writer.drain()
                await asyncio.sleep(0.5)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            if pump is not None:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
            if upstream is not None:
                upstream.close()
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    seen.append(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}")
    try:
        yield seen
    finally:
        server.close()
        with contextlib.suppress(TimeoutError):  # tunnels still trickling are closed by the server's close
            await asyncio.wait_for(server.wait_closed(), 5)


async def _forward(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


async def test_a_fallback_slowed_to_a_crawl_does_not_fail_every_sync_through_the_direct_route(
    opened: Node, fake_clock: FakeClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A censor leaves the direct route alone and slows the fallback (a proxy, Tor) to a crawl, never quite
    stalling it. The spot check (the first sync of each relay and scope, then every 6 h) syncs once more through
    the fallback. Before: it had no time limit of its own, only the sync's (10 minutes; shortened here): measured
    through a route delaying each chunk 15 s, 108 s for a 2,000-event scope, 322 s for 20,000. Reaching the
    sync's limit, the whole sync was recorded as failed, with backoff, and since a failed sync leaves no mark the
    next one spot-checked again. Now the spot check has a time limit of its own (shortened here too): the sync
    through the direct route ends well, and the next one does not go through the fallback again before the next
    spot check is due."""
    monkeypatch.setattr(sync, "SYNC_TIMEOUT", 12.0)
    monkeypatch.setattr(relay_memory, "SPOT_TIMEOUT", 2.0, raising=False)
    feed = posts(SecretKey(bytes([32]) * 32), int(opened.ctx.now()) - 3600, 40, "feed")
    unit = areas.Unit("everything", (), (Filter(),), ())
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        router() as direct,
        trickling_proxy() as fallback,
    ):
        await relay.store.add_many(feed)
        ctx = routed(opened, relay.url, direct.url, fallback[0])
        assert await sync._sync_unit(ctx, relay.url, unit) == 1
        row = ctx.local.sync_row(relay.url, unit.scope)
        assert row is not None
        assert "error" not in row.summary, row.summary
        assert await ctx.store.has([e.id for e in feed]) == {e.id for e in feed}
        tunnels = len(fallback)
        fake_clock.advance(ctx.config.sync_interval)
        assert await sync._sync_unit(ctx, relay.url, unit) == 1
        row = ctx.local.sync_row(relay.url, unit.scope)
        assert row is not None
        assert "error" not in row.summary, row.summary
        assert len(fallback) == tunnels  # no spot check before the next is due


async def test_backdated_posts_and_one_cut_connection_do_not_mark_the_honest_route(
    opened: Node, tmp_path: Path
) -> None:
    """Round 11's defence against backdated posts published during a sync: what the spot check brings is asked
    for by id through the sync's route before anything is marked. But when that route could not be asked, the
    finding stood. Before: a censor that publishes six posts dated two hours back (anyone may) while a sync runs,
    and drops the one connection to the relay that follows the spot check, had the honest direct route marked
    ``relay.impostor`` and the user told that something else answers in the relay's name. Now nothing is marked,
    and the report says what was seen."""
    now = int(opened.ctx.now())
    key = SecretKey(bytes([34]) * 32)
    feed = posts(key, now - 3600, 20, "feed")
    late = posts(key, now - 7200, 6, "backdated")  # by a key the node knows: they count (round 13)
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many(feed)
        ctx = routed(opened, relay.url, direct.url, fallback.url)

        async def meanwhile(client: RelayClient) -> None:  # the sync is over; its spot check is next
            await publish(relay, late)
            direct.to = closed_port()  # the next connection through the direct route does not open

        report = await sync.sync_with(ctx, relay.url, direction="down", then=meanwhile)
        assert await ctx.store.has([e.id for e in late]) == {e.id for e in late}  # the spot check brought them
        assert not impostor_lines(report.errors), report.errors
        assert any("could not be asked for them again" in line for line in report.errors), report.errors
        assert marked(ctx, relay.url, direct.url) is None
        direct.to = None
        tunnels = direct.tunnels
        await sync.sync_with(ctx, relay.url, direction="down")
        assert direct.tunnels > tunnels  # the next sync still goes through the direct route
