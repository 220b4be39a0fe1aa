"""The record of what an operator login changed in the admins (web/operator_changes.py), in the codes file: sealed
on an encrypted node, kept past the code's revocation, bounded, and what undoing each change means."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from samizdat.core import nip19
from samizdat.core.keys import SecretKey
from samizdat.core.sealing import NodeKeys
from samizdat.services import operator_codes
from samizdat.web import operator
from samizdat.web.operator_changes import (
    KEEP_ENDED,
    MAX_ENTRIES,
    AdminChange,
    carried,
    grants,
    has_room,
    undo_state,
    undo_step,
)

KEYS = NodeKeys.derive(bytes(range(32)))
YARD = "30333:" + "a" * 64 + ":yard"
PLANTED, EDITOR = SecretKey.generate().public_key_hex, SecretKey.generate().public_key_hex


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    operator_codes.forget(tmp_path)


def code_id(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()[: operator.ID_CHARS]


def appoint(key: str, at: int = 1_800_000_000) -> AdminChange:
    return AdminChange(YARD, key, (None, None), ("admin", None), at)


def test_an_encrypted_nodes_record_is_sealed_and_outlives_the_code(home: Path) -> None:
    operator_codes.use(home, KEYS)
    token, other = operator.new_token(home), operator.new_token(home)
    operator.note_admin_change(home, code_id(token), appoint(PLANTED))
    operator.note_admin_change(home, code_id(token), AdminChange(YARD, EDITOR, ("editor", None), (None, 5), 1))
    text = (home / operator.TOKENS_FILE).read_text()
    assert PLANTED not in text
    assert "yard" not in text
    assert f"@{code_id(token)} 0 2 ~" in text  # the id and the count stay readable, nothing else

    operator_codes.forget(home)  # `samizdat web codes` and `logout` without the passphrase
    [record] = operator.list_records(home)
    assert (record.id, record.count, record.changes) == (code_id(token), 2, None)
    operator.revoke_code(home, code_id(token))  # rewritten by a process that cannot open it: kept as it was
    [record] = operator.list_records(home)
    assert record.ended > 0
    assert record.blob in (home / operator.TOKENS_FILE).read_text()

    operator_codes.use(home, KEYS)
    [record] = operator.list_records(home)
    assert record.changes is not None
    assert [(c.key, c.before, c.after) for c in record.changes] == [
        (PLANTED, (None, None), ("admin", None)),
        (EDITOR, ("editor", None), (None, 5)),
    ]
    operator.forget_tokens(home)  # `logout --all`: the codes go, the record stays for the owner to undo
    assert operator.list_codes(home) == []
    assert [r.id for r in operator.list_records(home)] == [code_id(token)]
    assert code_id(other) not in (home / operator.TOKENS_FILE).read_text()
    operator_codes.use(home, NodeKeys.derive(bytes(32)))  # another key (a decoy's) opens nothing
    assert operator.list_records(home)[0].changes is None


def test_a_record_is_bound_to_its_code(home: Path) -> None:
    operator_codes.use(home, KEYS)
    first, second = operator.new_token(home), operator.new_token(home)
    operator.note_admin_change(home, code_id(first), appoint(PLANTED))
    path = home / operator.TOKENS_FILE
    path.write_text(path.read_text().replace(f"@{code_id(first)} ", f"@{code_id(second)} "))
    [record] = operator.list_records(home)
    assert record.id == code_id(second)
    assert record.changes is None  # moved to another code's line, it opens no more


def test_changes_of_one_key_merge_and_a_full_record_takes_no_new_key(home: Path) -> None:
    token = operator.new_token(home)  # a plain node: the record is plain too
    cid = code_id(token)
    operator.note_admin_change(home, cid, AdminChange(YARD, EDITOR, ("editor", None), (None, 10), 60))
    operator.note_admin_change(home, cid, AdminChange(YARD, EDITOR, (None, 10), ("admin", None), 120))
    [record] = operator.list_records(home)
    assert record.changes == (AdminChange(YARD, EDITOR, ("editor", None), ("admin", None), 120, 2),)
    assert record.count == 2
    for n in range(MAX_ENTRIES - 1):
        operator.note_admin_change(home, cid, appoint(f"{n:064x}"))
    assert not operator.may_change_admin(home, cid, YARD, PLANTED)
    assert operator.may_change_admin(home, cid, YARD, EDITOR)  # a key it changed before: merged, no new entry
    assert has_room(None, YARD, PLANTED)


def test_a_record_goes_long_after_its_code(home: Path) -> None:
    token = operator.new_token(home)
    operator.note_admin_change(home, code_id(token), appoint(PLANTED))
    [record] = operator.list_records(home)
    [ended] = carried([record], set(), 1_800_000_000.0)  # an hour: the file keeps its times to the hour
    assert ended.ended == 1_800_000_000
    assert carried([ended], set(), 1_800_000_000.0 + KEEP_ENDED - 1) == [ended]
    assert carried([ended], set(), 1_800_000_000.0 + KEEP_ENDED) == []
    assert carried([record], {record.id}, 5.0) == [record]


def test_undoing_puts_each_key_back_as_it_was_and_leaves_the_owners_later_changes() -> None:
    planted = appoint(PLANTED)
    assert (
        undo_step(planted).command()
        == f"samizdat channel admins {YARD} --remove {nip19.npub_encode(PLANTED)} --since 0"
    )
    assert (undo_step(planted).add, undo_step(planted).since) == (None, 0)  # none of its posts counts
    assert undo_state(planted, ("admin", None)) == "undo"
    assert undo_state(planted, (None, 0)) == "done"
    assert undo_state(planted, (None, None)) == "done"
    assert undo_state(planted, (None, 1_800_000_500)) == "changed"  # the owner removed it since: left alone
    removed = AdminChange(YARD, EDITOR, ("editor", None), (None, 5), 1)
    assert (undo_step(removed).add, undo_step(removed).since) == ("editor", None)
    assert undo_step(removed).command().endswith(" --role editor")
    moved = AdminChange(YARD, EDITOR, (None, 1_700_000_000), (None, 1_800_000_000), 1)
    assert (undo_step(moved).add, undo_step(moved).since) == (None, 1_700_000_000)
    assert undo_state(moved, (None, 1_800_000_000)) == "undo"
    # --undo takes back only what a login gave (red team, round 13): a removal or a since moved earlier is by hand.
    assert grants(removed)
    assert not grants(planted)
    assert not grants(moved)
    assert grants(AdminChange(YARD, EDITOR, (None, 1_800_000_000), (None, 1_700_000_000), 1))
    assert grants(AdminChange(YARD, EDITOR, ("admin", None), ("editor", None), 1))
    assert not grants(AdminChange(YARD, EDITOR, ("editor", None), ("admin", None), 1))
    assert not grants(AdminChange(YARD, EDITOR, (None, 1_700_000_000), ("editor", None), 1))
