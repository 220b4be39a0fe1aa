"""Red team, round 15 (``docs/blocking.md``): a new node's first sync through a censor's empty relay.

Round 13 counts, as evidence that the sync's route withholds, only events by keys with standing in the scope; a
new node holds no key, so a whole relay's first sync through a censor's empty relay marks nothing. But the node a
person really starts follows a channel: its link (naddr) names the owner's key, which no route can forge, and the
owner's posts count at the first spot check. And a route could invent a whole channel (a fresh owner key, its
definition and posts): a channel's roles now count only for a channel whose owner the user named (followed, own,
the sync's own scope) or whose owner is itself an author known from elsewhere.

The lab is round 13's: real relays on loopback reached through two routes (HTTP ``CONNECT`` proxies), the first
playing the direct route, the second the fallback.
"""

from __future__ import annotations

from pathlib import Path

from test_redteam_censor10_sync import fresh_index, impostor_lines, marked, posts, routed, router

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.core.routes import STALL_HOLD
from samizdat.node import Node
from samizdat.services import channels, relay_memory, sync
from samizdat.testing import FakeClock, running_relay

STRANGERS_LINE = "by keys this node does not know in that scope"


async def test_a_new_follower_marks_the_censors_empty_relay_at_its_first_sync(opened: Node, tmp_path: Path) -> None:
    """A new node follows a channel by its link and syncs it for the first time; the relay's address is the
    censor's (an empty relay), the fallback reaches the real one. The spot check through the fallback brings the
    owner's definition and posts: the owner is the key the link named, so they count, the direct route is marked
    at this first sync, and the next sync does not open it. (Caught before round 15 too: this proves it.)"""
    now = int(opened.ctx.now())
    owner = SecretKey(bytes([71]) * 32)
    definition = build_channel_event(owner, "square", "Square", created_at=now - 7200)
    channel = parse_channel(definition)
    own = [build_post(owner, channel, "news", f"news {i}", created_at=now - 3600 + i) for i in range(10)]
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as censor,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many([definition, *own])
        direct.to = censor.port  # the takeover, from before the node ever synced
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        await channels.follow(ctx, channels.address_of(channel), [relay.url])
        scope = await channels.scope_of(ctx, channels.address_of(channel))
        first = await sync.sync_with(ctx, relay.url, scope)
        assert impostor_lines(first.errors), first.errors
        assert marked(ctx, relay.url, direct.url) == "relay.impostor"
        assert await ctx.store.has([e.id for e in own]) == {e.id for e in own}
        assert (await channels.lookup(ctx, channels.address_of(channel))) is not None
        tunnels = direct.tunnels
        again = await sync.sync_with(ctx, relay.url, await channels.scope_of(ctx, channels.address_of(channel)))
        assert not again.errors, again.errors
        assert direct.tunnels == tunnels  # the censor's route is not even opened


async def test_a_fallback_that_invents_a_whole_channel_marks_nothing(opened: Node, tmp_path: Path) -> None:
    """A fallback answering in the relay's name adds a channel of its own to a whole relay's sync: a definition
    signed by a fresh key and six posts by that key, dated half an hour back. Before: the definition, stored by
    the spot check, gave its owner a role, the six counted as withheld by the honest direct route, which was
    marked ``relay.impostor`` at the node's first sync, and the syncs moved to the fallback. Now the channel is
    no one's the user named: nothing is marked, the next sync goes through the direct route."""
    now = int(opened.ctx.now())
    feed = posts(SecretKey(bytes([72]) * 32), now - 3600, 20, "feed")
    fresh = SecretKey(bytes([73]) * 32)
    definition = build_channel_event(fresh, "invented", "Invented", created_at=now - 7200)
    invented = parse_channel(definition)
    forged = [build_post(fresh, invented, "news", f"forged {i}", created_at=now - 1800 + i) for i in range(6)]
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as liar,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many(feed)
        await liar.store.add_many([*feed, definition, *forged])
        fallback.to = liar.port
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        report = await sync.sync_with(ctx, relay.url, direction="down")
        assert not impostor_lines(report.errors), report.errors
        assert [line for line in report.errors if STRANGERS_LINE in line], report.errors
        assert marked(ctx, relay.url, direct.url) is None
        direct_before, fallback_before = direct.tunnels, fallback.tunnels
        await sync.sync_with(ctx, relay.url, direction="down")
        assert direct.tunnels > direct_before  # the next sync still goes through the direct route
        assert fallback.tunnels == fallback_before


async def test_a_channel_the_fallback_brought_counts_once_its_owner_is_known_elsewhere(
    opened: Node, tmp_path: Path
) -> None:
    """The rule is not "followed channels only": a channel the user never named counts by its roles once its
    owner is an author the node knew from elsewhere (here the direct route brought the owner's other events
    at the first sync). A censor's copy on the direct route that withholds that channel's posts is marked."""
    now = int(opened.ctx.now())
    owner = SecretKey(bytes([74]) * 32)
    notes = posts(owner, now - 7200, 6, "notes")
    definition = build_channel_event(owner, "yard", "Yard", created_at=now - 7000)
    channel = parse_channel(definition)
    hidden = [build_post(owner, channel, "news", f"news {i}", created_at=now - 1800 + i) for i in range(6)]
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as censor,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many([*notes, definition, *hidden])
        await censor.store.add_many([*notes, definition])  # a copy without the channel's posts
        direct.to = censor.port
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        report = await sync.sync_with(ctx, relay.url, direction="down")
        assert impostor_lines(report.errors), report.errors
        assert marked(ctx, relay.url, direct.url) == "relay.impostor"


DOUBT_LINE = "are held back: that route is in doubt since"


async def test_a_new_node_sends_nothing_to_an_empty_relay_another_route_contradicts(
    opened: Node, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """A node that knows no key syncs a whole relay for the first time, with eight events of its own to send; the
    relay's address is the censor's (an empty relay), the fallback reaches the real one (20 events by keys the
    node never met). Nothing can be marked (the fallback could have invented the 20). Before: the first sync
    uploaded the node's eight events to the censor. Now the direct route served nothing while the fallback served
    20: what the node would send is held back from it, at this sync and the next, and the report says why; the
    fallback's spot check carried them to the real relay. Once the takeover ends, the next spot check finds the
    routes agree and nothing is held any more."""
    now = int(opened.ctx.now())
    feed = posts(SecretKey(bytes([75]) * 32), now - 3600, 20, "feed")
    mine = posts(SecretKey(bytes([76]) * 32), now - 600, 8, "mine")
    async with (
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as censor,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many(feed)
        await opened.ctx.store.add_many(mine)
        direct.to = censor.port
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        first = await sync.sync_with(ctx, relay.url)
        assert not impostor_lines(first.errors), first.errors
        assert [line for line in first.errors if f"8 events this node would send to {relay.url}" in line], first.errors
        assert await censor.store.count([Filter()]) == 0  # the censor got none of what the node sends
        assert await relay.store.has([e.id for e in mine]) == {e.id for e in mine}  # through the fallback
        assert await ctx.store.has([e.id for e in feed]) == {e.id for e in feed}
        assert marked(ctx, relay.url, direct.url) is None
        fake_clock.advance(60)
        second = await sync.sync_with(ctx, relay.url)  # no spot check due: the doubt stands
        assert [line for line in second.errors if DOUBT_LINE in line], second.errors
        assert await censor.store.count([Filter()]) == 0
        direct.to = None  # the takeover ends
        fake_clock.advance(relay_memory.SPOT_EVERY)
        await sync.sync_with(ctx, relay.url)  # its spot check finds the two routes agree
        fake_clock.advance(60)
        later = await sync.sync_with(ctx, relay.url)
        assert not later.errors, later.errors
        assert later.held == 0


async def test_a_fallback_that_invents_events_does_not_keep_the_node_from_an_honest_relay(
    opened: Node, tmp_path: Path
) -> None:
    """The rule cannot be turned against a relay that serves anything: a lying fallback that adds 30 events by
    fresh keys at a new node's first sync of a relay whose direct route serves its events does not keep the
    node's own events from it (they are sent through the direct route at that sync), and marks nothing."""
    now = int(opened.ctx.now())
    feed = posts(SecretKey(bytes([77]) * 32), now - 3600, 20, "feed")
    invented = posts(SecretKey(bytes([78]) * 32), now - 1800, 30, "invented")
    mine = posts(SecretKey(bytes([79]) * 32), now - 600, 8, "mine")
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as liar,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many(feed)
        await liar.store.add_many([*feed, *invented])
        await opened.ctx.store.add_many(mine)
        fallback.to = liar.port
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        first = await sync.sync_with(ctx, relay.url)
        assert first.sent == len(mine), first
        assert first.held == 0, first
        assert not [line for line in first.errors if DOUBT_LINE in line], first.errors
        assert await relay.store.has([e.id for e in mine]) == {e.id for e in mine}
        assert marked(ctx, relay.url, direct.url) is None
        assert marked(ctx, relay.url, fallback.url) is None


async def test_a_follower_sends_nothing_to_the_censors_relay_when_its_mark_ends(
    opened: Node, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """The new follower of the first test, once the mark's hold has ended: the route had no sync of its own to
    compare with (it was marked at its first), so the spot check after the hold found nothing new through the
    fallback. Before: that sync uploaded the channel's eleven events to the censor, which from then on held a copy
    and nothing was said. Now the route is in doubt (the fallback holds the eleven it lacked): nothing goes to the
    censor, at that sync or the next, and the report says so."""
    now = int(opened.ctx.now())
    owner = SecretKey(bytes([80]) * 32)
    definition = build_channel_event(owner, "square", "Square", created_at=now - 7200)
    channel = parse_channel(definition)
    address = channels.address_of(channel)
    own = [build_post(owner, channel, "news", f"news {i}", created_at=now - 3600 + i) for i in range(10)]
    async with (
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as censor,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many([definition, *own])
        direct.to = censor.port
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        await channels.follow(ctx, address, [relay.url])
        first = await sync.sync_with(ctx, relay.url, await channels.scope_of(ctx, address))
        assert marked(ctx, relay.url, direct.url) == "relay.impostor", first.errors
        for _ in range(2):
            fake_clock.advance(STALL_HOLD * 4)  # past the hold: the next sync goes through the direct route again
            later = await sync.sync_with(ctx, relay.url, await channels.scope_of(ctx, address))
            assert await censor.store.count([Filter()]) == 0, later
            assert [line for line in later.errors if DOUBT_LINE in line], later.errors
