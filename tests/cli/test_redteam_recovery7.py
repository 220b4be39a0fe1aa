"""Red team round 7, the fake channel and the lying relay on the command line (docs/safety.md, "Red team, round 7").

- A reader whose node already remembered a recovery key (the first it saw the channel name: here the police's,
  from a bundle handed out after the seizure) was never told that a verifier it trusts vouched for the channel
  naming another recovery key: its node did not even read the vouches once it remembered a key.
- A reader who remembered the real key, and trusts a verifier the police fooled (or hold the key of), must not
  be switched by that verifier's one vouch, and is told of it too.
- "ANOTHER CHANNEL HAS THIS NAME" was said of a channel whose name is only a letter away from another's.

Everything is the real command line on real homes, events moving between them as bundle files; what the police
run on the seized device is Python (test_vouched_recovery_key.py)."""

from __future__ import annotations

from pathlib import Path

from cli_e2e import e2e
from test_redteam_impostor import _people
from test_vouched_recovery_key import seizure

from samizdat.core import nip19
from samizdat.core.display import fingerprint


def test_a_remembered_police_key_is_disputed_by_a_trusted_vouch_and_not_switched(tmp_path: Path) -> None:
    world = seizure(tmp_path)
    old, new = world["old"], world["new"]
    reader = e2e.Cli(tmp_path / "reader")
    reader.ok("init")
    # The reader's first sight of the channel is the police's bundle: its node remembers their recovery key.
    reader.ok("import", str(tmp_path / "police.smz"))
    reader.ok("follow", old["naddr"])
    assert reader.json("channel", "show", old["address"])["successor"] == world["police_channel"]

    # Later it trusts a verifier who vouched before the seizure, naming the real key, and gets the real claim.
    reader.ok("follow", world["verifier"])
    reader.ok("import", str(tmp_path / "vouch.smz"), str(tmp_path / "claim.smz"))
    shown = reader.json("channel", "show", old["address"])
    assert shown["successor"] == world["police_channel"]  # no vouch switches the key a node remembered...
    [dispute] = shown["recovery_disputes"]  # ...but the reader is told
    assert dispute["fingerprint"] == fingerprint(world["recovery"])
    assert dispute["verifiers"] == [world["verifier"]]
    assert dispute["successor"] == new["address"]

    text = reader.ok("feed", old["address"]).out
    head = text[: text.index("!! Only the key")]
    assert "!! RECOVERY KEYS DISAGREE" in head
    assert world["verifier"] in head
    assert fingerprint(world["recovery"]) in head
    assert new["address"] in head
    assert world["police_channel"] in head
    assert "samizdat follow" not in head  # no command to follow either: the reader decides
    assert "RECOVERY KEYS DISAGREE" in reader.ok("channel", "list").out


def test_one_fooled_verifier_cannot_switch_a_reader_who_remembered_the_real_key(tmp_path: Path) -> None:
    world = seizure(tmp_path)
    old, new = world["old"], world["new"]
    reader, fooled = e2e.Cli(tmp_path / "reader"), e2e.Cli(tmp_path / "fooled")
    for cli in (reader, fooled):
        cli.ok("init")
    # A verifier who first saw the channel in the police's bundle vouches naming the police's recovery key.
    fooled.ok("import", str(tmp_path / "police.smz"))
    said = fooled.ok("vouch", old["naddr"]).out
    assert world["recovery"] not in said
    assert nip19.npub_encode(world["recovery"]) not in said
    fooled.ok("export", "-o", str(tmp_path / "fooled.smz"))

    reader.ok("import", str(tmp_path / "before.smz"))
    assert reader.json("channel", "show", old["address"]).get("recovery_disputes") is None
    reader.ok("follow", fooled.json("keys", "show")["npub"])
    reader.ok("import", str(tmp_path / "fooled.smz"), str(tmp_path / "claim.smz"))
    shown = reader.json("channel", "show", old["address"])
    assert shown["successor"] == new["address"]
    assert [d["successor"] for d in shown["recovery_disputes"]] == [world["police_channel"]]
    assert shown["recovery_honoured"]["fingerprint"] == fingerprint(world["recovery"])
    lines = reader.ok("channel", "show", old["address"], "--no-qr").out.splitlines()
    assert lines[0].startswith("!! THIS CHANNEL'S OWNER KEY WAS SEIZED")
    assert any(line.startswith("!! RECOVERY KEYS DISAGREE") for line in lines)


def test_a_name_only_alike_is_not_said_to_be_the_same_name(tmp_path: Path) -> None:
    reader, real, fake = _people(tmp_path, "Фрунзенский район", "Фрунзеский район", "BY/Minsk")
    text = reader.ok("channel", "list").out
    blocks = [line for line in text.splitlines() if line.startswith("!!")]
    assert len(blocks) == 2
    assert all("HAS A NAME LIKE THIS ONE" in line and "HAS THIS NAME" not in line for line in blocks)
    rows = {row["address"]: row for row in reader.json("channel", "list")}
    assert rows[fake["address"]]["lookalikes"][0]["likeness"] == "alike"
    # The same name (look-alike letters) is still said to be the same.
    (tmp_path / "same").mkdir()
    twin, _, _ = _people(tmp_path / "same", "Минск news", "MИHCK news")
    assert "!! ANOTHER CHANNEL HAS THIS NAME" in twin.ok("channel", "list").out


def test_verifiers_vouching_for_two_channels_named_alike_are_said_to_disagree(tmp_path: Path) -> None:
    """A verifier the reader trusts, fooled or with its key in other hands, vouches for the police's copy: both
    channels were then "NOT THE CHANNEL YOUR VERIFIERS VOUCH FOR", the real one too, and following it was refused
    as a look-alike's."""
    reader, real, fake = _people(tmp_path, "Фрунзенский район", "Фрунзенский район")
    honest, fooled = e2e.Cli(tmp_path / "honest"), e2e.Cli(tmp_path / "fooled")
    for verifier, channel in ((honest, real), (fooled, fake)):
        verifier.ok("init")
        verifier.ok("import", str(tmp_path / "owner.smz"), str(tmp_path / "police.smz"))
        verifier.ok("vouch", channel["naddr"])
        verifier.ok("export", "-o", str(tmp_path / f"{verifier.home.name}.smz"))
        reader.ok("follow", verifier.json("keys", "show")["npub"])
    reader.ok("import", str(tmp_path / "honest.smz"), str(tmp_path / "fooled.smz"))
    honest_npub, fooled_npub = (v.json("keys", "show")["npub"] for v in (honest, fooled))

    for mine, mine_by, other_by in ((real, honest_npub, fooled_npub), (fake, fooled_npub, honest_npub)):
        first = reader.ok("channel", "show", mine["naddr"], "--no-qr").out.splitlines()[0]
        assert first.startswith(f"!! YOUR VERIFIERS DISAGREE: {mine_by} vouch for this channel, {other_by} for ")
        assert "NOT THE CHANNEL" not in first
    refused = reader.fails("follow", real["naddr"])  # still asked: nothing here tells which one is real
    assert "your verifiers disagree" in refused.err


def test_a_verifier_whose_key_is_disputed_vouches_naming_the_key_it_honours_and_sees_the_dispute(
    tmp_path: Path,
) -> None:
    """A verifier's node that trusts two verifiers who disagree remembers no key (it is disputed); its own vouch
    then named the newest definition's recovery key, which the seized owner key wrote (the police's), instead of
    the key it honours, and said nothing of the dispute."""
    world = seizure(tmp_path)
    old = world["old"]
    fooled, second = e2e.Cli(tmp_path / "fooled"), e2e.Cli(tmp_path / "second")
    for cli in (fooled, second):
        cli.ok("init")
    fooled.ok("import", str(tmp_path / "police.smz"))
    fooled.ok("vouch", old["naddr"])  # after the honest verifier's, naming the police's key
    fooled.ok("export", "-o", str(tmp_path / "fooled.smz"))

    second.ok("follow", world["verifier"])
    second.ok("follow", fooled.json("keys", "show")["npub"])
    second.ok("import", str(tmp_path / "police.smz"), str(tmp_path / "vouch.smz"), str(tmp_path / "fooled.smz"))
    said = second.ok("vouch", old["naddr"]).out
    assert f"recovery key {nip19.npub_encode(world['recovery'])}" in said  # the earliest trusted vouch's
    assert "!! RECOVERY KEYS DISAGREE" in said


def test_a_verifier_followed_is_shown_with_its_fingerprint(tmp_path: Path) -> None:
    """An npub handed on by someone else can be a key ground to share its first and last letters with the real
    verifier's: following it shows the 20-digit fingerprint to compare, as a channel's owner key has."""
    reader, verifier = e2e.Cli(tmp_path / "reader"), e2e.Cli(tmp_path / "verifier")
    for cli in (reader, verifier):
        cli.ok("init")
    npub = verifier.json("keys", "show")["npub"]
    said = reader.ok("follow", npub).out
    assert f"Fingerprint: {fingerprint(nip19.npub_decode(npub))}" in said
