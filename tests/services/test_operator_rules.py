"""What the web app's operator login may sign is what the command line would sign for the same key: its own
posts' and vouches' deletions, never a channel definition's nor anyone else's, well-formed labels, nothing dated
far back; and the command line's own retractions and withdrawn vouches still pass the same check."""

from __future__ import annotations

import pytest

from samizdat.core import kinds
from samizdat.core.channel import build_channel_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import LABEL_NAMESPACE, build_post
from samizdat.errors import UsageError
from samizdat.services import channels, posts, publishing
from samizdat.services.context import Context


async def refused(ctx: Context, kind: int, tags: list[list[str]], match: str, *, created_at: int | None = None) -> None:
    before = len(ctx.local.outbox())
    with pytest.raises(UsageError, match=match):
        await publishing.publish_as_operator(ctx, kind, "", tags, ctx.now() if created_at is None else created_at)
    assert len(ctx.local.outbox()) == before  # nothing signed was published


async def test_deletions_the_command_line_would_not_sign_are_refused(ctx: Context, stranger: SecretKey) -> None:
    channel, _ = await posts.create_channel(ctx, "yard", "Yard")
    mine = (await posts.post(ctx, "yard", "news", "Water is off")).ids[0]
    theirs = build_channel_event(stranger, "market", "Market", created_at=ctx.now() - 10)
    await ctx.store.add(theirs)
    address = channel.address
    definition = (await channels.own_definitions(ctx))[0]

    await refused(ctx, kinds.DELETION, [["a", address]], "may not name a channel definition")
    await refused(ctx, kinds.DELETION, [["e", definition.id]], "may not name a channel definition")
    await refused(ctx, kinds.DELETION, [["e", mine], ["k", str(kinds.CHANNEL)]], "may not name a channel definition")
    await refused(ctx, kinds.DELETION, [["a", f"{kinds.POST}:{ctx.pubkey}:x"]], "by id")
    await refused(ctx, kinds.DELETION, [["e", theirs.id]], "may not name a channel definition")
    await refused(ctx, kinds.DELETION, [["e", "b" * 64]], "not on this node")
    await refused(ctx, kinds.DELETION, [["e", "not an id"]], "64-character hex id")
    await refused(ctx, kinds.DELETION, [], "must name the events")
    await refused(ctx, kinds.DELETION, [["e", mine], ["k", "0"]], "only its own channel posts and labels")

    deletion = await publishing.publish_as_operator(
        ctx, kinds.DELETION, "typo", [["e", mine], ["k", str(kinds.POST)]], ctx.now()
    )
    assert await ctx.store.get(deletion.id) is not None
    assert await ctx.store.get(mine) is None  # the node honours its own deletion request


async def test_someone_elses_post_cannot_be_deleted(ctx: Context, stranger: SecretKey) -> None:
    channel, _ = await posts.create_channel(ctx, "yard", "Yard")
    await posts.change_admins(ctx, "yard", add=[stranger.public_key_hex], role="admin", remove=[], since=None)
    updated = await channels.lookup(ctx, channel.address)
    assert updated is not None
    their_post = build_post(stranger, updated, "news", "Their post", created_at=ctx.now() - 5)
    await ctx.store.add(their_post)
    await refused(ctx, kinds.DELETION, [["e", their_post.id], ["k", str(kinds.POST)]], "only this key's own events")
    assert await ctx.store.get(their_post.id) is not None


async def test_malformed_labels_and_old_dates_are_refused(ctx: Context) -> None:
    await posts.create_channel(ctx, "yard", "Yard")
    mine = (await posts.post(ctx, "yard", "news", "Water is off")).ids[0]
    await refused(ctx, kinds.LABEL, [["l", "confirmed"], ["e", mine]], "namespace")
    good = [["L", LABEL_NAMESPACE], ["l", "confirmed", LABEL_NAMESPACE], ["e", mine], ["k", str(kinds.POST)]]
    await refused(ctx, kinds.LABEL, good, "more than a day in the past", created_at=ctx.now() - 2 * 86400)
    address = f"{kinds.CHANNEL}:{ctx.pubkey}:yard"
    news = [["a", address, ""], ["type", "news"]]
    with pytest.raises(UsageError, match="more than a day in the past"):
        await publishing.publish_as_operator(ctx, kinds.POST, "Backdated", news, ctx.now() - 2 * 86400)
    label = await publishing.publish_as_operator(ctx, kinds.LABEL, "", good, ctx.now() - 3600)
    assert await ctx.store.get(label.id) is not None


async def test_the_command_lines_own_deletions_still_pass(ctx: Context) -> None:
    """A retraction of one's own post and a withdrawn vouch are deletion requests the command line signs: the
    rule that stops the operator login must not stop them."""
    await posts.create_channel(ctx, "yard", "Yard")
    mine = (await posts.post(ctx, "yard", "news", "Water is off")).ids[0]
    await posts.retract(ctx, mine[:10], "Not confirmed")
    assert await ctx.store.get(mine) is None
    await posts.vouch(ctx, "yard")
    assert await channels.own_vouches(ctx, f"{kinds.CHANNEL}:{ctx.pubkey}:yard")
    await posts.unvouch(ctx, "yard")
    assert not await channels.own_vouches(ctx, f"{kinds.CHANNEL}:{ctx.pubkey}:yard")
