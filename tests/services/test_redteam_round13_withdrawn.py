"""Red team, round 13's open finding (docs/safety.md): the arrested admin's key deletes its own honest retraction.

An honest admin retracted the police's fake safe place (posted with an editor's seized key) and is arrested. With
the admin's key, the police publish a NIP-09 deletion request of that retraction, dated before the arrest. The
store applies it as every NIP-09 relay does: the retraction is erased and refused when it comes back, so readers
see the fake as valid, and the owner's removal of the key from the arrest on (even ``keep_all``) has nothing left
to keep. What is gone cannot be re-signed: the fix needs the node to keep a copy of a channel key's amendment its
author deleted, for the removal's review only (see docs/safety.md, round 13, "Left"). Until then the scenario is
recorded here as a strict expected failure, so that it turns into a failure to be noticed when it is fixed.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_redteam_round12_laundered import NOW, TURNED, _retraction, _statuses, _yard, laundering

from samizdat.core import kinds
from samizdat.core.event import sign_event
from samizdat.services import posts
from samizdat.testing import FakeClock, test_node


@pytest.mark.xfail(
    strict=True,
    reason="the store erases a deleted amendment (NIP-09): nothing is left for the removal to offer or keep",
)
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

        # Kept by its id, it is signed again as the owner's: readers see the fake retracted again.
        await posts.change_admins(ctx, "yard", add=[], role="admin", keep=[honest.id], **removing)
        assert await _statuses(ctx, fake.id) == {fake.id: "retracted"}


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
            ctx, "yard", add=[], role="admin", remove=[TURNED.public_key_hex], since=made["arrest"], keep_all=True
        )
        assert await _statuses(ctx, fake.id) == {fake.id: "valid"}  # what the finding measured: nothing kept
        # The owner retracts the fake again by hand; the key's deletion requests of it, backdated, do not count.
        ours = _retraction(ctx.key, address, fake, "A police trap", NOW - 10)
        await ctx.ingest([ours])
        await ctx.ingest([sign_event(TURNED, kinds.DELETION, "", [["e", ours.id], ["e", fake.id]],
                                     created_at=made["arrest"] - 30)])  # fmt: skip
        assert await _statuses(ctx, fake.id) == {fake.id: "retracted"}
