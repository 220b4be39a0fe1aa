"""The decoy store behind the duress passphrase: promoted in place by a duress unlock, and an interrupted promotion
finished by the next unlock, whichever write it stopped at (the processes: tests/e2e/test_duress.py)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from samizdat.config import load_identity
from samizdat.core.keys import SecretKey
from samizdat.core.nip19 import naddr_encode
from samizdat.core.sealing import NodeKeys
from samizdat.errors import StoreError, UsageError
from samizdat.services import decoy, keyring
from samizdat.services.keyring import TEST_PARAMS, WrongPassphrase
from samizdat.store import dbapi, vault
from samizdat.store.local import LocalState

PUBLIC = SecretKey.generate()
PUBLIC_NADDR = naddr_encode(30333, PUBLIC.public_key_hex, "weather", ("ws://127.0.0.1:9",))
PUBLIC_ADDRESS = f"30333:{PUBLIC.public_key_hex}:weather"
REAL_CHANNEL = f"30333:{PUBLIC.public_key_hex}:secret"


def no_wait(seconds: float) -> None:
    pass


def files(home: Path) -> dict[str, int]:
    """Every file's path in ``home`` and its inode."""
    return {str(p.relative_to(home)): p.stat().st_ino for p in sorted(home.rglob("*")) if p.is_file()}


def stores(home: Path, since: float) -> list[bool]:
    """For each file but config.toml (the user's), whether it was modified ``since``."""
    return [p.stat().st_mtime >= since for p in home.rglob("*") if p.is_file() and p.name != "config.toml"]


def schema_version(path: Path, key: bytes) -> int:
    conn = dbapi.connect(str(path), key)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def follows(home: Path, keys: NodeKeys) -> set[str]:
    local = LocalState(home / "local.sqlite", key=keys.local)
    try:
        return set(local.follows())
    finally:
        local.close()


def a_node_with_duress(tmp_path: Path) -> tuple[Path, str]:
    """A node following a secret channel, its duress passphrase set with a public channel; its real npub."""
    home = tmp_path / "home"
    keys = keyring.create(home, "real", TEST_PARAMS).node
    local = LocalState(home / "local.sqlite", key=keys.local)
    local.follow(REAL_CHANNEL, [], 1)
    local.close()
    unlocked = keyring.open_slots(home, "real")
    keyring.set_duress(unlocked, "duress")
    assert keyring.decoy_follow(home, unlocked, [PUBLIC_NADDR]) == [PUBLIC_ADDRESS]
    return home, load_identity(home, keys).public_key_hex


def test_a_duress_unlock_opens_the_decoy_in_the_same_files(tmp_path: Path) -> None:
    home, real_key = a_node_with_duress(tmp_path)
    decoy_key = load_identity(home / "spare", NodeKeys.derive(keyring.open_slots(home, "real").decoy_key))
    before = files(home)
    unlocked_at = time.time() - 1  # file systems keep dates to a second at worst
    keyring.unlock(home, "real")
    assert all(stores(home, unlocked_at))  # every file, every unlock
    for path in home.rglob("*"):
        os.utime(path, (1, 1))

    keys = keyring.unlock(home, "duress")

    assert files(home) == before  # the same names, the same inodes: nothing created, nothing renamed
    assert all(stores(home, unlocked_at))  # the same dates too
    assert load_identity(home, keys).public_key_hex == decoy_key.public_key_hex != real_key
    assert follows(home, keys) == {PUBLIC_ADDRESS}
    with pytest.raises(WrongPassphrase):
        keyring.unlock(home, "real", keyring.FailureDelay(sleep=no_wait))
    again = keyring.open_slots(home, "duress")  # from now on simply the node's passphrase
    assert (again.kind, again.passphrases, again.duress) == ("real", 1, False)
    assert NodeKeys.derive(again.data_key) == keys
    spare = NodeKeys.derive(again.decoy_key)  # a fresh, empty decoy store for a new duress passphrase
    assert load_identity(home / "spare", spare).public_key_hex not in (real_key, decoy_key.public_key_hex)
    assert follows(home / "spare", spare) == set()


def test_a_follow_that_is_not_a_channel_is_refused() -> None:
    with pytest.raises(UsageError):
        keyring.check_follows([PUBLIC_NADDR, "naddr1nonsense"])
    with pytest.raises(UsageError, match="not a Samizdat channel"):
        keyring.check_follows([naddr_encode(30023, PUBLIC.public_key_hex, "an-article")])


#: What a duress unlock's promotion writes with, each a point where a power cut may stop it.
WRITES = ("write_in_place", "prepare_events", "prepare_local", "rewrite_sealed_identity")


def power_cut_after(monkeypatch: pytest.MonkeyPatch, writes: int | None) -> list[int]:
    """Let ``writes`` writes happen (all, with None), then cut the power in the next: half of it is written,
    then OSError. Returns a list holding the count of writes attempted."""
    count = [0]
    for name in WRITES:
        real = getattr(decoy, name)

        def write(path: Path, *args: object, real: object = real, **options: object) -> None:
            count[0] += 1
            if writes is not None and count[0] > writes:
                data = args[0] if args and isinstance(args[0], bytes) else os.urandom(4096)
                with open(path, "r+b" if path.exists() else "wb") as handle:
                    handle.write(data[: len(data) // 2])
                raise OSError(5, "power cut")
            real(path, *args, **options)  # type: ignore[operator]

        monkeypatch.setattr(decoy, name, write)
    return count


def test_a_promotion_stopped_at_any_write_is_finished_by_the_next_unlock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home, _ = a_node_with_duress(tmp_path / "count")
    with monkeypatch.context() as patch:
        count = power_cut_after(patch, None)
        keyring.unlock(home, "duress")
    writes = count[0]
    assert writes == 6  # three files copied, two stores and an identity made
    for stop_at in range(writes + 1):
        home, real_key = a_node_with_duress(tmp_path / f"stop-{stop_at}")
        decoy_npub = load_identity(home / "spare", NodeKeys.derive(keyring.open_slots(home, "real").decoy_key))
        with monkeypatch.context() as patch:
            power_cut_after(patch, stop_at)
            if stop_at < writes:
                with pytest.raises(StoreError):
                    keyring.unlock(home, "duress")
            else:
                keyring.unlock(home, "duress")

        keys = keyring.unlock(home, "duress")  # the next unlock, with the only passphrase left

        assert load_identity(home, keys).public_key_hex == decoy_npub.public_key_hex != real_key, stop_at
        assert follows(home, keys) == {PUBLIC_ADDRESS}, stop_at
        assert schema_version(home / "events.sqlite", keys.events) > 0, stop_at
        spare = NodeKeys.derive(keyring.open_slots(home, "duress").decoy_key)
        assert follows(home / "spare", spare) == set(), stop_at
        assert schema_version(home / "spare" / "events.sqlite", spare.events) > 0, stop_at


def test_a_node_from_before_the_decoy_store_gets_one_at_its_next_unlock(tmp_path: Path) -> None:
    home = tmp_path / "home"
    keyring.create(home, "real", TEST_PARAMS)
    for path in (home / "spare").iterdir():
        path.unlink()
    (home / "spare").rmdir()
    unlocked = keyring.open_slots(home, "real")
    assert load_identity(home / "spare", NodeKeys.derive(unlocked.decoy_key))
    assert vault.SLOTS_NAME in files(home)


DATABASES = ("events.sqlite", "local.sqlite", "spare/events.sqlite", "spare/local.sqlite")


def test_a_node_keeps_one_format_through_a_duress_unlock(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A node made before AEGIS has SQLCipher files; the decoy store a duress unlock makes anew must be in that
    # format too, or files in two formats would show that the duress unlock happened.
    made = dbapi.connect
    with monkeypatch.context() as before_aegis:
        before_aegis.setattr(
            dbapi, "connect", lambda target, key, legacy=False, **options: made(target, key, legacy=True, **options)
        )
        home, real_key = a_node_with_duress(tmp_path / "old")
    assert [dbapi.is_sqlcipher(home / name) for name in DATABASES] == [True] * 4

    keys = keyring.unlock(home, "duress")

    assert follows(home, keys) == {PUBLIC_ADDRESS}
    assert load_identity(home, keys).public_key_hex != real_key
    assert [dbapi.is_sqlcipher(home / name) for name in DATABASES] == [True] * 4

    new_home, _ = a_node_with_duress(tmp_path / "new")
    keyring.unlock(new_home, "duress")
    assert [dbapi.is_sqlcipher(new_home / name) for name in DATABASES] == [False] * 4
