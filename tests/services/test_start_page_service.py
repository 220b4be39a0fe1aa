"""The web app's start page carries channel definitions (services.channels.start_page_definitions): whatever
strangers store, only valid ones, within the byte budget, the node's own, followed and vouched ones first; and its
version changes only when something that could change them did."""

from __future__ import annotations

from samizdat.core import kinds
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_vouch
from samizdat.errors import RemoteProtocolError
from samizdat.services import channels
from samizdat.services.context import Context
from samizdat.testing import FakeClock

ABOUT = "Новости района, тревоги и просьбы о помощи. " * 40  # 1,760 characters, twice as many bytes


def hostile(key: SecretKey, n: int, now: int) -> Event:
    """One of a stranger's many definitions, all newer than anything the node cares about: valid and bulky,
    bloated with junk tags (valid, but too big to seed), or invalid in one of several ways."""
    d, name = f"flood-{n}", f"Official channel {n} " + "Ж" * 70
    tags = [["d", d], ["name", name], *[["x", f"junk-{i}"] for i in range(20)]]
    match n % 6:
        case 0 | 1:
            return sign_event(key, kinds.CHANNEL, ABOUT, tags, created_at=now)
        case 2:  # valid, but 1,200 tags
            tags += [["x", f"{i:08}"] for i in range(1200)]
            return sign_event(key, kinds.CHANNEL, ABOUT, tags, created_at=now)
        case 3:  # a name far beyond 100 characters
            tags[1] = ["name", "INVALID " * 500]
        case 4:  # an id that is no slug, and the description far too long
            tags[0] = ["d", f"INVALID {n}"]
            return sign_event(key, kinds.CHANNEL, ABOUT * 5, tags, created_at=now)
        case _:  # a mirror that is no relay
            tags.append(["r", "javascript:alert(1)"])
    tags.append(["marker", "invalid"])
    return sign_event(key, kinds.CHANNEL, ABOUT, tags, created_at=now)


def valid(event: Event) -> bool:
    try:
        parse_channel(event)
    except RemoteProtocolError:
        return False
    return True


async def test_own_followed_and_vouched_first_only_valid_within_the_budget(ctx: Context) -> None:
    now = ctx.now()
    owner, verifier, vouched_owner = (SecretKey(bytes([n]) * 32) for n in (11, 12, 13))
    own = build_channel_event(ctx.key, "yard", "Our yard", created_at=now - 86400)
    followed = build_channel_event(owner, "district", "District news", created_at=now - 86400)
    vouched = build_channel_event(vouched_owner, "city", "City news", created_at=now - 86400)
    await ctx.store.add_many([own, followed, vouched])
    ctx.local.follow(channels.address_of(followed), [], ctx.clock())
    ctx.local.follow_verifier(verifier.public_key_hex, ctx.clock())
    await ctx.store.add(build_vouch(verifier, parse_channel(vouched), created_at=now - 3600))
    strangers = [SecretKey(bytes([20 + i]) * 32) for i in range(4)]
    flood = [hostile(strangers[n % 4], n, now) for n in range(600)]
    await ctx.store.add_many(flood)

    chosen = await channels.start_page_definitions(ctx, 60_000)

    assert [e.id for e in chosen[:3]] == [own.id, followed.id, vouched.id]
    assert all(valid(e) for e in chosen)
    assert not any(e.first_tag("marker") for e in chosen)
    assert len(chosen) > 10  # the rest of the room goes to others' (valid) channels
    assert sum(len(e.to_json()) + 1 for e in chosen) <= 60_000
    assert all(len(e.to_json()) <= channels.SEED_EVENT_BYTES for e in chosen[3:])  # no bloated stranger


async def test_the_version_changes_only_when_something_did(ctx: Context, fake_clock: FakeClock) -> None:
    first = await channels.start_page_version(ctx)
    assert await channels.start_page_version(ctx) == first
    stranger = SecretKey(bytes([30]) * 32)
    definition = build_channel_event(stranger, "market", "Market", created_at=ctx.now())
    await ctx.store.add(definition)
    stored = await channels.start_page_version(ctx)
    assert stored != first
    ctx.local.follow(channels.address_of(definition), [], ctx.clock())
    followed = await channels.start_page_version(ctx)
    assert followed != stored
    ctx.local.follow_verifier(stranger.public_key_hex, ctx.clock())
    trusted = await channels.start_page_version(ctx)
    assert trusted != followed
    fake_clock.advance(channels.SEED_REFRESH)  # vouches and definitions expire with time alone
    assert await channels.start_page_version(ctx) != trusted
