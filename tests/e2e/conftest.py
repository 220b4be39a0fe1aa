"""Fixtures for whole-process tests: the ``samizdat`` command as a person runs it, ``samizdat serve`` as a real
process, and nostr-sdk's ``LocalRelay`` (an independent Rust relay) as a real mirror.

Every wait is bounded and every process started here is stopped in teardown (SIGTERM, then SIGKILL), so a
failing test never leaves a node or a relay behind. Everything listens on loopback only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest

from samizdat.testing import free_port, passphrase_env, poll_until

CLI_TIMEOUT = 90.0  # one command; generous because the test machine is shared and busy
START_TIMEOUT = 45.0  # until a server process accepts connections
STOP_TIMEOUT = 15.0  # after SIGTERM, before SIGKILL

# -- the command line ------------------------------------------------------------------------------------------


class CliResult(NamedTuple):
    """What a person sees after one command: its exit code, standard output and standard error."""

    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)

    @property
    def error_lines(self) -> list[str]:
        return [line for line in self.err.splitlines() if line.strip()]


def cli_env() -> dict[str, str]:
    """The environment of a command: ours, without anything that would point it at another home or proxy, with
    the test passphrase file (``samizdat init`` makes encrypted nodes, cheap to unlock: samizdat.testing)."""
    env = dict(os.environ)
    for name in ("SAMIZDAT_HOME", "SAMIZDAT_PROXY", "SAMIZDAT_DEBUG"):
        env.pop(name, None)
    env.update(passphrase_env())
    env["PYTHONUNBUFFERED"] = "1"
    env["COLUMNS"] = "120"
    return env


def command(home: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "samizdat", "--home", str(home), *args]


def run_cli(home: Path, *args: str, timeout: float = CLI_TIMEOUT) -> CliResult:
    """Run ``samizdat --home HOME ARGS...`` and return (exit code, stdout, stderr); fail the test if it hangs."""
    try:
        done = subprocess.run(
            command(home, *args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"`samizdat {' '.join(args)}` did not finish within {timeout:.0f} s")
    return CliResult(done.returncode, done.stdout, done.stderr)


def assert_no_traceback(result: CliResult) -> None:
    assert "Traceback" not in result.out + result.err, result.err


def with_passphrase(home: Path, passphrase: str, *args: str) -> CliResult:
    """``samizdat ARGS`` typing ``passphrase`` (through --passphrase-fd, no passphrase file): a wrong one, say."""
    environment = cli_env()
    environment.pop("SAMIZDAT_PASSPHRASE_FILE")
    reader, writer = os.pipe()
    os.write(writer, f"{passphrase}\n".encode())
    os.close(writer)
    try:
        done = subprocess.run(
            [*command(home), "--passphrase-fd", str(reader), *args], capture_output=True, text=True, timeout=60,
            env=environment, stdin=subprocess.DEVNULL, check=False, pass_fds=(reader,),
        )  # fmt: skip
    finally:
        os.close(reader)
    result = CliResult(done.returncode, done.stdout, done.stderr)
    assert_no_traceback(result)
    return result


class Cli:
    """``samizdat --home HOME ...`` for one person's data directory."""

    def __init__(self, home: Path) -> None:
        self.home = home

    def __call__(self, *args: str, timeout: float = CLI_TIMEOUT) -> CliResult:
        return run_cli(self.home, *args, timeout=timeout)

    def typed(self, lines: list[str], *args: str) -> CliResult:
        """``samizdat ARGS`` given ``lines`` as the passphrases it asks for, one a line (through
        SAMIZDAT_PASSPHRASE_FILE, removed afterwards); no traceback."""
        file = self.home.parent / f"passphrases-{self.home.name}"
        file.write_text("".join(f"{line}\n" for line in lines))
        try:
            done = subprocess.run(
                command(self.home, *args), capture_output=True, text=True, timeout=CLI_TIMEOUT,
                stdin=subprocess.DEVNULL, env={**cli_env(), "SAMIZDAT_PASSPHRASE_FILE": str(file)}, check=False,
            )  # fmt: skip
        finally:
            file.unlink()
        result = CliResult(done.returncode, done.stdout, done.stderr)
        assert_no_traceback(result)
        return result

    def ok(self, *args: str, timeout: float = CLI_TIMEOUT) -> CliResult:
        """Run a command that must succeed (exit 0, no traceback)."""
        result = self(*args, timeout=timeout)
        assert result.code == 0, f"`samizdat {' '.join(args)}` exited {result.code}: {result.err.strip()}"
        assert_no_traceback(result)
        return result

    def json(self, *args: str, timeout: float = CLI_TIMEOUT) -> Any:
        """Run a command that must succeed with ``--json`` and return the parsed output."""
        return self.ok(*args, "--json", timeout=timeout).json()

    def fails(self, *args: str, timeout: float = CLI_TIMEOUT) -> CliResult:
        """Run a command that must be refused the way the CLI promises: exit code != 0, one ``error:`` line on
        stderr (or click's usage message for a bad option), and never a traceback."""
        result = self(*args, timeout=timeout)
        assert result.code != 0, f"`samizdat {' '.join(args)}` succeeded: {result.out.strip()[:500]}"
        assert_no_traceback(result)
        lines = result.error_lines
        if result.code == 2 and any(line.startswith("Usage:") for line in lines):
            assert any(line.startswith("Error:") for line in lines), result.err  # click's usage error
        else:
            assert len(lines) == 1, f"expected one error line, got: {result.err!r}"
            assert lines[0].startswith("error: "), result.err
            assert "unexpected" not in lines[0], f"an unexpected exception reached the user: {lines[0]}"
        return result

    # Async twins, for tests that also drive nostr-sdk on the event loop: a command must not block the loop.

    async def arun(self, *args: str, timeout: float = CLI_TIMEOUT) -> CliResult:
        return await asyncio.to_thread(run_cli, self.home, *args, timeout=timeout)

    async def aok(self, *args: str, timeout: float = CLI_TIMEOUT) -> CliResult:
        return await asyncio.to_thread(self.ok, *args, timeout=timeout)

    async def ajson(self, *args: str, timeout: float = CLI_TIMEOUT) -> Any:
        return await asyncio.to_thread(self.json, *args, timeout=timeout)


@pytest.fixture(scope="session")
def cli_for() -> Callable[[Path], Cli]:
    """``cli_for(path)``: the command line for a data directory of your choosing (e.g. a module-scoped one)."""
    return Cli


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A data directory of its own for each test (not created yet: ``samizdat init`` does that)."""
    return tmp_path / "home"


@pytest.fixture
def cli(home: Path) -> Cli:
    return Cli(home)


@pytest.fixture
def make_cli(tmp_path: Path) -> Callable[[str], Cli]:
    """Another person's data directory in the same test: ``make_cli("coadmin")``."""

    def make(name: str) -> Cli:
        return Cli(tmp_path / name)

    return make


# -- processes ---------------------------------------------------------------------------------------------------


def accepts_connections(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return True
    except OSError:
        return False


def stop_process(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> int:
    """SIGTERM, then SIGKILL if it does not exit within ``timeout``; return the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)
    return int(process.returncode)


class ServeProcess:
    """``samizdat serve --port 0`` on a home, started by the :func:`serve` fixture."""

    def __init__(self, home: Path, log: Path, *extra: str) -> None:
        self.home = home
        self.log_path = log
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            command(home, "serve", "--port", "0", *extra),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=cli_env(),
        )
        self.port = 0

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def serve_file(self) -> Path:
        return self.home / "serve.json"

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        """Until ``serve.json`` names this process and its port accepts connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"samizdat serve exited with {self.process.returncode}: {self.output()}")
            with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
                info = json.loads(self.serve_file.read_text())
                if int(info["pid"]) == self.process.pid and accepts_connections(int(info["port"])):
                    self.port = int(info["port"])
                    return
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"samizdat serve did not become ready within {timeout:.0f} s: {self.output()}")

    def stop(self, timeout: float = STOP_TIMEOUT) -> int:
        try:
            return stop_process(self.process, timeout)
        finally:
            self._log.close()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Start ``samizdat serve --port 0`` on a home (``serve(cli.home)``), ready to use; stopped in teardown."""
    started: list[ServeProcess] = []

    def start(home: Path, *extra: str) -> ServeProcess:
        node = ServeProcess(home, tmp_path / f"serve-{len(started)}.log", *extra)
        started.append(node)
        node.wait_ready()
        return node

    try:
        yield start
    finally:
        for node in started:
            node.stop()


# -- nostr-sdk's LocalRelay ------------------------------------------------------------------------------------

LOCAL_RELAY = """
import asyncio, signal, sys
import nostr_sdk

async def main():
    relay = (
        nostr_sdk.LocalRelayBuilder()
        .addr("127.0.0.1")
        .port(int(sys.argv[1]))
        .rate_limit(nostr_sdk.RateLimit(max_reqs=10**6, notes_per_minute=10**9))
        .build()
    )
    await relay.run()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    print("ready", flush=True)
    await stop.wait()
    relay.shutdown()

asyncio.run(main())
"""


class LocalRelayProcess:
    """nostr-sdk's in-memory ``LocalRelay`` in a process of its own, on a fixed loopback port, so a test can take
    it down and bring it back on the same address (a mirror that is unreachable for a while). It forgets its
    events when stopped."""

    def __init__(self, port: int, log: Path) -> None:
        self.port = port
        self.log_path = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = START_TIMEOUT) -> None:
        assert not self.running
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:  # the port may still be held for a moment after a stop
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    [sys.executable, "-c", LOCAL_RELAY, str(self.port)],
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=cli_env(),
                )
            while time.monotonic() < deadline and self.process.poll() is None:
                if accepts_connections(self.port):
                    return
                time.sleep(0.1)
            if self.process.poll() is None:
                break
            time.sleep(0.5)  # it exited (address in use?): try again
        self.stop()
        pytest.fail(f"LocalRelay did not start on port {self.port}: {self.log_path.read_text(errors='replace')}")

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process)
            self.process = None


@pytest.fixture
def local_relay(tmp_path: Path) -> Iterator[LocalRelayProcess]:
    """A running nostr-sdk LocalRelay (rate limits raised) on a free loopback port; stopped in teardown."""
    pytest.importorskip("nostr_sdk")
    relay = LocalRelayProcess(free_port(), tmp_path / "local-relay.log")
    relay.start()
    try:
        yield relay
    finally:
        relay.stop()


def poll_every_half_second(predicate: Callable[[], Any], timeout: float, what: str, interval: float = 0.5) -> Any:
    """``samizdat.testing.poll_until`` with positional ``timeout`` and ``what``, every 0.5 s by default."""
    return poll_until(predicate, timeout=timeout, what=what, interval=interval)


@pytest.fixture(scope="session")
def wait_until() -> Callable[..., Any]:
    """``wait_until(predicate, timeout, "what")``: poll (every 0.5 s) until truthy (returned), else raise
    TimeoutError (see ``samizdat.testing.poll_until``)."""
    return poll_every_half_second
