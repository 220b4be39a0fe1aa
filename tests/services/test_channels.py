"""Finding channels and posts as people name them: short names only among own and followed channels (never an
impostor's carried channel), prefixes of post ids, note and nevent."""

from __future__ import annotations

import pytest

from samizdat.core import kinds, nip19
from samizdat.core.channel import build_channel_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.errors import UsageError
from samizdat.services import channels, posts
from samizdat.services.context import Context


async def stranger_channel(ctx: Context, key: SecretKey, channel_id: str, name: str) -> str:
    event = build_channel_event(key, channel_id, name, created_at=ctx.now() - 10, mirrors=["wss://m.example"])
    await ctx.store.add(event)
    return f"{kinds.CHANNEL}:{key.public_key_hex}:{channel_id}"


async def test_short_name_finds_own_then_followed_never_carried(ctx: Context, stranger: SecretKey) -> None:
    impostor = await stranger_channel(ctx, stranger, "frunzenski", "Frunzenski district")
    with pytest.raises(UsageError, match="no channel called 'frunzenski' among yours or the ones you follow"):
        await channels.resolve(ctx, "frunzenski")  # carried only: the name does not lead to it

    ctx.local.follow(impostor, [], ctx.clock())  # once followed, the reader chose it
    assert (await channels.resolve(ctx, "frunzenski")).address == impostor

    await posts.create_channel(ctx, "frunzenski", "Our Frunzenski")
    with pytest.raises(UsageError, match="2 channels are called 'frunzenski'; name one by its naddr: naddr1"):
        await channels.resolve(ctx, "frunzenski")
    own = f"{kinds.CHANNEL}:{ctx.pubkey}:frunzenski"
    assert (await channels.resolve(ctx, nip19.naddr_encode(kinds.CHANNEL, ctx.pubkey, "frunzenski"))).address == own
    assert (await channels.resolve(ctx, impostor)).address == impostor


async def test_a_followed_channel_not_yet_synced_is_its_scope_by_address(ctx: Context, stranger: SecretKey) -> None:
    address = f"{kinds.CHANNEL}:{stranger.public_key_hex}:yard"
    ctx.local.follow(address, ["wss://hint.example"], ctx.clock())
    scope = await channels.scope_named(ctx, "yard")
    assert [f.to_dict() for f in scope] == [f.to_dict() for f in channels.scope_from_address(address)]
    with pytest.raises(UsageError, match="does not have channel yard yet"):
        await channels.resolve(ctx, "yard")


async def test_posts_by_prefix_note_and_nevent(ctx: Context) -> None:
    await posts.create_channel(ctx, "yard", "Yard")
    published = await posts.post(ctx, "yard", "news", "The gate is open")
    event_id = published.ids[0]
    for ref in (event_id, event_id[:8], event_id[:8].upper(), nip19.note_encode(event_id),
                "nostr:" + nip19.nevent_encode(event_id)):  # fmt: skip
        found, channel = await channels.find_post(ctx, ref)
        assert found.id == event_id
        assert channel.channel_id == "yard"
    with pytest.raises(UsageError, match="at least 8 hex characters"):
        await channels.find_post(ctx, event_id[:7])
    with pytest.raises(UsageError, match="no post starting with"):
        await channels.find_post(ctx, ("0" if event_id[0] != "0" else "1") * 10)


async def test_prefix_lookup_sees_every_post_sharing_it(ctx: Context) -> None:
    """The store's prefix lookup returns each id with the prefix (so find_event can tell an ambiguous prefix)."""
    channel, created = await posts.create_channel(ctx, "yard", "Yard")
    by_prefix: dict[str, list[str]] = {}
    for event_id in created.ids:  # the channel's own definition shares a first character too, one time in 16
        by_prefix.setdefault(event_id[0], []).append(event_id)
    for n in range(120):  # 120 ids over 16 first characters: some share one
        event = build_post(ctx.key, channel, "news", f"post {n}", created_at=ctx.now() - n)
        await ctx.store.add(event)
        by_prefix.setdefault(event.id[0], []).append(event.id)
    first, ids = max(by_prefix.items(), key=lambda item: len(item[1]))
    assert len(ids) > 1
    assert sorted(await ctx.store.ids_with_prefix(first, limit=500)) == sorted(ids)
    assert await ctx.store.ids_with_prefix(first, limit=2) == sorted(ids)[:2]
    assert await ctx.store.ids_with_prefix("xyz") == []


async def test_known_relays_and_listing(ctx: Context, stranger: SecretKey) -> None:
    carried = await stranger_channel(ctx, stranger, "market", "Market")
    followed_key = SecretKey(bytes([9]) * 32)
    followed = await stranger_channel(ctx, followed_key, "school", "School 12")
    ctx.local.follow(followed, ["wss://hint.example"], ctx.clock())
    await posts.create_channel(ctx, "yard", "Yard", mirrors=["wss://own-mirror.example"])
    relays = await channels.known_relays(ctx)
    assert set(relays) == {"wss://hint.example", "wss://m.example", "wss://own-mirror.example"}
    listed = {row.address: row.relation for row in await channels.listing(ctx)}
    assert listed == {carried: "carried", followed: "followed", f"{kinds.CHANNEL}:{ctx.pubkey}:yard": "own"}
