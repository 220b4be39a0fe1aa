"""The encryption service in-process: a copy that does not match its original is never swapped in (the home stays
plain and whole), an interrupted run is settled without a passphrase, and a panic wipe during a migration erases
the key slots it was making."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from samizdat.config import home_kind, load_identity
from samizdat.core.event import sign_event
from samizdat.errors import StoreError, UsageError
from samizdat.services import encryption, keyring
from samizdat.store import dbapi, encrypting
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore
from samizdat.store.vault import Params

WEAK = Params(memory_kib=64, iterations=1, lanes=1)


def plain_home(home: Path, count: int = 20) -> list[str]:
    """A ``--no-passphrase`` home with ``count`` signed posts and a follow; their ids."""
    keyring.create_plain(home)
    key = load_identity(home)
    events = [sign_event(key, 1, f"post {n}", created_at=1_700_000_000 + n) for n in range(count)]

    async def fill() -> None:
        async with await SqliteStore.open(home / "events.sqlite") as store:
            await store.add_many(events)

    asyncio.run(fill())
    local = LocalState(home / "local.sqlite")
    local.follow("30333:" + "ab" * 32 + ":x", [], 1.0)
    local.close()
    return sorted(e.id for e in events)


def stored_ids(home: Path) -> list[str]:
    conn = dbapi.sqlite3.connect(home / "events.sqlite")
    try:
        return sorted(row[0].hex() for row in conn.execute("SELECT id FROM events"))
    finally:
        conn.close()


def test_a_copy_that_does_not_match_is_rolled_back_and_the_home_stays_plain(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "node"
    ids = plain_home(home)
    export = encrypting.export

    def lossy(plain: Path, target: Path, key: bytes) -> None:
        export(plain, target, key)
        if plain.name == "events.sqlite":  # a copy that lost one event on the way
            conn = dbapi.connect(str(target), key, isolation_level=None)
            conn.execute("DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)")
            conn.close()

    monkeypatch.setattr(encrypting, "export", lossy)
    with pytest.raises(StoreError, match=r"copy of events.sqlite does not match it \(table events: 20 rows"):
        encryption.encrypt(home, "new passphrase", WEAK)
    assert home_kind(home) == "plain"
    assert keyring.plain_on_purpose(home)
    assert not (home / "encrypting").exists()
    assert stored_ids(home) == ids


def test_encrypt_then_unlock_and_nothing_to_settle(tmp_path: Path) -> None:
    home = tmp_path / "node"
    ids = plain_home(home)
    pubkey = load_identity(home).public_key_hex
    summary = encryption.encrypt(home, "new passphrase", WEAK)
    assert summary["events"] == 20
    assert summary["local"]["follows"] == 1
    assert encryption.settle(home) is None
    keys = keyring.unlock(home, "new passphrase")
    assert load_identity(home, keys).public_key_hex == pubkey
    conn = dbapi.connect(str(home / "events.sqlite"), keys.events)
    assert sorted(row[0].hex() for row in conn.execute("SELECT id FROM events")) == ids
    conn.close()
    with pytest.raises(UsageError, match="is encrypted already"):
        encryption.encrypt(home, "again", WEAK)


def test_an_unverified_staging_directory_is_rolled_back_without_a_passphrase(tmp_path: Path) -> None:
    home = tmp_path / "node"
    ids = plain_home(home)
    directory = encrypting.begin(home)
    (directory / "keys.slots").write_bytes(b"x" * 100)
    (directory / "events.sqlite").write_bytes(b"half a copy")
    settled = encryption.settle(home)
    assert settled is not None
    assert not settled.finished
    assert not directory.exists()
    assert stored_ids(home) == ids


def test_a_wipe_during_a_migration_erases_the_key_slots_being_made(tmp_path: Path) -> None:
    home = tmp_path / "node"
    plain_home(home)
    directory = encrypting.begin(home)
    (directory / "keys.slots").write_bytes(b"k" * 4096)
    keyring.erase(home)
    assert b"k" * 64 not in (directory / "keys.slots").read_bytes()
