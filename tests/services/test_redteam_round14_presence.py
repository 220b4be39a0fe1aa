"""Red team, round 14: an operator login from a phone set the key slot file's time (which ``[safety]
wipe_after_days`` reads) to the second, readable on a seized device without the passphrase: the owner's last
login, lined up with a raid or a post. Now it is the start of the hour, and the dead man's switch still counts it."""

from __future__ import annotations

import os
import time
from pathlib import Path

from samizdat.services import deadman, keyring
from samizdat.services.keyring import TEST_PARAMS


def test_a_login_leaves_only_its_hour_on_the_key_slot_file_and_still_keeps_the_node_alive(tmp_path: Path) -> None:
    home = tmp_path / "home"
    keyring.create(home, "first", TEST_PARAMS)
    slots = home / "keys.slots"
    then = time.time() - 20 * deadman.DAY
    os.utime(slots, (then, then))
    assert deadman.due(home, 14)
    login = time.time()
    deadman.note_presence(home)
    stamp = slots.stat().st_mtime
    assert stamp % 3600 == 0  # an hour, not the login's minute and second
    assert login - 3600 < stamp <= login
    assert not deadman.due(home, 14)  # the login still counts as presence
    assert deadman.last_presence(home) == stamp
