"""``[safety] wipe_after_days`` as a person meets it: a node nobody unlocked for longer is wiped by the next
command, before it asks for the passphrase; a node unlocked recently is untouched; a wrong passphrase does not
count as presence, `passphrase check` does; a `serve` left running unlocked wipes itself."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from conftest import ServeProcess, assert_no_traceback, with_passphrase
from samizdat.services.deadman import TEST_DAY_VARIABLE

if TYPE_CHECKING:
    from conftest import Cli

DAY = 86400


def switch_on(home: Path, days: float) -> None:
    with (home / "config.toml").open("a", encoding="utf-8") as config:
        config.write(f"\n[safety]\nwipe_after_days = {days}\n")


def last_unlocked(home: Path, days_ago: float) -> None:
    then = time.time() - days_ago * DAY
    os.utime(home / "keys.slots", (then, then))


def age_days(home: Path) -> float:
    return (time.time() - (home / "keys.slots").stat().st_mtime) / DAY


def test_a_node_nobody_unlocked_for_longer_is_wiped_by_the_next_command(cli: Cli) -> None:
    cli.ok("init")
    cli.ok("channel", "create", "district", "--name", "District")
    switch_on(cli.home, 7)
    last_unlocked(cli.home, 8)
    result = cli("status")
    assert result.code == 1
    assert_no_traceback(result)
    lines = [line for line in result.err.splitlines() if line.strip()]
    assert len(lines) == 1, result.err
    assert lines[0].startswith("wiped: nobody unlocked this node for more than 7 days ([safety] wipe_after_days)")
    assert str(cli.home) in lines[0]
    assert not cli.home.exists()


def test_a_node_unlocked_recently_is_untouched_and_only_a_real_passphrase_counts(cli: Cli) -> None:
    cli.ok("init")
    switch_on(cli.home, 7)
    last_unlocked(cli.home, 6)
    assert "wrong passphrase" in with_passphrase(cli.home, "not the passphrase", "status").err
    assert age_days(cli.home) > 5.9  # guessing on a seized device does not keep the node alive
    assert cli.ok("passphrase", "check").out.strip() == "The passphrase unlocks this node"
    assert age_days(cli.home) < 0.01
    cli.ok("status")
    assert (cli.home / "keys.slots").exists()


def test_without_the_setting_nothing_is_wiped(cli: Cli) -> None:
    cli.ok("init")
    last_unlocked(cli.home, 400)
    cli.ok("status")
    assert cli.home.exists()


def test_a_serve_left_running_unlocked_wipes_itself(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.ok("init")
    cli.ok("channel", "create", "district", "--name", "District")
    switch_on(cli.home, 1)
    monkeypatch.setenv(TEST_DAY_VARIABLE, "5")  # a "day" of 5 s, for this test only: cli_env() copies it
    node = ServeProcess(cli.home, tmp_path / "serve.log")
    try:
        node.process.wait(120)  # serve's own unlock counts; 5 s later nobody has shown up again
    except subprocess.TimeoutExpired:
        pytest.fail("serve did not wipe itself within 120 s")
    finally:
        code = node.stop()
    assert code == 0
    output = node.log_path.read_text(errors="replace")
    assert "listening" in output
    assert "nobody unlocked this node for more than 1 days" in output
    assert "wiped: the key slots were erased" in output
    assert not cli.home.exists()
