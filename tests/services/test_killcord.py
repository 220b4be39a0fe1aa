"""The kill cord's and the sleep detector's rules, with injected clocks and cords (a real suspend cannot happen in
a test; tests/e2e/test_kill_cord.py runs them in a real ``serve``)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from samizdat.config import Config, load_config
from samizdat.errors import UsageError
from samizdat.services import killcord
from samizdat.services.killcord import Guard, SleepDetector, TestShift


def gaps(*values: float | None) -> Callable[[], float | None]:
    """A boottime gap that reads ``values`` in turn, then the last one for ever."""
    readings: Iterator[float | None] = iter(values)
    last: list[float | None] = [None]

    def gap() -> float | None:
        last[0] = next(readings, last[0])
        return last[0]

    return gap


def waits(times: int) -> tuple[Callable[[float], bool], list[float]]:
    """A ``wait`` that lets the watcher look ``times`` more times, then says the node stopped."""
    asked: list[float] = []

    def wait(seconds: float) -> bool:
        asked.append(seconds)
        return len(asked) > times

    return wait, asked


def test_the_detector_sees_a_sleep_only_when_the_gap_grew_past_the_threshold() -> None:
    detector = SleepDetector(gaps(100.0, 100.000004, 103.0, 105.0, 105.5), threshold=5.0)
    assert [detector.woke() for _ in range(4)] == [False, False, False, True]


def test_the_detector_never_sees_sleep_without_the_clocks() -> None:
    assert not SleepDetector(gaps(None, 1000.0)).woke()
    assert not SleepDetector(gaps(0.0, None)).woke()


def test_the_detector_on_this_machine_sees_no_sleep() -> None:
    detector = SleepDetector()
    if detector.start is None:
        pytest.skip("this system has no CLOCK_BOOTTIME")
    assert not detector.woke()


def test_a_pulled_cord_trips_its_action_before_a_sleep_is_looked_at() -> None:
    tripped: list[tuple[str, str]] = []
    plugged = iter([True, True, False])
    wait, asked = waits(10)
    why = killcord.watch(
        Guard(cord="/dev/stick", action="wipe", after_sleep=True),
        lambda action, why: tripped.append((action, why)),
        wait=wait,
        present=lambda path: next(plugged),
        gap=gaps(0.0, 0.0, 0.0, 3600.0),
    )
    assert (why, tripped) == ("cord", [("wipe", "cord")])
    assert len(asked) == 2
    assert all(0 < seconds <= 0.25 for seconds in asked)


def test_waking_from_sleep_locks_even_when_the_cord_is_set_to_wipe() -> None:
    tripped: list[tuple[str, str]] = []
    wait, _ = waits(10)
    why = killcord.watch(
        Guard(cord="/dev/stick", action="wipe", after_sleep=True),
        lambda action, why: tripped.append((action, why)),
        wait=wait,
        present=lambda path: True,
        gap=gaps(0.0, 0.0, 0.0, 30.0),
    )
    assert (why, tripped) == ("sleep", [("lock", "sleep")])


def test_a_node_stopped_normally_trips_nothing() -> None:
    tripped: list[object] = []
    wait, asked = waits(3)
    why = killcord.watch(
        Guard(cord="/dev/stick", after_sleep=True), tripped.append, wait=wait, present=lambda p: True, gap=gaps(0.0)
    )
    assert (why, tripped, len(asked)) == (None, [], 4)


def test_sleep_is_ignored_when_lock_after_sleep_is_off() -> None:
    wait, _ = waits(3)
    why = killcord.watch(Guard(cord="/dev/stick"), print, wait=wait, present=lambda p: True, gap=gaps(0.0, 1e6))
    assert why is None


def test_a_cord_counts_as_gone_when_missing_dangling_or_a_block_device_without_medium(tmp_path: Path) -> None:
    stick = tmp_path / "stick"
    stick.touch()
    link = tmp_path / "usb-Stick_0001-0:0"
    link.symlink_to(stick)
    assert killcord.cord_present(str(link))
    stick.unlink()
    assert not killcord.cord_present(str(link))  # udev's /dev/disk/by-id link to a device that went
    assert not killcord.cord_present(str(tmp_path / "never"))
    empty = [f"/dev/{n}" for n in ("loop7", "loop6", "loop5") if Path(f"/sys/block/{n}/size").exists()]
    empty = [d for d in empty if os.path.exists(d) and Path(f"/sys/block/{d[5:]}/size").read_text().strip() == "0"]
    if empty:  # a detached loop device keeps its /dev node: without a medium it is no cord
        assert not killcord.cord_present(empty[0])


def test_a_cord_configured_but_absent_is_refused_in_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^the kill cord /nowhere/stick is not there") as caught:
        killcord.check(Guard(cord="/nowhere/stick"))
    assert "\n" not in str(caught.value)
    killcord.check(Guard())  # no cord: nothing to check
    (tmp_path / "stick").touch()
    killcord.check(Guard(cord=str(tmp_path / "stick")))


def test_lock_after_sleep_is_on_by_default_and_for_encrypted_nodes_only() -> None:
    assert killcord.guard(Config(), encrypted=True) == Guard(after_sleep=True)
    assert killcord.guard(Config(), encrypted=False) == Guard(after_sleep=False)
    assert not killcord.guard(Config(lock_after_sleep=False), encrypted=True).armed


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ('kill_cord = "stick"', "safety.kill_cord must be an absolute path"),
        ("kill_cord = 3", "safety.kill_cord must be an absolute path"),
        ('kill_cord_action = "shred"', 'safety.kill_cord_action must be "lock" or "wipe"'),
        ('lock_after_sleep = "yes"', "lock_after_sleep must be true or false"),
    ],
)
def test_bad_settings_are_refused_in_one_sentence(tmp_path: Path, lines: str, error: str) -> None:
    (tmp_path / "config.toml").write_text(f"[safety]\n{lines}\n")
    with pytest.raises(UsageError, match=error):
        load_config(tmp_path)


def test_the_settings_are_read(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        '[safety]\nkill_cord = "/dev/disk/by-id/usb-x"\nkill_cord_action = "wipe"\nlock_after_sleep = false\n'
    )
    config = load_config(tmp_path)
    assert (config.kill_cord, config.kill_cord_action, config.lock_after_sleep) == ("/dev/disk/by-id/usb-x", "wipe",
                                                                                    False)  # fmt: skip


def test_the_test_hook_only_ever_adds_time(tmp_path: Path) -> None:
    """Whoever can write the hook's file can make the node lock, never keep it from locking: a smaller number,
    a negative one, garbage or a deleted file read as no change."""
    file = tmp_path / "shift"
    shift = TestShift(str(file))
    assert shift() == 0.0
    for text, expected in (("30", 30.0), ("5", 30.0), ("-1000", 30.0), ("nan", 30.0), ("x", 30.0), ("40", 40.0)):
        file.write_text(text)
        assert shift() == expected, text
    file.unlink()
    assert shift() == 40.0


def test_the_test_hook_is_off_unless_its_variable_is_set(tmp_path: Path) -> None:
    assert killcord.clock_gap({}) is killcord.boottime_gap
    file = tmp_path / "shift"
    file.write_text("1000")
    shifted = killcord.clock_gap({killcord.SLEEP_TEST_VARIABLE: str(file)})
    real = killcord.boottime_gap()
    if real is None:
        pytest.skip("this system has no CLOCK_BOOTTIME")
    reading = shifted()
    assert reading is not None
    assert reading - real > 999


def test_the_thread_trips_once_and_stops_when_asked(tmp_path: Path) -> None:
    cord = tmp_path / "stick"
    cord.touch()
    tripped = threading.Event()
    trips: list[tuple[str, str]] = []

    def on_trip(action: str, why: str) -> None:
        trips.append((action, why))
        tripped.set()

    stop = killcord.start(Guard(cord=str(cord)), on_trip)
    try:
        assert not tripped.wait(0.3)
        cord.unlink()
        assert tripped.wait(10.0)
    finally:
        stop()
    assert trips == [("lock", "cord")]
    stop = killcord.start(Guard(), on_trip)  # nothing to watch: no thread
    stop()
    assert not [t for t in threading.enumerate() if t.name == "samizdat-killcord"]


def test_status_says_whether_the_cord_is_armed(tmp_path: Path) -> None:
    from samizdat.cli.status import _safety_lines

    cord = tmp_path / "stick"
    config = Config(kill_cord=str(cord), kill_cord_action="wipe")
    absent = _safety_lines(killcord.describe(config, tmp_path))
    assert absent[0].startswith(f"Kill cord: ! {cord} is NOT there: `samizdat serve` refuses to start")
    cord.touch()
    assert _safety_lines(killcord.describe(config, tmp_path))[0] == (
        f"Kill cord: armed: {cord} is there; when it goes, a serving node wipes itself"
    )
    assert _safety_lines(killcord.describe(Config(), tmp_path)) == [
        "Kill cord: off ([safety] kill_cord)",
        "Lock after sleep: off: a node without a passphrase has no keys to lock",  # tmp_path is not encrypted
    ]
    assert _safety_lines(killcord.describe(Config(lock_after_sleep=False), tmp_path))[1] == "Lock after sleep: off"
