"""Setting up, unlocking and wiping an encrypted node's keys (the processes around `serve`: tests/e2e)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from samizdat.config import load_identity
from samizdat.core.sealing import NodeKeys
from samizdat.errors import UsageError
from samizdat.services import deadman, keyring
from samizdat.services.keyring import TEST_PARAMS, WrongPassphrase


def no_wait(seconds: float) -> None:
    pass


def test_create_then_unlock_gives_the_same_keys_and_identity(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert keyring.kind(home) == "new"
    keys = keyring.create(home, "first", TEST_PARAMS).node
    assert keyring.kind(home) == "encrypted"
    made = sorted(str(p.relative_to(home)) for p in home.rglob("*"))
    assert made == [
        "config.toml", "events.sqlite", "identity.sealed", "keys.slots", "local.sqlite",
        "spare", "spare/events.sqlite", "spare/identity.sealed", "spare/local.sqlite",
    ]  # fmt: skip
    assert keyring.unlock(home, "first") == keys
    both = keyring.unlock_keys(home, "first")
    assert both.node == keys
    assert both.decoy == NodeKeys.derive(keyring.open_slots(home, "first").decoy_key) != keys  # for serve's decoy sync
    assert load_identity(home, keys).public_key_hex == load_identity(home, keyring.unlock(home, "first")).public_key_hex
    with pytest.raises(UsageError, match="is encrypted"):
        load_identity(home)  # not without the keys
    with pytest.raises(UsageError, match="set up already"):
        keyring.create(home, "again", TEST_PARAMS)
    before = (home / "keys.slots").read_bytes()
    with pytest.raises(WrongPassphrase):
        keyring.unlock(home, "wrong", keyring.FailureDelay(sleep=no_wait))
    assert (home / "keys.slots").read_bytes() == before


def test_passphrases_added_changed_removed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    keys = keyring.create(home, "one", TEST_PARAMS).node
    assert keyring.add_passphrase(keyring.open_slots(home, "one"), "two") == 2
    assert keyring.change_passphrase(keyring.open_slots(home, "two"), "three") == 2
    assert keyring.unlock(home, "three") == keys
    with pytest.raises(WrongPassphrase):
        keyring.unlock(home, "two", keyring.FailureDelay(sleep=no_wait))
    assert keyring.remove_passphrase(keyring.open_slots(home, "three"), "one") == 1
    with pytest.raises(UsageError, match="last passphrase"):
        keyring.remove_passphrase(keyring.open_slots(home, "three"), "three")


def test_a_plain_node_is_marked_and_an_old_one_is_not(tmp_path: Path) -> None:
    hub = tmp_path / "hub"
    assert keyring.create_plain(hub)
    assert keyring.kind(hub) == "plain"
    assert keyring.plain_on_purpose(hub)
    assert not keyring.create_plain(hub)
    old = tmp_path / "old"
    old.mkdir()
    (old / "events.sqlite").write_bytes(b"")
    assert keyring.kind(old) == "plain"
    assert not keyring.plain_on_purpose(old)


def test_the_weak_test_parameters_only_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(keyring.KDF_TEST_VARIABLE, "1")
    assert keyring.init_params() is TEST_PARAMS
    monkeypatch.setenv(keyring.KDF_TEST_VARIABLE, "0")
    assert not keyring.kdf_test()


def test_wipe_without_a_running_serve_erases_then_deletes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    keyring.create(home, "one", TEST_PARAMS)
    assert keyring.lock(home) is None  # nothing runs
    assert keyring.wipe(home) is None
    assert not home.exists()
    with pytest.raises(UsageError, match="not a data directory"):
        keyring.wipe(home)


def test_missing_key_slots_are_named(tmp_path: Path) -> None:
    home = tmp_path / "home"
    keyring.create(home, "one", TEST_PARAMS)
    (home / "keys.slots").unlink()
    assert keyring.kind(home) == "encrypted"
    with pytest.raises(UsageError, match="keys.slots is missing"):
        keyring.unlock(home, "one")


def test_a_wrong_passphrase_interrupted_during_its_wait_proves_no_presence(tmp_path: Path) -> None:
    # Someone trying passphrases on a seized device presses Ctrl-C (or the process is killed) during the wait
    # after a wrong one: the key slot file's time, which [safety] wipe_after_days reads, must still be the old one.
    home = tmp_path / "home"
    keyring.create(home, "first", TEST_PARAMS)
    slots = home / "keys.slots"
    then = time.time() - 20 * deadman.DAY
    os.utime(slots, (then, then))
    during_wait: list[float] = []

    def interrupted(seconds: float) -> None:
        during_wait.append(slots.stat().st_mtime)  # what a SIGKILL now would leave
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        keyring.open_slots(home, "wrong", keyring.FailureDelay(sleep=interrupted))
    assert during_wait == [then]
    assert slots.stat().st_mtime == then
    assert deadman.due(home, 14)
