"""A whole node (fake clock) syncing with a relay the police run, on loopback: a relay that takes the node's
connection and then stalls must cost the node that relay's syncs only, never every other channel's; a relay
synced with must learn nothing of what the node reads elsewhere; and a relay that accepts posts and keeps nothing
must be caught, said to lose them, and routed around."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import os
import time
from pathlib import Path

import orjson
from net_helpers import SETTLE, NegentropyLiar
from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from samizdat.cli.status import status_text
from samizdat.core import kinds
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import sign_event
from samizdat.core.filters import Filter
from samizdat.core.imeta import PhotoRef, imeta_tag, media_url
from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import Negentropy, VectorStorage
from samizdat.core.posts import build_post
from samizdat.net import sync as netsync
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import posts, publishing, status, sync
from samizdat.services.upkeep import Upkeep
from samizdat.testing import FakeClock, running_relay, test_node, wait_until

WAIT = 20.0  # seconds: the bound on every wait in this module
NOW = float(int(time.time()))  # near the real time: the honest relay checks created_at against its own
LOSING_UPLOAD = 100  # what one sync sends a relay that lost what it had acknowledged (net.sync.LOSING_UPLOAD)


async def test_a_stalling_mirror_holds_up_no_other_channels_sync(tmp_path: Path) -> None:
    """Channel "a" names a mirror that accepts the connection and then says nothing; channel "b" an honest one.
    Passes synced one scope after another, so "b" waited for "a" to time out (65 s here, up to 600 s for a relay
    that answers now and then), pass after pass; now "b"'s post arrives while "a"'s mirror still stalls, and "a"
    is recorded as failed, with a reason, once its mirror hangs up."""
    clock = FakeClock(NOW)
    owner = SecretKey.generate()
    release = asyncio.Event()

    async def stall(ws: ServerConnection) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(WAIT * 3):  # the test's own bound, should it fail before releasing us
                await release.wait()

    async with (
        serve(stall, "127.0.0.1", 0, close_timeout=1) as stalling,
        running_relay(tmp_path / "mirror", negentropy=NegentropyService()) as mirror,
        test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node,
    ):
        hostile = f"ws://127.0.0.1:{next(iter(stalling.sockets)).getsockname()[1]}"
        definition = build_channel_event(owner, "b", "B", created_at=int(NOW) - 60, mirrors=[mirror.url])
        post = build_post(owner, parse_channel(definition), "news", "Water is back", created_at=int(NOW) - 30)
        await mirror.store.add_many([definition, post])
        ctx = node.ctx
        stalled = f"{kinds.CHANNEL}:{owner.public_key_hex}:a"
        ctx.local.follow(stalled, [hostile], NOW - 10)  # followed first: first in the schedule
        ctx.local.follow(f"{kinds.CHANNEL}:{owner.public_key_hex}:b", [mirror.url], NOW)

        passing = asyncio.create_task(sync.sync_pass(ctx))
        try:

            async def arrived() -> bool:
                return await ctx.store.get(post.id) is not None

            await wait_until(arrived, timeout=WAIT, what="channel b's post, while a's mirror stalls")
        finally:
            release.set()
            async with asyncio.timeout(WAIT * 4):
                tried = await asyncio.gather(passing, return_exceptions=True)

        assert tried == [2]
        row = ctx.local.sync_row(hostile, stalled)
        assert row is not None
        assert row.failures == 1
        assert row.summary.get("error")  # one line saying why


async def test_a_relay_synced_with_is_not_asked_for_photos_of_posts_it_did_not_sync(tmp_path: Path) -> None:
    """The node holds a post with a photo it lacks, from elsewhere (a peer, a bundle, another channel's mirror).
    After a sync of something else, it used to ask the relay it had just synced with for that photo, by hash:
    so every relay synced with learnt, photo by photo, which posts the node holds, even in channels read privately
    by area from another relay. Now only photos of posts within the filters synced (whose ids NIP-77 showed the
    relay anyway) are asked of it; the others are left to the photo loop (peers, the post's url, media servers)."""
    clock = FakeClock(NOW)
    asked: list[str] = []

    def record(connection: ServerConnection, request: Request) -> Response | None:
        if request.headers.get("Upgrade", "").lower() != "websocket":  # a plain GET: the node wants a blob
            asked.append(request.path)
            return connection.respond(404, "no such blob\n")
        return None

    async def empty_relay(ws: ServerConnection) -> None:
        nothing = VectorStorage()
        nothing.seal()
        server = Negentropy(nothing)
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "NEG-OPEN":
                reply = server.reconcile(bytes.fromhex(message[3])).hex()
                await ws.send(orjson.dumps(["NEG-MSG", message[1], reply]).decode())
            elif message[0] == "NEG-MSG":
                reply = server.reconcile(bytes.fromhex(message[2])).hex()
                await ws.send(orjson.dumps(["NEG-MSG", message[1], reply]).decode())
            elif message[0] == "REQ":
                await ws.send(orjson.dumps(["EOSE", message[1]]).decode())

    async with (
        serve(empty_relay, "127.0.0.1", 0, close_timeout=1, process_request=record) as lying,
        test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node,
    ):
        url = f"ws://127.0.0.1:{next(iter(lying.sockets)).getsockname()[1]}"
        ctx = node.ctx
        channel, _ = await posts.create_channel(ctx, "yard", "Yard")
        full, thumb = os.urandom(64), os.urandom(32)
        sha, tsha = hashlib.sha256(full).hexdigest(), hashlib.sha256(thumb).hexdigest()
        ref = PhotoRef(sha, media_url(None, sha), "image/webp", 64, 48, "LEHV6nWB2yk8", "the gate", len(full), tsha,
                       media_url(None, tsha))  # fmt: skip
        tags = [["a", channel.address, ""], ["type", "news"], imeta_tag(ref)]
        post = sign_event(ctx.key, kinds.POST, "Gate closed", tags, created_at=int(NOW) - 30)
        await ctx.ingest([post])

        async with asyncio.timeout(WAIT):
            await sync.sync_with(ctx, url, [Filter(kinds=frozenset({1}))], direction="down")
        assert not [path for path in asked if sha in path or tsha in path]

        async with asyncio.timeout(WAIT):  # a sync that covers the post: the relay knows we hold it, and is asked
            await sync.sync_with(ctx, url, [Filter(kinds=frozenset({kinds.POST}))], direction="down")
        assert [path for path in asked if tsha in path]


async def test_a_mirror_that_accepts_posts_and_keeps_nothing_is_caught_and_routed_around(tmp_path: Path) -> None:
    """The channel's mirror answers every post with ``OK true`` and keeps nothing; the node's write relay was
    unreachable for so long that the outbox gave up on it. The user was told the post was delivered to the mirror,
    and no relay had it. Now the next sync, finding the mirror lacking the post it accepted, says so in the status
    (the post is lost there, the relay loses what it accepts), and the post goes to the write relay after all."""
    clock = FakeClock(NOW)
    liar = NegentropyLiar(lambda _: SETTLE, 0)  # "I have nothing", whatever it was sent

    async with (
        serve(liar, "127.0.0.1", 0, close_timeout=1) as lying,
        running_relay(tmp_path / "write", negentropy=NegentropyService()) as honest,
        test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node,
    ):
        mirror = f"ws://127.0.0.1:{next(iter(lying.sockets)).getsockname()[1]}"
        ctx = dataclasses.replace(node.ctx, config=node.ctx.config.with_overrides(write_relays=(honest.url,)))
        channel, _ = await posts.create_channel(ctx, "yard", "Yard", mirrors=[mirror])
        post = build_post(ctx.key, channel, "news", "Water is back", created_at=int(NOW) - 30)
        await publishing.publish(ctx, [post], channel.mirrors)
        ctx.local.record_attempt(  # the write relay was blocked for a day: the outbox gave up on it
            post.id, honest.url, accepted=False, message="error: connection refused", final=True, next_attempt=NOW
        )
        async with asyncio.timeout(WAIT):
            await publishing.deliver(ctx)
        before = {r["url"]: r for r in (await status.document(ctx))["relays"]}
        assert before[mirror]["delivered"] >= 1  # what the mirror said
        assert await honest.store.get(post.id) is None

        clock.advance(300)
        async with asyncio.timeout(WAIT * 3):
            await sync.sync_pass(ctx)
            await publishing.deliver(ctx)

        assert await honest.store.get(post.id) == post  # routed around the mirror
        doc = await status.document(ctx, detail=True)
        relays = {r["url"]: r for r in doc["relays"]}
        assert relays[mirror]["lost"] == 2  # the post and the channel's definition
        assert relays[mirror]["losing_since"] is not None
        assert post.id in [row["event"] for row in doc["outbox"]["lost"]]
        assert post.id not in {row.event_id for row in ctx.local.outbox(["accepted"]) if row.relay == mirror}
        text = status_text(doc, now=clock.now)
        assert "2 lost" in text
        assert "loses what it accepts" in text


async def test_a_relay_found_losing_is_still_sent_little_after_the_node_restarts(tmp_path: Path) -> None:
    """Once a sync has found the relay lacking what it acknowledged, the node restarts: what relays acknowledged is
    kept in memory only (a seized device must not tell which relay holds which events), but the relay's health is
    kept, so the first sync after the restart still sends it at most LOSING_UPLOAD of the 300 events it claims to
    lack, not all of them."""
    clock = FakeClock(NOW)
    liar = NegentropyLiar(lambda _: SETTLE, 0)
    others = SecretKey.generate()
    carried = [sign_event(others, 1, f"carried {i}", created_at=int(NOW) - 1000 + i) for i in range(300)]

    async with serve(liar, "127.0.0.1", 0, close_timeout=1) as lying:
        url = f"ws://127.0.0.1:{next(iter(lying.sockets)).getsockname()[1]}"
        async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
            post = sign_event(node.ctx.key, 1, "ours", created_at=int(NOW) - 30)
            await publishing.publish(node.ctx, [post], [url])
            async with asyncio.timeout(WAIT):
                await publishing.deliver(node.ctx)
            clock.advance(300)
            async with asyncio.timeout(WAIT):
                await sync.sync_with(node.ctx, url, [Filter(kinds=frozenset({1}))])  # finds the post lost
        events_before = liar.events

        async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
            await node.ctx.store.add_many(carried)
            clock.advance(300)
            async with asyncio.timeout(WAIT * 3):
                report = await sync.sync_with(node.ctx, url, [Filter(kinds=frozenset({1}))])
            assert report.have == 301
            assert liar.events - events_before == report.sent == LOSING_UPLOAD
            relays = {r["url"]: r for r in (await status.document(node.ctx))["relays"]}
            assert relays[url]["losing_since"] == NOW + 300
            assert report.held == 301 - LOSING_UPLOAD
    assert netsync.LOSING_UPLOAD == LOSING_UPLOAD


async def test_a_write_relay_that_accepts_posts_and_keeps_nothing_is_caught_when_asked_for_them(
    tmp_path: Path,
) -> None:
    """A write relay (never synced with) answers the post with ``OK true`` and serves nothing; the other write relay
    was unreachable for so long that the outbox gave up on it. The outbox counted the post as delivered, for ever.
    Now, a minute after the OK, the serving node's outbox loop asks the relay for the post, is not given it, marks
    it lost there and the relay as losing, and sends the post to the other relay after all."""
    clock = FakeClock(NOW)
    liar = NegentropyLiar(lambda _: SETTLE, 0)  # answers a REQ with EOSE alone: serves nothing

    async with (
        serve(liar, "127.0.0.1", 0, close_timeout=1) as lying,
        running_relay(tmp_path / "write", negentropy=NegentropyService()) as honest,
        test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node,
    ):
        writer = f"ws://127.0.0.1:{next(iter(lying.sockets)).getsockname()[1]}"
        relays = (writer, honest.url)
        ctx = dataclasses.replace(node.ctx, config=node.ctx.config.with_overrides(write_relays=relays))
        post = sign_event(ctx.key, 1, "ours", created_at=int(NOW) - 30)
        await publishing.publish(ctx, [post], [])
        ctx.local.record_attempt(  # the other relay was blocked for a day: the outbox gave up on it
            post.id, honest.url, accepted=False, message="error: connection refused", final=True, next_attempt=NOW
        )

        def delivered_and_checked() -> bool:
            accepted = {(r.event_id, r.relay) for r in ctx.local.outbox(["accepted"])}
            return (post.id, honest.url) in accepted and not ctx.local.to_check(float("inf"))

        looping = asyncio.ensure_future(Upkeep(ctx).outbox_loop())
        try:
            await wait_until(delivered_and_checked, timeout=WAIT, what="the post delivered elsewhere, and asked back")
        finally:
            looping.cancel()
            await asyncio.gather(looping, return_exceptions=True)

        assert liar.asked == {post.id}  # asked back once, by id
        doc = await status.document(ctx, detail=True)
        by_url = {r["url"]: r for r in doc["relays"]}
        assert (by_url[writer]["delivered"], by_url[writer]["lost"]) == (0, 1)
        assert by_url[writer]["losing_since"] is not None
        assert (by_url[honest.url]["delivered"], by_url[honest.url]["lost"]) == (1, 0)  # it serves what it took
        assert by_url[honest.url]["losing_since"] is None
        assert await honest.store.get(post.id) == post
        assert "loses what it accepts" in status_text(doc, now=clock.now)


async def test_a_relay_refusing_to_serve_what_it_accepted_is_not_called_a_loser(tmp_path: Path) -> None:
    """A write relay takes posts and answers every REQ with CLOSED (it serves only readers who authenticate): it
    cannot be checked, so its post stays delivered, the relay is not said to lose anything, and it is asked once,
    not every pass."""
    clock = FakeClock(NOW)
    asked = 0

    async def write_only(ws: ServerConnection) -> None:
        nonlocal asked
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "EVENT":
                await ws.send(orjson.dumps(["OK", message[1]["id"], True, ""]).decode())
            elif message[0] == "REQ":
                asked += 1
                await ws.send(orjson.dumps(["CLOSED", message[1], "auth-required: readers log in"]).decode())

    async with (
        serve(write_only, "127.0.0.1", 0, close_timeout=1) as server,
        test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node,
    ):
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
        ctx = dataclasses.replace(node.ctx, config=node.ctx.config.with_overrides(write_relays=(url,)))
        post = sign_event(ctx.key, 1, "ours", created_at=int(NOW) - 30)
        await publishing.publish(ctx, [post], [])
        async with asyncio.timeout(WAIT):
            await publishing.deliver(ctx)
        looping = asyncio.ensure_future(Upkeep(ctx).outbox_loop())
        try:
            await wait_until(lambda: asked and not ctx.local.to_check(float("inf")), timeout=WAIT, what="the check")
        finally:
            looping.cancel()
            await asyncio.gather(looping, return_exceptions=True)
        relay = {r["url"]: r for r in (await status.document(ctx))["relays"]}[url]
        assert (relay["delivered"], relay["lost"], relay["losing_since"]) == (1, 0, None)
        assert asked == 1


async def test_an_honest_relay_that_answers_few_events_at_a_time_is_not_called_a_loser(tmp_path: Path) -> None:
    """A write relay keeps every post but answers any REQ with at most 2 events (its NIP-11 ``max_limit``; many
    relays cap answers). Asked back for 5 posts at once, it served 2, and the other 3 were taken as lost: an honest
    relay marked losing, its posts sent elsewhere (a red team's finding). Now what it did not serve is asked again
    while each answer brings more, and only what it never serves is lost."""
    clock = FakeClock(NOW)
    kept: dict[str, dict[str, object]] = {}

    async def capped(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "EVENT":
                kept[message[1]["id"]] = message[1]
                await ws.send(orjson.dumps(["OK", message[1]["id"], True, ""]).decode())
            elif message[0] == "REQ":
                wanted = [i for f in message[2:] for i in f.get("ids", [])]
                for event_id in [i for i in wanted if i in kept][:2]:
                    await ws.send(orjson.dumps(["EVENT", message[1], kept[event_id]]).decode())
                await ws.send(orjson.dumps(["EOSE", message[1]]).decode())

    async with (
        serve(capped, "127.0.0.1", 0, close_timeout=1) as server,
        test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node,
    ):
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
        ctx = dataclasses.replace(node.ctx, config=node.ctx.config.with_overrides(write_relays=(url,)))
        posts = [sign_event(ctx.key, 1, f"ours {i}", created_at=int(NOW) - 30 + i) for i in range(5)]
        await publishing.publish(ctx, posts, [])
        async with asyncio.timeout(WAIT):
            await publishing.deliver(ctx)
        looping = asyncio.ensure_future(Upkeep(ctx).outbox_loop())
        try:
            await wait_until(lambda: not ctx.local.to_check(float("inf")), timeout=WAIT, what="the check")
        finally:
            looping.cancel()
            await asyncio.gather(looping, return_exceptions=True)
        relay = {r["url"]: r for r in (await status.document(ctx))["relays"]}[url]
        assert (relay["delivered"], relay["lost"], relay["losing_since"]) == (5, 0, None)
