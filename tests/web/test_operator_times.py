"""The codes file's times (``web-operators``, web/operator.py) are readable without the passphrase on an encrypted
node: a code's creation, expiry and last use, a login record's end. They were kept to the second, and a seized
device's examiner could line a code's last use up with a raid or a post's time. Now every one is kept to the hour;
a code still works as long as it was asked to, never less, and ``samizdat web codes`` still lists them."""

from __future__ import annotations

import os
import re
from pathlib import Path

from web_helpers import Cli

from samizdat.core.keys import SecretKey
from samizdat.core.sealing import NodeKeys
from samizdat.services import operator_codes
from samizdat.web.operator import (
    TOKENS_FILE,
    exchange_code,
    list_codes,
    list_records,
    mark_used,
    new_token,
    note_admin_change,
    revoke_code,
    token_valid,
)
from samizdat.web.operator_changes import AdminChange

MADE = 1_800_001_234  # 20 minutes 34 seconds past an hour
HOUR = 3600


def times_in(home: Path) -> list[int]:
    """Every time the codes file shows a reader without the passphrase (fields 2-4 of a code's line, 2 of a
    record's)."""
    found = []
    for line in (home / TOKENS_FILE).read_text().splitlines():
        fields = line.split()
        found += [int(f) for f in (fields[1:2] if line.startswith("@") else fields[1:4])]
    return found


def test_the_codes_file_keeps_its_times_to_the_hour(tmp_path: Path) -> None:
    operator_codes.use(tmp_path, NodeKeys.derive(os.urandom(32)))  # an encrypted node, unlocked as `serve` is
    try:
        link = new_token(tmp_path, now=MADE, lifetime=2 * HOUR)
        [code] = list_codes(tmp_path)
        session = exchange_code(tmp_path, code.digest, MADE + 65)  # the first login, a minute later
        assert session is not None
        mark_used(tmp_path, list_codes(tmp_path)[0].digest, MADE + 2000)  # a post from the phone
        times = times_in(tmp_path)
        assert times, (tmp_path / TOKENS_FILE).read_text()
        assert all(t % HOUR == 0 for t in times), times
        [used] = list_codes(tmp_path)
        assert used.last_used == MADE // HOUR * HOUR  # "last used" says the hour
        # The code lives as long as it was asked, never less, and not an hour more.
        assert token_valid(tmp_path, session, now=MADE + 2 * HOUR - 1)
        assert not token_valid(tmp_path, session, now=MADE + 3 * HOUR)
        assert not token_valid(tmp_path, link, now=MADE + 70)  # the link was spent all the same

        # A login that changed an admin, revoked: its record's end is kept to the hour too.
        change = AdminChange(f"30333:{'a' * 64}:yard", SecretKey.generate().public_key_hex, (None, None),
                             ("admin", None), MADE // 60 * 60)  # fmt: skip
        note_admin_change(tmp_path, used.id, change)
        revoke_code(tmp_path, used.id)
        [record] = list_records(tmp_path)
        assert record.ended > 0
        assert all(t % HOUR == 0 for t in times_in(tmp_path)), (tmp_path / TOKENS_FILE).read_text()
        # Nothing second-precise anywhere in the readable part of the file.
        assert not re.search(rf"\b{MADE + 2000}\b|\b{MADE + 65}\b|\b{MADE}\b", (tmp_path / TOKENS_FILE).read_text())
    finally:
        operator_codes.forget(tmp_path)


def test_web_codes_lists_a_code_made_with_hour_times(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    made = cli.json("web", "login", "--expires", "2h", "--no-qr")
    [row] = cli.json("web", "codes")
    assert row["id"] == made["id"]
    assert row["created"] % HOUR == 0
    assert row["expires"] % HOUR == 0
    assert row["expires"] == made["expires"]
    assert row["expired"] is False
