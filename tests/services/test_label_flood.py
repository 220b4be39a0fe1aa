"""Red team round 7: a verifier the reader trusts (its key in the police's hands) floods labels on a channel's
post. ``samizdat feed`` read at most 5,000 labels (and as many deletion requests) of the page's posts, of all the
reader's verifiers together, newest first: the flood pushed an honest verifier's "false" on the police's fake out
of reach, and the fake showed only the flooder's "confirmed". Each verifier's (and each of the channel's keys')
newest are now read apart (docs/safety.md, round 7). On a real node."""

from __future__ import annotations

from pathlib import Path

from samizdat.cli.render import post_json
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_label, build_post
from samizdat.services import feed, posts
from samizdat.testing import FakeClock, test_node

NOW = 1_800_000_000
HONEST, FLOODER = SecretKey(bytes([80]) * 32), SecretKey(bytes([81]) * 32)


async def test_one_verifiers_flood_of_labels_does_not_push_out_anothers(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        channel, _ = await posts.create_channel(ctx, "yard", "Block 7 yard")
        clock.advance(60)
        fake = build_post(ctx.key, channel, "news", "Everyone to the square at 18:00", created_at=ctx.now())
        false = build_label(HONEST, fake, "false", "Nobody called for this", created_at=ctx.now() + 10)
        flood = [build_label(FLOODER, fake, "confirmed", created_at=ctx.now() + 20 + i) for i in range(5_100)]
        for verifier in (HONEST, FLOODER):
            ctx.local.follow_verifier(verifier.public_key_hex, clock())
        await ctx.ingest([fake, false, *flood])

        [item] = [post_json(i) for i in await feed.feed(ctx, "yard") if i.original and i.original.id == fake.id]
        assert item["labels"] == {"confirmed": 1, "false": 1}
