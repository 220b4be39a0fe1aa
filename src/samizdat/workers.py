"""``serve --workers N``: N relay processes on one port, one SQLite store, one parent that restarts them.

Theory of operation
-------------------

The parent holds the data directory's serve lock, reserves the port (a bound, not listening, ``SO_REUSEPORT``
socket, which also picks the port for ``--port 0``) and starts N worker processes (``spawn``: a fresh
interpreter each, given the configuration and the unlocked keys through multiprocessing's pipe, never a file).
Each worker opens the node's stores and runs a full relay on its own ``SO_REUSEPORT`` listening socket on that
port; the kernel spreads new connections between the listening sockets, so a worker parses, verifies and stores
its own clients' events with no hop through the parent. (The other way, a parent that accepts and hands sockets
on with ``SCM_RIGHTS``, costs the parent a system call or two per connection and would be the one process every
connection waits for; ``SO_REUSEPORT`` needs nothing but Linux >= 3.9 or a BSD.)

* Writes: each worker's store has its own writer thread with group commit (store/writer.py); the workers' commits
  take SQLite's write lock in turn (WAL mode, ``BEGIN IMMEDIATE``, busy timeout), so an ``OK`` still means
  committed. A writer process fed by the workers was measured against this and was no faster with two workers
  on two cores (it adds a hop and a third busy process; docs/benchmarks.md, "Workers").
* Wake-ups: each worker's :class:`~samizdat.relay.follow.Follower` follows the store's insertion order, woken by
  a :class:`~samizdat.relay.bus.LocalBus` (unix datagrams in a private directory the parent makes) or by NATS
  (``--bus``), and reads new events from the store, never from the message.
* Shared limits: the per-address connection cap, the connection limit and the per-address event rate are kept in
  a file all workers map (relay/shared.py), the operator login limiter in another beside it (web/logins.py); the
  byte bounds are divided between them. Ephemeral events, never stored, travel on the bus (relay/follow.py).
* Loops that must run once (outbox, forwarding, purge, carry, background sync, LAN peers and mDNS, the decoy
  store's sync, the wipe-after-days switch) run in worker 0, and in its replacement when it dies.
* A worker that exits (crash, ``kill -9``) is started again at once; its clients reconnect and the kernel gives
  them to the others meanwhile. Nothing acknowledged is lost: an ``OK`` follows the commit. A worker that cannot
  start when ``serve`` starts stops the parent, saying why; once the node served, workers are always started
  again, after :data:`PAUSE_SECONDS` when they exited more than :data:`RESTARTS_PER_MINUTE` times in the last
  minute (each exit logged). The parent used to stop instead: a client that found an input that kills a worker
  could then stop the whole node with eleven of them (red team, round 10). A replacement that does not start
  within :data:`START_SECONDS` is killed and started again the same way.
* A worker that is alive but wedged (its event loop stuck, or the process stopped) still holds its listening
  socket, and the kernel still gives it its share of new connections, which nobody answers. So each worker's
  event loop renews its ready file every :data:`HEARTBEAT_SECONDS`, and the parent kills (``SIGKILL``) a ready
  worker whose file is older than :data:`WEDGED_SECONDS`, then starts it again as above.
* SIGTERM, Ctrl-C or ``samizdat lock`` to the parent stop the workers (SIGTERM, then SIGKILL after
  :data:`STOP_SECONDS`). A wipe from a worker's web app signals the parent, which wipes as ``serve`` does.
* The kill cord and lock after sleep (services/killcord.py) are watched by the parent alone, in ``serve``'s
  thread: it locks or wipes as ``samizdat lock`` or ``wipe`` would, and this stops the workers as above.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path

from samizdat.config import Config
from samizdat.core.display import ShownFormatter
from samizdat.core.sealing import NodeKeys
from samizdat.errors import UsageError
from samizdat.mesh.peers import MeshOptions
from samizdat.node import Node
from samizdat.relay import shared as shared_limits
from samizdat.relay.bus import Bus, LocalBus, NatsBus, store_name
from samizdat.relay.cluster import Cluster
from samizdat.services import hardening, instance, keyring

log = logging.getLogger("samizdat.workers")

#: Workers exiting more often than this in a minute are started again after PAUSE_SECONDS, not at once.
RESTARTS_PER_MINUTE = 10
#: Seconds before a worker is started again, once workers exited more than RESTARTS_PER_MINUTE times a minute.
PAUSE_SECONDS = 5.0
#: Seconds the workers get to stop after SIGTERM before SIGKILL.
STOP_SECONDS = 10.0
#: Seconds worker 0 gets to open the stores (and migrate them) before the others start.
START_SECONDS = 120.0
#: A ready worker's event loop renews its ready file this often ...
HEARTBEAT_SECONDS = 1.0
#: ... and one whose file is older than this is wedged: the parent kills it and starts it again. Far above any
#: turn of an event loop that works (they last milliseconds; a stored batch of 1,000 events, tens of them).
WEDGED_SECONDS = 15.0


@dataclass(frozen=True)
class BusOptions:
    """``--bus``: a ``nats://`` URL (credentials in it) and a creds file, or no URL for unix datagrams."""

    url: str = ""
    creds: str | None = None


@dataclass(frozen=True)
class WorkerSpec:
    home: Path
    config: Config
    keys: NodeKeys | None
    decoy: NodeKeys | None
    index: int
    workers: int
    host: str
    port: int
    runtime: Path  # the parent's private directory: wake-up sockets and the shared limits
    secret: bytes  # the shared limits' hash key
    bus: BusOptions
    mesh: MeshOptions
    log_level: int


async def open_bus(home: Path, options: BusOptions, runtime: Path | None, name: str) -> Bus:
    """The bus named by ``options``: NATS if it has a URL, else unix datagrams in ``runtime``."""
    if options.url:
        subject = store_name(home / "events.sqlite")  # relays of one store hear each other, and only them
        return await NatsBus.connect(options.url, name=name, creds=options.creds, store=subject)
    if runtime is None:
        raise UsageError("a bus needs --bus nats://... or --workers 2 or more")
    return LocalBus(runtime / "bus", name)


async def alone(home: Path, options: BusOptions) -> Cluster:
    """The cluster of a single ``serve --bus nats://...``: one relay among others on other machines or data
    directories sharing the store. UsageError if the bus cannot be reached."""
    return Cluster(await open_bus(home, options, None, "serve"))


def listening_socket(host: str, port: int, *, listen: bool = True) -> socket.socket:
    """A TCP socket on ``host``:``port`` with ``SO_REUSEPORT`` (listening if ``listen``). Raises OSError."""
    info = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(info[4])
        if listen:
            sock.listen(4096)
            sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def log_handler(index: int) -> logging.Handler:
    """Worker ``index``'s log to standard error, neutralised like the parent's (core/display.py)."""
    handler = logging.StreamHandler()
    handler.setFormatter(ShownFormatter(f"%(asctime)s %(name)s[w{index}]: %(message)s"))
    return handler


def beat(flag: Path) -> None:
    """Write ``flag``: this process's pid and the time (monotonic, the same clock in every process), renewed every
    :data:`HEARTBEAT_SECONDS` from the event loop while it turns (replaced whole: the parent never reads half)."""
    fresh = flag.with_name(flag.name + ".new")
    try:
        fresh.write_text(f"{os.getpid()} {time.monotonic()}")
        os.replace(fresh, flag)
    except FileNotFoundError as exc:  # the parent's directory is gone: it is stopping us
        log.debug("heartbeat: %s", exc)
        return
    except OSError as exc:  # no file or space to be had for a moment (red team, round 11): the next beat may pass
        log.debug("heartbeat: %s", exc)  # stopping here had the parent kill a worker that works, 15 s later
    with contextlib.suppress(RuntimeError):  # no running loop: the worker is stopping
        asyncio.get_running_loop().call_later(HEARTBEAT_SECONDS, beat, flag)


def heard(flag: Path) -> tuple[int, float] | None:
    """The pid and time in a worker's ready file (:func:`beat`), or None if there is none yet."""
    try:
        pid, _, stamp = flag.read_text().partition(" ")
        return int(pid), float(stamp or "nan")
    except (OSError, ValueError):
        return None


def _worker_main(spec: WorkerSpec) -> None:
    """A worker process: one relay of the cluster until SIGTERM."""
    hardening.harden()  # a fresh interpreter: the parent's dumpable flag did not survive exec (its core limit did)
    logging.basicConfig(level=spec.log_level, handlers=[log_handler(spec.index)])
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_worker(spec))


async def _worker(spec: WorkerSpec) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us in order
    parent = os.getppid()

    def wipe() -> None:  # the web app's panic wipe: the parent does it, as serve's WIPE_SIGNAL does
        os.kill(parent, keyring.WIPE_SIGNAL)

    async def orphaned() -> None:  # the parent was killed (kill -9): stop too, so a new serve can start
        while True:
            await asyncio.sleep(1.0)
            if os.getppid() != parent:
                break
        log.warning("the parent process is gone; worker %d stops", spec.index)
        task.cancel()

    watch = asyncio.ensure_future(orphaned())
    limits = shared_limits.SharedLimits(spec.runtime / "limits", spec.index, spec.workers, spec.secret)
    limits.reset_mine()
    sock = listening_socket(spec.host, spec.port)
    try:
        bus = await open_bus(spec.home, spec.bus, spec.runtime, f"w{spec.index}")
        try:
            cluster = Cluster(bus, index=spec.index, workers=spec.workers, sock=sock, shared=limits)

            def ready(host: str, port: int) -> None:  # the parent waits for this file, then watches it
                beat(spec.runtime / f"ready.{spec.index}")

            async with await Node.open(spec.home, spec.config, keys=spec.keys) as node:
                await node.serve(spec.host, spec.port, ready=ready, mesh=spec.mesh, wipe=wipe, decoy=spec.decoy,
                                 cluster=cluster)  # fmt: skip
        finally:
            await bus.close()
    except asyncio.CancelledError:
        pass
    finally:
        watch.cancel()
        sock.close()
        limits.close()


class Supervisor:
    """The parent of ``serve --workers N``: starts, watches and restarts the workers (see the module's text)."""

    def __init__(self, spec: WorkerSpec, clock: Callable[[], float] = time.monotonic) -> None:
        self.spec = spec
        self.clock = clock
        self.context = multiprocessing.get_context("spawn")
        self.processes: dict[int, BaseProcess] = {}
        self.restarts: list[float] = []  # when workers exited, in the last minute
        self.started: dict[int, float] = {}  # when each worker was (last) started
        self.due: dict[int, float] = {}  # workers to start again at that time (PAUSE_SECONDS)

    def start(self, index: int) -> BaseProcess:
        spec = WorkerSpec(**{**self.spec.__dict__, "index": index})
        process = self.context.Process(target=_worker_main, args=(spec,), name=f"samizdat-worker-{index}",
                                       daemon=True)  # fmt: skip
        process.start()
        self.processes[index] = process
        self.started[index] = self.clock()
        log.info("worker %d started (pid %s)", index, process.pid)
        return process

    def pids(self) -> dict[int, int | None]:
        return {i: p.pid for i, p in self.processes.items()}

    async def run(self, ready: Callable[[], None]) -> None:
        """Start the workers (0 first, until it listens), call ``ready``, and restart any that exits, until
        cancelled; then stop them all. Raises UsageError if a worker cannot start at first."""
        try:
            await self._wait_ready(self.start(0))  # alone first: it creates or migrates the store
            others = [self.start(index) for index in range(1, self.spec.workers)]
            for process in others:
                await self._wait_ready(process)
            ready()
            while True:
                await asyncio.sleep(0.1)
                now = self.clock()
                for index, process in list(self.processes.items()):
                    if index in self.due:
                        if now >= self.due[index]:
                            del self.due[index]
                            self.start(index)
                    elif process.is_alive():
                        self._watch(index, process, now)
                    else:
                        self._exited(index, process, now)
        finally:
            await asyncio.shield(asyncio.to_thread(self.stop))

    def _exited(self, index: int, process: BaseProcess, now: float) -> None:
        """Start worker ``index`` again, at once or after :data:`PAUSE_SECONDS` (see the module's text)."""
        code = process.exitcode
        self._forget(index)  # its connections died with it: not counted against their addresses while it is away
        self.restarts = [t for t in self.restarts if now - t < 60] + [now]
        if len(self.restarts) > RESTARTS_PER_MINUTE:
            log.warning("worker %d (pid %s) exited with %s, %d exits in a minute: starting it again in %.0f seconds",
                        index, process.pid, code, len(self.restarts), PAUSE_SECONDS)  # fmt: skip
            self.due[index] = now + PAUSE_SECONDS
            return
        log.warning("worker %d (pid %s) exited with %s; starting it again", index, process.pid, code)
        self.start(index)

    def _forget(self, index: int) -> None:
        """Zero worker ``index``'s counts in the shared limits (its replacement does it too, when it starts)."""
        spec = self.spec
        try:
            view = shared_limits.SharedLimits(spec.runtime / "limits", index, spec.workers, spec.secret)
        except OSError as exc:
            log.debug("cannot zero worker %d's counts: %s", index, exc)
            return
        try:
            view.reset_mine()
        finally:
            view.close()

    def _watch(self, index: int, process: BaseProcess, now: float) -> None:
        """Kill worker ``index`` if it is ready (its pid in its ready file) and its heartbeat stopped more than
        :data:`WEDGED_SECONDS` ago, or if it is not ready :data:`START_SECONDS` after it was started; the loop in
        :meth:`run` then starts it again."""
        news = heard(self.spec.runtime / f"ready.{index}")
        if news is None or news[0] != process.pid:  # still starting (opening the stores)
            if now - self.started.get(index, now) > START_SECONDS:
                log.warning("worker %d (pid %s) did not start within %.0f seconds; stopping it", index, process.pid,
                            START_SECONDS)  # fmt: skip
                process.kill()
                process.join(5.0)
            return
        silent = now - news[1]
        if silent > WEDGED_SECONDS:
            log.warning("worker %d (pid %s) has not answered for %.0f seconds; stopping it", index, process.pid, silent)
            process.kill()
            process.join(5.0)

    async def _wait_ready(self, process: BaseProcess) -> None:
        """Until the worker ``process`` listens (it opened the stores and started its relay), or fails."""
        index = next(i for i, p in self.processes.items() if p is process)
        flag = self.spec.runtime / f"ready.{index}"
        deadline = self.clock() + START_SECONDS
        while self.clock() < deadline:
            if not process.is_alive():
                raise UsageError(f"worker {index} could not start (exit code {process.exitcode}); see its log above")
            news = heard(flag)
            if news is not None and news[0] == process.pid:
                return
            await asyncio.sleep(0.05)
        raise UsageError(f"worker {index} did not start within {START_SECONDS:.0f} seconds")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        for process in self.processes.values():
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join(1.0)


def _in_memory() -> str | None:
    """Where the workers' sockets and shared counters go: a folder in memory (/dev/shm, else the user's runtime
    folder), never on a disk where a power cut would leave it for whoever takes the laptop; its name, a
    temporary folder's, does not say Samizdat. None (the system's temporary folder) where there is neither."""
    for place in ("/dev/shm", os.environ.get("XDG_RUNTIME_DIR", "")):
        if place and os.path.isdir(place) and os.access(place, os.W_OK):
            return place
    return None


async def serve(
    home: Path,
    config: Config,
    workers: int,
    *,
    keys: NodeKeys | None,
    decoy: NodeKeys | None,
    mesh: MeshOptions,
    bus: BusOptions,
    ready: Callable[[str, int], None] | None = None,
) -> None:
    """Run ``serve --workers N`` (N >= 2) until cancelled. UsageError when the node is already served or the
    port is taken."""
    with instance.serve_lock(home):
        try:
            reserve = listening_socket(config.host, config.port, listen=False)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {config.port} is in use: another node may be running; try --port") from exc
            raise UsageError(f"cannot listen on {config.host}:{config.port}: {exc.strerror or exc}") from exc
        port = reserve.getsockname()[1]
        runtime = Path(tempfile.mkdtemp(dir=_in_memory()))  # short: unix socket paths are limited to ~100 bytes
        try:
            secret = secrets.token_bytes(32)
            shared_limits.create(runtime / "limits", workers)
            spec = WorkerSpec(home=home, config=config, keys=keys, decoy=decoy, index=0, workers=workers,
                              host=config.host, port=port, runtime=runtime, secret=secret, bus=bus, mesh=mesh,
                              log_level=logging.getLogger().getEffectiveLevel())  # fmt: skip
            supervisor = Supervisor(spec)

            def started() -> None:
                cord = config.kill_cord_action if config.kill_cord else None  # the parent watches it
                instance.announce(home, config.host, port, kill_cord_action=cord)  # `samizdat lock` signals this pid
                if ready is not None:
                    ready(config.host, port)

            await supervisor.run(started)
        finally:
            instance.withdraw(home)
            reserve.close()
            shutil.rmtree(runtime, ignore_errors=True)
