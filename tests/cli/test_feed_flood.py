"""``samizdat feed`` against a turned admin's flood: an admin whose key the police hold posts 150 alerts, all newer
than the owner's one alert. The feed reads each key's newest posts (the flood cannot push the owner's out of what
is read) and folds a run of one author's posts past the third into "+ N more posts by the same author", so the
owner's alert is the fourth post shown instead of missing from the newest 50; ``--unfold`` shows the run."""

from __future__ import annotations

from pathlib import Path

from samizdat.cli.channels import FOLD
from samizdat.cli.render import post_json, render_feed
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.services import feed, posts
from samizdat.testing import FakeClock, test_node

NOW = 1_800_000_000
TURNED = SecretKey(bytes([29]) * 32)
FLOOD = 150  #: fewer than the 200 posts of one key read for a feed of 50


async def test_the_owners_alert_shows_after_three_of_the_flood(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        await posts.create_channel(ctx, "yard", "Block 7 yard")
        channel, _ = await posts.change_admins(ctx, "yard", add=[TURNED.public_key_hex], role="admin", remove=[],
                                               since=None)  # fmt: skip
        alert = build_post(ctx.key, channel, "alert", "Police at the market gate", created_at=NOW + 10,
                           location="Market gate", expiration=NOW + 6 * 3600)  # fmt: skip
        flood = [build_post(TURNED, channel, "alert", f"All clear {n}", created_at=NOW + 100 + n,
                            location=f"Exit {n}", expiration=NOW + 6 * 3600) for n in range(FLOOD)]  # fmt: skip
        await ctx.ingest([alert, *flood])
        clock.advance(400)

        items = [post_json(item) for item in await feed.feed(ctx, "yard", fold=FOLD)]
        assert [i["text"] for i in items] == ["All clear 149", "All clear 148", "All clear 147",
                                              "Police at the market gate"]  # fmt: skip
        text = render_feed(items)
        assert f"+ {FLOOD - 3} more posts by the same author (--unfold shows them)" in text
        assert text.index("All clear 147") < text.index("+ 147 more") < text.index("Police at the market gate")

        unfolded = await feed.feed(ctx, "yard")
        assert len(unfolded) == 50
        assert {i.original.pubkey if i.original else None for i in unfolded} == {TURNED.public_key_hex}
