"""Red team, authenticity: what a stranger who may not write in a channel can still make its readers see.

Each test plays one attack against a real node (its SQLite store, its blob store, the services the command line and
the web app call) and checks what the reader notices: a photo still there, a post still in the feed, a verifier's
"false" still shown. Each attack's events enter by ``ctx.ingest``, the door every sync, peer link and bundle import
uses, since anyone can hand a node any signed event that way."""

from __future__ import annotations

import hashlib

from samizdat.core import kinds
from samizdat.core.channel import build_channel_event
from samizdat.core.event import Event, sign_event
from samizdat.core.imeta import PhotoRef, imeta_tag, media_url
from samizdat.core.keys import SecretKey
from samizdat.core.posts import LABEL_NAMESPACE, build_label, build_post
from samizdat.services import blob_travel, blobs, channels, feed, posts
from samizdat.services.context import Context
from samizdat.testing import clean_photo

MALLORY, VERIFIER = SecretKey(bytes([21]) * 32), SecretKey(bytes([22]) * 32)


def _photo_post(key: SecretKey, address: str, full: bytes, thumb: bytes, created_at: int) -> Event:
    sha, tsha = hashlib.sha256(full).hexdigest(), hashlib.sha256(thumb).hexdigest()
    ref = PhotoRef(sha, media_url(None, sha), "image/webp", 64, 48, "LEHV6nWB2yk8", "vans", len(full), tsha,
                   media_url(None, tsha))  # fmt: skip
    tags = [["a", address, ""], ["type", "news"], imeta_tag(ref), ["alt", "Samizdat channel post (news)"]]
    return sign_event(key, kinds.POST, "Police vans at the corner", tags, created_at=created_at)


def _strangers_label(post: Event, value: str, serial: int, now: int) -> Event:
    tags = [["L", LABEL_NAMESPACE], ["l", value, LABEL_NAMESPACE], ["e", post.id, ""], ["t", str(serial)]]
    return sign_event(MALLORY, kinds.LABEL, "", tags, created_at=now)


async def test_a_retraction_in_another_channel_does_not_remove_this_channels_photos(ctx: Context) -> None:
    """Mallory makes a channel of her own, where she is the owner, and "retracts" in it a post of ours: her
    retraction names our post's id. The node once took that as a retraction it honours and deleted the post's
    photos (the only copy, on a node cut off from the internet)."""
    own, _ = await posts.create_channel(ctx, "yard", "Block 7 yard")
    full, thumb = clean_photo(seed=31), clean_photo(16, 12, seed=32)
    for data in (full, thumb):
        blobs.put_blob(ctx, data)
    post = _photo_post(ctx.key, own.address, full, thumb, ctx.now())
    hers = build_channel_event(MALLORY, "yard", "Yard", created_at=ctx.now())
    her_address = f"{kinds.CHANNEL}:{MALLORY.public_key_hex}:yard"
    tags = [["a", her_address, ""], ["type", "retraction"], ["e", post.id, "", "retraction", ctx.pubkey]]
    retraction = sign_event(MALLORY, kinds.POST, "fake", tags, created_at=ctx.now() + 1)
    await ctx.ingest([post, hers])
    await blob_travel.catch_up(ctx)
    await ctx.ingest([retraction])
    await blob_travel.catch_up(ctx)

    kept = {e.sha256 for e in blobs.blob_store(ctx).entries()}
    assert kept == {hashlib.sha256(full).hexdigest(), hashlib.sha256(thumb).hexdigest()}
    items = await feed.feed(ctx, own.address)
    assert [(i.event_id, i.view.retraction if i.view else "?") for i in items] == [(post.id, None)]


async def test_posts_by_strangers_tagged_with_a_channel_do_not_push_its_posts_out_of_the_feed(ctx: Context) -> None:
    """Anyone may store a post naming a channel's address; none of them counts. Mallory sends 60 of them dated
    after the channel's last real post: ``samizdat feed`` read the newest 4 x limit posts naming the channel and
    showed "No posts yet"."""
    own, _ = await posts.create_channel(ctx, "yard", "Block 7 yard")
    real = build_post(ctx.key, own, "news", "The water is back on", created_at=ctx.now() - 60)
    junk = [
        sign_event(MALLORY, kinds.POST, f"junk {i}", [["a", own.address, ""], ["type", "news"]], created_at=ctx.now())
        for i in range(60)
    ]
    await ctx.ingest([real, *junk])

    items = await feed.feed(ctx, own.address, limit=10)
    assert [i.event_id for i in items] == [real.id]
    assert [i.view.text for i in items if i.view] == ["The water is back on"]


async def test_labels_by_strangers_do_not_hide_a_followed_verifiers_label(ctx: Context) -> None:
    """A verifier the reader follows says a post is false. Mallory piles 5,001 labels of her own keys on the post
    (each a "confirmed" nobody counts): the feed read the newest 5,000 labels and deletion requests naming the
    post, and the verifier's "false" was no longer among them."""
    own, _ = await posts.create_channel(ctx, "yard", "Block 7 yard")
    ctx.local.follow_verifier(VERIFIER.public_key_hex, ctx.clock())
    post = build_post(ctx.key, own, "news", "The bridge is closed", created_at=ctx.now() - 60)
    verdict = build_label(VERIFIER, post, "false", "It is open", created_at=ctx.now() - 30)
    pile = [_strangers_label(post, "confirmed", i, ctx.now()) for i in range(5001)]
    await ctx.ingest([post, verdict])
    for start in range(0, len(pile), 1000):
        await ctx.ingest(pile[start : start + 1000])

    items = await feed.feed(ctx, own.address)
    assert [dict(i.view.labels) for i in items if i.view] == [{"false": 1}]


async def test_labels_by_strangers_do_not_push_the_owners_label_off_the_start_page(ctx: Context) -> None:
    """The start page carries each own channel's newest posts with the owner's labels and the channel's deletion
    requests, from the first 200 labels and deletion requests naming them: Mallory's 201 labels took their place."""
    from samizdat.services import start_posts

    own, _ = await posts.create_channel(ctx, "yard", "Block 7 yard")
    post = build_post(ctx.key, own, "news", "The bridge is closed", created_at=ctx.now() - 60)
    mine = build_label(ctx.key, post, "confirmed", "Seen it", created_at=ctx.now() - 30)
    pile = [_strangers_label(post, "false", i, ctx.now()) for i in range(201)]
    await ctx.ingest([post, mine, *pile])

    carried = await start_posts.start_page_posts(ctx, 1_000_000)
    assert mine.id in {e.id for e in carried}
    assert not {e.id for e in pile} & {e.id for e in carried}
    assert await channels.lookup(ctx, own.address) is not None


async def test_an_editors_retraction_of_an_older_post_by_the_owner_is_not_shown(ctx: Context) -> None:
    """An editor may retract only their own posts. The feed once showed any retraction whose original was not
    among the posts it read as "retracted by the channel": an editor's "retraction" of the owner's post from
    last week (older than what the feed reads) read as the channel withdrawing it."""
    editor = SecretKey(bytes([24]) * 32)
    own, _ = await posts.create_channel(ctx, "yard", "Block 7 yard")
    channel, _ = await posts.change_admins(ctx, "yard", add=[editor.public_key_hex], role="editor", remove=[],
                                           since=None)  # fmt: skip
    old = build_post(ctx.key, channel, "news", "Lawyers on duty: +375 29 000 00 00", created_at=ctx.now() - 7 * 86400)
    newer = [build_post(ctx.key, channel, "news", f"Update {i}", created_at=ctx.now() - 600 + i) for i in range(9)]
    tags = [["a", own.address, ""], ["type", "retraction"], ["e", old.id, "", "retraction", ctx.pubkey]]
    fake = sign_event(editor, kinds.POST, "This number is a police trap", tags, created_at=ctx.now())
    await ctx.ingest([old, *newer, fake])

    items = await feed.feed(ctx, own.address, limit=2)
    assert [i.orphan_retraction for i in items] == [None, None]
    assert [i.view.text for i in items if i.view] == ["Update 8", "Update 7"]
