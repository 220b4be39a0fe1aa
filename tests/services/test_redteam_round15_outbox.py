"""Red team, round 15 (``docs/blocking.md``): the outbox and a route in doubt.

A sync that finds a relay's route in doubt (it served nothing at its first sync while the spot check through the
fallback served what it lacked: a censor's empty relay at the relay's address, most likely) sends that route
nothing. The outbox did not know: a post the user made went to the relay through the usual route order, the
censor's relay accepted it, the outbox counted it delivered, and it never reached the relay. Now the outbox does
not connect through a route in doubt: the post goes through the fallback to the real relay, and the censor gets
nothing. Fails on the code before (the censor's relay held the post, the real one did not).

The lab is round 13's: real relays on loopback reached through two routes (HTTP ``CONNECT`` proxies).
"""

from __future__ import annotations

from pathlib import Path

from test_redteam_censor10_sync import fresh_index, posts, routed, router

from samizdat.core.event import sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.node import Node
from samizdat.services import publishing, relay_memory, sync
from samizdat.testing import FakeClock, running_relay


async def test_a_post_is_not_handed_to_the_censors_relay_on_a_route_in_doubt(
    opened: Node, fake_clock: FakeClock, tmp_path: Path
) -> None:
    now = int(opened.ctx.now())
    feed = posts(SecretKey(bytes([81]) * 32), now - 3600, 20, "feed")
    async with (
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as relay,
        running_relay(tmp_path, clock=fake_clock, negentropy=fresh_index()) as censor,
        router() as direct,
        router() as fallback,
    ):
        await relay.store.add_many(feed)
        direct.to = censor.port  # the censor answers at the relay's address on the direct route
        ctx = routed(opened, relay.url, direct.url, fallback.url)
        await sync.sync_with(ctx, relay.url)
        assert relay_memory.doubted(ctx, relay.url) == (direct.url,)  # served nothing, the fallback served 20
        fake_clock.advance(60)
        post = sign_event(ctx.key, kind=1, content="Bridge closed, go round by the park", created_at=now)
        assert (await publishing.publish(ctx, [post], [relay.url]))[0].accepted
        report = await publishing.deliver(ctx)
        assert report.by_relay.get(relay.url) == "ok", report.by_relay
        assert await censor.store.count([Filter()]) == 0  # the censor's relay never saw the post
        assert await relay.store.has([post.id]) == {post.id}  # it reached the relay, through the fallback
