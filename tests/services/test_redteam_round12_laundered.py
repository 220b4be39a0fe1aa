"""Red team, round 12 (docs/safety.md): the laundered retraction.

An admin is arrested. Before the owner removes them, the police, with the admin's key, retract an editor's genuine
warning ("Police at Lenina, avoid") and date the retraction before the arrest; it reaches the owner's node. The
owner removes the admin from the arrest on. Before, the removal signed again, as the owner's, every retraction the
key made before that time, the police's too: the warning stayed retracted for every reader, now under the owner's
signature ("kept 2"). The node keeps no time of arrival to tell the police's retraction from the admin's honest
one (of a fake safe place). Now the owner sees what would be kept and chooses: the service lists it without
signing anything, a removal that would keep another's post's amendment unseen is refused, and the one the owner
leaves out (``drop``, or not in ``keep``) is not signed again: readers see the warning again, the fake stays
withdrawn. The command line, ``/op`` and the phone: tests/web/test_laundered_retraction_faces.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from samizdat.cli.render import post_json
from samizdat.core import kinds
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.services import channels, feed, posts
from samizdat.services.context import Context
from samizdat.testing import FakeClock, test_node

NOW = 1_800_000_000
TURNED, EDITOR = SecretKey(bytes([61]) * 32), SecretKey(bytes([62]) * 32)
WARNING = "Police at Lenina, avoid"


def _post(key: SecretKey, address: str, post_type: str, text: str, at: int, *tags: list[str]) -> Event:
    return sign_event(key, kinds.POST, text, [["a", address, ""], ["type", post_type], *tags], created_at=at)


def _retraction(key: SecretKey, address: str, target: Event, reason: str, at: int) -> Event:
    return _post(key, address, "retraction", reason, at, ["e", target.id, "", "retraction", target.pubkey])


def laundering(address: str, now: int) -> dict[str, Any]:
    """The events: the editor's fake safe place (its key was seized once) that the admin honestly retracted; the
    editor's genuine warning; after the arrest (``now - 1800``), the police's retraction of the warning with the
    admin's key, dated before the arrest."""
    arrest = now - 1800
    fake = _post(EDITOR, address, "safe-place", "Doctors here", now - 7200, ["location", "Yard of Lenina 40"])
    honest = _retraction(TURNED, address, fake, "A police trap", now - 7100)
    warning = _post(EDITOR, address, "alert", WARNING, now - 3600, ["location", "Lenina 5"],
                    ["expiration", str(now + 86400)])  # fmt: skip
    police = _retraction(TURNED, address, warning, "All clear now", arrest - 600)
    return {"events": [fake, honest, warning, police], "fake": fake, "honest": honest, "warning": warning,
            "police": police, "arrest": arrest}  # fmt: skip


async def _yard(ctx: Context) -> str:
    channel, _ = await posts.create_channel(ctx, "yard", "Yard")
    await posts.change_admins(ctx, "yard", add=[TURNED.public_key_hex], role="admin", remove=[], since=None)
    await posts.change_admins(ctx, "yard", add=[EDITOR.public_key_hex], role="editor", remove=[], since=None)
    return channel.address


async def _statuses(ctx: Context, *ids: str) -> dict[str, str]:
    """What a reader's feed shows of these posts (the thread view every face uses)."""
    items = {i["id"]: i["status"] for i in (post_json(x) for x in await feed.feed(ctx, "yard"))}
    return {i: items.get(i, "hidden") for i in ids}


@pytest.mark.parametrize("named", ["police", "warning"])  # the police's retraction's id, or the warning's
async def test_the_owner_sees_the_polices_retraction_and_leaves_it_out(tmp_path: Path, named: str) -> None:
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        made = laundering(address, NOW)
        await ctx.ingest(made["events"])
        fake, warning = made["fake"].id, made["warning"].id
        assert await _statuses(ctx, fake, warning) == {fake: "retracted", warning: "retracted"}
        removing = {"remove": [TURNED.public_key_hex], "since": made["arrest"]}

        # The review: both retractions of the editor's posts are listed, with what the owner needs to judge them.
        kept = await posts.review_removal(ctx, "yard", **removing)
        listed = {k.target.id: k.to_dict() for k in kept}
        assert set(listed) == {fake, warning}
        shown = listed[warning]
        assert (shown["action"], shown["own"], shown["role"], shown["author"]) == (
            "retracted", False, "editor", EDITOR.public_key_hex)  # fmt: skip
        assert (shown["text"], shown["reason"]) == (WARNING, "All clear now")
        assert shown["created_at"] == made["arrest"] - 600
        assert shown["amendments"] == [made["police"].id]
        # ... and it changed nothing.
        channel = await channels.resolve(ctx, "yard")
        assert TURNED.public_key_hex in channel.admins

        # Without a choice, nothing is signed: the key stays an admin.
        with pytest.raises(posts.NotReviewed, match="2 retraction"):
            await posts.change_admins(ctx, "yard", add=[], role="admin", **removing)
        assert TURNED.public_key_hex in (await channels.resolve(ctx, "yard")).admins

        # The owner leaves the police's retraction out: readers see the warning again, the fake stays withdrawn.
        _, result = await posts.change_admins(ctx, "yard", add=[], role="admin", **removing,
                                              drop=[made[named].id], keep_all=True)  # fmt: skip
        assert result is not None
        assert len(result.ids) == 2  # the definition, and the honest retraction signed again
        assert await _statuses(ctx, fake, warning) == {fake: "retracted", warning: "valid"}
        [item] = [post_json(i) for i in await feed.feed(ctx, "yard") if i.original and i.original.id == fake]
        assert item["retraction"]["reason"] == "A police trap"


async def test_what_arrives_after_the_review_is_not_kept_unseen(tmp_path: Path) -> None:
    """The owner looked at the list (the honest retraction of the fake only) and keeps it; the police's retraction
    arrives while they read. The removal keeps only what was shown (``shown``): the warning is back."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        made = laundering(address, NOW)
        await ctx.ingest([made["fake"], made["honest"], made["warning"]])
        removing = {"remove": [TURNED.public_key_hex], "since": made["arrest"]}
        listed = await posts.review_removal(ctx, "yard", **removing)
        assert [k.target.id for k in listed] == [made["fake"].id]
        await ctx.ingest([made["police"]])
        keep = [e.id for k in listed for e in k.by]
        _, result = await posts.change_admins(ctx, "yard", add=[], role="admin", **removing, keep=keep)
        assert result is not None
        assert len(result.ids) == 2
        fake, warning = made["fake"].id, made["warning"].id
        assert await _statuses(ctx, fake, warning) == {fake: "retracted", warning: "valid"}


async def test_the_key_s_own_posts_amendments_need_no_choice(tmp_path: Path) -> None:
    """What the key may always do (amend its own posts) is kept as before, with no choice asked."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        place = _post(TURNED, address, "safe-place", "Tea", NOW - 7200, ["location", "Flat 3, Lenina 5"])
        moved = _post(TURNED, address, "correction", "", NOW - 7000, ["location", "Flat 9, Lenina 7"],
                      ["e", place.id, "", "correction", TURNED.public_key_hex])  # fmt: skip
        await ctx.ingest([place, moved])
        [kept] = await posts.review_removal(ctx, "yard", remove=[TURNED.public_key_hex], since=NOW - 1800)
        assert kept.own
        assert kept.to_dict()["fields"] == ["location"]
        _, result = await posts.change_admins(ctx, "yard", add=[], role="admin", remove=[TURNED.public_key_hex],
                                              since=NOW - 1800)  # fmt: skip
        assert result is not None
        assert len(result.ids) == 2
        [item] = [post_json(i) for i in await feed.feed(ctx, "yard") if i.original and i.original.id == place.id]
        assert item["fields"]["location"] == "Flat 9, Lenina 7"
