"""When the web app locks itself (web/src/autolock.js, its decision alone, run under node with a made-up clock and
timers by web/test/autolock_check.mjs): each story says what a reader would see, the app still open or locked,
and when. The same code in a real Chromium: test_autolock_browser.py."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

WEB = Path(__file__).resolve().parents[2] / "web"
MINUTE = 60_000


@pytest.fixture(scope="module")
def stories() -> dict[str, Any]:
    if shutil.which("node") is None:
        pytest.skip("node is needed to run the browser's code")
    done = subprocess.run(["node", str(WEB / "test" / "autolock_check.mjs")], capture_output=True, timeout=120,
                          check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def test_out_of_sight_a_short_while_stays_open_and_past_the_delay_locks(stories: dict[str, Any]) -> None:
    # Hidden 30 s and back (delay 1 min): open. Hidden again at 30 s: locked a minute later.
    assert stories["hidden-delay"] == {"earlyLock": None, "lockedAt": 30_000 + MINUTE}


def test_at_once_locks_the_moment_it_is_hidden(stories: dict[str, Any]) -> None:
    assert stories["hidden-at-once"] == {"lockedAt": 5_000}


def test_frozen_in_the_background_it_locks_when_it_comes_back(stories: dict[str, Any]) -> None:
    assert stories["frozen-then-back"] == {"whileFrozen": None, "lockedAt": 10 * MINUTE}


def test_neither_a_phone_asleep_nor_a_clock_set_back_keeps_it_open(stories: dict[str, Any]) -> None:
    assert stories["asleep"] == {"locked": True}
    assert stories["clock-set-back"] == {"locked": True}


def test_left_untouched_it_locks_and_a_touch_moves_the_lock(stories: dict[str, Any]) -> None:
    assert stories["idle"] == {"before": None, "lockedAt": 50_000}


def test_never_means_never(stories: dict[str, Any]) -> None:
    assert stories["never"] == {"lockedAt": None}


def test_without_a_pin_nothing_locks_and_no_timer_spins(stories: dict[str, Any]) -> None:
    assert stories["no-pin"] == {"lockedAt": None, "timersSet": 0}


def test_a_shorter_delay_chosen_counts_from_the_change(stories: dict[str, Any]) -> None:
    assert stories["setting-changed"] == {"lockedAt": 40_000}
