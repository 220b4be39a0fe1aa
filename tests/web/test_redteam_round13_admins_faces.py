"""Red team, round 13 (docs/safety.md), through the command line (real ``samizdat`` commands): the police time a
backdated retraction of an editor's genuine warning, made with an arrested admin's key, for the window between
the owner's ``--review`` and the removal. Before, the removal named what to leave out (``--drop``) and kept the
rest, the retraction the review never showed too: the warning stayed retracted under the owner's signature. Now
nothing of others' posts is kept that the owner did not name (``--keep ID``, ``--keep-all``, ``--keep-none``),
and ``--drop`` alone is refused with a sentence naming them (the phone: tests/services/test_redteam_round13_admins.py).
"""

from __future__ import annotations

import time
from pathlib import Path

from test_laundered_retraction_faces import WARNING
from test_operator_admins import _post, definition, statuses, store, turned_yard

from samizdat.core import nip19


def test_a_retraction_arriving_between_the_review_and_the_removal_is_not_kept(tmp_path: Path) -> None:
    home = tmp_path / "home"
    setup = turned_yard(home)
    cli, yard, editor = setup["cli"], setup["yard"], setup["editor"]
    now = int(time.time())
    warning = _post(editor, yard, "alert", WARNING, now - 3600, ["location", "Lenina 5"],
                    ["expiration", str(now + 86400)])  # fmt: skip
    store(home, [warning])
    removal = ("channel", "admins", "yard", "--remove", nip19.npub_encode(setup["turned"].public_key_hex),
               "--since", str(setup["arrest"]))  # fmt: skip
    fake = setup["fake"].id
    [listed] = cli.json(*removal, "--review")
    assert listed["target"] == fake
    [honest] = listed["amendments"]
    # The window: the police's retraction of the warning, dated before the arrest, reaches the node.
    silenced = _post(setup["turned"], yard, "retraction", "All clear now", setup["arrest"] - 600,
                     ["e", warning.id, "", "retraction", editor.public_key_hex])  # fmt: skip
    store(home, [silenced])
    assert statuses(cli, fake, warning.id) == {fake: "retracted", warning.id: "retracted"}
    # Round 12's way (name what to leave out, keep the rest) chooses nothing of others' posts now: refused.
    refused = cli.fails(*removal, "--drop", honest[:12])
    assert "--keep ID for each one to keep (repeatable), --keep-all or --keep-none" in refused.err
    assert definition(cli)[1] == []
    done = cli.ok(*removal, "--keep", honest[:12])
    assert "Kept 2 retraction(s) or correction(s)" not in done.out
    assert statuses(cli, fake, warning.id) == {fake: "retracted", warning.id: "valid"}
