"""An encrypted node's keys: set up, unlock, manage passphrases, lock a running node, wipe.

A data directory is *encrypted* when it has key slots (``keys.slots``, :mod:`samizdat.store.vault`): its event
store and local state are encrypted databases and its identity is sealed, each under its own key derived from the
data key (:class:`~samizdat.core.sealing.NodeKeys`). It also holds a decoy store in ``spare/``, under the decoy
key, which a duress passphrase opens in place of the real one: :func:`open_slots` (every unlock goes through it)
hands the work to :mod:`samizdat.services.decoy`. A directory without key slots is *plain*: made with
``samizdat init --no-passphrase`` (a hub with no private state), or before Samizdat encrypted anything; it opens as
before.

Every function here takes passphrases as arguments: asking for them (a terminal, ``--passphrase-fd``,
``SAMIZDAT_PASSPHRASE_FILE``) is the command line's part. ``serve`` keeps only the derived keys, in memory (the
node's and the decoy store's, :func:`unlock_keys`), and :func:`lock` (``samizdat lock``) or :func:`wipe` tell it to
let go of them all.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from samizdat.config import KEY_SLOTS, PLAIN_MARKER, HomeKind, home_kind, init_home
from samizdat.core.channel import parse_channel_address
from samizdat.core.keys import SecretKey
from samizdat.core.sealing import NodeKeys, UnlockedKeys
from samizdat.errors import UsageError
from samizdat.services import decoy, instance
from samizdat.store import vault
from samizdat.store.vault import DamagedKeySlots, FailureDelay, Params, Unlocked, WrongPassphrase

__all__ = [
    "DamagedKeySlots",
    "FailureDelay",
    "Unlocked",
    "WrongPassphrase",
]

#: ``samizdat init`` with this variable set to 1 makes key slots that open in a millisecond: for tests only, as a
#: passphrase behind them is guessed a million times faster. Only ``init`` reads it; an unlock always uses the
#: parameters written in the slot file.
KDF_TEST_VARIABLE = "SAMIZDAT_KDF_TEST"
#: Argon2id with 64 KiB and one pass: worthless against guessing, see :data:`KDF_TEST_VARIABLE`.
TEST_PARAMS = Params(memory_kib=64, iterations=1, lanes=1)

#: What ``samizdat lock`` sends a running ``serve``: drop the keys, close the stores, stop.
LOCK_SIGNAL = signal.SIGUSR1
#: What makes a running ``serve`` wipe its data directory (``samizdat wipe`` sends it too).
WIPE_SIGNAL = signal.SIGUSR2
#: Seconds ``lock`` and ``wipe`` wait for a running ``serve`` to stop.
STOP_WAIT = 30.0

PLAIN_NOTE = (
    "This node keeps its data unencrypted on purpose (`samizdat init --no-passphrase`): whoever holds this disk\n"
    "can read everything in this directory. That is right only for a hub with no private state (docs/hub.md).\n"
)


def kind(home: Path) -> HomeKind:
    """``encrypted``, ``plain`` or ``new`` (see :func:`samizdat.config.home_kind`)."""
    return home_kind(home)


def plain_on_purpose(home: Path) -> bool:
    """Whether a plain directory was made with ``--no-passphrase`` (else it predates encryption)."""
    return (home / PLAIN_MARKER).exists()


def kdf_test() -> bool:
    """Whether :data:`KDF_TEST_VARIABLE` asks for the weak test parameters."""
    return os.environ.get(KDF_TEST_VARIABLE, "").strip() == "1"


def init_params() -> Params:
    """Argon2id's parameters for new key slots: about a second of this machine's time and a lot of its memory
    (:func:`~samizdat.store.vault.calibrate`, a few seconds), or :data:`TEST_PARAMS` under
    :data:`KDF_TEST_VARIABLE`."""
    return TEST_PARAMS if kdf_test() else vault.calibrate()


def create(home: Path, passphrase: str, params: Params, *, secret: SecretKey | None = None) -> UnlockedKeys:
    """Set up an encrypted node in ``home``: key slots opened by ``passphrase``, a sealed new identity (or the
    imported ``secret``), the default config, the two (empty, encrypted) stores, and the decoy store
    (services/decoy.py); the keys of both. Raises UsageError (one sentence), StoreError. An interruption is finished
    by the next unlock and ``init``."""
    if kind(home) != "new":
        raise UsageError(f"{home} is set up already")
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    home.chmod(0o700)  # a folder that existed (made by hand) keeps its mode through mkdir: other users stay out
    unlocked = vault.create(home / KEY_SLOTS, passphrase, params=params)
    keys = NodeKeys.derive(unlocked.data_key)
    init_home(home, keys=keys, secret=secret)
    # Made now rather than at the first open, so that a node's files are the same from init on (docs/safety.md).
    decoy.create_stores(home, keys)
    decoy.settle(home, unlocked.data_key, unlocked.decoy_key)
    return UnlockedKeys(keys, NodeKeys.derive(unlocked.decoy_key))


def create_plain(home: Path, *, secret: SecretKey | None = None) -> bool:
    """Set up a node without a passphrase (``init --no-passphrase``); False if ``home`` was set up already."""
    if kind(home) != "new":
        return False
    init_home(home, secret=secret)
    (home / PLAIN_MARKER).write_text(PLAIN_NOTE, encoding="utf-8")
    return True


def finish(home: Path, keys: NodeKeys) -> bool:
    """Seal a new identity if an ``init`` was interrupted after the key slots were written; True if it did."""
    return init_home(home, keys=keys)


def unlock(home: Path, passphrase: str, delay: FailureDelay | None = None) -> NodeKeys:
    """The keys of the encrypted node in ``home`` (:func:`unlock_keys` for the decoy store's too). Every unlock
    rewrites the key slots (vault.py).

    Raises :class:`~samizdat.store.vault.WrongPassphrase` (after ``delay``'s wait, nothing changed),
    :class:`~samizdat.store.vault.DamagedKeySlots`, UsageError.
    """
    return unlock_keys(home, passphrase, delay).node


def unlock_keys(home: Path, passphrase: str, delay: FailureDelay | None = None) -> UnlockedKeys:
    """The keys of the encrypted node in ``home`` and of its decoy store (``serve`` keeps that in step while it
    runs, services/spare.py). After a duress unlock the decoy store is a fresh one. Raises as :func:`unlock`."""
    unlocked = open_slots(home, passphrase, delay)
    return UnlockedKeys.derive(unlocked.data_key, unlocked.decoy_key)


def open_slots(home: Path, passphrase: str, delay: FailureDelay | None = None) -> Unlocked:
    """Unlock the key slots of ``home`` (for :func:`unlock`, and to change passphrases: the functions below).

    Whatever the passphrase, the node that comes out is the one it opens: after a duress passphrase the real key
    slots are erased and the decoy store has become the node's store (a running ``serve`` of the real node is
    stopped first), with nothing said about it. Raises as :func:`unlock`, and StoreError.
    """
    path = home / KEY_SLOTS
    if not path.exists():
        raise UsageError(f"{path} is missing: without it the data in {home} cannot be unlocked, by anyone")
    before = path.stat()
    try:
        unlocked = (delay or FailureDelay()).unlock(path, passphrase)
    except WrongPassphrase:
        # A wrong passphrase proves nobody's presence: put back the time [safety] wipe_after_days reads
        # (services/deadman.py), so that guessing on a seized device does not keep the node from being wiped.
        with contextlib.suppress(OSError):
            os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
        raise
    if decoy.promotion_pending(home, unlocked.data_key):
        # A serve of the real node holds the real store open and its keys in memory: it must go first.
        with contextlib.suppress(UsageError):
            lock(home)
    decoy.settle(home, unlocked.data_key, unlocked.decoy_key)
    return unlocked


def set_duress(unlocked: Unlocked, passphrase: str) -> None:
    """Make ``passphrase`` the duress passphrase (replacing any). Raises UsageError if it is already one of the
    node's passphrases or all 8 slots are in use."""
    vault.set_duress(unlocked, passphrase)


def check_follows(targets: list[str]) -> None:
    """Raise UsageError (one sentence) unless every one of ``targets`` is a channel's naddr or address."""
    for target in targets:
        parse_channel_address(target)


def decoy_follow(home: Path, unlocked: Unlocked, targets: list[str]) -> list[str]:
    """Make the decoy store follow the channels ``targets``; the decoy's followed channels (all of them)."""
    decoy.follow(home, unlocked.decoy_key, targets)
    return decoy.followed(home, unlocked.decoy_key)


def add_passphrase(unlocked: Unlocked, new: str) -> int:
    """Let ``new`` open the node too; return how many passphrases open it now."""
    return vault.add_passphrase(unlocked, new).passphrases


def change_passphrase(unlocked: Unlocked, new: str) -> int:
    """Replace the passphrase that unlocked with ``new``; return how many passphrases open the node."""
    return vault.change_passphrase(unlocked, new).passphrases


def remove_passphrase(unlocked: Unlocked, doomed: str) -> int:
    """Stop ``doomed`` from opening the node (never the last one); return how many passphrases are left."""
    return vault.remove_passphrase(unlocked, doomed).passphrases


# --- a running serve --------------------------------------------------------------------------------------------


def _signal_serve(home: Path, signum: int) -> int | None:
    """Send ``signum`` to the ``serve`` running on ``home``; its pid, or None when none runs."""
    pid = instance.running_pid(home)
    if pid is None:
        return None
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        return None
    except PermissionError as exc:
        raise UsageError(f"the `samizdat serve` on {home} (pid {pid}) is another user's: stop it as them") from exc
    return pid


def _alive(pid: int) -> bool:
    """Whether process ``pid`` still runs (a zombie, ended but not yet reaped by its parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _wait_stopped(home: Path, pid: int, timeout: float, sleep: Callable[[float], None]) -> bool:
    """Until ``serve`` has let go of its lock and its process has ended (its stores closed with it)."""
    deadline = time.monotonic() + timeout
    while instance.running_pid(home) is not None or _alive(pid):
        if time.monotonic() >= deadline:
            return False
        sleep(0.05)
    return True


def lock(home: Path, *, timeout: float = STOP_WAIT, sleep: Callable[[float], None] = time.sleep) -> int | None:
    """Tell the ``serve`` running on ``home`` to drop its keys, close the stores and stop; wait until it has.

    Returns its pid, or None if none was running. Raises UsageError if it does not stop within ``timeout``.
    """
    pid = _signal_serve(home, LOCK_SIGNAL)
    if pid is not None and not _wait_stopped(home, pid, timeout, sleep):
        raise UsageError(f"the `samizdat serve` on {home} (pid {pid}) did not stop within {timeout:.0f} s")
    return pid


def erase(home: Path) -> None:
    """Crypto-erase the key slots of ``home`` (milliseconds): from here on the data can never be read."""
    vault.erase_slots(home)


def delete(home: Path) -> None:
    """Delete the data directory (after :func:`erase`)."""
    if home.exists():
        vault.delete_home(home)


def wipe(home: Path, *, timeout: float = STOP_WAIT, sleep: Callable[[float], None] = time.sleep) -> int | None:
    """Panic wipe: erase the key slots, tell a running ``serve`` to wipe and stop (and wait for it), then delete
    the directory. Returns the pid of the ``serve`` that was told, or None. Raises UsageError if ``home`` is not a
    data directory (nothing touched), StoreError if something is left (the slots are erased first)."""
    erase(home)
    pid = _signal_serve(home, WIPE_SIGNAL)
    if pid is not None:
        _wait_stopped(home, pid, timeout, sleep)
    delete(home)
    return pid
