"""The one role check: the node's key posts only where it is the owner, an admin or an editor, and amends
someone else's post only as owner or admin; the command line's path and the web login's path refuse alike."""

from __future__ import annotations

import pytest

from samizdat.core import kinds
from samizdat.core.channel import add_admin, build_channel_event, remove_admin
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_correction, build_post
from samizdat.errors import UsageError
from samizdat.services import channels, posts, publishing
from samizdat.services.context import Context


async def foreign_channel(ctx: Context, owner: SecretKey, *, editor: str | None = None) -> str:
    definition = build_channel_event(owner, "market", "Market", created_at=ctx.now() - 100)
    await ctx.store.add(definition)
    address = f"{kinds.CHANNEL}:{owner.public_key_hex}:market"
    if editor is not None:
        channel = await channels.lookup(ctx, address)
        assert channel is not None
        await ctx.store.add(add_admin(owner, channel, editor, "editor", created_at=ctx.now() - 50))
    ctx.local.follow(address, [], ctx.clock())
    return address


async def test_the_web_login_and_the_command_line_refuse_the_same_post(ctx: Context, stranger: SecretKey) -> None:
    address = await foreign_channel(ctx, stranger)
    tags = [["a", address, ""], ["type", "news"]]
    with pytest.raises(UsageError) as web:
        await publishing.publish_as_operator(ctx, kinds.POST, "hello", tags, ctx.now())
    assert str(web.value) == "this key is not the owner, an admin or an editor of the channel 'market'"
    with pytest.raises(UsageError, match="not the owner, an admin or an editor"):
        await posts.post(ctx, "market", "news", "hello")
    assert await ctx.store.query([channels.scope_from_address(address)[1]]) == []  # nothing stored
    assert ctx.local.outbox() == []


async def test_an_editor_posts_but_amends_only_their_own(ctx: Context, stranger: SecretKey) -> None:
    address = await foreign_channel(ctx, stranger, editor=ctx.pubkey)
    mine = await posts.post(ctx, "market", "news", "Bread at the corner shop")
    await posts.correct(ctx, mine.ids[0][:10], "Bread and milk at the corner shop", {})
    channel = await channels.lookup(ctx, address)
    assert channel is not None
    theirs = build_post(stranger, channel, "news", "Owner's post", created_at=ctx.now() - 5)
    await ctx.store.add(theirs)
    with pytest.raises(UsageError, match="(?i)only the channel's owner may correct the owner's"):
        await posts.correct(ctx, theirs.id, "changed by an editor", {})
    # The web login cannot get around it with a hand-made correction either.
    forged = build_correction(stranger, channel, theirs, "x", created_at=ctx.now())
    tags = [list(tag) for tag in forged.tags]
    with pytest.raises(UsageError, match="(?i)editors only their own"):
        await publishing.publish_as_operator(ctx, kinds.POST, "changed from a phone", tags, ctx.now())


async def test_operator_kinds_and_channels_unknown_here(ctx: Context, stranger: SecretKey) -> None:
    with pytest.raises(UsageError, match="signs only channel posts"):
        await publishing.publish_as_operator(ctx, kinds.CHANNEL, "", [["d", "x"]], ctx.now())
    unknown = f"{kinds.CHANNEL}:{stranger.public_key_hex}:elsewhere"
    with pytest.raises(UsageError, match="does not have channel"):
        await publishing.publish_as_operator(ctx, kinds.POST, "hi", [["a", unknown, ""], ["type", "news"]], ctx.now())
    with pytest.raises(UsageError, match="not on this node"):  # deletions: tests/services/test_operator_rules.py
        await publishing.publish_as_operator(ctx, kinds.DELETION, "", [["e", "a" * 64]], ctx.now())


async def test_a_post_is_queued_for_mirrors_and_write_relays(ctx: Context) -> None:
    await posts.create_channel(ctx, "yard", "Yard", mirrors=["ws://127.0.0.1:9"])  # nothing listens on port 9
    result = await posts.post(ctx, "yard", "news", "Water is back")
    assert result.pending == ["ws://127.0.0.1:9"]
    rows = [row for row in ctx.local.outbox() if row.event_id == result.ids[0]]
    assert [(row.relay, row.state) for row in rows] == [("ws://127.0.0.1:9", "pending")]


async def test_a_malformed_or_future_post_is_refused(ctx: Context) -> None:
    await posts.create_channel(ctx, "yard", "Yard")
    address = f"{kinds.CHANNEL}:{ctx.pubkey}:yard"
    with pytest.raises(UsageError, match="a news post needs text"):
        await publishing.publish_as_operator(ctx, kinds.POST, "", [["a", address, ""], ["type", "news"]], ctx.now())
    with pytest.raises(UsageError, match="would not count: dated in the future"):
        await publishing.publish_as_operator(
            ctx, kinds.POST, "soon", [["a", address, ""], ["type", "news"]], ctx.now() + 86400
        )


async def test_a_removed_admins_backdated_correction_is_not_published(ctx: Context, stranger: SecretKey) -> None:
    """A correction by a removed key never counts for readers, even of its own post dated before its removal
    (core/thread.py amendment_refusal): the node does not publish one that nobody would apply."""
    now = ctx.now()
    address = await foreign_channel(ctx, stranger)
    channel = await channels.lookup(ctx, address)
    assert channel is not None
    await ctx.store.add(add_admin(stranger, channel, ctx.pubkey, "admin", created_at=now - 50))
    channel = await channels.lookup(ctx, address)
    assert channel is not None
    own = build_post(ctx.key, channel, "safe-place", "Flat 12", created_at=now - 40, location="Lenina 12")
    await ctx.store.add(own)
    await ctx.store.add(remove_admin(stranger, channel, ctx.pubkey, created_at=now - 10, since=now - 20))
    channel = await channels.lookup(ctx, address)
    assert channel is not None
    assert ctx.pubkey in channel.revoked
    moved = build_correction(ctx.key, channel, own, "Moved", created_at=now - 30, location="Lenina 40")
    with pytest.raises(UsageError, match="would not count"):
        await publishing.authorize(ctx, moved)
