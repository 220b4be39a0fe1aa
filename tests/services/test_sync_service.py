"""The background sync loop, in-process on a fake clock: a followed channel comes in from its mirror (a real
relay on loopback), a mirror that is down is retried with backoff, not at every pass."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from samizdat.core import kinds
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import channels, sync
from samizdat.services.context import Context
from samizdat.testing import FakeClock, free_port, running_relay, wait_until


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
