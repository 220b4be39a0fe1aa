"""Red team, round 14: a node that could not note a channel's first recovery key (a full disk, a damaged state
file) wrote the channel's address (its owner's key and short name) in a WARNING, the log level a seized laptop's
journal keeps (docs/safety.md, "What the log says"): now the warning names no channel, and ``-v`` does."""

from __future__ import annotations

import logging
import time

import pytest

from samizdat.core.channel import build_channel_event
from samizdat.core.keys import SecretKey
from samizdat.errors import StoreError
from samizdat.services import channels
from samizdat.services.context import Context


async def test_a_recovery_key_not_noted_names_no_channel_in_the_log(
    ctx: Context, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner, recovery = SecretKey.generate(), SecretKey.generate()
    definition = build_channel_event(owner, "yard7731", "Yard", created_at=int(time.time()) - 100,
                                     recovery=recovery.public_key_hex)  # fmt: skip
    await ctx.store.add(definition)
    address = channels.address_of(definition)

    def full(*args: object, **kwargs: object) -> bool:
        raise StoreError("the node state could not be updated: database or disk is full")

    monkeypatch.setattr(ctx.local, "remember_recovery_key", full)
    caplog.set_level(logging.INFO)
    judgement = await channels.judged(ctx, address)
    assert judgement.remember == recovery.public_key_hex  # reading went on
    kept = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("could not remember" in line and "disk is full" in line for line in kept), kept
    assert not [line for line in kept if owner.public_key_hex in line or "yard7731" in line], kept
    assert any(address in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)
