"""Red team, round 11 (``docs/safety.md``): the operator's admin endpoint that round 10 built, attacked.

The operator's admin requests (services/operator_admins.py): a browser on the hub's Wi-Fi with an operator
session, or the owner in two tabs, sends two changes at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from test_operator_admins_service import EDITOR, NOW, TURNED, history

from samizdat.services import channels, operator_admins
from samizdat.testing import FakeClock, test_node


async def test_two_removals_at_once_both_hold(tmp_path: Path) -> None:
    """Before: both requests built the new definition from the same one, in the same second, and the one with the
    lower id won (NIP-01): when it was stored second, it replaced the first and that removal was silently lost
    (its answer said done; the police's key stayed an admin on every relay); when stored first, the other request
    failed ("a newer version of this event is stored"). Now one node's admin changes are made one at a time."""
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        made = await history(ctx, clock)
        answers = await asyncio.gather(
            operator_admins.change(ctx, made["address"], remove=TURNED.public_key_hex, since=made["arrest"], drop=[]),
            operator_admins.change(ctx, made["address"], remove=EDITOR.public_key_hex),
        )
        channel = await channels.resolve(ctx, made["address"])
        assert set(channel.revoked) == {TURNED.public_key_hex, EDITOR.public_key_hex}, answers
        assert not channel.admins
