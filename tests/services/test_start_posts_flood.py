"""A turned admin's flood and the first screen: the posts the node builds into the web app's page
(services/start_posts.py) keep the owner's alert, however many newer posts a seized admin key sends."""

from __future__ import annotations

from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.services import posts, start_posts
from samizdat.services.context import Context
from samizdat.web import START_POSTS_BYTES

FLOOD = 400


async def test_the_owners_alert_is_in_the_first_screen_despite_an_admins_flood(ctx: Context) -> None:
    seized = SecretKey(bytes([41]) * 32)
    await posts.create_channel(ctx, "yard", "Block 7 yard")
    channel, _ = await posts.change_admins(ctx, "yard", add=[seized.public_key_hex], role="admin", remove=[],
                                           since=None)  # fmt: skip
    alert = build_post(
        ctx.key, channel, "alert", "Riot police at the north gate", location="North gate", created_at=ctx.now() - 3600
    )
    flood = [
        build_post(seized, channel, "alert", f"All clear {i}", location="Yard", created_at=ctx.now() - 1800 + i)
        for i in range(FLOOD)
    ]
    await ctx.ingest([alert])
    for start in range(0, FLOOD, 100):
        await ctx.ingest(flood[start : start + 100])

    carried = await start_posts.start_page_posts(ctx, START_POSTS_BYTES)

    ids = {e.id for e in carried}
    assert alert.id in ids, "the owner's alert is not in the first screen"
    assert ids & {e.id for e in flood}, "the admin's newest posts are shown too"
    assert len(ids & {e.id for e in flood}) < start_posts.POSTS
