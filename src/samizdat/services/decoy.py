"""The decoy store: a second, ordinary node in every encrypted data directory, opened by the duress passphrase.

Theory of operation
-------------------

Every encrypted node has two sets of the same three files, from ``samizdat init`` on::

    identity.sealed   events.sqlite   local.sqlite            the store the passphrase opens
    spare/identity.sealed   spare/events.sqlite   spare/local.sqlite     the decoy store

The top set is under keys derived from the data key, the ``spare/`` set under keys derived from the *decoy key*
(:class:`~samizdat.core.sealing.NodeKeys` of each; both keys are in the key slots, :mod:`samizdat.store.vault`).
Without a key the two sets are the same kind of noise, and every encrypted node has both, so that ``spare/``
exists says nothing about a duress passphrase. ``samizdat passphrase duress --follow`` records channels in the
decoy's ``local.sqlite``.

A duress unlock has already overwritten the real key slots when it reaches :func:`settle`: the decoy key is now
the data key (``D``) and the slots hold a fresh decoy key (``N``). :func:`settle` then *promotes* the decoy:

1. each of ``spare/events.sqlite`` and ``spare/local.sqlite`` that opens under ``D`` is copied over the top file
   of its name (the real store's WAL files deleted first); then ``spare/identity.sealed`` over ``identity.sealed``;
2. the ``spare/`` files are made a fresh, empty decoy store under ``N``: the two databases first, the identity
   last.

Files are overwritten in place, never created anew or renamed: each keeps the inode and creation date it had
since ``init``, so file dates do not show when the swap happened (a fresh ``spare/`` set would be born at the
duress unlock). And after *every* unlock the six files' modification times are set to now, as a promotion
writes them all: on every encrypted node they say "last unlocked then", like ``keys.slots``. The real store's
pages go with the overwrite (their key is erased in any case).

Every step can be repeated, and :func:`settle` runs after *every* unlock, so an interrupted promotion finishes at
the next one. What it finds decides what it does, as only the keys tell the files apart:

* ``spare/identity.sealed`` opens under the data key: a promotion is under way; do (or redo) steps 1 and 2. A
  spare database that no longer opens under ``D`` was copied and reset already (a zero-length file is never
  taken for a store: SQLite would open it under any key);
* ``spare/`` opens under the decoy key, its identity and both databases: all is well (a spare identity is
  written last, and a half-made database does not open);
* anything else (files missing, half written, a node made before the decoy store existed): step 2 alone.

Operator login codes (``web-operators``) belong to the real node and are deleted by a promotion; ``config.toml``
is left as it is (docs/safety.md says what that means).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from samizdat.config import (
    EVENTS_DB,
    IDENTITY_SEALED,
    KEY_SLOTS,
    LOCAL_DB,
    SPARE_DIR,
    rewrite_sealed_identity,
    sealed_identity_opens,
    write_in_place,
)
from samizdat.core.channel import parse_channel_address
from samizdat.core.sealing import NodeKeys
from samizdat.errors import StoreError
from samizdat.store.dbapi import connect, is_sqlcipher, sqlite3
from samizdat.store.local import LocalState
from samizdat.store.local import prepare_file as prepare_local
from samizdat.store.sqlite import prepare_file as prepare_events

#: Files of the real node that say something about it and mean nothing to the decoy: deleted by a promotion.
REAL_ONLY = ("web-operators", "web-operators.lock")


def spare(home: Path) -> Path:
    return home / SPARE_DIR


@contextlib.contextmanager
def _held(home: Path) -> Iterator[None]:
    """One :func:`settle` at a time per data directory: an exclusive lock on the key slot file."""
    fd = os.open(home / KEY_SLOTS, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def promotion_pending(home: Path, data_key: bytes) -> bool:
    """Whether the decoy store is under ``data_key``: a duress unlock happened and :func:`settle` must promote it."""
    return sealed_identity_opens(spare(home) / IDENTITY_SEALED, NodeKeys.derive(data_key))


def settle(home: Path, data_key: bytes, decoy_key: bytes) -> bool:
    """After an unlock: finish a duress unlock's promotion of the decoy store if one is due, and make sure a decoy
    store under ``decoy_key`` exists. True if a promotion ran. Stop a running ``serve`` before (it holds the real
    store open). Raises StoreError if a file cannot be written."""
    with _held(home):
        data, decoy = NodeKeys.derive(data_key), NodeKeys.derive(decoy_key)
        promoted = promotion_pending(home, data_key)
        try:
            if promoted:
                _promote(home, data)
            if promoted or not whole(spare(home), decoy):
                # In the format of the node's other files (store/dbapi.py, is_sqlcipher).
                create_set(spare(home), decoy, legacy=is_sqlcipher(home / EVENTS_DB))
            _touch(home)
        except OSError as exc:
            raise StoreError(f"cannot set up the files of {home}: {exc.strerror or exc}") from exc
    return promoted


def whole(directory: Path, keys: NodeKeys) -> bool:
    """Whether ``directory`` holds a whole node under ``keys``: its identity and both stores open. Checked at
    every unlock (a damaged decoy store is made again), which also gives a real unlock some of the work a duress
    unlock does."""
    return (
        sealed_identity_opens(directory / IDENTITY_SEALED, keys)
        and _opens(directory / EVENTS_DB, keys.events)
        and _opens(directory / LOCAL_DB, keys.local)
    )


def _opens(path: Path, key: bytes) -> bool:
    """Whether ``path`` is a non-empty database that opens under ``key`` (its WAL folded in on the way)."""
    try:
        if path.stat().st_size == 0:
            return False
        conn = connect(str(path), key)
    except OSError:
        return False
    except sqlite3.Error as exc:  # a pair of classes (store/dbapi.py): not in a tuple with another
        return _busy(exc)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except sqlite3.Error as exc:
        return _busy(exc)
    finally:
        conn.close()
    return True


def _busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says the database is locked by another process: then it is in use (a running ``serve``
    keeps the decoy store in step, services/spare.py), not damaged, and must not be emptied and made again under
    that process's feet; a damaged store is made again at a later unlock."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and (code & 0xFF) in (5, 6)  # SQLITE_BUSY, SQLITE_LOCKED


def _touch(home: Path) -> None:
    """Set the modification time of both sets' files to now, after every unlock: a promotion writes them all,
    and their dates must not tell it from an ordinary unlock (which rewrites ``keys.slots`` in any case)."""
    for directory in (home, spare(home)):
        for name in (IDENTITY_SEALED, EVENTS_DB, LOCAL_DB):
            with contextlib.suppress(FileNotFoundError):
                os.utime(directory / name)


def _remove_wal(path: Path) -> None:
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(f"{path}{suffix}")


def _promote(home: Path, data: NodeKeys) -> None:
    """Step 1 of the module's docstring: copy what of the decoy store is under ``data`` over the top files."""
    for name, key in ((EVENTS_DB, data.events), (LOCAL_DB, data.local)):
        source = spare(home) / name
        if _opens(source, key):
            _remove_wal(source)
            _remove_wal(home / name)
            write_in_place(home / name, source.read_bytes())
    source = spare(home) / IDENTITY_SEALED
    write_in_place(home / IDENTITY_SEALED, source.read_bytes())
    for name in REAL_ONLY:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(home / name)
    for entry in home.glob(".web-operators.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()


def create_stores(directory: Path, keys: NodeKeys, *, legacy: bool = False) -> None:
    """Make the two databases in ``directory`` empty stores under ``keys``; existing files are emptied and refilled
    in place. ``legacy``: in SQLCipher's format, as a node made before AEGIS has them. Raises StoreError,
    OSError."""
    directory.mkdir(mode=0o700, exist_ok=True)
    for name in (EVENTS_DB, LOCAL_DB):
        _remove_wal(directory / name)
        if (directory / name).exists():
            os.truncate(directory / name, 0)  # the same file, refilled (synced once it is whole)
    prepare_events(directory / EVENTS_DB, keys.events, legacy=legacy)
    prepare_local(directory / LOCAL_DB, keys.local, legacy=legacy)


def create_set(directory: Path, keys: NodeKeys, *, legacy: bool = False) -> None:
    """Make ``directory`` hold an empty node under ``keys``: the two databases, then a new sealed identity (last:
    its presence says the set is whole). Existing files are emptied and refilled in place. Raises StoreError,
    OSError."""
    create_stores(directory, keys, legacy=legacy)
    rewrite_sealed_identity(directory / IDENTITY_SEALED, keys)


def follow(home: Path, decoy_key: bytes, targets: list[str], now: float | None = None) -> list[str]:
    """Make the decoy store follow the channels ``targets`` (naddr or address); return their addresses. Raises
    UsageError for one that is not a channel address (nothing is recorded then), StoreError."""
    pointers = [parse_channel_address(target) for target in targets]
    local = LocalState(spare(home) / LOCAL_DB, key=NodeKeys.derive(decoy_key).local)
    try:
        addresses = []
        for pointer in pointers:
            address = f"{pointer.kind}:{pointer.pubkey}:{pointer.identifier}"
            local.follow(address, pointer.relays, time.time() if now is None else now)
            addresses.append(address)
        return addresses
    finally:
        local.close()


def followed(home: Path, decoy_key: bytes) -> list[str]:
    """The channels the decoy store follows."""
    local = LocalState(spare(home) / LOCAL_DB, key=NodeKeys.derive(decoy_key).local)
    try:
        return sorted(local.follows())
    finally:
        local.close()
