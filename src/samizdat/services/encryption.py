"""``samizdat encrypt``: turn a plain data directory into an encrypted one, losing nothing, safe against a kill.

A plain directory (``init --no-passphrase``, or made before Samizdat encrypted anything) gets key slots under a new
passphrase; its identity key is sealed; its event store and local state are copied into encrypted databases,
verified row by row against the plain ones, swapped in, and only then are the plain files deleted.
:mod:`samizdat.store.encrypting` says how the files move and why an interruption never leaves two live halves.

Every command that opens a data directory first calls :func:`settle`, which finishes (after the point of no return)
or rolls back (before it) a migration that was interrupted: neither needs the passphrase. The whole migration, and
every :func:`settle`, holds the directory's serve lock (:mod:`samizdat.services.instance`), so no ``serve`` starts
meanwhile and two processes never move the same files.
"""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samizdat.config import IDENTITY_SEALED, KEY_SLOTS, home_kind, load_identity, seal_identity
from samizdat.core.sealing import NodeKeys
from samizdat.errors import StoreError, UsageError
from samizdat.services import instance
from samizdat.store import encrypting, vault
from samizdat.store.vault import Params

#: For tests only: ``samizdat encrypt`` with this variable set to a step's name (:data:`STEPS`) kills itself with
#: SIGKILL right after that step, as a power cut would, so that tests can show the next run recovers.
KILL_VARIABLE = "SAMIZDAT_ENCRYPT_TEST_KILL"
#: The steps, in order; ``verified`` is the point of no return.
STEPS = (
    "begun", "keys", "events", "local", "verified",
    "moved-events", "moved-local", "moved-identity", "moved-keys", "plain-removed",
)  # fmt: skip

#: One line for after the plain files are gone: what overwriting and deleting them cannot do.
FLASH_WARNING = (
    "the plain files are overwritten and deleted, but flash storage (SSD, SD card, phone) may keep their old blocks, "
    "and every disk keeps what SQLite wrote and deleted before (its write-ahead logs), readable by whoever takes "
    "this disk: use full-disk encryption too, and if this disk may already have been seized or copied, start a fresh "
    "encrypted node and sync it from others instead"
)


@dataclass(frozen=True)
class Settled:
    """What :func:`settle` did with an interrupted migration."""

    finished: bool  # True: it had been verified and is now complete; False: it was undone, the home is plain
    summary: dict[str, Any]  # a finished one's :func:`encrypt` summary


def _step(name: str) -> None:
    if os.environ.get(KILL_VARIABLE, "").strip() == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _busy(home: Path) -> str:
    return (
        f"`samizdat serve` or `samizdat encrypt` is running on {home}: "
        "stop the serve first (`samizdat lock`), or let the encrypt finish"
    )


def settle(home: Path) -> Settled | None:
    """Finish or roll back a migration of ``home`` that was interrupted; None when there was none. Needs no
    passphrase. Raises UsageError while a ``samizdat encrypt`` runs on ``home``, StoreError."""
    if not encrypting.pending(home):
        return None
    with instance.serve_lock(home, busy=_busy(home)):
        if not encrypting.pending(home):
            return None  # another process settled it while this one waited for nothing
        verdict, summary = encrypting.recover(home)
    return Settled(verdict == "finished", summary)


def check(home: Path) -> None:
    """Raise UsageError (one sentence) unless ``home`` is a plain data directory that may be encrypted now."""
    kind = home_kind(home)
    if kind == "encrypted":
        raise UsageError(f"{home} is encrypted already: there is nothing to do")
    if kind == "new":
        raise UsageError(f"{home} is not a data directory: `samizdat init` makes a new, encrypted one")
    if instance.running_pid(home) is not None:
        raise UsageError(f"a `samizdat serve` is running on {home}: stop it first (`samizdat lock`), then encrypt")


def encrypt(home: Path, passphrase: str, params: Params) -> dict[str, Any]:
    """Encrypt the plain data directory ``home`` under ``passphrase`` (key slots with ``params``); return what was
    kept: events, their id hash, the rows of each local table.

    Raises UsageError as :func:`check` does (nothing touched), StoreError when the copy fails or does not match
    the original (rolled back: the home is plain and whole), or when the swap fails after the point of no return
    (the next command finishes it).
    """
    settle(home)  # an earlier run, interrupted: finished (then this one refuses: encrypted already) or undone
    check(home)
    with instance.serve_lock(home, busy=_busy(home)):
        check(home)
        identity = load_identity(home)
        directory = encrypting.begin(home)
        locks: list[Any] = []  # held from before each copy until the commit: nothing written meanwhile is lost
        try:
            try:
                _step("begun")
                keys = NodeKeys.derive(vault.create(directory / KEY_SLOTS, passphrase, params=params).data_key)
                seal_identity(directory / IDENTITY_SEALED, identity, keys)
                _step("keys")
                summary = _copy(home, directory, keys, locks)
                encrypting.commit(home, summary)
            except BaseException:
                encrypting.roll_back(home)
                raise
            # while the locks hold the plain files: closing the last connection deletes the WAL, whose freed
            # blocks would otherwise keep what it held (store/encrypting.py, step 7)
            encrypting.scrub_plain(home)
        finally:
            for lock in locks:
                encrypting.release(lock)  # before the swap: a plain connection must not outlive its files
        _step("verified")
        encrypting.roll_forward(home, _step, scrubbed=True)
    return summary


def _copy(home: Path, directory: Path, keys: NodeKeys, locks: list[Any]) -> dict[str, Any]:
    """Copy and verify each plain database that exists (one that does not is made, encrypted, at the first open),
    adding the write lock held on each to ``locks``. Raises StoreError."""
    summary: dict[str, Any] = {"events": 0, "event_ids_sha256": "", "local": {}}
    for name, key, step in (("events.sqlite", keys.events, "events"), ("local.sqlite", keys.local, "local")):
        plain = home / name
        if not plain.exists():
            _step(step)
            continue
        lock = encrypting.hold(plain)
        locks.append(lock)
        encrypting.export(plain, directory / name, key)
        before = encrypting.digest(lock)
        copy = encrypting.open_copy(directory / name, key)
        try:
            after = encrypting.digest(copy)
        finally:
            copy.close()
        wrong = encrypting.differences(before, after)
        if wrong:
            raise StoreError(f"the encrypted copy of {name} does not match it ({'; '.join(wrong)}); nothing changed")
        if after.ids is not None:
            summary["events"], summary["event_ids_sha256"] = after.ids
        if name == "local.sqlite":
            summary["local"] = {table: rows for table, (rows, _hash) in after.tables.items()}
        _step(step)
    return summary
