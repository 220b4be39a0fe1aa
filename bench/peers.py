"""The relays under test, each started as a separate process on 127.0.0.1 with a fresh data directory.

Three relays are compared in the same run:

* ``samizdat``: ours, started by ``bench/launch_ours.py`` (RelayServer + SqliteStore). :func:`ours_command`
is the
  one place to change when ``samizdat serve`` lands.
* ``localrelay``: nostr-sdk's ``LocalRelay`` (Rust, in memory), started by ``bench/launch_localrelay.py``.
* ``nostr-relay``: the PyPI ``nostr-relay`` (Python, SQLite through SQLAlchemy), run from its own virtualenv
  ``bench/.venv-peers`` (``bench/setup-peers.sh``) with a configuration file written here.

A relay is "ready" when a WebSocket handshake to it succeeds; that moment is also what the start-up benchmark
times. :class:`RelayProcess` kills the whole process group on exit, on error and at interpreter exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
import websockets

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PY = sys.executable
PEERS_PY = BENCH / ".venv-peers" / "bin" / "python"
HOST = "127.0.0.1"

_live: set[subprocess.Popen[bytes]] = set()


def raise_fd_limit() -> int:
    """Raise RLIMIT_NOFILE to its hard limit (children inherit it); return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _kill_group(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
    # Whatever the leader did, nothing of its group may outlive the benchmark.
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(2)
    _live.discard(proc)


@atexit.register
def _kill_all() -> None:
    for proc in list(_live):
        _kill_group(proc, grace=1.0)


def spawn(
    cmd: list[str],
    *,
    log: Path | None = None,
    env: dict[str, str] | None = None,
    stdin: int | None = subprocess.DEVNULL,
    stdout: int | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``cmd`` in its own process group; it is killed at exit if still running."""
    out = open(log, "ab") if log else subprocess.DEVNULL  # the child keeps its own copy
    proc = subprocess.Popen(
        cmd,
        stdin=stdin,
        stdout=stdout if stdout is not None else out,
        stderr=out,
        start_new_session=True,
        env=env,
        cwd=str(BENCH),
    )
    if log:
        out.close()
    _live.add(proc)
    return proc


def kill(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    _kill_group(proc, grace)


# ------------------------------------------------------------------------------------------------------------
# The three relays


def ours_available() -> str | None:
    """None when our relay can be started, else why not."""
    for rel in ("src/samizdat/relay/server.py", "src/samizdat/store/sqlite.py"):
        if not (ROOT / rel).exists():
            return f"{rel} does not exist yet"
    return None


def ours_command(data: Path, port: int) -> list[str]:
    """The command that starts our relay. Swap for ``samizdat serve --home DIR --host H --port P`` when it
    lands."""
    return [
        PY,
        str(BENCH / "launch_ours.py"),
        "--db",
        str(data / "samizdat.sqlite3"),
        "--host",
        HOST,
        "--port",
        str(port),
    ]


def localrelay_command(data: Path, port: int) -> list[str]:
    return [PY, str(BENCH / "launch_localrelay.py"), "--host", HOST, "--port", str(port)]


NOSTR_RELAY_CONFIG = """\
# Written by bench/peers.py for one benchmark run.
DEBUG: false
relay_name: bench
relay_description: benchmark peer
storage:
  sqlalchemy.url: sqlite+aiosqlite:///{db}
  num_concurrent_reqs: 10
  num_concurrent_adds: 2
  validators:
    - nostr_relay.validators.is_not_too_large
    - nostr_relay.validators.is_signed
    - nostr_relay.validators.is_recent
verification:
  nip05_verification: disabled
  expiration: 2592000
  update_frequency: 3600
gunicorn:
  bind: {host}:{port}
  workers: 1
  loglevel: warning
  reload: false
authentication:
  enabled: false
# no rate_limits key: nostr-relay then uses its NullRateLimiter (no rate limit at all)
message_timeout: 1800
subscription_limit: 32
max_limit: 6000
max_event_size: 65536
oldest_event: 315360000
logging:
  version: 1
  formatters:
    simple:
      format: "%(asctime)s - %(name)s - %(levelname)s - %(message)s"
  handlers:
    console:
      class: logging.StreamHandler
      level: WARNING
      formatter: simple
      stream: ext://sys.stderr
  loggers:
    nostr_relay:
      level: WARNING
      handlers: [console]
      propagate: false
  root:
    level: WARNING
    handlers: [console]
"""


def nostr_relay_available() -> str | None:
    if not PEERS_PY.exists():
        return "bench/.venv-peers is missing: run bench/setup-peers.sh"
    return None


def nostr_relay_command(data: Path, port: int) -> list[str]:
    conf = data / "nostr-relay.yaml"
    conf.write_text(NOSTR_RELAY_CONFIG.format(db=data / "nostr.sqlite3", host=HOST, port=port))
    # --use-uvicorn: one process (like ours), instead of a gunicorn master plus one worker.
    return [str(PEERS_PY.parent / "nostr-relay"), "-c", str(conf), "serve", "--use-uvicorn"]


@dataclass(frozen=True)
class RelaySpec:
    name: str
    description: str
    storage: str
    command: Callable[[Path, int], list[str]]
    available: Callable[[], str | None]


RELAYS: dict[str, RelaySpec] = {
    "samizdat": RelaySpec(
        "samizdat",
        "ours: samizdat RelayServer + SqliteStore (Python)",
        "SQLite, OK after durable commit",
        ours_command,
        ours_available,
    ),
    "localrelay": RelaySpec(
        "localrelay",
        "nostr-sdk 0.45 LocalRelay (Rust, tokio), default in-memory database",
        "in memory, not durable; **keeps only about the newest 50,000 events**, so its query, fan-out and"
        " memory figures are for those, not for the full store",
        localrelay_command,
        lambda: None,
    ),
    "nostr-relay": RelaySpec(
        "nostr-relay",
        "PyPI nostr-relay 1.14 (Python, falcon + uvicorn, SQLAlchemy/aiosqlite)",
        "SQLite WAL, synchronous=NORMAL",
        nostr_relay_command,
        nostr_relay_available,
    ),
}


# ------------------------------------------------------------------------------------------------------------
# Processes


async def ws_handshake(url: str, timeout: float = 2.0) -> bool:
    try:
        async with websockets.connect(
            url, open_timeout=timeout, compression=None, ping_interval=None, close_timeout=0.5
        ):
            return True
    except (TimeoutError, OSError, websockets.exceptions.WebSocketException):
        return False


class RelayProcess:
    """One relay process on a fresh data directory. Use as ``async with RelayProcess(spec) as relay:``."""

    def __init__(
        self,
        spec: RelaySpec,
        *,
        data: Path | None = None,
        keep_data: bool = False,
        log_dir: Path | None = None,
    ) -> None:
        self.spec = spec
        self._own_data = data is None
        self.data = data if data is not None else Path(tempfile.mkdtemp(prefix=f"bench-{spec.name}-"))
        self.keep_data = keep_data
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = (log_dir or self.data) / f"{spec.name}.log"
        self.startup_s = float("nan")

    @property
    def url(self) -> str:
        return f"ws://{HOST}:{self.port}/"

    async def start(self, timeout: float = 120.0) -> float:
        """Spawn and wait for the first WebSocket handshake; return the seconds that took."""
        self.port = free_port()
        cmd = self.spec.command(self.data, self.port)
        t0 = time.perf_counter()
        self.proc = spawn(cmd, log=self.log)
        deadline = t0 + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.spec.name} exited with {self.proc.returncode}; see {self.log}:\n" + self.tail_log()
                )
            if await ws_handshake(self.url, timeout=1.0):
                self.startup_s = time.perf_counter() - t0
                return self.startup_s
            await asyncio.sleep(0.005)
        raise TimeoutError(f"{self.spec.name} did not accept a WebSocket within {timeout:.0f} s")

    def tail_log(self, n: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def rss(self) -> int:
        """Resident memory of the relay process and its children, in bytes."""
        if self.proc is None or self.proc.poll() is not None:
            return 0
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0
        total = 0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                total += p.memory_info().rss
        return total

    def cpu_seconds(self) -> float:
        if self.proc is None or self.proc.poll() is not None:
            return 0.0
        try:
            root = psutil.Process(self.proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return 0.0
        total = 0.0
        for p in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                t = p.cpu_times()
                total += t.user + t.system
        return total

    def profile(self, out: Path) -> subprocess.Popen[bytes] | None:
        """Start sampling this relay with py-spy (``$BENCH_PYSPY`` or ``py-spy`` on PATH) into ``out`` (an SVG
        flame graph, or collapsed stacks with idle frames if ``out`` ends in ``.txt``; threads apart) until
        :func:`stop_profile`; None when py-spy is not installed."""
        pyspy = os.environ.get("BENCH_PYSPY") or shutil.which("py-spy")
        if not pyspy or self.proc is None:
            return None
        cmd = [
            pyspy,
            "record",
            "--pid",
            str(self.proc.pid),
            "--rate",
            "200",
            "--format",
            "raw" if out.suffix == ".txt" else "flamegraph",
            "--threads",
            *(["--idle"] if out.suffix == ".txt" else []),
            "--output",
            str(out),
            "--nonblocking",
        ]
        return spawn(cmd, log=out.with_suffix(".log"))

    @staticmethod
    def stop_profile(proc: subprocess.Popen[bytes] | None) -> None:
        """Stop py-spy (SIGINT makes it write its output) and wait for it."""
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            pass
        kill(proc, grace=1)

    def stop(self) -> None:
        if self.proc is not None:
            kill(self.proc)
            self.proc = None

    def cleanup(self) -> None:
        self.stop()
        if self._own_data and not self.keep_data:
            shutil.rmtree(self.data, ignore_errors=True)

    async def __aenter__(self) -> RelayProcess:
        try:
            await self.start()
        except BaseException:
            self.cleanup()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cleanup()


def echo_command(data: Path, port: int) -> list[str]:
    return [PY, str(BENCH / "echo_relay.py"), "--host", HOST, "--port", str(port)]


#: Not a relay: answers at once, to show the load generator can go faster than the relays it measures.
ECHO = RelaySpec("echo", "trivial echo relay (bench/echo_relay.py)", "none", echo_command, lambda: None)
