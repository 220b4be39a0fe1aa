"""A channel is its key, on the command line: an impostor's channel with the same name and place is listed with
"NOT THE CHANNEL YOU FOLLOW" first and another fingerprint; a verifier vouches for the real one, readers who
follow the verifier see it and can list vouched channels only; the verifier withdraws the vouch. Text from the
network is printed without the bidirectional overrides that would turn it around.

Bundle files carry the events between the people here (the owner, an impostor, a verifier, a reader), as USB
sticks would."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from samizdat.core.display import fingerprint

PLACE = "BY/Minsk/Frunzenski"
RLO = "\u202e"


def test_impostor_fingerprint_vouch_and_withdrawal(make_cli: Callable[[str], Any], tmp_path: Path) -> None:
    owner, impostor, verifier, reader = (make_cli(name) for name in ("owner", "impostor", "verifier", "reader"))
    for cli in (owner, impostor, verifier, reader):
        cli.ok("init")
    real = owner.json("channel", "create", "frunzenski", "--name", "Frunzenski district", "--place", PLACE)
    fake = impostor.json("channel", "create", "frunzenski", "--name", "Frunzenski district", "--place", PLACE,
                         "--about", f"Lawyer on duty: +375 {RLO}29 123 45 67")  # fmt: skip
    impostor.ok("post", "frunzenski", f"Meeting cancelled {RLO}stay home")
    owner.ok("export", "-o", str(tmp_path / "owner.smz"))
    impostor.ok("export", "-o", str(tmp_path / "impostor.smz"))
    reader.ok("import", str(tmp_path / "owner.smz"), str(tmp_path / "impostor.smz"))
    reader.ok("follow", real["naddr"])

    # The list says which one is not the followed channel, first, and the fingerprints differ.
    rows = {row["address"]: row for row in reader.json("channel", "list")}
    assert rows[real["address"]]["fingerprint"] == fingerprint(real["address"].split(":")[1])
    assert rows[fake["address"]]["fingerprint"] == fingerprint(fake["address"].split(":")[1])
    assert rows[fake["address"]]["fingerprint"] != rows[real["address"]]["fingerprint"]
    assert (rows[fake["address"]]["warned"], rows[real["address"]]["warned"]) == (True, False)
    assert [c["address"] for c in rows[fake["address"]]["collides_with"]] == [real["address"]]
    listed = reader.ok("channel", "list").out.splitlines()
    warning = next(i for i, line in enumerate(listed) if line.startswith("!! NOT THE CHANNEL YOU FOLLOW"))
    assert rows[real["address"]]["fingerprint"] in listed[warning]  # ... named like the followed one (its key)
    assert rows[fake["address"]]["fingerprint"] in listed[warning + 1]
    followed = next(line for line in listed if line.startswith("followed"))
    assert rows[real["address"]]["fingerprint"] in followed

    shown = reader.ok("channel", "show", fake["naddr"], "--no-qr").out
    assert shown.startswith("!! NOT THE CHANNEL YOU FOLLOW")
    assert f"Fingerprint: {rows[fake['address']]['fingerprint']}" in shown
    assert "Lawyer on duty: +375 29 123 45 67" in shown
    assert RLO not in shown
    assert f"Fingerprint: {rows[real['address']]['fingerprint']}" in reader.ok("channel", "show", "frunzenski").out
    feed = reader.ok("feed", fake["naddr"]).out
    assert "Meeting cancelled stay home" in feed
    assert RLO not in feed

    # A verifier vouches for the real channel; a reader who follows the verifier sees it.
    verifier.ok("import", str(tmp_path / "owner.smz"))
    assert verifier.fails("vouch", fake["naddr"]).err.count("does not have channel") == 1  # what it has not seen
    vouched = verifier.json("vouch", real["naddr"], "--reason", "We met the admins in person")
    assert (vouched["address"], vouched["withdrawn"]) == (real["address"], False)
    assert vouched["fingerprint"] == rows[real["address"]]["fingerprint"]
    verifier.ok("export", "-o", str(tmp_path / "vouch.smz"))
    reader.ok("import", str(tmp_path / "vouch.smz"))
    assert reader.json("channel", "list", "--vouched") == []  # not a verifier the reader trusts yet
    reader.ok("follow", verifier.json("keys", "show")["npub"])
    only = reader.json("channel", "list", "--vouched")
    verifier_npub = verifier.json("keys", "show")["npub"]
    assert [(r["address"], r["vouched_by"]) for r in only] == [(real["address"], [verifier_npub])]
    assert "vouched ×1" in reader.ok("channel", "list", "--vouched").out
    assert "vouched for by 1 verifier you trust" in reader.ok("channel", "show", "frunzenski").out

    # Withdrawn: the vouch no longer counts where the withdrawal arrives.
    withdrawn = verifier.json("vouch", real["naddr"], "--withdraw")
    assert (withdrawn["address"], withdrawn["withdrawn"]) == (real["address"], True)
    assert "you have not vouched for" in verifier.fails("vouch", real["naddr"], "--withdraw").err
    verifier.ok("export", "-o", str(tmp_path / "withdrawn.smz"))
    reader.ok("import", str(tmp_path / "withdrawn.smz"))
    assert reader.json("channel", "list", "--vouched") == []
    assert "No channel here is vouched for" in reader.ok("channel", "list", "--vouched").out
