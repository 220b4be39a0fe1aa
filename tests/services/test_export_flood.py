"""A turned admin's flood and a courier's bundle: the first part of a split ``samizdat export`` of a channel (parts
travel alone: a messenger's attachment limit, a small stick) holds the channel's definition and the owner's
alert, however many newer posts a seized admin key sent; a node that imports that part alone has the alert."""

from __future__ import annotations

from pathlib import Path

from samizdat.core import kinds
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.services import bundles, posts
from samizdat.services.context import Context
from samizdat.testing import FakeClock, test_node

FLOOD = 600
PART = 16_000  #: bytes of a part: the flood needs many


async def test_the_first_part_of_an_export_holds_the_owners_alert(tmp_path: Path, ctx: Context,
                                                                  fake_clock: FakeClock) -> None:  # fmt: skip
    seized = SecretKey(bytes([43]) * 32)
    await posts.create_channel(ctx, "yard", "Block 7 yard")
    channel, _ = await posts.change_admins(ctx, "yard", add=[seized.public_key_hex], role="admin", remove=[],
                                           since=None)  # fmt: skip
    alert = build_post(ctx.key, channel, "alert", "Riot police at the north gate", location="North gate",
                       created_at=ctx.now() - 3600)  # fmt: skip
    flood = [build_post(seized, channel, "alert", f"All clear, come out {i}", location=f"Yard {i}",
                        created_at=ctx.now() - 1800 + i) for i in range(FLOOD)]  # fmt: skip
    await ctx.ingest([alert])
    for start in range(0, FLOOD, 100):
        await ctx.ingest(flood[start : start + 100])

    report = await bundles.export(ctx, tmp_path / "yard.smz", channel="yard", max_part_bytes=PART)
    assert len(report.files) > 3, "the flood fills several parts"
    assert report.events == FLOOD + 2  # every post and the definition, each once: nothing left out or doubled

    async with test_node(tmp_path / "b", clock=fake_clock, sleep=fake_clock.sleep) as other:
        imported = await bundles.import_files(other.ctx, [Path(report.files[0])])
        assert imported.files[0].complete
        read = await other.ctx.store.query(
            [Filter(kinds=frozenset({kinds.POST}), tags=(("a", frozenset({channel.address})),))]
        )
        ids = {e.id for e in read}
        assert alert.id in ids, "the owner's alert is not in the first part"
        assert ids & {e.id for e in flood}, "the admin's newest posts came too"
