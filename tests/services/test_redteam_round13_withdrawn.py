"""Red team, round 13's open finding (docs/safety.md): the arrested admin's key deletes its own honest retraction.

An honest admin retracted the police's fake safe place (posted with an editor's seized key) and is arrested. With
the admin's key, the police publish a NIP-09 deletion request of that retraction, dated before the arrest. The
store applies it as every NIP-09 relay does: the retraction is erased and refused when it comes back, so readers
see the fake as valid, and the owner's removal of the key from the arrest on (even ``keep_all``) has nothing left
to keep. What is gone cannot be re-signed: the fix needs the node to keep a copy of a channel key's amendment its
author deleted, for the removal's review only (see docs/safety.md, round 13). Until then the scenario was
recorded here as a strict expected failure. Fixed: the store keeps a record of the erased amendment (no content)
for the removal's review only, which offers it ("withdrawn by the key on <date>") and, named, keeps it by
signing the owner's retraction of the fake again.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_redteam_round12_laundered import EDITOR, NOW, TURNED, _post, _retraction, _statuses, _yard, laundering

from samizdat.cli.render import post_json
from samizdat.core import kinds
from samizdat.core.event import sign_event
from samizdat.core.filters import Filter
from samizdat.services import feed, posts
from samizdat.testing import FakeClock, test_node


async def test_the_keys_deletion_of_its_honest_retraction_is_offered_and_kept(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        made = laundering(await _yard(ctx), NOW)
        fake, honest = made["fake"], made["honest"]
        await ctx.ingest([fake, honest])
        assert await _statuses(ctx, fake.id) == {fake.id: "retracted"}
        gone = sign_event(TURNED, kinds.DELETION, "", [["e", honest.id]], created_at=made["arrest"] - 60)
        await ctx.ingest([gone])
        assert await _statuses(ctx, fake.id) == {fake.id: "valid"}  # the police's fake is back for readers
        removing = {"remove": [TURNED.public_key_hex], "since": made["arrest"]}

        # The review offers the withdrawn retraction of the editor's post, as one the owner may keep.
        listed = {k.target.id: k.to_dict() for k in await posts.review_removal(ctx, "yard", **removing)}
        assert set(listed) == {fake.id}
        assert (listed[fake.id]["action"], listed[fake.id]["amendments"]) == ("retracted", [honest.id])
        # "withdrawn by the key on <the deletion's date>"; its reason is not kept.
        assert listed[fake.id]["withdrawn"] == [
            {"id": honest.id, "type": "retraction", "created_at": honest.created_at, "deleted_at": gone.created_at}
        ]
        assert listed[fake.id]["reason"] == ""  # fmt: skip

        # Default-deny: without a choice the removal is refused, and not named it is not kept.
        with pytest.raises(posts.NotReviewed):
            await posts.change_admins(ctx, "yard", add=[], role="admin", **removing)
        # Kept by its id, it is signed again as the owner's: readers see the fake retracted again.
        await posts.change_admins(ctx, "yard", add=[], role="admin", keep=[honest.id], **removing)
        assert await _statuses(ctx, fake.id) == {fake.id: "retracted"}
        [item] = [post_json(i) for i in await feed.feed(ctx, "yard") if i.original and i.original.id == fake.id]
        assert item["retraction"]["reason"] == posts.WITHDRAWN_REASON
        # The removed key's deletion requests of the owner's retraction, backdated or not, do not undo it.
        [ours] = await ctx.store.query([Filter(authors=frozenset({ctx.pubkey}), kinds=frozenset({kinds.POST}),
                                               tags=(("e", frozenset({fake.id})),))])  # fmt: skip
        await ctx.ingest([sign_event(TURNED, kinds.DELETION, "", [["e", ours.id]], created_at=made["arrest"] - 10),
                          sign_event(TURNED, kinds.DELETION, "", [["e", ours.id]], created_at=NOW + 5)])  # fmt: skip
        assert await _statuses(ctx, fake.id) == {fake.id: "retracted"}


async def test_a_withdrawn_correction_is_offered_and_kept_as_a_retraction(tmp_path: Path) -> None:
    """The honest admin moved the editor's safe place away from a raided flat; the police delete the correction, so
    readers see the raided flat again. The correction's text is gone: kept, the owner retracts the post."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        arrest = NOW - 1800
        place = _post(EDITOR, address, "safe-place", "Doctors here", NOW - 7200, ["location", "Lenina 40, flat 3"])
        moved = _post(TURNED, address, "correction", "", NOW - 7000, ["location", "Yard of Gorky 2"],
                      ["e", place.id, "", "correction", place.pubkey])  # fmt: skip
        await ctx.ingest([place, moved])
        gone = sign_event(TURNED, kinds.DELETION, "", [["e", moved.id]], created_at=arrest - 60)
        await ctx.ingest([gone])
        removing = {"remove": [TURNED.public_key_hex], "since": arrest}
        [kept] = await posts.review_removal(ctx, "yard", **removing)
        shown = kept.to_dict()
        assert (shown["target"], shown["action"], shown["amendments"]) == (place.id, "retracted", [moved.id])
        assert shown["withdrawn"][0]["type"] == "correction"
        # Named, the owner retracts the post: readers no longer see the raided flat's address as a safe place.
        await posts.change_admins(ctx, "yard", add=[], role="admin", keep=[moved.id], **removing)
        assert await _statuses(ctx, place.id) == {place.id: "retracted"}


async def test_a_withdrawn_amendment_of_its_own_post_is_kept_only_when_named(tmp_path: Path) -> None:
    """The admin retracted their own safe place (raided); the police delete that retraction. Its own posts'
    amendments are kept without a choice, but not one the key withdrew: that deletion may be honest too."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        arrest = NOW - 1800
        place = _post(TURNED, address, "safe-place", "Doctors here", NOW - 7200, ["location", "Lenina 40"])
        raided = _retraction(TURNED, address, place, "Raided", NOW - 7000)
        await ctx.ingest([place, raided])
        await ctx.ingest([sign_event(TURNED, kinds.DELETION, "", [["e", raided.id]], created_at=arrest - 60)])
        removing = {"remove": [TURNED.public_key_hex], "since": arrest}
        [kept] = await posts.review_removal(ctx, "yard", **removing)
        assert (kept.own, kept.asks) == (True, True)
        with pytest.raises(posts.NotReviewed):
            await posts.change_admins(ctx, "yard", add=[], role="admin", **removing)
        await posts.change_admins(ctx, "yard", add=[], role="admin", keep=[], **removing)
        assert await _statuses(ctx, place.id) == {place.id: "valid"}  # not named: not kept


async def test_a_withdrawal_dated_from_since_on_is_not_offered(tmp_path: Path) -> None:
    """The key's amendment dated at or after ``since`` is not the admin's (as for those in the store): its
    withdrawal is not offered either, nor is one of another channel."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        made = laundering(address, NOW)
        fake = made["fake"]
        late = _retraction(TURNED, address, fake, "Trap", made["arrest"] + 10)
        await ctx.ingest([fake, late])
        await ctx.ingest([sign_event(TURNED, kinds.DELETION, "", [["e", late.id]], created_at=NOW)])
        assert [r.id for r in await ctx.store.withdrawn(TURNED.public_key_hex)] == [late.id]
        removing = {"remove": [TURNED.public_key_hex], "since": made["arrest"]}
        assert await posts.review_removal(ctx, "yard", **removing) == []


async def test_the_owners_retraction_outlasts_the_removed_keys_deletions(tmp_path: Path) -> None:
    """Whatever the removal keeps, the removed key's deletion requests cannot undo what the owner signs: a deletion
    counts only for its author's own events, in the store and in the readers' thread view alike."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        made = laundering(address, NOW)
        fake, honest = made["fake"], made["honest"]
        await ctx.ingest([fake, honest, sign_event(TURNED, kinds.DELETION, "", [["e", honest.id]],
                                                   created_at=made["arrest"] - 60)])  # fmt: skip
        await posts.change_admins(
            ctx, "yard", add=[], role="admin", remove=[TURNED.public_key_hex], since=made["arrest"], keep=[]
        )
        assert await _statuses(ctx, fake.id) == {fake.id: "valid"}  # the owner kept nothing (--keep-none)
        # The owner retracts the fake again by hand; the key's deletion requests of it, backdated, do not count.
        ours = _retraction(ctx.key, address, fake, "A police trap", NOW - 10)
        await ctx.ingest([ours])
        await ctx.ingest([sign_event(TURNED, kinds.DELETION, "", [["e", ours.id], ["e", fake.id]],
                                     created_at=made["arrest"] - 30)])  # fmt: skip
        assert await _statuses(ctx, fake.id) == {fake.id: "retracted"}
