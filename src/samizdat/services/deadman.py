"""Wipe after N days (``[safety] wipe_after_days``): a dead man's switch for an encrypted node.

The rule. A node is *due* when nobody has proved presence for more than N days. Presence is proved by unlocking
with a real passphrase (any command that asks for it, ``samizdat passphrase check`` being the cheapest) or by
logging in to the web app as the operator. The time of the last proof is the key slot file's modification time,
which every unlock rewrites anyway (:mod:`samizdat.store.vault`): nothing new is written that would tell an
examiner more. A wrong passphrase proves nothing: :func:`samizdat.services.keyring.open_slots` puts the time
back after one, so someone trying passphrases on a seized device does not keep the node alive. An operator login
sets the time without touching the slots (:func:`note_presence`).

Where it is checked. Every command that opens an encrypted data directory checks before it asks for the
passphrase, and wipes a due node (:func:`wipe_if_due`; the command line says so in one line). A ``serve`` that
keeps running unlocked checks every hour (:func:`watch`) and wipes itself the same way a panic wipe does.

Its limits (docs/safety.md says them to the user): a copy of the disk made before is not wiped; whoever can set
the clock back, or edit ``config.toml`` before starting the node, stops it; a device kept switched off is wiped
only when someone next starts Samizdat on it; a plain node (no key slots) has nothing to measure and is never
wiped by this.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from samizdat.config import KEY_SLOTS
from samizdat.services import keyring

log = logging.getLogger(__name__)

DAY = 86400.0
#: Seconds in a "day" for tests only, so that a running serve's wipe can be seen in seconds. Never set it on a real
#: node: it shortens the period it guards by the same factor.
TEST_DAY_VARIABLE = "SAMIZDAT_WIPE_TEST_DAY"
#: How often a running serve looks, at most (a day's 24th under the test variable).
CHECK_EVERY = 3600.0


def day_seconds() -> float:
    """The length of a day: :data:`DAY`, or :data:`TEST_DAY_VARIABLE`'s seconds in tests."""
    try:
        test_day = float(os.environ.get(TEST_DAY_VARIABLE, "") or 0)
    except ValueError:
        test_day = 0.0
    return test_day if test_day > 0 else DAY


def last_presence(home: Path) -> float | None:
    """When presence was last proved (the key slot file's modification time); None for a node without slots."""
    try:
        return (home / KEY_SLOTS).stat().st_mtime
    except OSError:
        return None


def note_presence(home: Path, now: float | None = None) -> None:
    """Count now as presence (an operator login): set the key slot file's time, its bytes untouched, to the start
    of the hour (a day's 24th): the time to the second of the owner's last login from a phone, lined up with a
    raid or a post, is more than the switch needs (red team, round 14). The switch may act up to an hour early."""
    grain = day_seconds() / 24
    at = (time.time() if now is None else now) // grain * grain
    with contextlib.suppress(OSError):
        os.utime(home / KEY_SLOTS, (at, at))


def due(home: Path, days: float, now: float | None = None) -> bool:
    """Whether ``home`` is to be wiped: ``days`` is on (> 0) and the last presence is older than that."""
    if days <= 0:
        return False
    last = last_presence(home)
    now = time.time() if now is None else now
    return last is not None and now - last > days * day_seconds()


def wipe_if_due(home: Path, days: float, now: float | None = None) -> bool:
    """Wipe ``home`` (as ``samizdat wipe`` does: erase the key slots, stop a running serve, delete) if it is due;
    True if it did. Raises as :func:`samizdat.services.keyring.wipe`."""
    if not due(home, days, now):
        return False
    keyring.wipe(home)
    return True


async def watch(
    home: Path,
    days: float,
    on_due: Callable[[], None],
    *,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], Awaitable[None]],
) -> None:
    """For a running serve: call ``on_due`` (which wipes and stops it) once ``home`` is due, checking every
    :data:`CHECK_EVERY` seconds; return at once when the switch is off."""
    if days <= 0 or last_presence(home) is None:
        return
    every = min(CHECK_EVERY, day_seconds() / 24)
    while not due(home, days, clock()):
        await sleep(every)
    log.warning("nobody unlocked this node for more than %g days ([safety] wipe_after_days): wiping it", days)
    on_due()
