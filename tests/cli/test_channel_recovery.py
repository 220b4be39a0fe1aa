"""Red team, the owner key seized: the police hold the channel owner's device, unlock it, post a fake call to the
square as the channel and publish a definition without the recovery key. The owner, with the recovery file kept
elsewhere, says from a new node that the key was seized and where the channel continues. A reader who followed
the channel before then sees the warning first, no longer sees the fake as the channel's, and can follow the new
channel without it being refused as a look-alike (docs/safety.md, "When the owner's key is seized").

Everything is the real command line on real homes, events moving between them as bundle files; only what the
police run on the seized device is Python (they hold the key, they need no Samizdat command)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

from cli_e2e import e2e

from samizdat.core.channel import rebuild_channel
from samizdat.core.posts import build_post
from samizdat.node import Node
from samizdat.services import channels
from samizdat.testing import TEST_PASSPHRASE, node_keys

NAME = "Block 7 yard"
PASSWORD = "a long recovery password kept elsewhere"
FAKE = "Everyone to the square at 18:00, bring flags"


async def _police_on_the_seized_device(home: Path, address: str) -> int:
    """What the police do with the unlocked device: a fake post as the owner, and a definition that drops the
    recovery key and renames the channel. Returns the fake post's date."""
    node = await Node.open(home, keys=node_keys(home))
    try:
        ctx = node.ctx
        channel = await channels.lookup(ctx, address)
        assert channel is not None
        fake = build_post(ctx.key, channel, "news", FAKE, created_at=ctx.now())
        dropped = rebuild_channel(ctx.key, channel, created_at=ctx.now(), name=f"{NAME} (official)", recovery="")
        await ctx.ingest([fake, dropped])
        return fake.created_at
    finally:
        await node.close()


def create_with_recovery(owner: Any, tmp_path: Path) -> tuple[Path, Any]:
    """``owner`` makes the channel "yard" with its recovery file on a stick (``tmp_path/stick``): the file, and
    the command's result."""
    recovery_file = tmp_path / "stick" / "yard.recovery"
    recovery_file.parent.mkdir()
    made = owner.typed([TEST_PASSPHRASE, PASSWORD], "channel", "create", "yard", "--name", NAME, "--geohash", "u9edp2",
                       "--recovery-file", str(recovery_file), "--json")  # fmt: skip
    assert made.code == 0, made.err
    return recovery_file, made


def test_a_recovery_claim_takes_the_channel_back_from_a_seized_owner_key(tmp_path: Path) -> None:
    owner, reader, fresh, police = (e2e.Cli(tmp_path / n) for n in ("owner", "reader", "fresh", "police"))
    for cli in (owner, reader, fresh):
        cli.ok("init")
    recovery_file, made = create_with_recovery(owner, tmp_path)
    old = made.json()
    assert "move the recovery file off this device" in made.err
    assert recovery_file.read_text().count("ncryptsec1") == 1
    assert PASSWORD not in recovery_file.read_text()
    owner.ok("post", "yard", "The water is back on")
    owner.ok("export", "-o", str(tmp_path / "before.smz"))
    reader.ok("follow", old["naddr"])
    reader.ok("import", str(tmp_path / "before.smz"))
    assert "The water is back on" in reader.ok("feed").out  # the reader's node sees the recovery key here

    # The police copy the unlocked device and act as the owner.
    shutil.copytree(owner.home, police.home)
    fake_at = asyncio.run(_police_on_the_seized_device(police.home, old["address"]))
    police.ok("export", "-o", str(tmp_path / "police.smz"))
    reader.ok("import", str(tmp_path / "police.smz"))
    assert FAKE in reader.ok("feed").out  # before the claim, the fake is the channel's: the attack works

    # The owner, on a new device, makes the new channel and uses the recovery file from the stick.
    new = fresh.json("channel", "create", "yard", "--name", NAME, "--geohash", "u9edp2")
    claimed = fresh.typed([PASSWORD, TEST_PASSPHRASE], "channel", "seized", old["naddr"], "--recovery-file",
                          str(recovery_file), "--successor", new["naddr"], "--since", str(fake_at))  # fmt: skip
    assert claimed.code == 0, claimed.err
    fresh.ok("export", "-o", str(tmp_path / "claim.smz"))
    reader.ok("import", str(tmp_path / "claim.smz"))

    text = reader.ok("feed").out
    lines = text.splitlines()
    assert lines[0].startswith("!! THIS CHANNEL'S OWNER KEY WAS SEIZED")
    assert new["address"] in lines[1]
    assert FAKE not in text
    water = next(line for line in lines if "The water is back on" in line or "by the former owner" in line)
    assert "by the former owner" in water
    items = reader.json("feed", "--all")
    fake = next(i for i in items if i["text"] == FAKE)
    assert fake["status"] == "revoked"
    shown = reader.json("channel", "show", old["address"])
    assert shown["name"] == NAME  # the police's renamed definition, dated after the seizure, does not count
    assert shown["successor"] == new["address"]

    # The new channel has the same name and another key, yet is followed without --anyway: the claim links them.
    followed = reader.ok("follow", new["naddr"])
    assert "Following channel yard" in followed.out
    seized = [line for line in reader.ok("channel", "list").out.splitlines() if "OWNER KEY SEIZED" in line]
    assert len(seized) == 1
    assert new["address"] in seized[0]
    listed = {row["address"]: row for row in reader.json("channel", "list")}
    assert listed[new["address"]]["collides_with"] == []


def test_a_new_reader_meets_the_claim_too_and_a_bad_password_is_one_sentence(tmp_path: Path) -> None:
    owner = e2e.Cli(tmp_path / "owner")
    owner.ok("init")
    recovery_file = tmp_path / "yard.recovery"
    made = owner.typed([TEST_PASSPHRASE, PASSWORD], "channel", "create", "yard", "--name", NAME,
                       "--recovery-file", str(recovery_file), "--json")  # fmt: skip
    assert made.code == 0, made.err
    old = made.json()
    again = owner.typed([TEST_PASSPHRASE, PASSWORD], "channel", "recovery", "yard", "--recovery-file",
                        str(tmp_path / "second.recovery"))  # fmt: skip
    assert again.code == 1
    assert "names a recovery key already" in again.err
    wrong = owner.typed(["not the password", TEST_PASSPHRASE], "channel", "seized", old["address"],
                        "--recovery-file", str(recovery_file), "--successor", old["address"])  # fmt: skip
    assert wrong.code == 1
    assert [line for line in wrong.err.splitlines() if line.strip()][0].startswith("error: wrong password")
