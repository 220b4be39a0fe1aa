"""Red team, round 14: the operator login's admin-change record (``web-operators``, web/operator_changes.py) on a
seized, switched-off encrypted node. Its entries are sealed, but the sealed field's length was the entries' own:
without the passphrase it told how long the short names of the channels the login changed were (a channel's
naddr, with its short name, is public on the relays) and whether a key was appointed or removed. Now the sealed
field's length says the number of changes only, in steps, which the line says anyway."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from samizdat.core.keys import SecretKey
from samizdat.core.sealing import NodeKeys
from samizdat.services import operator_codes
from samizdat.web import operator_changes
from samizdat.web.operator_changes import AdminChange

OWNER = SecretKey.generate().public_key_hex
AT = 1796678340


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    """An encrypted node's home, whose key this process holds (as ``serve`` does)."""
    operator_codes.use(tmp_path, NodeKeys.derive(os.urandom(32)))
    try:
        yield tmp_path
    finally:
        operator_codes.forget(tmp_path)


def sealed_field(home: Path, *changes: AdminChange) -> str:
    record = None
    for change in changes:
        record = operator_changes.with_change(home, record, "0bf2ed0c", change)
    assert record is not None
    field = record.line().split()[3]
    assert field.startswith(operator_codes.MARK)  # sealed
    return field


def change(short_name: str, before: operator_changes.State, after: operator_changes.State) -> AdminChange:
    return AdminChange(f"30333:{OWNER}:{short_name}", SecretKey.generate().public_key_hex, before, after, AT)


def test_the_sealed_record_says_nothing_of_the_channels_or_what_was_done(home: Path) -> None:
    appointed = ((None, None), ("admin", None))
    removed = (("editor", None), (None, AT - 86400))
    lengths = {
        len(sealed_field(home, change("yard", *appointed))),
        len(sealed_field(home, change("kastrychnitski-night-watch-7731", *appointed))),
        len(sealed_field(home, change("yard", *removed))),
    }
    assert len(lengths) == 1, lengths
    # Still read back whole by the node that holds the key.
    field = sealed_field(home, change("kastrychnitski-night-watch-7731", *removed))
    parsed = operator_changes.parse_record(f"@0bf2ed0c 0 1 {field}", home)
    assert parsed is not None
    assert parsed.changes is not None
    assert [c.channel.rsplit(":", 1)[1] for c in parsed.changes] == ["kastrychnitski-night-watch-7731"]
    assert parsed.changes[0].after == (None, AT - 86400)
