"""Red team round 4, the look-alike channel on the command line. A police-run copy of a district's channel takes
its name with letters of the other alphabet that look the same only in capitals (Latin M, H, C in "MИHCK") or
in lower case (Cyrillic г for r), and spreads by bundle files and links.

- A reader who follows nothing yet (a first import from a stranger's USB stick) saw both channels listed with
  no word that another channel had the same name; and "MИHCK" was not even taken for "Минск".
- ``samizdat feed`` of the copy's link showed its posts (a fake lawyer's number) under the real name, with no
  word that the reader follows another channel of that name.
- ``samizdat follow`` of the copy's link, by a reader who follows the real one, followed it without a word: from
  then on the copy was "followed" and the *real* channel was the one listed "not the channel you follow".

Real processes (``samizdat --home ...`` as a person runs it) and bundle files carry the channels, as in
tests/e2e/test_cli_vouch.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli_e2e import e2e

PLACE = "BY/Minsk/Frunzenski"


def _people(
    tmp_path: Path, real_name: str, fake_name: str, fake_place: str = PLACE
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """A reader who has imported the real channel and its copy (each with a post), and the two channels."""
    owner, police, reader = (e2e.Cli(tmp_path / name) for name in ("owner", "police", "reader"))
    for cli in (owner, police, reader):
        cli.ok("init")
    real = owner.json("channel", "create", "frunzenski", "--name", real_name, "--place", PLACE)
    fake = police.json("channel", "create", "frunzenski", "--name", fake_name, "--place", fake_place)
    owner.ok("post", "frunzenski", "Lawyer on duty today: +375 29 111 22 33")
    police.ok("post", "frunzenski", "Lawyer on duty today: +375 29 999 00 00")
    owner.ok("export", "-o", str(tmp_path / "owner.smz"))
    police.ok("export", "-o", str(tmp_path / "police.smz"))
    reader.ok("import", str(tmp_path / "owner.smz"), str(tmp_path / "police.smz"))
    return reader, real, fake


def test_a_new_reader_is_told_that_two_channels_share_a_name(tmp_path: Path) -> None:
    reader, real, fake = _people(tmp_path, "Минск news", "MИHCK news")  # Latin M, H and C

    rows = {row["address"]: row for row in reader.json("channel", "list")}
    for mine, other in ((real, fake), (fake, real)):  # nothing tells which is real: both are marked
        assert rows[mine["address"]]["twinned"] is True
        assert [o["address"] for o in rows[mine["address"]]["lookalikes"]] == [other["address"]]

    text = reader.ok("channel", "list").out
    blocks = [line for line in text.splitlines() if line.startswith("!!")]
    assert len(blocks) == 2
    assert all("ANOTHER CHANNEL HAS THIS NAME" in line for line in blocks)
    shown = reader.ok("channel", "show", fake["naddr"], "--no-qr").out
    assert shown.splitlines()[0].startswith("!! ANOTHER CHANNEL HAS THIS NAME: Минск news")


def test_following_a_look_alikes_link_is_refused_unless_the_reader_insists(tmp_path: Path) -> None:
    reader, real, fake = _people(tmp_path, "Frunzensky district", "Fгunzensky district")  # a Cyrillic г
    reader.ok("follow", real["naddr"])

    refused = reader.fails("follow", fake["naddr"])
    assert "not followed" in refused.err
    assert "not the channel you follow" in refused.err
    rows = {row["address"]: row for row in reader.json("channel", "list")}
    assert rows[fake["address"]]["relation"] == "carried"
    assert (rows[fake["address"]]["warned"], rows[real["address"]]["warned"]) == (True, False)
    # The one the reader trusts comes first, the look-alike after it.
    order = [row["address"] for row in reader.json("channel", "list")]
    assert order.index(real["address"]) < order.index(fake["address"])

    # Its posts, read by its link, come after the warning: the lawyer's number is not the real channel's.
    feed = reader.ok("feed", fake["naddr"]).out
    assert feed.splitlines()[0].startswith("!! NOT THE CHANNEL YOU FOLLOW")
    assert feed.index("NOT THE CHANNEL") < feed.index("+375 29 999 00 00")
    assert not reader.ok("feed", real["naddr"]).out.startswith("!!")

    insisted = reader.ok("follow", fake["naddr"], "--anyway").out
    assert insisted.splitlines()[0].startswith("!! NOT THE CHANNEL YOU FOLLOW")
    assert "Fingerprint:" in insisted


def test_a_name_a_letter_away_in_another_place_is_refused_and_marked_too(tmp_path: Path) -> None:
    """Red team round 6: a letter dropped ("Фрунзеский"), and another place, passed unmarked."""
    reader, real, fake = _people(tmp_path, "Фрунзенский район", "Фрунзеский район", "BY/Minsk")
    reader.ok("follow", real["naddr"])
    refused = reader.fails("follow", fake["naddr"])
    assert "not the channel you follow" in refused.err
    feed = reader.ok("feed", fake["naddr"]).out
    assert feed.splitlines()[0].startswith(
        "!! NOT THE CHANNEL YOU FOLLOW: another key, made to look like Фрунзенский район"
    )
    assert feed.index("NOT THE CHANNEL") < feed.index("+375 29 999 00 00")
