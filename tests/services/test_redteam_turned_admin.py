"""Red team: one admin of a channel was arrested and the police post with the admin's key. On a real node (store,
ingest, ``samizdat feed``): the key's retraction of the owner's alert and its "correction" moving the owner's safe
place to where the police wait are ignored, while the owner still retracts the turned admin's posts; once the
owner removes the admin, everything the key posts from then on is revoked and its earlier posts are marked "by a
former admin" (docs/safety.md, "When an admin's key is seized")."""

from __future__ import annotations

from pathlib import Path

from samizdat.cli.render import post_json
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.services import feed, posts
from samizdat.testing import FakeClock, test_node

NOW = 1_800_000_000
TURNED = SecretKey(bytes([31]) * 32)


def amendment(key: SecretKey, address: str, kind: str, original: Event, at: int, *extra: list[str]) -> Event:
    """Signed by hand, as the police's own client would: no builder refuses it."""
    tags = [["a", address, ""], ["type", kind], ["e", original.id, "", kind, original.pubkey], *extra]
    return sign_event(key, 2333, "Moved: come to the yard of Lenina 40", tags, created_at=at)


async def test_a_turned_admin_cannot_withdraw_or_move_the_owners_posts(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        channel, _ = await posts.create_channel(ctx, "yard", "Block 7 yard")
        channel, _ = await posts.change_admins(ctx, "yard", add=[TURNED.public_key_hex], role="admin", remove=[],
                                               since=None)  # fmt: skip
        clock.advance(60)
        safe = build_post(ctx.key, channel, "safe-place", "Tea and a charger", created_at=ctx.now(),
                          location="Flat 3, Lenina 5")  # fmt: skip
        await ctx.ingest([safe])
        clock.advance(600)
        theirs = build_post(TURNED, channel, "news", "All clear at the square", created_at=ctx.now())
        moved = amendment(TURNED, channel.address, "correction", safe, ctx.now(), ["location", "Lenina 40"])
        withdrawn = amendment(TURNED, channel.address, "retraction", safe, ctx.now() + 1)
        await ctx.ingest([theirs, moved, withdrawn])

        items = {i["id"]: i for i in (post_json(item) for item in await feed.feed(ctx, "yard"))}
        assert items[safe.id]["status"] == "valid"
        assert items[safe.id]["fields"]["location"] == "Flat 3, Lenina 5"
        assert items[safe.id]["text"] == "Tea and a charger"
        assert items[safe.id]["retraction"] is None
        assert items[theirs.id]["role"] == "admin"

        # The owner still withdraws the turned admin's post, then removes the admin from this hour on.
        clock.advance(60)
        await posts.retract(ctx, theirs.id, "Not from us: this admin's phone was taken")
        await posts.change_admins(ctx, "yard", add=[], role="admin", remove=[TURNED.public_key_hex], since=None)
        removed_at = ctx.now()
        clock.advance(60)
        after = build_post(TURNED, channel, "news", "Everyone to the square now", created_at=removed_at)
        backdated = build_post(TURNED, channel, "news", "Everyone to the square, really", created_at=removed_at - 1)
        await ctx.ingest([after, backdated])

        items = {i["id"]: i for i in (post_json(item) for item in await feed.feed(ctx, "yard"))}
        assert items[theirs.id]["status"] == "retracted"
        assert after.id not in items or items[after.id]["status"] != "valid"
        assert items[backdated.id]["role"] == "former"
        assert items[safe.id]["fields"]["location"] == "Flat 3, Lenina 5"
