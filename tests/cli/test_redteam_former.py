"""Red team, authenticity: an admin the owner removed keeps posting, dating his posts before his removal. Readers
cannot tell those from his genuine old posts (docs/protocol.md, "Revocation"), so ``samizdat feed`` marks every
post of a former admin as such; it once showed them like any other post of the channel."""

from __future__ import annotations

from pathlib import Path

from samizdat.cli.render import post_json, render_feed
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.services import feed, posts
from samizdat.testing import FakeClock, test_node

NOW = 1_800_000_000
REMOVED = SecretKey(bytes([23]) * 32)


async def test_a_removed_admins_backdated_post_is_marked_in_the_feed(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        channel, _ = await posts.create_channel(ctx, "yard", "Block 7 yard")
        await posts.change_admins(ctx, "yard", add=[REMOVED.public_key_hex], role="admin", remove=[], since=None)
        clock.advance(3600)
        channel, _ = await posts.change_admins(ctx, "yard", add=[], role="admin", remove=[REMOVED.public_key_hex],
                                               since=None)  # fmt: skip
        clock.advance(3600)
        own = build_post(ctx.key, channel, "news", "The water is back on", created_at=ctx.now())
        backdated = build_post(REMOVED, channel, "news", "Everyone to the square now", created_at=NOW + 1800)
        await ctx.ingest([own, backdated])

        items = [post_json(item) for item in await feed.feed(ctx, "yard")]
        assert [(i["text"], i["role"]) for i in items] == [
            ("The water is back on", "owner"),
            ("Everyone to the square now", "former"),
        ]
        blocks = render_feed(items).split("\n\n")
        assert "by a former admin" not in blocks[0]
        assert "by a former admin" in blocks[1].splitlines()[0]
