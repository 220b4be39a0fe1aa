"""Upkeep loops on a fake clock: the outbox delivers to a real relay, posts phones send are forwarded to the
channel's mirrors only for channels the node keeps and only when their signers may post there, a flood of posts
fills only its author's share of the outbox, a flood brings the carry pass forward, expired events go, and a
carried post dropped for the quota is welcome again the next day."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Awaitable, Callable
from pathlib import Path

from samizdat.core import kinds
from samizdat.core.carry import KeepRules
from samizdat.core.channel import add_admin, build_channel_event, parse_channel
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.core.recovery import build_claim
from samizdat.relay.negentropy import NegentropyService
from samizdat.services import posts
from samizdat.services.context import Context
from samizdat.services.upkeep import CARRY_KICK_MIN, Upkeep
from samizdat.store.base import AddOutcome
from samizdat.store.carry import EVICTED_TTL
from samizdat.testing import FakeClock, running_relay, wait_until


@contextlib.asynccontextmanager
async def looping(loop: Callable[[], Awaitable[None]]):  # type: ignore[no-untyped-def]
    task = asyncio.ensure_future(loop())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_the_outbox_loop_delivers(ctx: Context, tmp_path: Path) -> None:
    async with running_relay(tmp_path, negentropy=NegentropyService()) as mirror:
        await posts.create_channel(ctx, "yard", "Yard", mirrors=[mirror.url])
        published = await posts.post(ctx, "yard", "news", "Queued while the mirror was slow")
        for event_id in published.ids:
            if await mirror.store.get(event_id) is not None:
                continue  # delivered within the command's budget already
        ctx.local.enqueue("f" * 64, [mirror.url], ctx.clock())  # an event that left the store: superseded
        upkeep = Upkeep(ctx)
        async with looping(upkeep.outbox_loop):
            await wait_until(lambda: mirror.store.get(published.ids[0]), what="delivery", timeout=20)
            rows = await wait_until(
                lambda: [r for r in ctx.local.outbox() if r.event_id == "f" * 64 and r.state == "failed"],
                what="the superseded row", timeout=20,
            )  # fmt: skip
        assert rows[0].last_message == "gone from the store"


async def test_forwarding_only_for_kept_channels(ctx: Context, stranger: SecretKey) -> None:
    own, _ = await posts.create_channel(ctx, "yard", "Yard", mirrors=["wss://own-mirror.example"])
    carried = parse_channel(
        build_channel_event(stranger, "market", "Market", created_at=ctx.now() - 5, mirrors=["wss://m.example"])
    )
    upkeep = Upkeep(ctx)
    from_phone = build_post(ctx.key, own, "news", "Sent from a phone", created_at=ctx.now())
    strangers = build_post(stranger, carried, "news", "Not ours", created_at=ctx.now())
    old = build_post(ctx.key, own, "news", "Old news", created_at=ctx.now() - 2 * 86400)
    for event in (from_phone, strangers, old):
        await ctx.store.add(event)
        upkeep.from_client(event)
    async with looping(upkeep.forward_loop):
        await wait_until(lambda: [r for r in ctx.local.outbox() if r.event_id == from_phone.id], what="forward")
    relays = {(r.event_id, r.relay) for r in ctx.local.outbox()}
    assert (from_phone.id, "wss://own-mirror.example") in relays
    assert not any(event_id in (strangers.id, old.id) for event_id, _ in relays)


async def test_a_flood_brings_the_carry_pass_forward(ctx: Context) -> None:
    async def never(seconds: float) -> None:  # the 15 s pause never ends: only a kick can start a pass
        await asyncio.Event().wait()

    small_quota = ctx.config.with_overrides(carry_mb=1.0)  # a tenth is under CARRY_KICK_MIN: the mark is that
    upkeep = Upkeep(dataclasses.replace(ctx, sleep=never, config=small_quota))
    big = sign_event(SecretKey(bytes([3]) * 32), 1, "x" * 60_000, [], created_at=ctx.now())
    await ctx.store.add(big)
    async with looping(upkeep.carry_loop):
        for _ in range(CARRY_KICK_MIN // len(big.to_json())):  # just under the mark
            upkeep.stored(big)
        assert not upkeep.kicked  # no pass yet: the loop is still in its pause
        upkeep.stored(big)  # over the mark
        await wait_until(lambda: (upkeep.carry_state.get("store_bytes") or 0) > 60_000, what="a kicked carry pass")


async def test_only_a_stored_event_with_an_imeta_tag_starts_the_photo_pass(ctx: Context) -> None:
    upkeep = Upkeep(ctx)
    key = SecretKey(bytes([4]) * 32)
    mentions = [  # "imeta" everywhere but as a tag's name: no photos
        sign_event(key, 1, '["imeta","url https://x/y.webp"] "imeta"', [["t", "imeta"]], created_at=ctx.now()),
        sign_event(key, 1, "", [["alt", '["imeta"'], ["t", '"imeta"']], created_at=ctx.now()),
        sign_event(key, 1, "", [[], ["imeta-like", "x"]], created_at=ctx.now()),
    ]
    for event in mentions:
        upkeep.stored(event)
    assert not upkeep.photos.is_set()
    photo = sign_event(key, 1, "", [["t", "x"], ["imeta", "url https://x/y.webp", "x " + "ab" * 32]],
                       created_at=ctx.now())  # fmt: skip
    await ctx.store.add(photo)
    read_back = await ctx.store.get(photo.id)  # as the follower hands another worker's events on
    assert read_back is not None
    upkeep.stored(read_back)
    assert upkeep.photos.is_set()


async def test_expired_events_are_purged(ctx: Context, fake_clock: FakeClock) -> None:
    expiring = sign_event(ctx.key, 1, "soon gone", [["expiration", str(ctx.now() + 60)]], created_at=ctx.now())
    await ctx.store.add(expiring)
    upkeep = Upkeep(ctx)
    assert await upkeep.purge_pass() == 0
    fake_clock.advance(120)
    assert await upkeep.purge_pass() == 1
    assert await ctx.store.get(expiring.id) is None
    assert kinds.POST  # the purge is kind-blind


async def test_forwarding_passes_nothing_forged(ctx: Context, stranger: SecretKey) -> None:
    own, _ = await posts.create_channel(ctx, "yard", "Yard", mirrors=["wss://own-mirror.example"])
    upkeep = Upkeep(ctx)
    genuine = build_post(ctx.key, own, "alert", "Police vans at the market", created_at=ctx.now(), location="Market")
    claims = [["a", own.address], ["type", "alert"], ["location", "Market"], ["expiration", str(ctx.now() + 600)]]
    forged = sign_event(stranger, kinds.POST, "Police vans at the market", claims, created_at=ctx.now())
    malformed = sign_event(ctx.key, kinds.POST, "no location", [["a", own.address], ["type", "alert"]],
                           created_at=ctx.now())  # fmt: skip
    for event in (genuine, forged, malformed):
        await ctx.store.add(event)
    assert await upkeep.forward([genuine, forged, malformed]) == 1
    queued = {r.event_id for r in ctx.local.outbox()}
    assert genuine.id in queued
    assert forged.id not in queued, "a forged post was passed on to the channel's mirrors"
    assert malformed.id not in queued


async def test_a_flood_of_posts_fills_only_its_authors_share_of_the_outbox(ctx: Context, fake_clock: FakeClock) -> None:
    own, _ = await posts.create_channel(ctx, "yard", "Yard", mirrors=["wss://own-mirror.example"])
    editor = SecretKey(bytes([8]) * 32)
    fake_clock.advance(1)
    await ctx.store.add(add_admin(ctx.key, own, editor.public_key_hex, "editor", created_at=ctx.now()))
    channel = parse_channel(add_admin(ctx.key, own, editor.public_key_hex, "editor", created_at=ctx.now()))
    ctx.local.outbox_per_author, ctx.local.outbox_per_channel = 5, 6
    upkeep = Upkeep(ctx)
    owners = [build_post(ctx.key, channel, "news", f"owner {i}", created_at=ctx.now()) for i in range(3)]
    flood = [build_post(editor, channel, "news", f"flood {i}", created_at=ctx.now()) for i in range(20)]
    for event in [*owners, *flood]:  # one at a time, as phones send them
        await upkeep.forward([event])
    waiting = {r.event_id for r in ctx.local.outbox(["pending"])}
    assert {e.id for e in owners} <= waiting, "the flood pushed out someone else's posts"
    assert {e.id for e in flood} & waiting == {e.id for e in flood[-3:]}  # the newest of the flooder's own
    given_up = [r for r in ctx.local.outbox(["failed"]) if r.event_id == flood[0].id]
    assert given_up[0].last_message == f"dropped: more than 6 posts of channel {channel.address} were waiting"


async def test_a_carried_post_dropped_for_the_quota_is_welcome_again_the_next_day(
    ctx: Context, fake_clock: FakeClock, stranger: SecretKey
) -> None:
    market = parse_channel(build_channel_event(stranger, "market", "Market", created_at=ctx.now() - 60))
    news = build_post(stranger, market, "news", "Bread at the market", created_at=ctx.now() - 10)
    await ctx.store.add_many([market.event, news])
    await ctx.store.enforce_carry_quota(KeepRules(), quota=0)
    upkeep = Upkeep(ctx)
    await upkeep.purge_pass()
    assert await ctx.store.add(news) is AddOutcome.DUPLICATE  # dropped a moment ago: peers need not send it
    fake_clock.advance(EVICTED_TTL + 1)
    await upkeep.purge_pass()
    assert await ctx.store.add(news) is AddOutcome.STORED


async def test_forwarding_passes_the_seizure_claim_in_force_and_not_a_fake_one(
    ctx: Context, stranger: SecretKey
) -> None:
    """A phone or a peer brings the node a seizure claim of a channel it keeps: signed by the recovery key, which
    has no role in the channel, it is no forgery, and it goes to the channel's mirrors; one whose proof does not
    name its signer stays here."""
    recovery = SecretKey(bytes([9]) * 32)
    own, _ = await posts.create_channel(ctx, "yard", "Yard", mirrors=["wss://own-mirror.example"],
                                        recovery=recovery.public_key_hex)  # fmt: skip
    successor = parse_channel(build_channel_event(stranger, "yard2", "Yard", created_at=ctx.now())).address
    real = build_claim(recovery, own.event, successor, since=ctx.now() - 60, created_at=ctx.now())
    fake = sign_event(stranger, kinds.POST, "seized", [list(t) for t in real.tags], created_at=ctx.now())
    for event in (real, fake):
        await ctx.store.add(event)
    upkeep = Upkeep(ctx)
    assert await upkeep.forward([real, fake]) == 1
    queued = {r.event_id for r in ctx.local.outbox()}
    assert real.id in queued
    assert fake.id not in queued
