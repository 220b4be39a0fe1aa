"""The background sync loop, in-process on a fake clock: a followed channel comes in from its mirror (a real
relay on loopback), a mirror that is down is retried with backoff, not at every pass."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from pathlib import Path

import pytest

from samizdat.core import kinds
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.core.routes import found_by, impairment
from samizdat.errors import TransportError
from samizdat.net.failover import Routing
from samizdat.node import Node
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import channels, sync
from samizdat.services.context import Context
from samizdat.testing import FakeClock, cutting_proxy, free_port, running_relay, wait_until


async def test_a_followed_channel_comes_in_from_its_mirror(ctx: Context, stranger: SecretKey, tmp_path: Path) -> None:
    async with running_relay(tmp_path, negentropy=NegentropyService()) as mirror:
        definition = build_channel_event(stranger, "yard", "Yard", created_at=ctx.now() - 60, mirrors=[mirror.url])
        post = build_post(stranger, parse_channel(definition), "news", "Gate closed", created_at=ctx.now() - 30)
        await mirror.store.add_many([definition, post])
        address = f"{kinds.CHANNEL}:{stranger.public_key_hex}:yard"
        ctx.local.follow(address, [mirror.url], ctx.clock())

        assert await sync.sync_pass(ctx) == 1
        assert await ctx.store.get(post.id) is not None
        row = ctx.local.sync_row(mirror.url, address)
        assert row is not None
        assert row.failures == 0
        assert row.next_attempt == ctx.clock() + ctx.config.sync_interval
        assert await sync.sync_pass(ctx) == 0  # not due again yet
        assert (await channels.resolve(ctx, "yard")).mirrors == (mirror.url,)


async def test_a_mirror_that_is_down_is_retried_with_backoff(ctx: Context, fake_clock: FakeClock) -> None:
    down = f"ws://127.0.0.1:{free_port()}"
    address = f"{kinds.CHANNEL}:{'ab' * 32}:gone"
    ctx.local.follow(address, [down], ctx.clock())
    assert await sync.sync_pass(ctx) == 1
    first = ctx.local.sync_row(down, address)
    assert first is not None
    assert first.failures == 1
    assert "error" in first.summary
    retry_in = first.next_attempt - fake_clock()
    assert sync.FAILURE_BASE / 2 <= retry_in <= sync.FAILURE_BASE  # backoff with jitter
    assert await sync.sync_pass(ctx) == 0  # not before the backoff has passed
    fake_clock.advance(retry_in)
    assert await sync.sync_pass(ctx) == 1
    second = ctx.local.sync_row(down, address)
    assert second is not None
    assert second.failures == 2
    assert second.next_attempt - fake_clock() >= sync.FAILURE_BASE  # the second wait is longer


async def test_the_loop_runs_passes_and_pauses_between_them(ctx: Context, fake_clock: FakeClock) -> None:
    down = f"ws://127.0.0.1:{free_port()}"
    address = f"{kinds.CHANNEL}:{'cd' * 32}:gone"
    ctx.local.follow(address, [down], ctx.clock())
    task = asyncio.create_task(sync.background_sync(ctx))
    try:
        await wait_until(lambda: len(fake_clock.sleeps) >= 60, what="60 passes", timeout=30)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    row = ctx.local.sync_row(down, address)
    assert row is not None
    assert 3 <= row.failures <= 12  # half an hour on the fake clock: backed off, not tried at every pass
    assert set(fake_clock.sleeps) == {min(sync.PASS_PAUSE, ctx.config.sync_interval)}


# -- a route that carries the handshake and cuts what follows --------------------------------------------------------


def reports(stranger: SecretKey) -> list[Event]:
    now = int(time.time())
    return [
        sign_event(stranger, kind=1, content=f"report {i} " + "x" * 300, created_at=now - 600 + i)
        for i in range(40)  # about 20 KB: far past where the cut comes
    ]


def routed(opened: Node, url: str, *routes: str) -> Context:
    opened.ctx = dataclasses.replace(opened.ctx, routing=Routing(per_relay={url: routes}))
    return opened.ctx


async def test_a_sync_cut_on_one_route_goes_through_another_which_goes_first_from_then_on(
    opened: Node, stranger: SecretKey, tmp_path: Path
) -> None:
    events = reports(stranger)
    async with (
        running_relay(tmp_path, negentropy=NegentropyService()) as relay,
        cutting_proxy(4096) as cutter,
        cutting_proxy(None) as plain,
    ):
        await relay.store.add_many(events)
        ctx = routed(opened, relay.url, cutter.url, plain.url)
        report = await sync.sync_with(ctx, relay.url, direction="down")
        # Every post arrived: most through the other route (a few may have come before the cut, on a busy machine).
        assert await ctx.store.has([e.id for e in events]) == {e.id for e in events}
        assert report.received > 0
        assert [line for line in report.errors if f"through {cutter.url} stopped carrying data" in line]
        assert cutter.tunnels >= 1  # the WebSocket (and the relay's NIP-11 document, fetched the same way)
        assert plain.tunnels >= 1
        cut = cutter.tunnels
        [(_, network, _)] = [row for row in ctx.local.all_routes() if row[2].transport == cutter.url]
        marked = ctx.local.routes(relay.url, network)[cutter.url]
        assert found_by(marked) == "sync"
        assert impairment(marked, ctx.clock()) == "data.reset"
        # The next sync goes through the other route first; the cutting one is not even opened.
        again = await sync.sync_with(ctx, relay.url, direction="down")
        assert not again.errors
        assert cutter.tunnels == cut


async def test_a_relay_that_fails_on_every_route_marks_none(opened: Node, stranger: SecretKey, tmp_path: Path) -> None:
    events = reports(stranger)
    async with (
        running_relay(tmp_path, negentropy=NegentropyService()) as relay,
        cutting_proxy(4096) as first,
        cutting_proxy(4096) as second,
    ):
        await relay.store.add_many(events)
        ctx = routed(opened, relay.url, first.url, second.url)
        with pytest.raises(TransportError):
            await sync.sync_with(ctx, relay.url, direction="down")
        # Tried once more through the other route, no more (each sync: its WebSocket, and the NIP-11 document).
        assert 1 <= first.tunnels <= 2
        assert 1 <= second.tunnels <= 2
        records = [record for _, _, record in ctx.local.all_routes()]
        assert records
        assert all(found_by(record) is None for record in records)
