"""The kill cord and lock after sleep: a running ``serve`` that locks (or wipes) itself, with nobody typing.

The most common seizure takes the laptop from the table, open, with the node running unlocked: nobody gets to
type ``samizdat lock``. Two triggers do it for them (docs/safety.md, "The kill cord and sleep").

Theory of operation
-------------------

* **The kill cord** (``[safety] kill_cord``, ``serve --kill-cord``) is a path the owner keeps tethered to the
  body: a USB stick on a lanyard, seen as ``/dev/disk/by-id/usb-...`` (or any path, a ``/sys/bus/usb/devices``
  entry; not a file on the stick, which a file system pulled out while mounted may go on showing).
  :func:`cord_present` says whether it is there; a block device counts only while it has a medium (its size is
  not 0), so a card pulled from a reader, or a loop device detached, is gone too.
  When it goes, the node does ``[safety] kill_cord_action``: ``lock`` (what ``samizdat lock`` does: drop the keys,
  close the stores, stop) or ``wipe`` (what ``samizdat wipe --now`` does: erase the key slots first, then stop,
  then delete). A cord configured but absent when ``serve`` starts is refused (:func:`check`): a cord left
  unplugged must not silently switch the protection off.
* **Lock after sleep** (``[safety] lock_after_sleep``, on by default for an encrypted node): Linux's
  ``CLOCK_MONOTONIC`` stops while the machine is suspended and ``CLOCK_BOOTTIME`` does not, so the gap between
  them grows by the time slept and by nothing else (both are slewed alike by NTP; setting the wall clock moves
  neither). :class:`SleepDetector` locks once the gap grew by more than :data:`SLEEP_SECONDS`. No D-Bus, no
  logind: it works the same under any desktop, or none.
* **Where.** :func:`watch` is a blocking loop, run by :func:`start` in a thread of the ``serve`` process (the
  parent, with ``--workers``), looking every :data:`POLL_SECONDS`: a thread, so that a busy event loop does not
  delay the check. When it trips it hands over to the command line's own ``samizdat lock`` / ``samizdat wipe``
  path (``serve`` sends itself :data:`~samizdat.services.keyring.LOCK_SIGNAL` or, after erasing the key slots
  from this thread, :data:`~samizdat.services.keyring.WIPE_SIGNAL`), so there is one way to stop, whoever asks.

The test hook. A real suspend cannot happen in a test, so :data:`SLEEP_TEST_VARIABLE`, read once when ``serve``
starts, names a file whose number of seconds is added to the ``CLOCK_BOOTTIME`` reading. It can make the node
lock, never keep it from locking: the shift only counts upwards (the largest ever read is kept; a smaller
number, a missing or unreadable file reads as no change), so someone who can write the file, or who holds the
running machine, gains nothing by it. The variable is the environment of the process, fixed at its start, which
nobody changes from outside a running process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samizdat.config import Config, home_kind
from samizdat.errors import UsageError
from samizdat.services import instance

log = logging.getLogger(__name__)

#: How often the watcher looks at the cord and the clocks (seconds): a ``stat`` and a tiny sysfs read, nothing
#: worth saving for the time the keys would stay in memory after the cord went.
POLL_SECONDS = 0.1
#: A gap between ``CLOCK_BOOTTIME`` and ``CLOCK_MONOTONIC`` grown by more than this is a sleep (seconds). A real
#: suspend and resume takes longer than this by itself; the gap does not move otherwise (a few microseconds).
SLEEP_SECONDS = 5.0
#: Tests only: a file whose number of seconds is added to the boottime reading (see the module's text).
SLEEP_TEST_VARIABLE = "SAMIZDAT_SLEEP_TEST_FILE"


@dataclass(frozen=True)
class Guard:
    """What a running ``serve`` watches: the cord's path ("" for none), what pulling it does, and whether waking
    from sleep locks."""

    cord: str = ""
    action: str = "lock"
    after_sleep: bool = False

    @property
    def armed(self) -> bool:
        return bool(self.cord) or self.after_sleep


def guard(config: Config, *, encrypted: bool) -> Guard:
    """The guard of a ``serve`` with ``config`` . Lock after sleep applies to an
    encrypted node only: a plain node's keys are on its disk in clear, and locking it would protect nothing."""
    return Guard(cord=config.kill_cord, action=config.kill_cord_action,
                 after_sleep=bool(config.lock_after_sleep and encrypted))  # fmt: skip


def cord_present(path: str) -> bool:
    """Whether the cord ``path`` is there: it exists (a ``/dev/disk/by-id`` link whose device went is dangling,
    so gone), and, for a block device, has a medium (its size in ``/sys/dev/block`` is not 0)."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    if stat.S_ISBLK(info.st_mode):
        size = Path(f"/sys/dev/block/{os.major(info.st_rdev)}:{os.minor(info.st_rdev)}/size")
        with contextlib.suppress(OSError, ValueError):
            return int(size.read_text()) > 0
    return True


def check(guard: Guard, present: Callable[[str], bool] = cord_present) -> None:
    """Refuse to start a ``serve`` whose cord is configured but absent: UsageError (one sentence)."""
    if guard.cord and not present(guard.cord):
        raise UsageError(
            f"the kill cord {guard.cord} is not there ([safety] kill_cord): plug it in, or remove the setting, "
            "and start again; a node with its cord unplugged would not lock when it is taken"
        )


# --- sleep ------------------------------------------------------------------------------------------------------


def boottime_gap() -> float | None:
    """``CLOCK_BOOTTIME`` minus ``CLOCK_MONOTONIC`` in seconds (the time this machine has slept since it
    started), or None where the system has no such clocks (not Linux)."""
    try:
        return time.clock_gettime(time.CLOCK_BOOTTIME) - time.clock_gettime(time.CLOCK_MONOTONIC)
    except (AttributeError, OSError):
        return None


class TestShift:
    """The test hook's reading: the largest number of seconds the file named by :data:`SLEEP_TEST_VARIABLE` has
    held (never less than 0, never going down)."""

    __test__ = False  # not a pytest class

    def __init__(self, path: str) -> None:
        self.path = path
        self.largest = 0.0

    def __call__(self) -> float:
        with contextlib.suppress(OSError, ValueError):
            value = float(Path(self.path).read_text().strip() or 0)
            if value == value and value > self.largest:  # NaN reads as no change
                self.largest = value
        return self.largest


def clock_gap(environ: dict[str, str] | None = None) -> Callable[[], float | None]:
    """The gap reader a ``serve`` uses: :func:`boottime_gap`, plus the test hook's shift when its variable is set
    in ``environ`` (the process's environment, read now, once)."""
    test_file = (os.environ if environ is None else environ).get(SLEEP_TEST_VARIABLE, "")
    if not test_file:
        return boottime_gap
    shift = TestShift(test_file)

    def shifted() -> float | None:
        gap = boottime_gap()
        return None if gap is None else gap + shift()

    return shifted


class SleepDetector:
    """Whether the machine slept since the detector was made: the boottime gap grew by more than ``threshold``
    seconds. ``gap`` is injected (tests); a None reading (no such clock) never counts as sleep."""

    def __init__(self, gap: Callable[[], float | None] = boottime_gap, threshold: float = SLEEP_SECONDS) -> None:
        self.gap = gap
        self.threshold = threshold
        self.start = gap()

    def slept(self) -> float:
        """Seconds slept since the start (0.0 when the clocks cannot tell)."""
        now = self.gap()
        if self.start is None or now is None:
            return 0.0
        return max(0.0, now - self.start)

    def woke(self) -> bool:
        return self.slept() > self.threshold


# --- the watcher ------------------------------------------------------------------------------------------------


def watch(
    guard: Guard,
    on_trip: Callable[[str, str], None],
    *,
    wait: Callable[[float], bool],
    present: Callable[[str], bool] = cord_present,
    gap: Callable[[], float | None] = boottime_gap,
    poll: float = POLL_SECONDS,
) -> str | None:
    """Until ``wait(poll)`` returns True (the node stops) or a trigger fires: then call ``on_trip(action, why)``
    once (``action`` "lock" or "wipe", ``why`` "cord" or "sleep") and return ``why``; None when stopped. Looks
    once at once, then after every ``wait``. The cord comes first: a cord pulled while the lid was shut does its
    own action, a wipe if that is what it was set to."""
    if not guard.armed:
        return None
    detector = SleepDetector(gap) if guard.after_sleep else None
    while True:
        if guard.cord and not present(guard.cord):
            on_trip(guard.action, "cord")
            return "cord"
        if detector is not None and detector.woke():
            on_trip("lock", "sleep")
            return "sleep"
        if wait(poll):
            return None


def start(
    guard: Guard, on_trip: Callable[[str, str], None], *, gap: Callable[[], float | None] | None = None
) -> Callable[[], None]:
    """Run :func:`watch` in a daemon thread; the function that stops it (and waits for it). Nothing runs when the
    guard has nothing to watch."""
    stopped = threading.Event()
    if not guard.armed:
        return stopped.set

    def run() -> None:
        try:
            watch(guard, on_trip, wait=stopped.wait, gap=gap or clock_gap())
        except Exception:  # the trip itself failed: stop the node rather than leave it running unwatched
            log.exception("the kill cord's watcher failed; stopping the node")
            on_trip("lock", "error")

    thread = threading.Thread(target=run, name="samizdat-killcord", daemon=True)
    thread.start()

    def stop() -> None:
        stopped.set()
        if thread is not threading.current_thread():
            thread.join(5.0)

    return stop


def describe(config: Config, home: Path, present: Callable[[str], bool] = cord_present) -> dict[str, Any]:
    """What ``samizdat status`` says of these settings for the node in ``home``: the cord's path or None (from
    ``config``; a ``serve --kill-cord`` given on the command line is known from what that ``serve`` announced,
    without its path: ``kill_cord_given``), whether it is there now, its action, whether waking from sleep locks,
    and whether the setting asks for that (a node without a passphrase does not lock)."""
    cord = config.kill_cord or None
    action = config.kill_cord_action
    given = instance.running_kill_cord(home) if cord is None else None
    return {
        "kill_cord": cord,
        "kill_cord_present": None if cord is None else present(cord),
        "kill_cord_given": given is not None,
        "kill_cord_action": given or action,
        "lock_after_sleep": bool(config.lock_after_sleep and home_kind(home) == "encrypted"),
        "lock_after_sleep_set": config.lock_after_sleep,
    }
