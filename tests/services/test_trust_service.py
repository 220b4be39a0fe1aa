"""What a reader is told about each channel the node knows: the owner key's fingerprint, own / followed / carried,
which trusted verifiers vouch for it, and which trusted channel another key named it like; vouching for a channel
and withdrawing the vouch."""

from __future__ import annotations

import pytest

from samizdat.core import kinds, nip19
from samizdat.core.channel import build_channel_event
from samizdat.core.display import fingerprint
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_vouch, build_vouch_withdrawal
from samizdat.errors import UsageError
from samizdat.services import channels, posts
from samizdat.services.context import Context

VERIFIER, IMPOSTOR, NEIGHBOUR = (SecretKey(bytes([i]) * 32) for i in (11, 12, 13))


async def carried(ctx: Context, key: SecretKey, channel_id: str, name: str, place: str = "") -> str:
    event = build_channel_event(key, channel_id, name, created_at=ctx.now() - 10, place=place)
    await ctx.store.add(event)
    return f"{kinds.CHANNEL}:{key.public_key_hex}:{channel_id}"


async def test_a_channel_named_like_a_followed_one_is_marked_and_vouches_count(ctx: Context) -> None:
    own, _ = await posts.create_channel(ctx, "yard", "Block 7 yard", place="BY/Minsk/Frunzenski/Block 7")
    district = await carried(ctx, NEIGHBOUR, "frunzenski", "Frunzenski district", "BY/Minsk/Frunzenski")
    fake = await carried(ctx, IMPOSTOR, "frunzenski", "Фрунзенскі district", "BY/Minsk/Frunzenski")
    fake_yard = await carried(ctx, IMPOSTOR, "yard", "BLOCK 7 YARD")
    other = await carried(ctx, IMPOSTOR, "market", "Market")
    ctx.local.follow(district, [], ctx.clock())

    entries = {e.address: e for e in await channels.directory(ctx)}
    assert {a: e.relation for a, e in entries.items()} == {
        own.address: "own",
        district: "followed",
        fake: "carried",
        fake_yard: "carried",
        other: "carried",
    }
    assert entries[district].fingerprint == fingerprint(NEIGHBOUR.public_key_hex)
    assert entries[fake].fingerprint == fingerprint(IMPOSTOR.public_key_hex) != entries[district].fingerprint
    assert (entries[fake].collides_with, entries[fake].warned) == ((district,), True)
    assert (entries[fake_yard].collides_with, entries[fake_yard].warned) == ((own.address,), True)
    assert not entries[district].warned
    assert not entries[other].warned
    assert not entries[other].collides_with
    assert entries[fake].mixed_scripts == ()
    assert entries[district].vouched_by == ()

    # A verifier the node follows vouches for the real district; the impostor is now also "not the vouched one".
    await ctx.store.add(build_vouch(VERIFIER, await channels.resolve(ctx, district), created_at=ctx.now()))
    assert await channels.directory(ctx, vouched_only=True) == []  # nobody trusted yet
    ctx.local.follow_verifier(VERIFIER.public_key_hex, ctx.clock())
    vouched = await channels.directory(ctx, vouched_only=True)
    assert [(e.address, e.vouched_by) for e in vouched] == [(district, (VERIFIER.public_key_hex,))]
    ctx.local.unfollow(district)
    entries = {e.address: e for e in await channels.directory(ctx)}
    assert (entries[district].relation, entries[district].warned) == ("carried", False)
    assert entries[fake].collides_with == (district,)  # vouched for: still the channel the fake is named like


async def test_show_tells_the_same_as_the_list(ctx: Context) -> None:
    await posts.create_channel(ctx, "frunzenski", "Frunzenski district")
    fake = await carried(ctx, IMPOSTOR, "frunzenski", "Frunzenskі district")  # a Cyrillic і
    entry = await channels.entry(ctx, await channels.resolve(ctx, fake))
    assert entry.warned
    assert entry.collides_with == (f"{kinds.CHANNEL}:{ctx.pubkey}:frunzenski",)
    assert entry.mixed_scripts == ("Frunzenskі",)
    assert entry == next(e for e in await channels.directory(ctx) if e.address == fake)


async def test_vouch_and_withdraw(ctx: Context) -> None:
    district = await carried(ctx, NEIGHBOUR, "frunzenski", "Frunzenski district")
    naddr = nip19.naddr_encode(kinds.CHANNEL, NEIGHBOUR.public_key_hex, "frunzenski")
    channel, published = await posts.vouch(ctx, naddr, "Met the admins")
    assert channel.address == district
    assert len(published.ids) == 1
    assert await channels.vouches(ctx) == {district: frozenset({ctx.pubkey})}  # the node's own vouch counts here
    with pytest.raises(UsageError, match="does not have channel"):
        await posts.vouch(ctx, f"{kinds.CHANNEL}:{IMPOSTOR.public_key_hex}:nowhere")

    address, withdrawal = await posts.unvouch(ctx, naddr)
    assert address == district
    assert len(withdrawal.ids) == 1
    assert await channels.vouches(ctx) == {}
    with pytest.raises(UsageError, match="you have not vouched for"):
        await posts.unvouch(ctx, naddr)


async def test_a_withdrawal_counts_even_when_the_vouch_is_kept(ctx: Context) -> None:
    """A node that got the withdrawal before (or without) its store dropping the vouch still counts it gone."""
    district = await carried(ctx, NEIGHBOUR, "frunzenski", "Frunzenski district")
    vouch = build_vouch(VERIFIER, await channels.resolve(ctx, district), created_at=ctx.now())
    ctx.local.follow_verifier(VERIFIER.public_key_hex, ctx.clock())
    await ctx.store.add(vouch)
    assert await channels.vouches(ctx) == {district: frozenset({VERIFIER.public_key_hex})}
    await ctx.store.add(build_vouch_withdrawal(VERIFIER, [vouch], created_at=ctx.now()))
    assert await channels.vouches(ctx) == {}
