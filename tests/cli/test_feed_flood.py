"""``samizdat feed`` against a turned admin's flood: an admin whose key the police hold posts 150 alerts, all newer
than the owner's one alert. The feed reads each key's newest posts (the flood cannot push the owner's out of what
is read) and folds a run of one author's posts past the third into "+ N more posts by the same author", so the
owner's alert is the fourth post shown instead of missing from the newest 50; ``--unfold`` shows the run."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from samizdat.cli.channels import FOLD
from samizdat.cli.render import post_json, render_feed
from samizdat.core.channel import Channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.node import Node
from samizdat.services import feed, posts
from samizdat.testing import FakeClock, test_node

NOW = 1_800_000_000
TURNED = SecretKey(bytes([29]) * 32)
FLOOD = 150  #: fewer than the 200 posts of one key read for a feed of 50


@contextlib.asynccontextmanager
async def yard_with_admin(path: Path, admin: SecretKey) -> AsyncIterator[tuple[Node, FakeClock, Channel]]:
    """A node at :data:`NOW` on a clock the test moves, its channel "yard" made and ``admin`` appointed to it:
    the scene of every turned-admin test. Yields the node, the clock and the channel as the admin was added."""
    clock = FakeClock(NOW)
    async with test_node(path, clock=clock, sleep=clock.sleep) as node:
        await posts.create_channel(node.ctx, "yard", "Block 7 yard")
        channel, _ = await posts.change_admins(node.ctx, "yard", add=[admin.public_key_hex], role="admin", remove=[],
                                               since=None)  # fmt: skip
        yield node, clock, channel


async def test_the_owners_alert_shows_after_three_of_the_flood(tmp_path: Path) -> None:
    async with yard_with_admin(tmp_path / "node", TURNED) as (node, clock, channel):
        ctx = node.ctx
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
