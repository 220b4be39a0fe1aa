"""Red team, round 13 (``docs/blocking.md``): the impostor check no longer believes the other route.

In-process, with real relays on loopback reached through two routes (HTTP ``CONNECT`` proxies, as in
``test_redteam_censor10_sync.py``): the first plays the direct route, the second the fallback (a proxy the censor
may run, a Tor exit). A spot check counts only events the fallback cannot invent: by keys with standing in the
scope as the node knew it (a channel's owner and admins, authors it already held).
"""

from __future__ import annotations

from pathlib import Path

from test_redteam_censor10_sync import fresh_index, impostor_lines, marked, posts, publish, routed, router
from test_redteam_round12_sync import closed_port

from samizdat.core.channel import ADMIN, build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.core.routes import STALL_HOLD
from samizdat.net.client import RelayClient
from samizdat.node import Node
from samizdat.services import channels, relay_memory, sync
from samizdat.testing import FakeClock, cutting_proxy, running_relay

STRANGERS_LINE = "by keys this node does not know in that scope"


async def test_a_fallback_that_adds_events_by_fresh_keys_marks_nothing(opened: Node, tmp_path: Path) -> None:
    """The finding of round 12: a fallback answering in the relay's name adds six events of its own, signed by a
    fresh key and dated half an hour back. Before: at the node's first sync, the spot check through it counted
    them as withheld by the honest direct route, which was marked ``relay.impostor`` ("something else answers in
    the relay's name"), and the next sync opened the fallback alone. Now they count for nothing: the report says
    so once, nothing is marked, and the next sync still goes through the direct route."""
    now = int(opened.ctx.now())
    feed = posts(SecretKey(bytes([41]) * 32), now - 3600, 20, "feed")
    invented = posts(SecretKey(bytes([42]) * 32), now - 1800, 6, "invented")
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as liar,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many(feed)
        await liar.store.add_many([*feed, *invented])
        fallback.to = liar.port  # the fallback answers in the relay's name, with six events of its own
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        report = await sync.sync_with(ctx, relay.url, direction="down")
        assert not impostor_lines(report.errors), report.errors
        assert [line for line in report.errors if f"served 6 events {STRANGERS_LINE}" in line], report.errors
        assert [line for line in report.errors if "nothing is marked" in line], report.errors
        assert marked(ctx, relay.url, direct.url) is None
        assert marked(ctx, relay.url, fallback.url) is None
        # stored as any synced events are: they passed the same checks
        assert await ctx.store.has([e.id for e in invented]) == {e.id for e in invented}
        direct_before, fallback_before = direct.tunnels, fallback.tunnels
        again = await sync.sync_with(ctx, relay.url, direction="down")
        assert not again.errors, again.errors
        assert direct.tunnels > direct_before  # the next sync still goes through the direct route
        assert fallback.tunnels == fallback_before


async def test_a_fallback_that_adds_posts_by_fresh_keys_to_a_channel_marks_nothing(
    opened: Node, tmp_path: Path
) -> None:
    """The same with a channel's scope: the fallback adds six posts naming the channel, signed by a key with no
    role in it (the node holds the definition). Before: the direct route was marked. Now: nothing is marked."""
    now = int(opened.ctx.now())
    owner = SecretKey(bytes([43]) * 32)
    definition = build_channel_event(owner, "square", "Square", created_at=now - 7200)
    channel = parse_channel(definition)
    own = [build_post(owner, channel, "news", f"news {i}", created_at=now - 3600 + i) for i in range(10)]
    stranger = SecretKey(bytes([44]) * 32)
    pretend = parse_channel(  # a definition naming the stranger, never published: only to sign its posts
        build_channel_event(owner, "square", "Square", created_at=now - 7200, admins={stranger.public_key_hex: ADMIN})
    )
    forged = [build_post(stranger, pretend, "news", f"forged {i}", created_at=now - 1800 + i) for i in range(6)]
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as liar,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many([definition, *own])
        await liar.store.add_many([definition, *own, *forged])
        fallback.to = liar.port
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        report = await sync.sync_with(ctx, relay.url, channels.scope(channel), direction="down")
        assert not impostor_lines(report.errors), report.errors
        assert [line for line in report.errors if f"served 6 events {STRANGERS_LINE}" in line], report.errors
        assert marked(ctx, relay.url, direct.url) is None
        direct_before, fallback_before = direct.tunnels, fallback.tunnels
        await sync.sync_with(ctx, relay.url, channels.scope(channel), direction="down")
        assert direct.tunnels > direct_before
        assert fallback.tunnels == fallback_before


async def test_what_a_fallback_carried_is_not_held_against_the_direct_route(opened: Node, tmp_path: Path) -> None:
    """The same lying fallback, met when it carried a whole sync: the direct route did not connect at the node's
    first sync, and the fallback brought six events of its own with the relay's. At the next sync the fallback is
    cut while the node connects (the direct route carries the sync) and back when it is asked. Before: the direct
    route lacked "6 events it had at the last sync", the fallback served them when asked by id, and the honest
    route was marked ``relay.impostor``. Now what the relay had is remembered per route: nothing is marked."""
    now = int(opened.ctx.now())
    feed = posts(SecretKey(bytes([48]) * 32), now - 3600, 20, "feed")
    invented = posts(SecretKey(bytes([49]) * 32), now - 1800, 6, "invented")
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as liar,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many(feed)
        await liar.store.add_many([*feed, *invented])
        fallback.to = liar.port
        direct.to = closed_port()
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        first = await sync.sync_with(ctx, relay.url, direction="down")
        assert first.received == len(feed) + len(invented)
        direct.to = None
        fallback.to = closed_port()

        async def back(client: RelayClient) -> None:
            fallback.to = liar.port

        tunnels = direct.tunnels
        second = await sync.sync_with(ctx, relay.url, direction="down", then=back)
        assert direct.tunnels > tunnels  # the direct route carried it
        assert not impostor_lines(second.errors), second.errors
        assert marked(ctx, relay.url, direct.url) is None


async def test_a_copy_that_withholds_an_admins_posts_is_still_marked(
    opened: Node, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """A real impostor: the censor's copy on the direct route withholds the posts of an admin who had never
    posted before (the definition names them). The spot check through the honest fallback brings them; the admin
    has standing in the channel, so they count, and the direct route is marked."""
    now = int(opened.ctx.now())
    owner, admin = SecretKey(bytes([45]) * 32), SecretKey(bytes([46]) * 32)
    definition = build_channel_event(owner, "yard", "Yard", created_at=now - 7200, admins={admin.public_key_hex: ADMIN})
    channel = parse_channel(definition)
    scope = channels.scope(channel)
    own = [build_post(owner, channel, "news", f"news {i}", created_at=now - 3600 + i) for i in range(10)]
    async with (
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as censor,
        router() as direct,
        cutting_proxy(None) as fallback,
    ):
        await relay.store.add_many([definition, *own])
        await censor.store.add_many([definition, *own])
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        first = await sync.sync_with(ctx, relay.url, scope, direction="down")
        assert not first.errors, first.errors
        direct.to = censor.port
        fake_clock.advance(relay_memory.SPOT_EVERY)
        later = int(ctx.now())
        hidden = [build_post(admin, channel, "news", f"admin {i}", created_at=later - 1800 + i) for i in range(6)]
        await publish(relay, hidden)
        second = await sync.sync_with(ctx, relay.url, scope, direction="down")
        assert [line for line in second.errors if "lacked 6 events from before this sync" in line], second.errors
        assert await ctx.store.has([e.id for e in hidden]) == {e.id for e in hidden}
        assert marked(ctx, relay.url, direct.url) == "relay.impostor"


async def test_a_spot_check_follows_the_end_of_a_marks_hold(
    opened: Node, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """Round 12's "after a mark's hold": a copy that withholds only a channel's new posts is found and marked for 5
    minutes; once the hold is over the syncs may go back to it. Before: the next spot check was 6 hours away, so
    each new post was delayed up to 6 hours, and the user told nothing. Now the first sync over the route after
    the hold spot-checks it: the copy that withholds again is marked again (for longer). Once per hold: a copy
    that behaves for that sync is not spot-checked again before the usual 6 hours."""
    now = int(opened.ctx.now())
    key = SecretKey(bytes([47]) * 32)
    feed = posts(key, now - 3600, 20, "feed")
    async with (
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as censor,
        router() as direct,
        cutting_proxy(None) as fallback,
    ):
        await relay.store.add_many(feed)
        await censor.store.add_many(feed)
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        assert not (await sync.sync_with(ctx, relay.url, direction="down")).errors
        direct.to = censor.port
        fake_clock.advance(relay_memory.SPOT_EVERY)
        hidden = posts(key, int(ctx.now()) - 1800, 6, "hidden")
        await publish(relay, hidden)
        second = await sync.sync_with(ctx, relay.url, direction="down")
        assert impostor_lines(second.errors), second.errors
        assert marked(ctx, relay.url, direct.url) == "relay.impostor"

        fake_clock.advance(STALL_HOLD + 1)  # the hold is over; the next spot check is hours away
        assert marked(ctx, relay.url, direct.url) is None
        await censor.store.add_many(hidden)  # the copy serves what was found, and withholds only what is new
        withheld = posts(key, int(ctx.now()) - 1800, 6, "withheld again")
        await publish(relay, withheld)
        tunnels = direct.tunnels
        third = await sync.sync_with(ctx, relay.url, direction="down")
        assert direct.tunnels > tunnels, third.errors  # the syncs went back to the direct route
        assert impostor_lines(third.errors), third.errors
        assert await ctx.store.has([e.id for e in withheld]) == {e.id for e in withheld}
        assert marked(ctx, relay.url, direct.url) == "relay.impostor"

        fake_clock.advance(2 * STALL_HOLD + 1)  # the second, longer hold is over too; the copy now behaves
        await censor.store.add_many([*hidden, *withheld])
        spots = fallback.tunnels
        fourth = await sync.sync_with(ctx, relay.url, direction="down")
        assert not impostor_lines(fourth.errors), fourth.errors
        assert fallback.tunnels > spots  # spot-checked once after the hold
        assert marked(ctx, relay.url, direct.url) is None
        spots = fallback.tunnels
        fake_clock.advance(60)
        fifth = await sync.sync_with(ctx, relay.url, direction="down")
        assert not fifth.errors, fifth.errors
        assert fallback.tunnels == spots  # and not again before the usual 6 hours
