"""Red team, round 14 (``docs/blocking.md``): a fallback that lies twice.

Round 13 counts, as evidence that the sync's route withholds, only events by authors with standing in the scope
(a channel's roles, or an author the node already held there). A fallback that answers in the relay's name (a
proxy the censor runs, a Tor exit) and invents events by a fresh key at one spot check has them stored; at the
next spot check that key was "held before", so its new invented events counted and the honest direct route was
marked. Now an author counts only when the node knew it from a source other than the route that brings the
evidence (``relay_memory.independent``: the state file notes which route brought each author's events, hashed).

The lab is round 13's: real relays on loopback reached through two routes (HTTP ``CONNECT`` proxies), the first
playing the direct route, the second the fallback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_redteam_censor10_sync import fresh_index, impostor_lines, marked, posts, publish, routed, router
from test_redteam_round12_sync import closed_port

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.net.client import RelayClient
from samizdat.node import Node
from samizdat.services import channels, relay_memory, sync
from samizdat.store import local as local_module
from samizdat.store.local import LocalState
from samizdat.testing import FakeClock, cutting_proxy, running_relay

STRANGERS_LINE = "by keys this node does not know in that scope"
WITHHELD_LINE = "lacked 6 events from before this sync"


async def test_a_fallback_that_invents_events_by_the_same_fresh_key_twice_marks_nothing(
    opened: Node, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """Round 13's "left": the fallback adds six events by a fresh key at the first spot check (they mark nothing,
    but are stored), then six more by the same key at the next spot check, 6 hours later. Before: the key was
    held before that sync, so the six counted, the honest direct route lacked them when asked by id, and it was
    marked ``relay.impostor``; the syncs moved to the fallback. Now that key's events only ever came through the
    fallback: they say nothing of the direct route, which is never marked, and the syncs keep going direct."""
    now = int(opened.ctx.now())
    feed = posts(SecretKey(bytes([61]) * 32), now - 3600, 20, "feed")
    liar_key = SecretKey(bytes([62]) * 32)
    async with (
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as liar,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many(feed)
        await liar.store.add_many([*feed, *posts(liar_key, now - 1800, 6, "invented")])
        fallback.to = liar.port  # the fallback answers in the relay's name, with events of its own
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        first = await sync.sync_with(ctx, relay.url, direction="down")
        assert [line for line in first.errors if f"served 6 events {STRANGERS_LINE}" in line], first.errors
        for round_ in range(2):  # the next spot checks, 6 hours apart: the same key, new invented events each time
            fake_clock.advance(relay_memory.SPOT_EVERY)
            invented = posts(liar_key, int(ctx.now()) - 1800, 6, f"invented again {round_}")
            await liar.store.add_many(invented)
            spots = fallback.tunnels
            again = await sync.sync_with(ctx, relay.url, direction="down")
            assert fallback.tunnels > spots  # spot-checked through the fallback
            assert not impostor_lines(again.errors), again.errors
            assert [line for line in again.errors if f"served 6 events {STRANGERS_LINE}" in line], again.errors
            assert marked(ctx, relay.url, direct.url) is None
            assert await ctx.store.has([e.id for e in invented]) == {e.id for e in invented}
        for _ in range(3):  # the syncs keep going direct
            direct_before, fallback_before = direct.tunnels, fallback.tunnels
            fake_clock.advance(60)
            later = await sync.sync_with(ctx, relay.url, direction="down")
            assert not later.errors, later.errors
            assert direct.tunnels > direct_before
            assert fallback.tunnels == fallback_before


async def test_a_copy_that_withholds_every_event_of_an_author_known_through_it_is_still_marked(
    opened: Node, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """What must stay caught: the node learnt an author through the direct route (its first sync), and the
    fallback brought one of the author's events too (published between the sync and its spot check). Then a
    censor's copy takes the direct route over and withholds every new event of that author. The spot check
    through the honest fallback brings them: the author was known through a source other than the fallback, so
    they count, and the direct route is marked."""
    now = int(opened.ctx.now())
    feed = posts(SecretKey(bytes([63]) * 32), now - 7200, 20, "feed")
    author = SecretKey(bytes([64]) * 32)
    known = posts(author, now - 7000, 3, "known")
    async with (
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as censor,
        router() as direct,
        cutting_proxy(None) as fallback,
    ):
        await relay.store.add_many([*feed, *known])
        await censor.store.add_many(feed)  # every event of the author left out
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        late = posts(author, now - 600, 1, "through the fallback")

        async def meanwhile(client: RelayClient) -> None:  # published after the sync, before its spot check
            await publish(relay, late)

        first = await sync.sync_with(ctx, relay.url, direction="down", then=meanwhile)
        assert first.received == len(feed) + len(known) + len(late), first.errors  # the last through the fallback
        direct.to = censor.port  # the takeover
        fake_clock.advance(relay_memory.SPOT_EVERY)
        hidden = posts(author, int(ctx.now()) - 1800, 6, "hidden")
        await publish(relay, hidden)
        second = await sync.sync_with(ctx, relay.url, direction="down")
        assert [line for line in second.errors if WITHHELD_LINE in line], second.errors
        assert await ctx.store.has([e.id for e in hidden]) == {e.id for e in hidden}
        assert marked(ctx, relay.url, direct.url) == "relay.impostor"


async def test_a_copy_that_withholds_an_author_known_from_a_bundle_is_still_marked(
    opened: Node, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """The node learnt an author from another door (a bundle off a stick: stored without any relay), and a
    censor's copy on the direct route withholds every event of that author from the start. The author's new
    events first reach this node through the fallback's spot check, so the fallback is the only relay route that
    ever brought one; but the node held more of the author's events than the fallback brought, so the author was
    known from elsewhere: they count, and the direct route is marked."""
    now = int(opened.ctx.now())
    feed = posts(SecretKey(bytes([65]) * 32), now - 7200, 20, "feed")
    author = SecretKey(bytes([66]) * 32)
    bundled = posts(author, now - 7000, 3, "bundled")
    async with (
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as censor,
        router() as direct,
        cutting_proxy(None) as fallback,
    ):
        await opened.ctx.ingest(bundled)  # the bundle's door: no relay, no route
        await relay.store.add_many([*feed, *bundled])
        await censor.store.add_many(feed)
        direct.to = censor.port
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        first = await sync.sync_with(ctx, relay.url, direction="down")
        assert first.received == len(feed)
        assert not impostor_lines(first.errors), first.errors
        fake_clock.advance(relay_memory.SPOT_EVERY)
        hidden = posts(author, int(ctx.now()) - 1800, 6, "hidden")
        await publish(relay, hidden)
        second = await sync.sync_with(ctx, relay.url, direction="down")
        assert [line for line in second.errors if WITHHELD_LINE in line], second.errors
        assert marked(ctx, relay.url, direct.url) == "relay.impostor"


async def test_a_copy_that_withholds_a_channels_posts_is_marked_whoever_brought_them_first(
    opened: Node, fake_clock: FakeClock, tmp_path: Path
) -> None:
    """A channel's posts are judged by its roles, which no route can forge: the owner's posts count even when
    every earlier one came through the fallback alone (the direct route's port was closed at the node's first
    sync; the next, direct, brought nothing new). A censor's copy on the direct route that withholds the
    channel's new posts is marked."""
    now = int(opened.ctx.now())
    owner = SecretKey(bytes([67]) * 32)
    definition = build_channel_event(owner, "court", "Court", created_at=now - 7200)
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
        direct.to = closed_port()
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        first = await sync.sync_with(ctx, relay.url, scope, direction="down")
        assert first.received == 1 + len(own), first.errors
        direct.to, fallback.to = None, closed_port()  # the next sync goes direct (and brings nothing new)
        fake_clock.advance(60)
        tunnels = direct.tunnels
        assert (await sync.sync_with(ctx, relay.url, scope, direction="down")).received == 0
        assert direct.tunnels > tunnels
        direct.to, fallback.to = censor.port, None  # the takeover
        fake_clock.advance(relay_memory.SPOT_EVERY)
        later = int(ctx.now())
        hidden = [build_post(owner, channel, "news", f"hidden {i}", created_at=later - 1800 + i) for i in range(6)]
        await publish(relay, hidden)
        second = await sync.sync_with(ctx, relay.url, scope, direction="down")
        assert [line for line in second.errors if WITHHELD_LINE in line], second.errors
        assert marked(ctx, relay.url, direct.url) == "relay.impostor"


def test_the_state_file_names_neither_the_authors_nor_the_routes(tmp_path: Path) -> None:
    """What a seized plain node's state file says of the record: hashes with the node's own salt, never a key or
    a proxy's address; the same key hashes differently on another node."""
    author, route = SecretKey(bytes([68]) * 32).public_key_hex, "socks5h://127.0.0.1:9050"
    files = [tmp_path / "a.sqlite", tmp_path / "b.sqlite"]
    rows = []
    for path in files:
        local = LocalState(path)
        local.note_brought(route, {author: 3})
        assert local.sources([author], route)[author].brought == 3
        rows.append(local._db.execute("SELECT author FROM author_sources").fetchall())
        local.close()
    assert rows[0] != rows[1]
    for path in files:
        raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith(path.name))
        assert author.encode() not in raw
        assert bytes.fromhex(author) not in raw
        assert route.encode() not in raw


def test_the_record_is_bounded_and_keeps_what_it_noted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """At most ``SOURCES_MAX`` authors are noted: past it a new author is not (and says nothing), while those
    noted keep being updated: a second route bringing one of theirs is remembered."""
    from samizdat.store.local import Sources  # new in round 14: the module's other tests run on the code before

    monkeypatch.setattr(local_module, "SOURCES_MAX", 2)
    keys = [SecretKey(bytes([70 + i]) * 32).public_key_hex for i in range(3)]
    local = LocalState(tmp_path / "state.sqlite")
    try:
        local.note_brought("http://fallback", {keys[0]: 6, keys[1]: 1})
        assert local.sources_full()
        local.note_brought("http://fallback", {keys[0]: 6, keys[2]: 6})
        local.note_brought("direct", {keys[1]: 1})
        noted = local.sources(keys, "http://fallback")
        assert sorted(noted) == sorted(keys[:2])
        assert noted[keys[0]] == Sources(first_here=True, brought=12, others=False)
        assert noted[keys[1]] == Sources(first_here=True, brought=1, others=True)
    finally:
        local.close()
    reopened = LocalState(tmp_path / "state.sqlite")  # the count of noted authors survives a restart
    try:
        assert reopened.sources_full()
    finally:
        reopened.close()
