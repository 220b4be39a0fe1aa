"""Red team, round 11 (``docs/blocking.md``): turning round 10's impostor detection against the user.

In-process, with a real relay on loopback reached through two routes (HTTP ``CONNECT`` proxies, as in
``test_redteam_censor10_sync.py``). Both routes reach the same, honest relay: nothing may be marked.
"""

from __future__ import annotations

from pathlib import Path

from test_redteam_censor10_sync import fresh_index, impostor_lines, marked, posts, publish, routed, router

from samizdat.core.keys import SecretKey
from samizdat.net.client import RelayClient
from samizdat.node import Node
from samizdat.services import relay_memory, sync
from samizdat.testing import FakeClock, cutting_proxy, running_relay


async def test_backdated_posts_published_during_a_sync_do_not_mark_the_honest_route(
    opened: Node, tmp_path: Path
) -> None:
    """Anyone may publish to a relay posts dated hours ago (a phone sending what it wrote offline does; so can a
    censor, a few a second, into every area it wants users off the direct route). Before: six such posts that
    reached the relay between the sync and its spot check through the other route (at the first sync, and every
    6 h) marked the honest route ``relay.impostor``: the node's next syncs went through the fallback (a proxy, Tor)
    and its status said something else answers in the relay's name. Now: the sync's route, asked for them by id
    after the spot check, serves them: nothing is marked."""
    key = SecretKey(bytes([21]) * 32)
    now = int(opened.ctx.now())
    feed = posts(key, now - 3600, 20, "feed")
    late = posts(key, now - 7200, 6, "written offline")  # by a key the node knows: they count (round 13)
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many(feed)
        ctx = routed(opened, relay.url, direct.url, fallback.url)

        async def meanwhile(client: RelayClient) -> None:  # the sync is over; its spot check is next
            await publish(relay, late)

        report = await sync.sync_with(ctx, relay.url, direction="down", then=meanwhile)
        assert await ctx.store.has([e.id for e in late]) == {e.id for e in late}  # the spot check brought them
        assert not impostor_lines(report.errors), report.errors
        assert marked(ctx, relay.url, direct.url) is None
        tunnels = direct.tunnels
        await sync.sync_with(ctx, relay.url, direction="down")
        assert direct.tunnels > tunnels  # the next sync still goes through the direct route


async def test_a_relay_restored_from_a_backup_is_no_impostor_when_the_sync_sends_back_what_it_lost(
    opened: Node, tmp_path: Path
) -> None:
    """Round 10 tried the relay restored from an old backup with download-only syncs. The background sync goes
    both ways: it sends the relay the 20 posts it lost, then asks the other route for them. Before: the other route
    served them (they had just been sent back) and the honest route was marked ``relay.impostor``. Now: the sync
    holds them back until the other route has been asked, and the next sync sends them."""
    now = int(opened.ctx.now())
    feed = posts(SecretKey(bytes([23]) * 32), now - 3600, 60, "feed")
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as restored,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many(feed)
        await restored.store.add_many(feed[:-20])
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        first = await sync.sync_with(ctx, relay.url)
        assert first.received == len(feed)
        assert not first.errors
        direct.to = fallback.to = restored.port  # the same relay, on every route
        second = await sync.sync_with(ctx, relay.url)
        assert not impostor_lines(second.errors), second.errors
        assert "the relay lost or deleted them" in " ".join(second.errors)
        assert marked(ctx, relay.url, direct.url) is None
        third = await sync.sync_with(ctx, relay.url)  # the next sync gives them back
        assert not third.errors
        assert await restored.store.has([e.id for e in feed]) == {e.id for e in feed}


async def test_an_impostor_cannot_turn_the_spot_check_off_with_one_bad_event(
    opened: Node, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """Round 10's copy that withholds a channel's new posts, which also offers one event dated a year ahead (the
    node refuses it: a line in the sync's report). Before: a sync with any line in its report (an event refused,
    an upload refused) had no spot check, so the censor turned them off for good with one such event. Now a spot
    check is skipped only when the sync already found the relay lacking what it had."""
    channel_key = SecretKey(bytes([24]) * 32)
    feed = posts(SecretKey(bytes([25]) * 32), int(opened.ctx.now()) - 3600, 30, "feed")
    feed += posts(channel_key, int(opened.ctx.now()) - 3500, 2, "channel before")  # a key the node knows (round 13)
    ahead = posts(SecretKey(bytes([26]) * 32), int(opened.ctx.now()) + 365 * 86400, 1, "from next year")
    async with (
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as censor,
        router() as censored,
        cutting_proxy(None) as fallback,
    ):
        await relay.store.add_many(feed)
        await censor.store.add_many([*feed, *ahead])
        ctx = routed(opened, relay.url, censored.url, fallback.url)
        assert (await sync.sync_with(ctx, relay.url, direction="down")).received == len(feed)
        censored.to = censor.port
        fake_clock.advance(relay_memory.SPOT_EVERY)
        hidden = posts(channel_key, int(ctx.now()) - 3000, 6, "channel")
        await publish(relay, hidden)
        second = await sync.sync_with(ctx, relay.url, direction="down")
        assert impostor_lines(second.errors), second.errors
        assert await ctx.store.has([e.id for e in hidden]) == {e.id for e in hidden}
        assert marked(ctx, relay.url, censored.url) == "relay.impostor"
