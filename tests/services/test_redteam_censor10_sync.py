"""Red team, round 10 (``docs/blocking.md``): a censor's relay at a relay's address, met by a sync alone.

In-process, with real relays on loopback and two routes to each: the first is an HTTP ``CONNECT`` proxy that
plays the censor's router (it tunnels to whatever it is told: the relay asked for, or the censor's own relay:
nft ``dnat`` does the same), the second a plain proxy (the fallback, Tor). The node syncs with the real relay
first; then the censor takes over and the node syncs again, never running netcheck. A relay that honestly lost
or purged events (NIP-09, NIP-40, a retention window, a disk restored from an old backup) must not be called an
impostor.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.routes import found_by, impairment
from samizdat.net.client import RelayClient
from samizdat.net.failover import Routing
from samizdat.node import Node
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import relay_memory, status, sync
from samizdat.services.context import Context
from samizdat.testing import CuttingProxy, FakeClock, RunningRelay, cutting_proxy, running_relay

IMPOSTOR_LINE = "answers in the relay's name"


#: The censor's router: an HTTP ``CONNECT`` proxy whose tunnels go where the client asked, or, once ``to`` is set,
#: to the censor's own relay (a transparent takeover of the address).
Router = CuttingProxy


def router() -> contextlib.AbstractAsyncContextManager[CuttingProxy]:
    return cutting_proxy(None)


def routed(opened: Node, url: str, *routes: str) -> Context:
    opened.ctx = dataclasses.replace(opened.ctx, routing=Routing(per_relay={url: routes}))
    return opened.ctx


def posts(key: SecretKey, start: int, count: int, what: str, step: int = 2, **tags: str) -> list[Event]:
    extra = [[name, value] for name, value in tags.items()]
    return [
        sign_event(key, kind=1, content=f"{what} {i} " + "x" * 200, tags=extra, created_at=start + step * i)
        for i in range(count)
    ]


def fresh_index() -> NegentropyService:
    """A relay's Negentropy service that sees each new event at once (a relay's own reuses its index for a few
    seconds: a correct but slightly older answer, which the test would have to wait out)."""
    return NegentropyService(min_staleness=0.0)


async def publish(relay: RunningRelay, events: Sequence[Event]) -> None:
    """Through the relay's front door (its Negentropy index learns of them as of any event published)."""
    async with await RelayClient.connect(relay.url, timeout=10) as client:
        results = await client.publish_many(list(events), timeout=30)
    assert all(r.accepted for r in results), [r.message for r in results]


def marked(ctx: Context, relay: str, route: str) -> str | None:
    rows = [row for row in ctx.local.all_routes() if row[0] == relay and row[2].transport == route]
    if not rows:
        return None
    record = rows[0][2]
    return impairment(record, ctx.clock()) if found_by(record) == "sync" else None


def impostor_lines(errors: Sequence[str]) -> list[str]:
    return [line for line in errors if IMPOSTOR_LINE in line]


@pytest.fixture
def news(opened: Node) -> list[Event]:
    """A feed's 150 posts, the newest a few minutes old."""
    return posts(SecretKey(bytes([11]) * 32), int(opened.ctx.now()) - 3600, 150, "feed")


async def test_an_empty_relay_at_the_relays_address_is_found_by_the_next_sync(
    opened: Node, news: list[Event], tmp_path: Path
) -> None:
    """Before: the second sync "succeeded" with nothing and said nothing (and uploaded the node's events to the
    censor). Now: the relay lacks all it had; the other route serves them, so the route is marked, the sync goes on
    there and brings the new posts, and the next sync does not open the censor's route."""
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as censor,
        router() as censored,
        cutting_proxy(None) as fallback,
    ):
        await relay.store.add_many(news)
        ctx = routed(opened, relay.url, censored.url, fallback.url)
        first = await sync.sync_with(ctx, relay.url)
        assert first.received == len(news)
        assert not first.errors
        censored.to = censor.port
        fresh = posts(SecretKey(bytes([11]) * 32), int(ctx.now()) - 60, 5, "fresh")
        await publish(relay, fresh)
        second = await sync.sync_with(ctx, relay.url)
        assert impostor_lines(second.errors), second.errors
        assert await ctx.store.has([e.id for e in fresh]) == {e.id for e in fresh}, second
        assert marked(ctx, relay.url, censored.url) == "relay.impostor"
        shown = {r["url"]: r for r in (await status.document(ctx))["relays"]}
        assert shown[relay.url]["impersonated"][0]["route"] == censored.url  # what `samizdat status` says
        tunnels = censored.tunnels
        third = await sync.sync_with(ctx, relay.url)
        assert not third.errors
        assert censored.tunnels == tunnels  # the censor's route is not even opened


async def test_a_copy_without_one_channels_older_posts_is_found(
    opened: Node, news: list[Event], tmp_path: Path
) -> None:
    """The censor's copy holds every event of the relay but one channel's, all of which are older than the newest
    200 (netcheck's data step compares only those). It keeps copying the feed's new posts, never the channel's."""
    ctx = opened.ctx
    channel_key = SecretKey(bytes([12]) * 32)
    channel = posts(channel_key, int(ctx.now()) - 3599, 30, "channel", step=3)  # among the feed's oldest
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as censor,
        router() as censored,
        cutting_proxy(None) as fallback,
    ):
        await relay.store.add_many([*news, *channel])
        await censor.store.add_many(news)
        ctx = routed(opened, relay.url, censored.url, fallback.url)
        assert (await sync.sync_with(ctx, relay.url, direction="down")).received == len(news) + len(channel)
        censored.to = censor.port
        feed = posts(SecretKey(bytes([11]) * 32), int(ctx.now()) - 120, 3, "fresh feed")
        new_post = posts(channel_key, int(ctx.now()) - 100, 1, "fresh channel")
        await publish(relay, [*feed, *new_post])
        await publish(censor, feed)
        second = await sync.sync_with(ctx, relay.url, direction="down")
        assert impostor_lines(second.errors), second.errors
        assert await ctx.store.get(new_post[0].id) is not None
        assert marked(ctx, relay.url, censored.url) == "relay.impostor"


async def test_a_stale_copy_is_found(opened: Node, news: list[Event], tmp_path: Path) -> None:
    """The censor's copy is the relay as it was some time ago: it lacks the newest events, and what is newer
    than its newest, which netcheck cannot compare."""
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as censor,
        router() as censored,
        cutting_proxy(None) as fallback,
    ):
        await relay.store.add_many(news)
        await censor.store.add_many(news[:-20])
        ctx = routed(opened, relay.url, censored.url, fallback.url)
        assert (await sync.sync_with(ctx, relay.url, direction="down")).received == len(news)
        censored.to = censor.port
        second = await sync.sync_with(ctx, relay.url, direction="down")
        assert impostor_lines(second.errors), second.errors
        assert "lacks 20 events it had at the last sync" in impostor_lines(second.errors)[0]
        assert marked(ctx, relay.url, censored.url) == "relay.impostor"


async def test_a_copy_that_withholds_only_a_channels_new_posts_is_found_by_a_spot_check(
    opened: Node, news: list[Event], fake_clock: FakeClock, tmp_path: Path
) -> None:
    """The censor's copy is current, but for one channel's posts from the takeover on: the node had nothing it
    lacks, so nothing is gone. A spot check (every few hours, the same sync once more through another route)
    brings posts from before the sync that the censor's route did not, by a key the node knew there (round 13:
    only those count): that route is marked."""
    channel_key = SecretKey(bytes([12]) * 32)
    known = posts(channel_key, int(opened.ctx.now()) - 3500, 3, "channel before")
    async with (
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as censor,
        router() as censored,
        cutting_proxy(None) as fallback,
    ):
        await relay.store.add_many([*news, *known])
        await censor.store.add_many([*news, *known])
        ctx = routed(opened, relay.url, censored.url, fallback.url)
        first = await sync.sync_with(ctx, relay.url, direction="down")
        assert first.received == len(news) + len(known)
        assert not first.errors  # the first sync's spot check: both routes reach the same relay
        censored.to = censor.port
        fake_clock.advance(relay_memory.SPOT_EVERY)
        hidden = posts(channel_key, int(ctx.now()) - 3000, 6, "channel")
        feed = posts(SecretKey(bytes([11]) * 32), int(ctx.now()) - 2000, 3, "fresh feed")
        await publish(relay, [*hidden, *feed])
        await publish(censor, feed)
        second = await sync.sync_with(ctx, relay.url, direction="down")
        assert [line for line in second.errors if "lacked 6 events from before this sync" in line], second.errors
        assert await ctx.store.has([e.id for e in hidden]) == {e.id for e in hidden}
        assert marked(ctx, relay.url, censored.url) == "relay.impostor"


# -- honest relays that lost or purged events: never an impostor --------------------------------------------------


async def honest(
    opened: Node, tmp_path: Path, before: Sequence[Event], after: Sequence[Event], deletions: Sequence[Event] = ()
) -> tuple[Context, list[str], Router, RunningRelay]:
    """The node syncs with a relay holding ``before``; then the relay (on every route) holds ``after`` (and
    ``deletions``): its disk restored from an old backup, or purged. Returns the second sync's errors."""
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as later,
        router() as first_route,
        router() as second_route,
    ):
        await relay.store.add_many(list(before))
        await later.store.add_many([*after, *deletions])
        ctx = routed(opened, relay.url, first_route.url, second_route.url)
        first = await sync.sync_with(ctx, relay.url, direction="down")
        assert first.received == len(before)
        assert not first.errors
        first_route.to = second_route.to = later.port  # the same relay, on every route
        second_route.tunnels = 0  # the first sync's spot check; the next is due in hours
        second = await sync.sync_with(ctx, relay.url, direction="down")
        assert not impostor_lines(second.errors), second.errors
        assert marked(ctx, relay.url, first_route.url) is None
        return ctx, second.errors, second_route, later


async def test_a_relay_that_honours_deletion_requests_is_no_impostor(
    opened: Node, news: list[Event], tmp_path: Path
) -> None:
    key = SecretKey(bytes([11]) * 32)
    gone = news[-30:]
    deletion = sign_event(key, kind=5, content="", tags=[["e", e.id] for e in gone], created_at=int(opened.ctx.now()))
    ctx, errors, other, _ = await honest(opened, tmp_path, news, news[:-30], [deletion])
    assert not errors
    assert not await ctx.store.has([e.id for e in gone])  # the node honoured the request too
    assert other.tunnels == 0  # nothing was suspected: no other route asked


async def test_a_relay_that_drops_expired_events_is_no_impostor(
    opened: Node, news: list[Event], fake_clock: FakeClock, tmp_path: Path
) -> None:
    key = SecretKey(bytes([13]) * 32)
    expiring = [
        sign_event(
            key,
            kind=1,
            content=f"short-lived {i}",
            tags=[["expiration", str(int(fake_clock()) + 60)]],
            created_at=int(fake_clock()) - 1000 + i,
        )  # fmt: skip
        for i in range(20)
    ]
    _, errors, other, _ = await _expired(opened, tmp_path, [*news, *expiring], news, fake_clock)
    assert not errors
    assert other.tunnels == 0


async def _expired(
    opened: Node, tmp_path: Path, before: list[Event], after: list[Event], clock: FakeClock
) -> tuple[Context, list[str], Router, RunningRelay]:
    """As :func:`honest`, the clock moved past the events' expiration between the two syncs."""
    async with (
        running_relay(tmp_path, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, negentropy=fresh_index()) as later,
        router() as first_route,
        router() as second_route,
    ):
        await relay.store.add_many(before)
        await later.store.add_many(after)
        ctx = routed(opened, relay.url, first_route.url, second_route.url)
        assert (await sync.sync_with(ctx, relay.url, direction="down")).received == len(before)
        clock.advance(120)
        first_route.to = second_route.to = later.port
        second_route.tunnels = 0
        second = await sync.sync_with(ctx, relay.url, direction="down")
        assert not impostor_lines(second.errors), second.errors
        assert marked(ctx, relay.url, first_route.url) is None
        return ctx, second.errors, second_route, later


async def test_a_relay_with_a_retention_window_is_no_impostor(opened: Node, news: list[Event], tmp_path: Path) -> None:
    """The relay keeps only its newest events: the oldest 50 are gone, every newer one is there."""
    _, errors, other, _ = await honest(opened, tmp_path, news, news[50:])
    assert not errors
    assert other.tunnels == 0


async def test_a_relay_restored_from_an_old_backup_is_no_impostor(
    opened: Node, news: list[Event], tmp_path: Path
) -> None:
    """The relay lost its newest 20 events, on every route: the other route is asked, lacks them too, and the
    sync says the relay lost them, marking nothing."""
    _, errors, other, _ = await honest(opened, tmp_path, news, news[:-20])
    assert other.tunnels >= 1  # suspected, and asked another way
    assert [line for line in errors if "the relay lost or deleted them" in line], errors
