"""A running node's memory stays in the process: a crash writes no core file (which would hold the data key and
decrypted pages, unencrypted, in the working directory or under /var/lib/systemd/coredump for days), and the
kernel treats the process as not dumpable, so that a core is refused even where the limit is raised again and
other processes of the same user cannot read its memory through /proc/PID/mem.

The system's core_pattern is not changed here: the machine writes ``core`` into the crashing process's working
directory (checked below, else the test is skipped), and the node is started with the core limit raised as far
as its hard limit allows, as a desktop with apport or systemd-coredump does."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import START_TIMEOUT, Cli, accepts_connections, cli_env, command, stop_process


def core_limit(pid: int) -> str:
    """The "Max core file size" line of /proc/PID/limits, soft and hard, e.g. ``0 0``."""
    for line in Path(f"/proc/{pid}/limits").read_text().splitlines():
        if line.startswith("Max core file size"):
            return " ".join(line.split()[4:6])
    raise AssertionError(f"no core line in /proc/{pid}/limits")


def children(pid: int) -> list[int]:
    with contextlib.suppress(FileNotFoundError):
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    return []


def like_a_user() -> None:
    """In the child before exec: a desktop's core limit (soft raised to the hard one), and without root's power
    over other processes' memory (the tests run as root: CAP_SYS_PTRACE opens any process), so that what one of
    the node's processes can do to another is what one program of an ordinary user can do to another."""
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_CAPBSET_DROP, CAP_SYS_PTRACE, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "cannot drop CAP_SYS_PTRACE")


PR_CAPBSET_DROP, CAP_SYS_PTRACE = 24, 19


@pytest.fixture
def crashable(tmp_path: Path) -> Path:
    """The working directory a crashing node would write ``core`` into; the test needs the kernel to do that."""
    pattern = Path("/proc/sys/kernel/core_pattern").read_text().strip()
    if pattern != "core" or resource.getrlimit(resource.RLIMIT_CORE)[1] == 0:
        pytest.skip(f"this machine does not write core files into the working directory ({pattern!r})")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    return cwd


def start_serve(home: Path, cwd: Path, log: Path, *extra: str) -> tuple[subprocess.Popen[bytes], int]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            command(home, "serve", "--port", "0", *extra), stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, env=cli_env(), cwd=cwd, preexec_fn=like_a_user,
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        with contextlib.suppress(OSError, ValueError, KeyError):
            info = json.loads((home / "serve.json").read_text())
            if int(info["pid"]) == process.pid and accepts_connections(int(info["port"])):
                return process, int(info["port"])
        time.sleep(0.1)
    stop_process(process)
    pytest.fail(f"serve did not start: {log.read_text(errors='replace')}")


def readable_by_same_user(pid: int) -> bool:
    """Whether another program of the node's user can open the node's memory (/proc/PID/mem)."""
    done = subprocess.run(
        [sys.executable, "-c", "import sys; open(f'/proc/{sys.argv[1]}/mem', 'rb').close()", str(pid)],
        capture_output=True, timeout=30, preexec_fn=like_a_user, check=False,
    )  # fmt: skip
    return done.returncode == 0


def test_a_crashing_node_leaves_no_core_file(cli: Cli, crashable: Path, tmp_path: Path) -> None:
    cli.ok("init")
    process, _ = start_serve(cli.home, crashable, tmp_path / "serve.log")
    try:
        assert core_limit(process.pid) == "0 0"
        process.send_signal(signal.SIGSEGV)
        process.wait(30)
        assert process.returncode == -signal.SIGSEGV
    finally:
        stop_process(process)
    assert list(crashable.iterdir()) == [], "the crash left a core file with the node's memory"


def test_another_program_of_the_same_user_cannot_read_the_nodes_memory(cli: Cli, tmp_path: Path) -> None:
    with subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=like_a_user
    ) as other:  # any other program of the user: the check itself works
        try:
            assert readable_by_same_user(other.pid)
        finally:
            other.kill()
    cli.ok("init")
    process, _ = start_serve(cli.home, tmp_path, tmp_path / "serve.log")
    try:
        assert not readable_by_same_user(process.pid)
    finally:
        stop_process(process)


def test_workers_of_a_node_are_closed_the_same_way(cli: Cli, crashable: Path, tmp_path: Path) -> None:
    cli.ok("init")
    process, _ = start_serve(cli.home, crashable, tmp_path / "serve.log", "--workers", "2")
    try:
        deadline = time.monotonic() + START_TIMEOUT
        workers: list[int] = []
        while time.monotonic() < deadline and len(workers) < 2:
            workers = [p for p in children(process.pid) if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]
            time.sleep(0.1)
        assert len(workers) == 2, children(process.pid)
        for pid in (process.pid, *children(process.pid)):
            assert core_limit(pid) == "0 0", pid
        for pid in workers:
            assert not readable_by_same_user(pid), pid
        os.kill(workers[0], signal.SIGSEGV)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and workers[0] in children(process.pid):
            time.sleep(0.1)
        assert workers[0] not in children(process.pid)
    finally:
        stop_process(process)
    assert list(crashable.iterdir()) == [], "a worker's crash left a core file with the node's memory"
