"""Key slots (store/vault.py): unlock, passphrases, duress, damage and the panic wipe.

Argon2id runs with tiny parameters here (64 KiB, one pass); ``bench/unlock.py`` measures the real ones.
"""

from __future__ import annotations

import fcntl
import os
import stat
import tempfile
import threading
import time
import unicodedata
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samizdat.errors import UsageError
from samizdat.store import vault
from samizdat.store.vault import (
    COPY_B_OFFSET,
    COPY_SIZE,
    FILE_SIZE,
    HEADER,
    SLOT_SIZE,
    SLOTS,
    DamagedKeySlots,
    FailureDelay,
    Params,
    WrongPassphrase,
)

FAST = Params(memory_kib=64, iterations=1, lanes=1)


@pytest.fixture
def slots(tmp_path: Path) -> Path:
    return tmp_path / "keys.slots"


def opening(path: Path, passphrase: str) -> list[int]:
    """The roles of the slots ``passphrase`` opens, read straight from the file."""
    copy = vault._parse(path, path.read_bytes())
    kek = vault.derive(passphrase, copy.salt, copy.params)
    found = [vault._open_slot(copy.header, kek, slot) for slot in copy.slots]
    return [role for role, _ in (f for f in found if f is not None)]


def slot_regions(raw: bytes) -> list[bytes]:
    return [raw[HEADER.size + i * SLOT_SIZE : HEADER.size + (i + 1) * SLOT_SIZE] for i in range(SLOTS)]


def test_create_then_unlock_gives_the_same_data_key(slots: Path) -> None:
    created = vault.create(slots, "correct horse", params=FAST)
    unlocked = vault.unlock(slots, "correct horse")
    assert unlocked.kind == "real"
    assert unlocked.data_key == created.data_key
    assert unlocked.decoy_key == created.decoy_key != unlocked.data_key
    assert len(unlocked.data_key) == 32
    assert (unlocked.passphrases, unlocked.duress) == (1, False)
    assert stat.S_IMODE(slots.stat().st_mode) == 0o600
    assert "correct" not in repr(unlocked)
    assert unlocked.data_key.hex() not in repr(unlocked)


def test_create_refuses_to_overwrite_keys(slots: Path) -> None:
    vault.create(slots, "one", params=FAST)
    before = slots.read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        vault.create(slots, "two", params=FAST)
    assert slots.read_bytes() == before


def test_the_file_has_one_size_however_many_passphrases(slots: Path) -> None:
    unlocked = vault.create(slots, "p0", params=FAST)
    sizes = {slots.stat().st_size}
    for i in range(1, SLOTS - 1):
        unlocked = vault.add_passphrase(unlocked, f"p{i}")
        sizes.add(slots.stat().st_size)
    unlocked = vault.set_duress(unlocked, "duress")
    sizes.add(slots.stat().st_size)
    assert (unlocked.passphrases, unlocked.duress) == (SLOTS - 1, True)
    vault.unlock(slots, "duress")
    sizes.add(slots.stat().st_size)
    assert sizes == {FILE_SIZE} == {4976}  # docs/safety.md gives the size


def test_every_unlock_rewrites_every_slot_and_the_table(slots: Path) -> None:
    vault.create(slots, "real", params=FAST)
    for outcome in ("real", "added"):
        before = slots.read_bytes()
        if outcome == "added":
            vault.add_passphrase(vault.unlock(slots, "real"), "second")
            before = slots.read_bytes()
        vault.unlock(slots, "real")
        after = slots.read_bytes()
        assert after[: HEADER.size] == before[: HEADER.size]  # magic, parameters, salt: the same on every node
        for old, new in zip(slot_regions(before), slot_regions(after), strict=True):
            assert old[:12] != new[:12]  # a fresh nonce
            assert old[12:] != new[12:]  # a fresh ciphertext
        table = slice(HEADER.size + SLOTS * SLOT_SIZE, COPY_SIZE)
        assert before[table] != after[table]
        assert after[:COPY_SIZE] == after[COPY_B_OFFSET:]  # both copies agree


def test_the_used_slots_move_around(slots: Path) -> None:
    vault.create(slots, "real", params=FAST)
    places = set()
    for _ in range(12):
        vault.unlock(slots, "real")
        copy = vault._parse(slots, slots.read_bytes())
        kek = vault.derive("real", copy.salt, copy.params)
        places.add(next(i for i, s in enumerate(copy.slots) if vault._open_slot(copy.header, kek, s)))
    assert len(places) > 1


def test_a_wrong_passphrase_changes_nothing(slots: Path) -> None:
    vault.create(slots, "real", params=FAST)
    before = slots.read_bytes()
    with pytest.raises(WrongPassphrase) as caught:
        vault.unlock(slots, "not it")
    assert str(caught.value) == "wrong passphrase: no key slot opens with it"
    assert slots.read_bytes() == before


def test_real_duress_and_wrong_unlocks_do_the_same_work(slots: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same derivations, cipher operations, writes and fsyncs, so they take the same time."""
    calls: Counter[Any] = Counter()
    real_aead, real_pwrite, real_fsync, real_derive = vault._aead, os.pwrite, os.fsync, vault.derive

    class Counting:
        def __init__(self, key: bytes) -> None:
            self.inner = real_aead(key)

        def encrypt(self, nonce: bytes, data: bytes, ad: bytes) -> bytes:
            calls["encrypt", len(data)] += 1
            return self.inner.encrypt(nonce, data, ad)

        def decrypt(self, nonce: bytes, data: bytes, ad: bytes) -> bytes:
            calls["decrypt", len(data)] += 1
            return self.inner.decrypt(nonce, data, ad)

    def pwrite(fd: int, data: bytes, offset: int) -> int:
        calls["pwrite", len(data), offset] += 1
        return real_pwrite(fd, data, offset)

    def fsync(fd: int) -> None:
        calls["fsync"] += 1
        real_fsync(fd)

    def derive(*args: Any) -> bytes:
        calls["derive"] += 1
        return real_derive(*args)

    unlocked = vault.create(slots, "real", params=FAST)
    unlocked = vault.add_passphrase(unlocked, "second")
    vault.set_duress(unlocked, "duress")
    image = slots.read_bytes()
    monkeypatch.setattr(vault, "_aead", Counting)
    monkeypatch.setattr(vault.os, "pwrite", pwrite)
    monkeypatch.setattr(vault.os, "fsync", fsync)
    monkeypatch.setattr(vault, "derive", derive)
    work = {}
    for passphrase in ("real", "duress", "wrong"):
        slots.write_bytes(image)
        calls.clear()
        try:
            vault.unlock(slots, passphrase)
        except WrongPassphrase:
            pass
        work[passphrase] = dict(calls)
    assert work["real"] == work["duress"] == work["wrong"]
    assert (work["real"]["derive"], work["real"]["fsync"]) == (1, 2)


def test_duress_erases_the_real_slots_and_opens_the_decoy(slots: Path) -> None:
    real = vault.create(slots, "real", params=FAST)
    real = vault.add_passphrase(real, "second")
    real = vault.set_duress(real, "duress")
    assert real.duress
    before = slots.read_bytes()

    decoy = vault.unlock(slots, "duress")
    assert decoy.kind == "decoy"
    assert decoy.data_key == real.decoy_key != real.data_key
    after = slots.read_bytes()
    for region in slot_regions(before) + [before[HEADER.size + SLOTS * SLOT_SIZE : COPY_SIZE]]:
        assert region not in after  # no old slot, no old table, in either copy
    for passphrase in ("real", "second"):
        with pytest.raises(WrongPassphrase):
            vault.unlock(slots, passphrase)
        assert opening(slots, passphrase) == []

    # From now on the node is a fresh node whose one passphrase is the former duress passphrase.
    again = vault.unlock(slots, "duress")
    assert (again.kind, again.data_key, again.passphrases, again.duress) == ("real", decoy.data_key, 1, False)
    assert again.decoy_key == decoy.decoy_key != real.decoy_key
    assert opening(slots, "duress") == [vault.ROLE_REAL]
    again = vault.add_passphrase(again, "new")
    assert vault.unlock(slots, "new").data_key == decoy.data_key


def test_after_duress_the_file_is_shaped_like_a_fresh_nodes(tmp_path: Path) -> None:
    fresh, used = tmp_path / "fresh.slots", tmp_path / "used.slots"
    vault.create(fresh, "only", params=FAST)
    vault.unlock(fresh, "only")
    vault.set_duress(vault.add_passphrase(vault.create(used, "real", params=FAST), "other"), "only")
    vault.unlock(used, "only")
    for path in (fresh, used):
        unlocked = vault.unlock(path, "only")
        assert (path.stat().st_size, unlocked.kind, unlocked.passphrases, unlocked.duress) == (
            FILE_SIZE,
            "real",
            1,
            False,
        )
        assert opening(path, "only") == [vault.ROLE_REAL]
        raw = path.read_bytes()
        assert raw[COPY_SIZE:COPY_B_OFFSET] == bytes(COPY_B_OFFSET - COPY_SIZE)


def test_a_stale_unlock_cannot_restore_erased_slots(slots: Path) -> None:
    real = vault.set_duress(vault.create(slots, "real", params=FAST), "duress")
    vault.unlock(slots, "duress")
    with pytest.raises(UsageError, match="changed: unlock again"):
        vault.add_passphrase(real, "back door")
    assert opening(slots, "real") == opening(slots, "back door") == []


def test_add_change_and_remove_passphrases(slots: Path) -> None:
    first = vault.create(slots, "first", params=FAST)
    first = vault.add_passphrase(first, "second")
    assert first.passphrases == 2
    assert vault.unlock(slots, "second").data_key == first.data_key

    changed = vault.change_passphrase(vault.unlock(slots, "first"), "third")
    assert changed.passphrases == 2
    with pytest.raises(WrongPassphrase):
        vault.unlock(slots, "first")
    assert vault.unlock(slots, "third").data_key == first.data_key

    left = vault.remove_passphrase(changed, "second")
    assert left.passphrases == 1
    with pytest.raises(WrongPassphrase):
        vault.unlock(slots, "second")
    with pytest.raises(UsageError, match="last passphrase"):
        vault.remove_passphrase(left, "third")
    with pytest.raises(UsageError, match="opens no key slot"):
        vault.remove_passphrase(left, "never set")
    assert vault.unlock(slots, "third").data_key == first.data_key


def test_passphrases_must_differ(slots: Path) -> None:
    unlocked = vault.set_duress(vault.create(slots, "real", params=FAST), "duress")
    with pytest.raises(UsageError, match="already a passphrase"):
        vault.add_passphrase(unlocked, "real")
    with pytest.raises(UsageError, match="a duress passphrase"):
        vault.add_passphrase(unlocked, "duress")
    with pytest.raises(UsageError, match="a duress passphrase"):
        vault.change_passphrase(unlocked, "duress")
    with pytest.raises(UsageError, match="already a passphrase"):
        vault.set_duress(unlocked, "real")
    with pytest.raises(UsageError, match="empty"):
        vault.add_passphrase(unlocked, "")


def test_the_duress_passphrase_is_replaced_and_removed(slots: Path) -> None:
    unlocked = vault.set_duress(vault.create(slots, "real", params=FAST), "one")
    unlocked = vault.set_duress(unlocked, "two")
    assert opening(slots, "one") == []
    assert opening(slots, "two") == [vault.ROLE_DURESS]
    unlocked = vault.remove_passphrase(unlocked, "two")
    assert not unlocked.duress
    with pytest.raises(WrongPassphrase):
        vault.unlock(slots, "two")
    assert vault.unlock(slots, "real").kind == "real"


def test_eight_slots_at_most(slots: Path) -> None:
    unlocked = vault.create(slots, "p0", params=FAST)
    for i in range(1, SLOTS):
        unlocked = vault.add_passphrase(unlocked, f"p{i}")
    with pytest.raises(UsageError, match="all 8 key slots are in use"):
        vault.add_passphrase(unlocked, "p8")
    with pytest.raises(UsageError, match="all 8 key slots are in use"):
        vault.set_duress(unlocked, "duress")
    for i in range(SLOTS):
        assert vault.unlock(slots, f"p{i}").data_key == unlocked.data_key


def test_the_same_letters_typed_on_another_keyboard_unlock(slots: Path) -> None:
    vault.create(slots, unicodedata.normalize("NFC", "Свабода é"), params=FAST)
    assert vault.unlock(slots, unicodedata.normalize("NFD", "Свабода é")).kind == "real"


def test_a_missing_file_is_a_clear_error(slots: Path) -> None:
    with pytest.raises(UsageError, match="no key slots at"):
        vault.unlock(slots, "real")


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda raw: raw[:-1], id="truncated"),
        pytest.param(lambda raw: raw[:100], id="truncated-to-100"),
        pytest.param(lambda raw: b"", id="empty"),
        pytest.param(lambda raw: raw + b"\0", id="longer"),
        pytest.param(lambda raw: os.urandom(len(raw)), id="random"),
        pytest.param(lambda raw: flip(flip(raw, 200), COPY_B_OFFSET + 200), id="both-copies-flipped"),
        pytest.param(lambda raw: flip(flip(raw, 3), COPY_B_OFFSET + 3), id="magic-flipped"),
    ],
)
def test_a_damaged_file_is_a_clear_error_and_is_left_alone(slots: Path, damage: Any) -> None:
    vault.create(slots, "real", params=FAST)
    broken = damage(slots.read_bytes())
    slots.write_bytes(broken)
    with pytest.raises(DamagedKeySlots) as caught:
        vault.unlock(slots, "real")
    assert str(slots) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert slots.read_bytes() == broken


def flip(raw: bytes, at: int) -> bytes:
    return raw[:at] + bytes([raw[at] ^ 1]) + raw[at + 1 :]


@pytest.mark.parametrize("copy", [0, COPY_B_OFFSET], ids=["copy-A", "copy-B"])
def test_one_damaged_copy_is_repaired_from_the_other(slots: Path, copy: int) -> None:
    created = vault.create(slots, "real", params=FAST)
    slots.write_bytes(flip(slots.read_bytes(), copy + 300))
    assert vault.unlock(slots, "real").data_key == created.data_key
    raw = slots.read_bytes()
    assert raw[:COPY_SIZE] == raw[COPY_B_OFFSET:]


def test_a_power_cut_between_the_two_writes_keeps_the_newer_copy(slots: Path) -> None:
    """B is written first; a reader that finds two valid copies that differ takes B."""
    vault.create(slots, "real", params=FAST)
    old = slots.read_bytes()
    unlocked = vault.add_passphrase(vault.unlock(slots, "real"), "second")
    new = slots.read_bytes()
    slots.write_bytes(old[:COPY_B_OFFSET] + new[COPY_B_OFFSET:])  # B written, A not yet
    assert vault.unlock(slots, "second").data_key == unlocked.data_key


def test_unlocks_wait_for_each_other(slots: Path) -> None:
    vault.create(slots, "real", params=FAST)
    done = threading.Event()
    with open(slots, "rb") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        worker = threading.Thread(target=lambda: (vault.unlock(slots, "real"), done.set()))
        worker.start()
        assert not done.wait(0.2)
        fcntl.flock(held, fcntl.LOCK_UN)
    worker.join(10)
    assert done.is_set()


def test_repeated_failures_wait_longer_and_a_success_starts_over(slots: Path) -> None:
    vault.create(slots, "real", params=FAST)
    waits: list[float] = []
    delay = FailureDelay(first=1.0, cap=8.0, sleep=waits.append)
    for _ in range(6):
        with pytest.raises(WrongPassphrase):
            delay.unlock(slots, "wrong")
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert delay.unlock(slots, "real").kind == "real"
    assert waits == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    with pytest.raises(WrongPassphrase):
        delay.unlock(slots, "wrong")
    assert waits[-1] == 1.0


def test_damage_is_not_counted_as_a_wrong_passphrase(slots: Path) -> None:
    vault.create(slots, "real", params=FAST)
    slots.write_bytes(b"")
    waits: list[float] = []
    with pytest.raises(DamagedKeySlots):
        FailureDelay(sleep=waits.append).unlock(slots, "real")
    assert waits == []


def test_calibrate_fills_memory_then_adds_passes() -> None:
    params = vault.calibrate(0.1, lanes=2, max_memory_kib=4 * 1024)
    assert params.memory_kib <= 4 * 1024
    assert params.lanes == 2
    assert params.iterations > 3  # 4 MiB take far less than 0.1 s: more passes make up the time
    small = vault.calibrate(0.02, lanes=1, max_memory_kib=32 * 1024)
    assert small.iterations <= 3  # memory before passes; 16 MiB at least
    assert 16 * 1024 <= small.memory_kib <= 32 * 1024


def test_wipe_erases_the_slots_then_deletes_a_one_gigabyte_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    vault.create(home / "keys.slots", "real", params=FAST)
    slots_before = (home / "keys.slots").read_bytes()
    (home / "config.toml").write_text("")
    with open(home / "events.sqlite", "wb") as store:
        store.write(os.urandom(1 << 20))
        store.truncate(1 << 30)  # 1 GiB, mostly sparse: a real one is timed by bench/unlock.py
    (home / "sub").mkdir()
    (home / "sub" / "x").write_bytes(b"x")
    os.symlink(tmp_path, home / "link-out")
    (tmp_path / "outside").write_bytes(b"keep")

    seen: list[bytes] = []
    delete = vault._delete_tree

    def delete_after_looking(top: Path) -> list[str]:
        seen.append((top / "keys.slots").read_bytes())
        return delete(top)

    monkeypatch.setattr(vault, "_delete_tree", delete_after_looking)
    start = time.perf_counter()
    vault.wipe(home)
    assert time.perf_counter() - start < 1.0
    assert not home.exists()
    assert (tmp_path / "outside").read_bytes() == b"keep"  # a symlink is removed, not followed
    assert len(seen[0]) == FILE_SIZE
    assert all(region not in seen[0] for region in slot_regions(slots_before))


def test_wipe_refuses_what_is_not_a_data_directory(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="does not look like a Samizdat data directory"):
        vault.wipe(tmp_path)
    with pytest.raises(UsageError, match="not a data directory"):
        vault.wipe(tmp_path / "missing")
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_wipe_without_slots_still_deletes(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "identity.key").write_text("00")
    vault.wipe(home)
    assert not home.exists()


def rechecked(raw: bytes, at: int, new: bytes) -> bytes:
    """``raw`` with ``new`` written at ``at`` in both copies and both checksums recomputed (a deliberate forgery)."""
    copy = bytearray(raw[:COPY_SIZE])
    copy[at : at + len(new)] = new
    body = bytes(copy[: -vault.CHECKSUM_SIZE])
    copy = body + vault._checksum(body)
    return copy + raw[COPY_SIZE:COPY_B_OFFSET] + copy


@pytest.mark.parametrize(
    ("at", "new", "error"),
    [
        pytest.param(HEADER.size - 16, b"\0" * 16, WrongPassphrase, id="salt"),
        pytest.param(8, (1 << 23).to_bytes(4, "big"), DamagedKeySlots, id="memory-out-of-range"),
        pytest.param(16, b"\0\0\0\0", DamagedKeySlots, id="zero-lanes"),
    ],
)
def test_a_forged_file_with_valid_checksums_opens_nothing(slots: Path, at: int, new: bytes, error: type) -> None:
    vault.create(slots, "real", params=FAST)
    forged = rechecked(slots.read_bytes(), at, new)
    slots.write_bytes(forged)
    with pytest.raises(error):
        vault.unlock(slots, "real")
    assert slots.read_bytes() == forged


def test_a_forged_slot_with_valid_checksums_opens_nothing(slots: Path) -> None:
    vault.create(slots, "real", params=FAST)
    raw = slots.read_bytes()
    copy = vault._parse(slots, raw)
    kek = vault.derive("real", copy.salt, copy.params)
    used = next(i for i, slot in enumerate(copy.slots) if vault._open_slot(copy.header, kek, slot))
    at = HEADER.size + used * SLOT_SIZE + 20
    slots.write_bytes(rechecked(raw, at, bytes([raw[at] ^ 1])))
    with pytest.raises(WrongPassphrase):
        vault.unlock(slots, "real")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=FILE_SIZE + 8))
def test_any_bytes_are_a_damaged_file_never_a_crash(raw: bytes) -> None:
    with pytest.raises(DamagedKeySlots):
        vault._parse(Path("keys.slots"), raw)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, FILE_SIZE - 1), st.integers(1, 255)), min_size=1, max_size=4))
def test_damage_anywhere_is_survived_or_reported(flips: list[tuple[int, int]]) -> None:
    """Damage confined to one copy (or the padding) is survived; otherwise it is reported, never misread."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "keys.slots"
        created = vault.create(path, "real", params=FAST)
        raw = bytearray(path.read_bytes())
        for at, mask in flips:
            raw[at] ^= mask
        path.write_bytes(bytes(raw))
        try:
            unlocked = vault.unlock(path, "real")
        except DamagedKeySlots:
            assert any(at < COPY_SIZE for at, _ in flips)
            assert any(at >= COPY_B_OFFSET for at, _ in flips)
        else:
            assert unlocked.data_key == created.data_key
