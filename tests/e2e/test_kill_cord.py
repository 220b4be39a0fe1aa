"""The laptop grabbed while the node runs: a real ``samizdat serve`` of an encrypted node locks or wipes itself
when its kill cord goes, and locks when the machine wakes from sleep (services/killcord.py).

The cord is a real block device where the kernel allows loop devices (the tests run as root in CI): a loop device
on a temporary file, pulled with ``losetup -d`` (its /dev node stays, without a medium, as a card reader's does
when the card is pulled; there is no udev here to make a /dev/disk/by-id link). Elsewhere, and in every run as
well, a plain temporary file that the test deletes. A real suspend cannot happen in a test: the sleep test uses
the hook ``SAMIZDAT_SLEEP_TEST_FILE``, which can only ever add time to the boottime
reading."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import (
    Cli,
    CliResult,
    ServeProcess,
    accepts_connections,
    assert_no_traceback,
    cli_env,
    command,
    with_passphrase,
)

#: services/killcord.py's test hook, spelt out so that this file also runs against code from before it.
SLEEP_TEST_VARIABLE = "SAMIZDAT_SLEEP_TEST_FILE"
EXIT_TIMEOUT = 60.0  # for the node to stop after its cord went; generous: the test machine is shared


class Cord:
    """A kill cord the test can pull: ``path`` is what the node watches."""

    def __init__(self, path: str, pull: Callable[[], None]) -> None:
        self.path = path
        self.pull = pull


def loop_cord(tmp_path: Path) -> Iterator[Cord]:
    why = ""
    if shutil.which("losetup") is None:
        why = "losetup is not installed (scripts/system-packages.sh, scripts/apt/killcord.txt)"
    elif os.geteuid() != 0:
        why = "loop devices need root"
    if why:
        if os.environ.get("CI") == "true":
            pytest.fail(why)
        pytest.skip(why)
    backing = tmp_path / "lanyard.img"
    with backing.open("wb") as image:
        image.truncate(1 << 20)
    for _ in range(5):  # another test may take the free device between losetup's finding it and attaching
        made = subprocess.run(["losetup", "--find", "--show", str(backing)], capture_output=True, text=True,
                              timeout=30, check=False)  # fmt: skip
        if made.returncode == 0:
            break
        time.sleep(0.2)
    else:
        pytest.skip(f"the kernel refuses loop devices here: {made.stderr.strip()}")
    device = made.stdout.strip()

    def pull() -> None:
        subprocess.run(["losetup", "-d", device], capture_output=True, timeout=30, check=True)

    try:
        yield Cord(device, pull)
    finally:
        listed = subprocess.run(["losetup", "-j", str(backing)], capture_output=True, text=True, timeout=30,
                                check=False)  # fmt: skip
        if device in listed.stdout:
            subprocess.run(["losetup", "-d", device], capture_output=True, timeout=30, check=False)


def file_cord(tmp_path: Path) -> Iterator[Cord]:
    path = tmp_path / "stick-present"
    path.touch()
    yield Cord(str(path), lambda: path.unlink())


@pytest.fixture(params=["loop device", "file"])
def cord(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cord]:
    yield from (loop_cord if request.param == "loop device" else file_cord)(tmp_path)


def set_safety(home: Path, **settings: str) -> None:
    with (home / "config.toml").open("a", encoding="utf-8") as config:
        config.write("\n[safety]\n" + "".join(f'{key} = "{value}"\n' for key, value in settings.items()))


def stopped(node: ServeProcess) -> int:
    """The exit code of a serve expected to stop by itself; the test fails if it keeps running."""
    try:
        return node.process.wait(EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve kept running after its cord went: {node.output()}")


def said(node: ServeProcess) -> str:
    """What a stopped serve printed."""
    return node.log_path.read_text(errors="replace")


def start(home: Path, tmp_path: Path, *extra: str) -> ServeProcess:
    node = ServeProcess(home, tmp_path / "serve.log", *extra)
    node.wait_ready()
    return node


def pull(cord: Cord, node: ServeProcess) -> ServeProcess:
    """Pull the cord of a running ``node`` and see it stop on its own (it is stopped anyway, on failure too)."""
    try:
        cord.pull()
        assert stopped(node) == 0
    finally:
        node.stop()
    return node


def test_pulling_the_cord_locks_the_node_and_the_next_start_asks_again(cli: Cli, cord: Cord, tmp_path: Path) -> None:
    cli.ok("init")
    cli.ok("channel", "create", "district", "--name", "District")
    set_safety(cli.home, kill_cord=cord.path)
    assert f"Kill cord: armed: {cord.path} is there" in cli.ok("status").out
    node = pull(cord, start(cli.home, tmp_path))
    assert "locked (the kill cord was pulled): the keys are dropped" in said(node)
    assert not accepts_connections(node.port)
    assert not (cli.home / "serve.json").exists()
    assert "wrong passphrase" in with_passphrase(cli.home, "not it", "channel", "list").err
    assert "District" in cli.ok("channel", "list").out  # the data is intact behind the passphrase


def test_pulling_the_cord_wipes_the_node_when_set_to(cli: Cli, cord: Cord, tmp_path: Path) -> None:
    cli.ok("init")
    cli.ok("channel", "create", "district", "--name", "District")
    set_safety(cli.home, kill_cord=cord.path, kill_cord_action="wipe")
    node = pull(cord, start(cli.home, tmp_path))
    assert "wiped (the kill cord was pulled): the key slots were erased" in said(node)
    assert not accepts_connections(node.port)
    assert not cli.home.exists()


def test_the_parent_of_workers_watches_the_cord_and_stops_them(cli: Cli, cord: Cord, tmp_path: Path) -> None:
    cli.ok("init")
    node = start(cli.home, tmp_path, "--workers", "2", "--kill-cord", cord.path)
    try:
        children = Path(f"/proc/{node.process.pid}/task/{node.process.pid}/children").read_text().split()
        workers = [int(p) for p in children if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert len(workers) == 2, children
        # `samizdat status` knows of a cord given on the command line, without writing down its path
        out = cli.ok("status").out
        assert "Kill cord: armed by `samizdat serve --kill-cord`; when it goes, the serving node locks itself" in out
        assert cord.path not in (cli.home / "serve.json").read_text()
    finally:
        pull(cord, node)
    assert "locked (the kill cord was pulled)" in said(node)
    assert not accepts_connections(node.port)
    for pid in workers:  # the workers held the keys too: none of them is left running
        with contextlib.suppress(FileNotFoundError):
            assert Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z", pid


def test_a_cord_configured_but_absent_is_refused_before_the_passphrase(cli: Cli, tmp_path: Path) -> None:
    cli.ok("init")
    missing = tmp_path / "stick-not-plugged-in"
    set_safety(cli.home, kill_cord=str(missing))
    for args in (("serve", "--port", "0"), ("serve", "--port", "0", "--kill-cord", str(tmp_path / "other"))):
        environment = {k: v for k, v in cli_env().items() if k != "SAMIZDAT_PASSPHRASE_FILE"}  # nobody types
        try:
            done = subprocess.run(command(cli.home, *args), capture_output=True, text=True, timeout=30,
                                  env=environment, stdin=subprocess.DEVNULL, check=False)  # fmt: skip
        except subprocess.TimeoutExpired:
            pytest.fail("serve started with its kill cord unplugged")
        result = CliResult(done.returncode, done.stdout, done.stderr)
        assert_no_traceback(result)
        assert result.code == 1
        assert result.error_lines == [result.error_lines[0]]
        assert result.error_lines[0].startswith("error: the kill cord ")
        assert "is not there ([safety] kill_cord): plug it in" in result.error_lines[0]
    assert f"Kill cord: ! {missing} is NOT there" in cli.ok("status").out


def test_waking_from_sleep_locks_the_node(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cli.ok("init")
    cli.ok("channel", "create", "district", "--name", "District")
    assert "Lock after sleep: on" in cli.ok("status").out  # the default
    slept = tmp_path / "slept-seconds"
    monkeypatch.setenv(SLEEP_TEST_VARIABLE, str(slept))  # cli_env() copies it into serve's environment
    node = start(cli.home, tmp_path)
    try:
        assert node.process.poll() is None
        slept.write_text("600")  # the lid was closed for ten minutes
        assert stopped(node) == 0
    finally:
        node.stop()
    assert "locked (the machine woke from sleep): the keys are dropped" in said(node)
    assert not accepts_connections(node.port)
    assert "District" in cli.ok("channel", "list").out


def test_a_node_with_lock_after_sleep_off_keeps_serving_after_a_sleep(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The setting is honoured: the same sleep, then a pulled cord, which is what stops it."""
    cli.ok("init")
    with (cli.home / "config.toml").open("a", encoding="utf-8") as config:
        config.write("\n[safety]\nlock_after_sleep = false\n")
    cord = tmp_path / "stick"
    cord.touch()
    slept = tmp_path / "slept-seconds"
    slept.write_text("600")
    monkeypatch.setenv(SLEEP_TEST_VARIABLE, str(slept))
    node = start(cli.home, tmp_path, "--kill-cord", str(cord))
    try:
        slept.write_text("1200")
        deadline = time.monotonic() + 5.0  # many of the watcher's looks (every 0.1 s)
        while time.monotonic() < deadline and node.process.poll() is None:
            time.sleep(0.1)
        assert node.process.poll() is None, node.output()
        cord.unlink()
        assert stopped(node) == 0
    finally:
        node.stop()
    assert "locked (the kill cord was pulled)" in said(node)
