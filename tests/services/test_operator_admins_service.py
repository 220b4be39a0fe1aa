"""The operator login's admin removal (services/operator_admins.py) is the command line's: on two nodes holding
the same channel history, one removing the arrested admin as ``samizdat channel admins --remove --since`` does
(``posts.change_admins``), the other as the phone does, readers see the same feed afterwards, the same key
revoked from the same moment, the same amendment kept (the owner having chosen to keep it: ``drop`` empty). Refusals
sign nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from samizdat.cli.render import post_json
from samizdat.core import nip19
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.errors import UsageError
from samizdat.services import feed, operator_admins, posts
from samizdat.services.context import Context
from samizdat.testing import FakeClock, test_node

NOW = 1_800_000_000
TURNED, EDITOR = SecretKey(bytes([41]) * 32), SecretKey(bytes([42]) * 32)


def _post(key: SecretKey, address: str, post_type: str, text: str, at: int, *tags: list[str]) -> Event:
    return sign_event(key, 2333, text, [["a", address, ""], ["type", post_type], *tags], created_at=at)


async def history(ctx: Context, clock: FakeClock) -> dict[str, Any]:
    """The honest admin retracted the editor's fake safe place; after the arrest the police post with its key."""
    channel, _ = await posts.create_channel(ctx, "yard", "Yard")
    await posts.change_admins(ctx, "yard", add=[TURNED.public_key_hex], role="admin", remove=[], since=None)
    await posts.change_admins(ctx, "yard", add=[EDITOR.public_key_hex], role="editor", remove=[], since=None)
    fake = _post(EDITOR, channel.address, "safe-place", "Doctors here", NOW + 100, ["location", "Lenina 40"])
    withdrawn = _post(TURNED, channel.address, "retraction", "A police trap", NOW + 200,
                      ["e", fake.id, "", "retraction", EDITOR.public_key_hex])  # fmt: skip
    police = _post(TURNED, channel.address, "news", "Everyone to the square", NOW + 1000)
    await ctx.ingest([fake, withdrawn, police])
    clock.advance(2000)
    return {"address": channel.address, "fake": fake.id, "police": police.id, "arrest": NOW + 900}


async def seen(ctx: Context) -> dict[tuple[str | None, str | None], str]:
    """The feed as a reader sees it, by (author, text), so two nodes' feeds compare."""
    return {(i["author"], i["text"]): i["status"] for i in (post_json(x) for x in await feed.feed(ctx, "yard"))}


async def test_the_phone_and_the_command_line_remove_an_admin_alike(tmp_path: Path) -> None:
    results = []
    for name, phone in (("cli", False), ("phone", True)):
        clock = FakeClock(NOW)
        async with test_node(tmp_path / name, clock=clock, sleep=clock.sleep) as node:
            ctx = node.ctx
            made = await history(ctx, clock)
            if phone:
                answer = await operator_admins.change(ctx, made["address"], remove=TURNED.public_key_hex,
                                                      since=made["arrest"], drop=[])  # fmt: skip
                kept, revoked = answer["kept"], answer["revoked"]
            else:
                removing = [TURNED.public_key_hex]
                channel, result = await posts.change_admins(ctx, "yard", add=[], role="admin", remove=removing,
                                                            since=made["arrest"], keep_all=True)  # fmt: skip
                assert result is not None
                kept, revoked = len(result.ids) - 1, dict(channel.revoked)
            results.append((kept, revoked, await seen(ctx)))
    assert results[0] == results[1]
    kept, revoked, shown = results[1]
    assert kept == 1
    assert revoked == {TURNED.public_key_hex: NOW + 900}
    assert all(text != "Everyone to the square" for _, text in shown)  # revoked from the arrest on
    assert shown[(nip19.npub_encode(EDITOR.public_key_hex), "Doctors here")] == "retracted"  # kept withdrawn


async def test_refusals_sign_nothing(tmp_path: Path) -> None:
    clock = FakeClock(NOW)
    async with test_node(tmp_path / "node", clock=clock, sleep=clock.sleep) as node:
        ctx = node.ctx
        made = await history(ctx, clock)
        before = await operator_admins.list_admins(ctx, made["address"])
        for kwargs, error in [
            ({"remove": ctx.pubkey}, "the owner cannot be removed"),
            ({"remove": SecretKey(bytes([43]) * 32).public_key_hex}, "not an admin"),
            ({"remove": TURNED.public_key_hex, "since": ctx.now() + 60}, "cannot start in the future"),
            ({"remove": TURNED.public_key_hex, "since": 1_000_000}, "before 2020"),
            ({"add": ctx.pubkey}, "the owner is always an admin"),
            ({"add": TURNED.public_key_hex, "since": NOW}, "only with a removal"),
            ({}, "give one key"),
            # The retraction of the editor's post is another's post's: kept only once the owner chose (round 12).
            ({"remove": TURNED.public_key_hex}, "1 retraction.* of others' posts"),
            ({"remove": TURNED.public_key_hex, "drop": ["ab" * 32]}, "not one of the retractions or corrections"),
            ({"add": TURNED.public_key_hex, "drop": []}, "only with a removal"),
        ]:
            with pytest.raises(UsageError, match=error):
                await operator_admins.change(ctx, made["address"], **kwargs)
        assert await operator_admins.list_admins(ctx, made["address"]) == before
        # From now on when no time is given, as `--remove` without `--since`.
        answer = await operator_admins.change(ctx, made["address"], remove=TURNED.public_key_hex, drop=[])
        assert answer["revoked"] == {TURNED.public_key_hex: ctx.now()}
