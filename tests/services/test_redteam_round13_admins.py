"""Red team, round 13 (docs/safety.md): the amendment that arrives between the owner's look and the removal.

An admin is arrested. While honest, the admin corrected an editor's safe place away from a raided flat. The owner
looks at what removing the admin would keep (the phone's preview), and keeps that correction. Between the look
and the removal, the police, with the admin's key, correct the same post again, to a trap, dated before the
arrest. Before, the page sent the ids of the posts it listed (``shown``) and the removal kept every amendment of
a listed post: the trap, which the owner never saw, was signed again as the owner's. Now the page sends the ids
of the amendments it listed and the owner left checked, and no other amendment of another's post is kept; a page
that sends a post's id keeps nothing of it. The command line: tests/web/test_redteam_round13_admins_faces.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from samizdat.cli.render import post_json
from samizdat.core import kinds
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.services import feed, operator_admins, posts
from samizdat.services.context import Context
from samizdat.testing import FakeClock, test_node

NOW = 1_800_000_000
TURNED, EDITOR = SecretKey(bytes([71]) * 32), SecretKey(bytes([72]) * 32)
RAIDED, SAFE, TRAP = "Flat 3, Lenina 5", "Flat 9, Lenina 7", "Yard of Lenina 40"


def _post(key: SecretKey, address: str, post_type: str, text: str, at: int, *tags: list[str]) -> Event:
    return sign_event(key, kinds.POST, text, [["a", address, ""], ["type", post_type], *tags], created_at=at)


def _moved(address: str, target: Event, location: str, at: int) -> Event:
    return _post(TURNED, address, "correction", "", at, ["location", location],
                 ["e", target.id, "", "correction", target.pubkey])  # fmt: skip


async def _yard(ctx: Context) -> str:
    channel, _ = await posts.create_channel(ctx, "yard", "Yard")
    await posts.change_admins(ctx, "yard", add=[TURNED.public_key_hex], role="admin", remove=[], since=None)
    await posts.change_admins(ctx, "yard", add=[EDITOR.public_key_hex], role="editor", remove=[], since=None)
    return channel.address


async def _location(ctx: Context, post_id: str) -> str:
    [item] = [post_json(i) for i in await feed.feed(ctx, "yard") if i.original and i.original.id == post_id]
    return str(item["fields"]["location"])


@pytest.mark.parametrize("page", ["amendments", "posts"])  # what the page sends as shown: today's, or round 12's
async def test_a_second_amendment_of_a_kept_post_arriving_after_the_look_is_not_kept(tmp_path: Path, page: str) -> None:
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        arrest = NOW - 1800
        place = _post(EDITOR, address, "safe-place", "Doctors, tea", NOW - 9000, ["location", RAIDED])
        honest = _moved(address, place, SAFE, NOW - 8000)
        await ctx.ingest([place, honest])
        removal = {"remove": TURNED.public_key_hex, "since": arrest}
        preview = await operator_admins.change(ctx, address, preview=True, **removal)
        [item] = preview["review"]
        assert (item["target"], item["amendments"]) == (place.id, [honest.id])
        # Between the look and the removal: the police's correction of the same post, dated before the arrest.
        police = _moved(address, place, TRAP, arrest - 300)
        await ctx.ingest([police])
        assert await _location(ctx, place.id) == TRAP  # what readers see while the key is an admin
        shown = item["amendments"] if page == "amendments" else [item["target"]]
        answer = await operator_admins.change(ctx, address, drop=[], shown=shown, **removal)
        # The trap is never signed again as the owner's; what the owner kept is, and only that.
        assert await _location(ctx, place.id) == (SAFE if page == "amendments" else RAIDED)
        assert answer["kept"] == (1 if page == "amendments" else 0)


async def test_a_preview_lists_what_the_removal_can_be_told_to_keep(tmp_path: Path) -> None:
    """The page names each amendment it keeps (at most 500 in a request): a post the key amended 600 times (the
    police's flood of one editor's post) does not fit, and is counted, not listed, so that the honest retraction
    beside it can still be kept from the phone."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        flooded = _post(EDITOR, address, "news", "Bread at the market", NOW - 90000)
        fake = _post(EDITOR, address, "safe-place", "Doctors here", NOW - 9000, ["location", TRAP])
        honest = _post(TURNED, address, "retraction", "A police trap", NOW - 8000,
                       ["e", fake.id, "", "retraction", EDITOR.public_key_hex])  # fmt: skip
        flood = [_moved(address, flooded, f"Stall {n}", NOW - 80000 + n) for n in range(600)]
        await ctx.ingest([flooded, fake, honest, *flood])
        removal = {"remove": TURNED.public_key_hex, "since": NOW - 1800}
        preview = await operator_admins.change(ctx, address, preview=True, **removal)
        assert [i["target"] for i in preview["review"]] == [fake.id]
        assert preview["review_more"] == 1
        shown = [a for i in preview["review"] for a in i["amendments"]]
        answer = await operator_admins.change(ctx, address, drop=[], shown=shown, **removal)
        assert answer["kept"] == 1
