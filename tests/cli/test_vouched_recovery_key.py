"""Red team, the owner key seized and a definition backdated: the police hold the channel owner's device and, with
its owner key, sign a definition naming a recovery key of their own, dated before the real one, and a seizure claim
by that key pointing at a channel of theirs. The owner, with the real recovery file, says from a new node that the
key was seized and where the channel goes on. A reader who never saw the channel before (a new phone, its first
bundle after the seizure) honours the oldest definition naming a recovery key: the police's. A verifier vouched
for the channel before the seizure, and its vouch named the recovery key it saw; a new reader who trusts that
verifier is pointed at the real successor (docs/safety.md, "When the owner's key is seized").

Everything is the real command line on real homes, events moving between them as bundle files; only what the
police run on the seized device is Python (they hold the key, they need no Samizdat command)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cli_e2e import e2e
from test_channel_recovery import create_with_recovery

from samizdat.core import nip19
from samizdat.core.channel import build_channel_event, parse_channel, rebuild_channel
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.core.recovery import build_claim
from samizdat.node import Node
from samizdat.services import channels
from samizdat.testing import TEST_PASSPHRASE, node_keys

NAME = "Block 7 yard"
PASSWORD = "a long recovery password kept elsewhere"
FAKE = "Everyone to the square at 18:00, bring flags"


async def _police_backdate(home: Path, address: str) -> tuple[int, str]:
    """What the police do with the unlocked device: a definition naming their own recovery key dated before the
    real one (it goes only into their claim: a store keeps the newest version), a newer one naming it too, a
    fake post, and their key's claim that the channel goes on at theirs, from before the real definition on.
    Returns the fake post's date and the police channel's address."""
    police_recovery, police_owner = SecretKey.generate(), SecretKey.generate()
    node = await Node.open(home, keys=node_keys(home))
    try:
        ctx = node.ctx
        channel = await channels.lookup(ctx, address)
        assert channel is not None
        real_at = channel.event.created_at
        theirs = build_channel_event(police_owner, "yard", NAME, created_at=ctx.now())
        police_channel = parse_channel(theirs).address
        # rebuild_channel would date it after the current version: the police sign it by hand.
        backdated = build_channel_event(ctx.key, "yard", NAME, created_at=real_at - 100, geohash=channel.geohash,
                                        recovery=police_recovery.public_key_hex)  # fmt: skip
        # A second after the vouch at least: a vouch dated at or after the claim's --since (the fake's date)
        # proves nothing, and the commands before may all run within one second.
        now = max(ctx.now() + 1, real_at + 1)
        newer = rebuild_channel(ctx.key, channel, created_at=now, recovery=police_recovery.public_key_hex)
        fake = build_post(ctx.key, channel, "news", FAKE, created_at=now)
        claim = build_claim(police_recovery, backdated, police_channel, since=real_at - 50, created_at=now,
                            message="Our phone was taken. Follow us at the new address.")  # fmt: skip
        await ctx.ingest([theirs, newer, fake, claim])
        return fake.created_at, police_channel
    finally:
        await node.close()


def seizure(tmp_path: Path, *, posts: Sequence[str] = ()) -> dict[str, Any]:
    """The scene: the channel made with a recovery file (and ``posts`` by its owner); a verifier's vouch before the
    seizure (vouch.smz, naming the real recovery key); the police's backdated definition, fake post and claim
    (police.smz); the owner's real claim from a new node (claim.smz); and what was read before the seizure
    (before.smz), all in ``tmp_path``."""
    owner, verifier, police, fresh = (e2e.Cli(tmp_path / n) for n in ("owner", "verifier", "police", "fresh"))
    for cli in (owner, verifier, fresh):
        cli.ok("init")
    recovery_file, made = create_with_recovery(owner, tmp_path)
    old = made.json()
    for text in posts:
        owner.ok("post", "yard", text)
    owner.ok("export", "-o", str(tmp_path / "before.smz"))

    # Before the seizure, a verifier meets the admins and vouches for the channel as it reads it.
    verifier.ok("import", str(tmp_path / "before.smz"))
    said = verifier.ok("vouch", old["naddr"], "--reason", "We met the admins in person").out
    assert f"recovery key {old['recovery']}" in said  # the key its vouch names, which new readers honour
    verifier.ok("export", "-o", str(tmp_path / "vouch.smz"))

    # The police copy the unlocked device and act as the owner, backdating.
    shutil.copytree(owner.home, police.home)
    fake_at, police_channel = asyncio.run(_police_backdate(police.home, old["address"]))
    police.ok("export", "-o", str(tmp_path / "police.smz"))

    # The owner, on a new device, makes the new channel and uses the recovery file from the stick.
    new = fresh.json("channel", "create", "yard", "--name", NAME, "--geohash", "u9edp2")
    claimed = fresh.typed([PASSWORD, TEST_PASSPHRASE], "channel", "seized", old["naddr"], "--recovery-file",
                          str(recovery_file), "--successor", new["naddr"], "--since", str(fake_at))  # fmt: skip
    assert claimed.code == 0, claimed.err
    fresh.ok("export", "-o", str(tmp_path / "claim.smz"))
    return {"old": old, "new": new, "police_channel": police_channel, "recovery": nip19.npub_decode(old["recovery"]),
            "verifier": verifier.json("keys", "show")["npub"]}  # fmt: skip


def test_a_new_reader_trusting_a_verifier_is_not_misled_by_a_backdated_definition(tmp_path: Path) -> None:
    world = seizure(tmp_path, posts=["The water is back on"])
    old, new, police_channel = world["old"], world["new"], world["police_channel"]
    hub, reader, loner = (e2e.Cli(tmp_path / n) for n in ("hub", "reader", "loner"))
    for cli in (hub, reader, loner):
        cli.ok("init")

    # Everything meets on a hub; new phones get one bundle from it, after the seizure.
    hub.ok("import", str(tmp_path / "vouch.smz"), str(tmp_path / "police.smz"), str(tmp_path / "claim.smz"))
    hub.ok("export", "-o", str(tmp_path / "after.smz"))
    reader.ok("follow", world["verifier"])
    for cli in (reader, loner):
        cli.ok("import", str(tmp_path / "after.smz"))

    # The reader who trusts the verifier is pointed at the real successor, and the fake is not the channel's.
    text = reader.ok("feed", old["address"]).out
    lines = text.splitlines()
    assert lines[0].startswith("!! THIS CHANNEL'S OWNER KEY WAS SEIZED")
    assert new["address"] in lines[1]
    assert police_channel not in text
    assert FAKE not in text
    shown = reader.json("channel", "show", old["address"])
    assert shown["successor"] == new["address"]

    # Not handled: a new reader who trusts no verifier honours the backdated definition's key, as before.
    misled = loner.json("channel", "show", old["address"])
    assert misled["successor"] == police_channel
