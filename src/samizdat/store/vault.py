"""Key slots: one random data key per node, opened by passphrases, erased by a duress passphrase or a wipe.

Theory of operation
-------------------

The data is encrypted (by the stores, later) under a random 32-byte **data key**. The key lives in
``keys.slots``, a file of constant size that looks the same however many passphrases exist::

    copy A (offset 0) | zeros up to 4096 | copy B (offset 4096)

    copy   = header | 8 slots | table | BLAKE2b-256(header | slots | table)
    header = magic "SMZKEYS1" | Argon2id memory (KiB) | iterations | lanes | salt (16 bytes)     (36 bytes)
    slot   = nonce (12) | ChaCha20-Poly1305(KEK, role (1) | key (32))                           (61 bytes)
    table  = nonce (12) | ChaCha20-Poly1305(subkey of the data key,
                          decoy key (32) | 8 x (role (1) | KEK (32)))                            (324 bytes)

A passphrase's key-encryption key is ``KEK = Argon2id(passphrase, salt)``, with one salt and one set of
parameters per file: an unlock derives **one** KEK (about a second, :func:`calibrate`) and tries it on all 8
slots. A used slot holds the data key (role "real") or the decoy key (role "duress"); an unused slot is an
encryption of random bytes under a random key, so nobody without a passphrase can tell used from unused. The
table, encrypted under the data key, holds the KEK of every passphrase and the decoy key: whoever unlocks with a
real passphrase can therefore re-encrypt *every* used slot, not only their own.

Every unlock, whatever the passphrase, does the same work: derive once, try 8 slots, decrypt the table once,
encrypt 8 slots and the table, write copy B, fsync, write copy A, fsync. What is written differs:

* a **real** passphrase: all 8 slots and the table with fresh nonces, the slots in a new random order;
* a **duress** passphrase: the real slots and the table are overwritten (crypto-erase: without them nobody can
  recover the data key, whatever is left of the data). The decoy key becomes the node's only data key, under the
  duress passphrase as the node's only passphrase, with a fresh decoy key of its own: the file is then what
  :func:`create` writes for a fresh node. :attr:`Unlocked.kind` is ``"decoy"`` this once;
* a **wrong** passphrase: the bytes that were there, unchanged (the same writes and fsyncs, the same time).

The salt and parameters never change (re-salting would need every passphrase, and deriving twice would make one
kind of unlock slower than another). So two images of the file taken before and after any unlock differ in every
slot and in the table, and agree in the 36-byte header, which every node has.

Two copies make the in-place rewrite safe against a power cut: B is written and synced before A, and a reader
takes B if its checksum holds, else A. Both are overwritten in place, never renamed: a rename would leave the old
slots in free disk blocks, which is what a crypto-erase must not do. (Flash storage and copy-on-write file
systems may still keep old blocks; ``docs/safety.md`` says what that means.)

Nothing records failed unlocks on disk: a counter would tell an examiner something and protect nothing (an
examiner attacks a copy of the file, where no counter applies; Argon2id's cost per guess is the protection).
:class:`FailureDelay` slows down repeated wrong passphrases in one process.

Call :func:`calibrate` once, then :func:`create`; :func:`unlock` at every start; the passphrase functions take
the :class:`Unlocked` of a real unlock. Everything raises :class:`~samizdat.errors.UsageError` (or its
subclasses here) with one sentence for a person; file errors are :class:`~samizdat.errors.StoreError`.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import secrets
import struct
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from argon2.exceptions import HashingError
from argon2.low_level import Type, hash_secret_raw
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from samizdat.config import ENCRYPTING
from samizdat.errors import LocalProtocolError, StoreError, UsageError
from samizdat.store import files

SLOTS_NAME = "keys.slots"
SLOTS = 8

MAGIC = b"SMZKEYS1"
KEY_SIZE = 32
SALT_SIZE = 16
NONCE_SIZE = 12
TAG_SIZE = 16
HEADER = struct.Struct(f">8sIII{SALT_SIZE}s")
SLOT_SIZE = NONCE_SIZE + 1 + KEY_SIZE + TAG_SIZE
TABLE_PLAIN_SIZE = KEY_SIZE + SLOTS * (1 + KEY_SIZE)
TABLE_SIZE = NONCE_SIZE + TABLE_PLAIN_SIZE + TAG_SIZE
CHECKSUM_SIZE = 32
COPY_SIZE = HEADER.size + SLOTS * SLOT_SIZE + TABLE_SIZE + CHECKSUM_SIZE
COPY_B_OFFSET = 4096
FILE_SIZE = COPY_B_OFFSET + COPY_SIZE

ROLE_EMPTY, ROLE_REAL, ROLE_DURESS = 0, 1, 2  # first byte of a slot's plaintext and of a table entry


class WrongPassphrase(UsageError):
    """No key slot opens with the passphrase given."""


class DamagedKeySlots(UsageError):
    """The key slot file is truncated, altered or not a key slot file at all."""


@dataclass(frozen=True)
class Params:
    """Argon2id's cost: memory in KiB, passes over it, and lanes (threads)."""

    memory_kib: int
    iterations: int
    lanes: int

    def __post_init__(self) -> None:
        if not 1 <= self.lanes <= 64 or not 1 <= self.iterations <= 1000:
            raise LocalProtocolError(f"Argon2id lanes {self.lanes} or iterations {self.iterations} out of range")
        if not 8 * self.lanes <= self.memory_kib <= 1 << 22:
            raise LocalProtocolError(f"Argon2id memory {self.memory_kib} KiB out of range")

    def __str__(self) -> str:
        return f"Argon2id m={self.memory_kib // 1024} MiB, t={self.iterations}, p={self.lanes}"


@dataclass(frozen=True)
class Unlocked:
    """What an unlock opened.

    ``kind`` is ``"real"``, or ``"decoy"`` for the one unlock with a duress passphrase that erased the real key
    slots: the caller opens the decoy store, which is from then on the node's only store (the next unlock with
    that passphrase says ``"real"``). ``data_key`` opens the store; ``decoy_key`` opens the decoy store that a
    duress passphrase would open. Use both only through keys derived from them for one purpose each.
    """

    path: Path
    kind: Literal["real", "decoy"]
    data_key: bytes = field(repr=False)
    decoy_key: bytes = field(repr=False)
    passphrases: int  # real passphrases, including the one that unlocked
    duress: bool  # whether a duress passphrase is set
    kek: bytes = field(repr=False)  # the key derived from the passphrase that unlocked (for change_passphrase)


# --- Argon2id --------------------------------------------------------------------------------------------------


def _encode(passphrase: str) -> bytes:
    if not passphrase:
        raise UsageError("the passphrase is empty")
    # A phone's keyboard and a laptop's may compose the same letters differently.
    return unicodedata.normalize("NFC", passphrase).encode("utf-8")


def derive(passphrase: str, salt: bytes, params: Params) -> bytes:
    """The key-encryption key of ``passphrase``: Argon2id with ``params`` (the slow step of every unlock)."""
    try:
        return hash_secret_raw(
            _encode(passphrase),
            salt,
            time_cost=params.iterations,
            memory_cost=params.memory_kib,
            parallelism=params.lanes,
            hash_len=KEY_SIZE,
            type=Type.ID,
        )
    except (HashingError, MemoryError) as exc:
        raise StoreError(f"cannot derive the key ({params}): {exc}") from exc


def measure(params: Params, runs: int = 3) -> float:
    """The seconds one derivation with ``params`` takes here: the fastest of ``runs``, which is the machine's own
    speed (slower runs measure whatever else was running at the time)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        derive("calibration", bytes(SALT_SIZE), params)
        times.append(time.perf_counter() - start)
    return min(times)


def _memory_cap() -> int:
    """At most 1 GiB, and at most a quarter of this machine's memory, in KiB."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 1024
    except (ValueError, OSError):
        total = 1 << 21
    return max(1 << 14, min(1 << 20, total // 4))


def calibrate(target_seconds: float = 1.0, *, lanes: int = 4, max_memory_kib: int | None = None) -> Params:
    """Argon2id parameters that take about ``target_seconds`` here.

    Memory first, as it is what makes guessing expensive on GPUs and custom chips: 3 passes (RFC 9106's choice
    when memory is limited) over as much memory as the time allows, up to ``max_memory_kib`` (default: 1 GiB or a
    quarter of the machine's memory); once memory is at its cap, more passes. On a slow machine, down to 16 MiB
    and 1 pass. Times are the fastest of 3 runs (:func:`measure`); calibrating takes several times ``target_seconds``.
    """
    cap = max_memory_kib if max_memory_kib is not None else _memory_cap()
    floor = min(cap, max(16 * 1024, 8 * lanes))
    params = Params(max(floor, min(cap, 64 * 1024)), 3, lanes)
    for _ in range(4):
        scale = target_seconds / max(measure(params), 1e-6)
        if 0.9 <= scale <= 1.1:
            break
        work = params.memory_kib * params.iterations * scale  # time grows about linearly with memory x passes
        if work / 3 > cap:
            memory, iterations = cap, round(work / cap)
        elif work / 3 >= floor:
            memory, iterations = int(work / 3), 3
        else:
            memory, iterations = floor, max(1, round(work / floor))
        params = Params(memory - memory % (8 * lanes), iterations, lanes)
    return params


# --- the file ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Table:
    decoy_key: bytes
    entries: tuple[tuple[int, bytes], ...]  # (ROLE_REAL or ROLE_DURESS, KEK) of every passphrase

    def keks(self, role: int) -> list[bytes]:
        return [kek for r, kek in self.entries if r == role]


def _aead(key: bytes) -> ChaCha20Poly1305:
    return ChaCha20Poly1305(key)


def _table_key(data_key: bytes) -> bytes:
    return hashlib.blake2b(data_key, digest_size=KEY_SIZE, person=b"smz-slots-table").digest()


def _checksum(body: bytes) -> bytes:
    return hashlib.blake2b(body, digest_size=CHECKSUM_SIZE, person=b"smz-slots-file").digest()


def _header(params: Params, salt: bytes) -> bytes:
    return HEADER.pack(MAGIC, params.memory_kib, params.iterations, params.lanes, salt)


def _seal_slot(header: bytes, kek: bytes, role: int, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_SIZE)
    return nonce + _aead(kek).encrypt(nonce, bytes([role]) + key, header + b"slot")


def _open_slot(header: bytes, kek: bytes, slot: bytes) -> tuple[int, bytes] | None:
    try:
        plain = _aead(kek).decrypt(slot[:NONCE_SIZE], slot[NONCE_SIZE:], header + b"slot")
    except InvalidTag:
        return None
    return plain[0], plain[1:]


def _seal_table(header: bytes, data_key: bytes, table: _Table) -> bytes:
    entries = [bytes([role]) + kek for role, kek in table.entries]
    entries += [bytes([ROLE_EMPTY]) + os.urandom(KEY_SIZE) for _ in range(SLOTS - len(entries))]
    nonce = os.urandom(NONCE_SIZE)
    return nonce + _aead(_table_key(data_key)).encrypt(nonce, table.decoy_key + b"".join(entries), header + b"table")


def _open_table(header: bytes, data_key: bytes, sealed: bytes) -> _Table | None:
    try:
        plain = _aead(_table_key(data_key)).decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], header + b"table")
    except InvalidTag:
        return None
    at = [KEY_SIZE + i * (1 + KEY_SIZE) for i in range(SLOTS)]
    entries = tuple((plain[i], plain[i + 1 : i + 1 + KEY_SIZE]) for i in at if plain[i] in (ROLE_REAL, ROLE_DURESS))
    return _Table(plain[:KEY_SIZE], entries)


def _build(header: bytes, data_key: bytes, table: _Table) -> bytes:
    """One copy: every slot sealed (used ones under their KEK, the rest random under random keys), in random order."""
    if len(table.entries) > SLOTS:
        raise LocalProtocolError("more passphrases than key slots")
    sealed = []
    for role, kek in table.entries:
        sealed.append(_seal_slot(header, kek, role, data_key if role == ROLE_REAL else table.decoy_key))
    for _ in range(SLOTS - len(table.entries)):
        sealed.append(_seal_slot(header, os.urandom(KEY_SIZE), os.urandom(1)[0], os.urandom(KEY_SIZE)))
    secrets.SystemRandom().shuffle(sealed)
    body = header + b"".join(sealed) + _seal_table(header, data_key, table)
    return body + _checksum(body)


@dataclass(frozen=True)
class _Copy:
    header: bytes
    params: Params
    salt: bytes
    slots: tuple[bytes, ...]
    table: bytes


def _parse(path: Path, raw: bytes) -> _Copy:
    """The valid copy of ``raw`` (B first: it is written first); raise :class:`DamagedKeySlots` if neither is."""
    if len(raw) != FILE_SIZE:
        raise DamagedKeySlots(
            f"{path} is damaged: {len(raw)} bytes instead of {FILE_SIZE}; without it the data cannot be unlocked"
        )
    for start in (COPY_B_OFFSET, 0):
        copy = raw[start : start + COPY_SIZE]
        body, checksum = copy[:-CHECKSUM_SIZE], copy[-CHECKSUM_SIZE:]
        if not secrets.compare_digest(_checksum(body), checksum):
            continue
        magic, memory, iterations, lanes, salt = HEADER.unpack_from(body)
        if magic != MAGIC:
            continue
        try:
            params = Params(memory, iterations, lanes)
        except LocalProtocolError:
            continue
        at = HEADER.size
        slots = tuple(body[at + i * SLOT_SIZE : at + (i + 1) * SLOT_SIZE] for i in range(SLOTS))
        return _Copy(body[: HEADER.size], params, salt, slots, body[at + SLOTS * SLOT_SIZE :])
    if raw[: len(MAGIC)] != MAGIC and raw[COPY_B_OFFSET : COPY_B_OFFSET + len(MAGIC)] != MAGIC:
        raise DamagedKeySlots(f"{path} is not a key slot file (or is damaged); without it the data cannot be unlocked")
    raise DamagedKeySlots(f"{path} is damaged (checksum mismatch); without it the data cannot be unlocked")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[int]:
    """The slot file open for reading and writing, under an exclusive lock (one unlock or change at a time)."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError as exc:
        raise UsageError(f"no key slots at {path}: this node has no passphrase yet") from exc
    except OSError as exc:
        raise StoreError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        os.close(fd)  # releases the lock


def _read(fd: int, path: Path) -> bytes:
    try:
        raw = os.pread(fd, FILE_SIZE + 1, 0)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    return raw


def _write(fd: int, path: Path, copy_b: bytes, copy_a: bytes) -> None:
    """Overwrite both copies in place, B then A, each synced to disk before the next."""
    try:
        for offset, copy in ((COPY_B_OFFSET, copy_b), (0, copy_a)):
            if os.pwrite(fd, copy, offset) != len(copy):
                raise OSError(errno.EIO, "short write")
            os.fsync(fd)
    except OSError as exc:
        raise StoreError(f"cannot write {path}: {exc.strerror}") from exc


# --- the operations ---------------------------------------------------------------------------------------------


def create(path: Path, passphrase: str, *, params: Params) -> Unlocked:
    """Write a new slot file at ``path`` with a new data key, opened by ``passphrase``, and a decoy key.

    Raises :class:`UsageError` if ``path`` exists (never overwrite keys) or the passphrase is empty.
    """
    salt = os.urandom(SALT_SIZE)
    header = _header(params, salt)
    kek = derive(passphrase, salt, params)
    data_key, table = os.urandom(KEY_SIZE), _Table(os.urandom(KEY_SIZE), ((ROLE_REAL, kek),))
    copy = _build(header, data_key, table)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise UsageError(f"{path} already exists: this node has its keys") from exc
    except OSError as exc:
        raise StoreError(f"cannot create {path}: {exc.strerror}") from exc
    try:
        try:
            os.pwrite(fd, bytes(FILE_SIZE), 0)
            _write(fd, path, copy, copy)
        finally:
            os.close(fd)
    except BaseException:
        path.unlink(missing_ok=True)  # a half-written new file holds no data yet
        raise
    with contextlib.suppress(OSError):  # a file system that cannot sync a directory still has the file
        files.sync_dir(path.parent)
    return Unlocked(path, "real", data_key, table.decoy_key, 1, False, kek)


def unlock(path: Path, passphrase: str) -> Unlocked:
    """Open the slot file with ``passphrase`` and rewrite every slot (see the module's docstring).

    Raises :class:`WrongPassphrase` (nothing changed), :class:`DamagedKeySlots`, :class:`UsageError` if there is
    no slot file, :class:`StoreError` if it cannot be read or written.
    """
    with _locked(path) as fd:
        raw = _read(fd, path)
        copy = _parse(path, raw)
        kek = derive(passphrase, copy.salt, copy.params)
        opened: tuple[int, bytes] | None = None
        for slot in copy.slots:  # every slot, whichever opens
            found = _open_slot(copy.header, kek, slot)
            if found is not None and opened is None:
                opened = found
        role, key = opened if opened is not None else (ROLE_EMPTY, os.urandom(KEY_SIZE))
        table = _open_table(copy.header, key, copy.table)
        if role == ROLE_REAL and table is not None:
            kind: Literal["real", "decoy"] = "real"
            data_key = key
        elif role == ROLE_DURESS:
            # The crypto-erase: the new copy holds this passphrase's slot (the decoy key, now the data key) and a
            # fresh node's table; every other slot, the real ones included, becomes filler.
            kind, data_key, table = "decoy", key, _Table(os.urandom(KEY_SIZE), ((ROLE_REAL, kek),))
        else:
            _build(copy.header, key, _Table(key, ()))  # the same work as the other outcomes, thrown away
            before = os.fstat(fd)
            _write(fd, path, raw[COPY_B_OFFSET:], raw[:COPY_SIZE])  # the bytes that were there
            # ... and the time that was there, at once (before any wait, which a kill may end): the file's time is
            # the last presence [safety] wipe_after_days reads, and a wrong passphrase proves none.
            with contextlib.suppress(OSError):
                os.utime(fd, ns=(before.st_atime_ns, before.st_mtime_ns))
            if role == ROLE_REAL:
                raise DamagedKeySlots(f"{path} is damaged (its table does not open); the data cannot be unlocked")
            raise WrongPassphrase("wrong passphrase: no key slot opens with it")
        new = _build(copy.header, data_key, table)
        _write(fd, path, new, new)
    return Unlocked(
        path, kind, data_key, table.decoy_key, len(table.keks(ROLE_REAL)), bool(table.keks(ROLE_DURESS)), kek
    )


def _change(unlocked: Unlocked, edit: Callable[[_Copy, _Table], _Table]) -> _Table:
    """Re-read the file under its lock, apply ``edit`` to its table, rewrite every slot; return the new table."""
    with _locked(unlocked.path) as fd:
        copy = _parse(unlocked.path, _read(fd, unlocked.path))
        table = _open_table(copy.header, unlocked.data_key, copy.table)
        if table is None:
            raise UsageError(f"the key slots in {unlocked.path} have changed: unlock again")
        table = edit(copy, table)
        new = _build(copy.header, unlocked.data_key, table)
        _write(fd, unlocked.path, new, new)
    return table


def _reopened(unlocked: Unlocked, table: _Table, kek: bytes | None = None) -> Unlocked:
    return Unlocked(
        unlocked.path,
        unlocked.kind,
        unlocked.data_key,
        table.decoy_key,
        len(table.keks(ROLE_REAL)),
        bool(table.keks(ROLE_DURESS)),
        kek if kek is not None else unlocked.kek,
    )


def _fresh(table: _Table, kek: bytes, replacing: bytes | None = None) -> None:
    for role, existing in table.entries:
        if existing == kek and existing != replacing:
            what = "a duress passphrase" if role == ROLE_DURESS else "already a passphrase"
            raise UsageError(f"that passphrase is {what} of this node: choose another")


def _room(table: _Table) -> None:
    if len(table.entries) >= SLOTS:
        raise UsageError(f"all {SLOTS} key slots are in use: remove a passphrase first")


def add_passphrase(unlocked: Unlocked, passphrase: str) -> Unlocked:
    """Let ``passphrase`` open the data too. Raises :class:`UsageError` if it is taken or all slots are in use."""

    def edit(copy: _Copy, table: _Table) -> _Table:
        kek = derive(passphrase, copy.salt, copy.params)
        _fresh(table, kek)
        _room(table)
        return _Table(table.decoy_key, (*table.entries, (ROLE_REAL, kek)))

    return _reopened(unlocked, _change(unlocked, edit))


def change_passphrase(unlocked: Unlocked, passphrase: str) -> Unlocked:
    """Replace the passphrase that unlocked ``unlocked`` with ``passphrase``."""
    new_kek = b""

    def edit(copy: _Copy, table: _Table) -> _Table:
        nonlocal new_kek
        if (ROLE_REAL, unlocked.kek) not in table.entries:
            raise UsageError("the passphrase used to unlock has been removed meanwhile: unlock again")
        new_kek = derive(passphrase, copy.salt, copy.params)
        _fresh(table, new_kek, replacing=unlocked.kek)
        entries = tuple((role, new_kek if kek == unlocked.kek else kek) for role, kek in table.entries)
        return _Table(table.decoy_key, entries)

    table = _change(unlocked, edit)
    return _reopened(unlocked, table, new_kek)


def remove_passphrase(unlocked: Unlocked, passphrase: str) -> Unlocked:
    """Stop ``passphrase`` (a real or the duress one) from opening anything; never the last real passphrase."""

    def edit(copy: _Copy, table: _Table) -> _Table:
        kek = derive(passphrase, copy.salt, copy.params)
        match = [role for role, existing in table.entries if existing == kek]
        if not match:
            raise UsageError("that passphrase opens no key slot of this node")
        if match[0] == ROLE_REAL and len(table.keks(ROLE_REAL)) == 1:
            raise UsageError(
                "that is the last passphrase: without one the data cannot be unlocked (`samizdat wipe` destroys it)"
            )
        return _Table(table.decoy_key, tuple(entry for entry in table.entries if entry[1] != kek))

    return _reopened(unlocked, _change(unlocked, edit))


def set_duress(unlocked: Unlocked, passphrase: str) -> Unlocked:
    """Make ``passphrase`` the duress passphrase (replacing any): it erases the real key slots and opens the decoy."""

    def edit(copy: _Copy, table: _Table) -> _Table:
        kek = derive(passphrase, copy.salt, copy.params)
        entries = tuple(entry for entry in table.entries if entry[0] != ROLE_DURESS)
        kept = _Table(table.decoy_key, entries)
        _fresh(kept, kek)
        _room(kept)
        return _Table(table.decoy_key, (*entries, (ROLE_DURESS, kek)))

    return _reopened(unlocked, _change(unlocked, edit))


# --- panic wipe -------------------------------------------------------------------------------------------------

#: Files one of which a directory must hold for :func:`wipe` to delete it.
DATA_FILES = (SLOTS_NAME, "identity.key", "identity.sealed", "config.toml", "events.sqlite", "local.sqlite")


def wipe(home: Path) -> None:
    """Crypto-erase the key slots of the data directory ``home`` (overwrite in place, fsync), then delete it.

    The overwrite alone makes the encrypted data unrecoverable; what the keys do not cover (config.toml, the
    operator codes, every file of a plain node) is overwritten with zeros before it is deleted
    (:func:`samizdat.store.files.scrub_tree`), so the disk's free blocks keep none of it.
    Raises :class:`UsageError` if ``home`` does not look like a data directory (nothing is touched), and
    :class:`StoreError` if something is left (the slots are erased first, whatever fails after).
    """
    home = Path(home)
    erase_slots(home)
    delete_home(home)


def check_home(home: Path) -> None:
    """Raise :class:`UsageError` (one sentence) unless ``home`` looks like a data directory one may wipe."""
    if not home.is_dir() or home.is_symlink() or home.resolve() in (Path("/"), Path(os.path.expanduser("~")).resolve()):
        raise UsageError(f"{home} is not a data directory; nothing deleted")
    if not any((home / name).exists() for name in DATA_FILES):
        raise UsageError(f"{home} does not look like a Samizdat data directory; nothing deleted")


def erase_slots(home: Path) -> None:
    """The first, instant half of :func:`wipe`: overwrite the key slots of ``home`` with random bytes, in place,
    and sync them to disk (nothing happens when there are none). Raises :class:`UsageError` as :func:`wipe`
    does, :class:`StoreError` if the file cannot be overwritten."""
    home = Path(home)
    check_home(home)
    # The second: key slots a `samizdat encrypt` was making when it was interrupted (store/encrypting.py).
    for slots in (home / SLOTS_NAME, home / ENCRYPTING / SLOTS_NAME):
        if not slots.exists():
            continue
        try:
            fd = os.open(slots, os.O_WRONLY | os.O_NOFOLLOW)
            try:
                os.pwrite(fd, os.urandom(max(os.fstat(fd).st_size, FILE_SIZE)), 0)
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise StoreError(f"cannot erase {slots}: {exc.strerror}") from exc
    plain = home / "identity.key"  # a node without a passphrase: its key in clear, overwritten before it goes
    with contextlib.suppress(OSError):
        files.overwrite_secret(plain)


def delete_home(home: Path) -> None:
    """The second half of :func:`wipe`: overwrite what would stay readable without the keys, then delete ``home``
    and everything in it (symlinks are not followed). Raises :class:`UsageError` as :func:`wipe` does,
    :class:`StoreError` if something is left or could not be overwritten (it is deleted all the same)."""
    home = Path(home)
    check_home(home)
    # Unlinking alone leaves a file's bytes in the disk's free blocks, where forensic tools read them back: the
    # encrypted stores are noise once the slots are erased, but config.toml (relays, a proxy, the node's name),
    # serve.json and the operator codes are not, nor is any file of a node without a passphrase.
    unwritten = files.scrub_tree(home, encrypted=(home / SLOTS_NAME).exists())
    failures = _delete_tree(home)
    if failures:
        raise StoreError(f"the key slots are erased but {home} is not entirely deleted: {failures[0]}")
    if unwritten:
        raise StoreError(f"{home} is deleted, but this file could not be overwritten first: {unwritten[0]}")


def _delete_tree(top: Path) -> list[str]:
    """Delete ``top`` and everything under it, going on past failures; return them (symlinks are not followed)."""
    failures: list[str] = []
    for root, dirs, names in os.walk(top, topdown=False):
        for name in names:
            try:
                os.unlink(os.path.join(root, name))
            except OSError as exc:
                failures.append(f"{os.path.join(root, name)}: {exc.strerror}")
        for name in dirs:
            path = os.path.join(root, name)
            try:
                if os.path.islink(path):
                    os.unlink(path)
                else:
                    os.rmdir(path)
            except OSError as exc:
                failures.append(f"{path}: {exc.strerror}")
    try:
        os.rmdir(top)
    except OSError as exc:
        failures.append(f"{top}: {exc.strerror}")
    return failures


# --- repeated failures ------------------------------------------------------------------------------------------


class FailureDelay:
    """Wait longer after each wrong passphrase in a row: ``first`` seconds, doubling, at most ``cap``.

    In memory only (see the module's docstring): a prompt that loops, or a serving node's unlock page, keeps one.
    """

    def __init__(self, *, first: float = 1.0, cap: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        self.first, self.cap, self.sleep = first, cap, sleep
        self.failures = 0

    @property
    def next_delay(self) -> float:
        """The wait after the next failure."""
        return min(self.cap, self.first * 2.0**self.failures)

    def unlock(self, path: Path, passphrase: str) -> Unlocked:
        """:func:`unlock`; after a :class:`WrongPassphrase`, wait (then raise it); after a success, start over."""
        try:
            unlocked = unlock(path, passphrase)
        except WrongPassphrase:
            delay = self.next_delay
            self.failures += 1
            self.sleep(delay)
            raise
        self.failures = 0
        return unlocked
