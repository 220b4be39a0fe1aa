"""Red team round 7: one verifier the reader trusts (fooled, or its key in the police's hands) floods vouches. The
node read at most 5,000 vouches (and as many withdrawals) of all its verifiers at once, newest first: the flood
pushed the honest verifier's older vouch out, so the real channel was no longer "vouched" and a copy the flooding
verifier vouches for took its place ("not the channel your verifiers vouch for" said of the real one), and the
honest verifier's vouch naming the real recovery key no longer disputed the one the flood named. Each verifier's
newest vouches are now read on their own: a flood pushes out only its sender's (docs/safety.md, round 7).

On a real node (its store, ingest, the services the CLI and web app call), with the read limit made small so that
a flood is a few hundred events, not thousands."""

from __future__ import annotations

from pathlib import Path

import pytest

from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_vouch
from samizdat.services import channels
from samizdat.testing import FakeClock, test_node

NOW = 1_800_000_000
FLOOD = 120


async def test_one_verifiers_flood_of_vouches_does_not_push_out_anothers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(channels, "MAX_VOUCHES", 100)
    owner, police, honest, flooder = (SecretKey(bytes([60 + i]) * 32) for i in range(4))
    real_recovery, police_recovery = SecretKey(bytes([70]) * 32), SecretKey(bytes([71]) * 32)
    real = parse_channel(build_channel_event(owner, "yard", "Block 7 yard", place="BY/Minsk", created_at=NOW - 900,
                                             recovery=real_recovery.public_key_hex))  # fmt: skip
    fake = parse_channel(build_channel_event(police, "yard", "Block 7 yard", place="BY/Minsk", created_at=NOW - 800))
    vouch = build_vouch(honest, real, "We met the admins", created_at=NOW - 700)
    # The flood: vouches for the copy, and for the real channel naming the police's recovery key, all newer.
    flood = [build_vouch(flooder, fake, "Trust me", created_at=NOW - 600 + i) for i in range(FLOOD)]
    flood += [build_vouch(flooder, real, "Trust me", created_at=NOW - 600 + i, recovery=police_recovery.public_key_hex)
              for i in range(FLOOD)]  # fmt: skip
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        for key in (honest, flooder):
            ctx.local.follow_verifier(key.public_key_hex, clock())
        await ctx.ingest([real.event, fake.event, vouch, *flood])

        vouched = await channels.vouches(ctx)
        assert honest.public_key_hex in vouched[real.address]  # still vouched for by the honest verifier
        entry = await channels.entry(ctx, real)
        assert honest.public_key_hex in entry.vouched_by  # the faces say "your verifiers disagree", not "not the..."

        judged = (await channels.judged(ctx, real.address)).channel
        assert judged is not None
        assert judged.recovery_honoured == real_recovery.public_key_hex  # the earliest vouch's, the honest one's
        assert [d.key for d in judged.recovery_disputes] == [police_recovery.public_key_hex]
