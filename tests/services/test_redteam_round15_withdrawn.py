"""Red team, round 15 (docs/safety.md): the police, holding an arrested admin's key, against round 14's record of
the amendments the key withdrew (NIP-09), which the owner's removal review offers.

A retraction or correction the key may not make (of the owner's post, or of another admin's: ``Channel.may_amend``)
never counted for readers, so the key's deleting it took nothing from them. Offered as "withdrawn by the key", it
made the owner sign, by a default the phone checked, the retraction of the owner's own warning or of another
admin's: two events the readers never saw an effect of. The review now offers a withdrawn amendment only when the
key could make it in the channel before the removal, as readers' views count one (core/thread.py).
"""

from __future__ import annotations

from pathlib import Path

from test_redteam_round12_laundered import EDITOR, NOW, TURNED, _post, _retraction, _statuses, _yard, laundering

from samizdat.core import kinds
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.services import posts
from samizdat.store.rules import WITHDRAWN_PER_AUTHOR
from samizdat.testing import FakeClock, test_node

OTHER = SecretKey(bytes([63]) * 32)  # another admin of the channel, honest
_ALERT = (["location", "Lenina 5"], ["expiration", str(NOW + 86400)])


async def test_a_withdrawn_retraction_the_key_could_not_make_is_not_offered(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        await posts.change_admins(ctx, "yard", add=[OTHER.public_key_hex], role="admin", remove=[], since=None)
        arrest = NOW - 1800
        mine = _post(ctx.key, address, "alert", "Police at Lenina, avoid", NOW - 7200, *_ALERT)
        theirs = _post(OTHER, address, "alert", "Checkpoint at the bridge", NOW - 7100, *_ALERT)
        await ctx.ingest([mine, theirs])
        # The police, with the arrested admin's key, backdate retractions of the two honest warnings, which readers
        # ignore (an admin may not amend the owner's nor another admin's posts), then delete them.
        fakes = [_retraction(TURNED, address, p, "Mistake", arrest - 600) for p in (mine, theirs)]
        await ctx.ingest(fakes)
        assert await _statuses(ctx, mine.id, theirs.id) == {mine.id: "valid", theirs.id: "valid"}
        await ctx.ingest([sign_event(TURNED, kinds.DELETION, "", [["e", f.id] for f in fakes], created_at=arrest - 60)])
        removing = {"remove": [TURNED.public_key_hex], "since": arrest}

        # The review does not offer them: keeping one would have made the owner retract its own warning.
        assert await posts.review_removal(ctx, "yard", **removing) == []
        await posts.change_admins(ctx, "yard", add=[], role="admin", keep_all=True, **removing)
        assert await _statuses(ctx, mine.id, theirs.id) == {mine.id: "valid", theirs.id: "valid"}


async def test_a_withdrawn_retraction_older_than_90_days_outlasts_the_purge(tmp_path: Path) -> None:
    """The fake is old: the admin retracted it 100 days before the police deleted that retraction. The record was
    dropped 90 days after the retraction's date, i.e. at the next purge, so no removal could offer it; it now
    lasts 90 days from the deletion's arrival (a date the key cannot choose)."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        arrest = NOW - 1800
        fake = _post(EDITOR, address, "safe-place", "Doctors here", NOW - 120 * 86400, ["location", "Lenina 40"])
        honest = _retraction(TURNED, address, fake, "A police trap", NOW - 100 * 86400)
        await ctx.ingest([fake, honest])
        await ctx.ingest([sign_event(TURNED, kinds.DELETION, "", [["e", honest.id]], created_at=arrest - 60)])
        await ctx.store.purge_expired()
        removing = {"remove": [TURNED.public_key_hex], "since": arrest}
        assert [k.target.id for k in await posts.review_removal(ctx, "yard", **removing)] == [fake.id]
        clock.advance(91 * 86400)  # 90 days after the deletion arrived, it goes
        await ctx.store.purge_expired()
        assert await ctx.store.withdrawn(TURNED.public_key_hex) == []


async def test_a_flood_made_after_the_arrest_does_not_push_the_honest_record_out(tmp_path: Path) -> None:
    """The police, with the key, publish 1,000 retractions dated after the honest one (before the arrest) and delete
    them (10 requests), then the honest retraction: 1,011 events. The records of the amendments that reached the
    node last went first only by date, so the honest one was dropped; now those that arrived last go first."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        address = await _yard(ctx)
        made = laundering(address, NOW)
        fake, honest, arrest = made["fake"], made["honest"], made["arrest"]
        await ctx.ingest([fake, honest])
        flood = [
            _retraction(TURNED, address, fake, f"x{i}", arrest - 1000 + i % 900) for i in range(WITHDRAWN_PER_AUTHOR)
        ]
        await ctx.ingest(flood)
        for start in range(0, len(flood), 100):
            await ctx.ingest([sign_event(TURNED, kinds.DELETION, "", [["e", e.id] for e in flood[start : start + 100]],
                                         created_at=arrest - 60)])  # fmt: skip
        await ctx.ingest([sign_event(TURNED, kinds.DELETION, "", [["e", honest.id]], created_at=arrest - 60)])
        removing = {"remove": [TURNED.public_key_hex], "since": arrest}
        [kept] = await posts.review_removal(ctx, "yard", **removing)
        assert honest.id in [w.id for w in kept.withdrawn]
        await posts.change_admins(ctx, "yard", add=[], role="admin", keep=[honest.id], **removing)
        assert await _statuses(ctx, fake.id) == {fake.id: "retracted"}
