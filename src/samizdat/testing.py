"""A test kit: the helpers samizdat's own tests use, public for anyone testing code built on samizdat.

Nothing here imports pytest; the test suite's fixtures wrap these helpers (``tests/conftest.py``).

* :class:`FakeClock`: a clock that moves only when told to, with a ``sleep`` that moves it, so background loops
  that take ``clock`` and ``sleep`` arguments run in milliseconds;
* :func:`free_port`: a free TCP port on loopback;
* :func:`wait_until` (async) and :func:`poll_until` (blocking): wait, bounded, for a condition instead of sleeping
  and hoping. Their timeouts are multiplied by ``SAMIZDAT_TEST_TIMEOUT_FACTOR`` (see :func:`timeout_factor`);
* :func:`running_relay`: a :class:`~samizdat.relay.server.RelayServer` on a temporary SQLite store, on loopback;
* :func:`test_node`: a :class:`~samizdat.node.Node` on a fresh data directory;
* :func:`cutting_proxy`: an HTTP ``CONNECT`` proxy on loopback that resets its tunnels after so many bytes, as a
  censor that lets the handshake through and cuts what follows (or never: a plain proxy, a route that works);
* :func:`passphrase_env` and :func:`open_database`: ``samizdat`` commands that make and open encrypted nodes
  cheaply, and a look inside their databases.

Every wait is bounded, and everything started is stopped and closed again, also when the test fails.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import math
import os
import shutil
import socket
import struct
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from samizdat.relay.cluster import Cluster, join
from samizdat.relay.server import RelayServer
from samizdat.store.postgres import PostgresStore
from samizdat.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from samizdat.config import Config
    from samizdat.core.keys import SecretKey
    from samizdat.node import Node
    from samizdat.relay.bus import Bus
    from samizdat.relay.follow import Follower
    from samizdat.relay.shared import SharedLimits

__all__ = [
    "TIMEOUT_FACTOR_VARIABLE",
    "FakeClock",
    "blossom_auth",
    "clean_photo",
    "RunningRelay",
    "free_port",
    "open_database",
    "node_keys",
    "passphrase_env",
    "store_key",
    "poll_until",
    "running_relay",
    "test_node",
    "timeout_factor",
    "wait_until",
]

T = TypeVar("T")
B = TypeVar("B", bound="Bus")

#: The environment variable whose value multiplies every timeout of :func:`wait_until` and :func:`poll_until`
#: (default 1): set it to 3 on a slow CI machine instead of raising timeouts in the tests themselves.
TIMEOUT_FACTOR_VARIABLE = "SAMIZDAT_TEST_TIMEOUT_FACTOR"

# -- time ---------------------------------------------------------------------------------------------------------


class FakeClock:
    """A clock that only moves when a test moves it: pass it where code takes a ``clock`` (a callable returning
    seconds) and its :meth:`sleep` where code takes a ``sleep``.

    ``now`` is the current fake time; tests may also set it directly (``clock.now += 5``). :attr:`sleeps` lists
    the durations the code under test asked to sleep, in order.
    """

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = float(now)
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def __repr__(self) -> str:
        return f"FakeClock(now={self.now!r})"

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (a negative value moves it back, as a stepped system clock)."""
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        """Advance the clock by ``seconds`` (at least 0, like ``asyncio.sleep``), then yield to the event loop
        once, so other tasks run: a loop that sleeps on this clock goes round once per yield, not per second."""
        self.sleeps.append(seconds)
        self.advance(max(0.0, seconds))
        await asyncio.sleep(0)


# -- ports --------------------------------------------------------------------------------------------------------


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (the system picked it); for servers that need a port
    number before they start. Prefer port 0 where the server can report the port it got."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- waiting ------------------------------------------------------------------------------------------------------


def timeout_factor() -> float:
    """The factor from ``SAMIZDAT_TEST_TIMEOUT_FACTOR`` (read on each call; 1 when unset or empty).

    Raises ValueError when it is set to anything but a positive number."""
    raw = os.environ.get(TIMEOUT_FACTOR_VARIABLE, "").strip()
    if not raw:
        return 1.0
    try:
        factor = float(raw)
    except ValueError:
        factor = math.nan
    if not (math.isfinite(factor) and factor > 0):
        raise ValueError(f"{TIMEOUT_FACTOR_VARIABLE} must be a positive number, not {raw!r}")
    return factor


def _schedule(timeout: float, interval: float) -> tuple[float, int]:
    """The scaled timeout and the most attempts a wait may make."""
    if not interval > 0:
        raise ValueError(f"interval must be positive, not {interval!r}")
    if not timeout >= 0:
        raise ValueError(f"timeout must be 0 or more, not {timeout!r}")
    scaled = timeout * timeout_factor()
    return scaled, int(scaled / interval) + 2


@overload
async def wait_until(
    predicate: Callable[[], Awaitable[T]], *, timeout: float = 5.0, what: str = "condition", interval: float = 0.01
) -> T: ...


@overload
async def wait_until(
    predicate: Callable[[], T], *, timeout: float = 5.0, what: str = "condition", interval: float = 0.01
) -> T: ...


async def wait_until(
    predicate: Callable[[], Any], *, timeout: float = 5.0, what: str = "condition", interval: float = 0.01
) -> Any:
    """Call ``predicate`` (a function, or a coroutine function) every ``interval`` seconds until it returns
    something truthy, and return that.

    Raises ``TimeoutError("{what} did not happen within {t} s")`` after ``t`` = ``timeout`` times
    :func:`timeout_factor` seconds; the predicate is tried at most ``t / interval + 2`` times. Exceptions from
    the predicate propagate at once.
    """
    scaled, attempts = _schedule(timeout, interval)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + scaled
    for _ in range(attempts):
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if loop.time() >= deadline:
            break
        await asyncio.sleep(interval)
    raise TimeoutError(f"{what} did not happen within {scaled} s")


def poll_until(
    predicate: Callable[[], T], *, timeout: float = 5.0, what: str = "condition", interval: float = 0.01
) -> T:
    """The blocking twin of :func:`wait_until`, for tests that drive whole processes: call ``predicate`` every
    ``interval`` seconds until it returns something truthy (returned); the same timeout, factor and bounds.

    Raises ``TimeoutError("{what} did not happen within {t} s")``.
    """
    scaled, attempts = _schedule(timeout, interval)
    deadline = time.monotonic() + scaled
    for _ in range(attempts):
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise TimeoutError(f"{what} did not happen within {scaled} s")


# -- a relay ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunningRelay:
    """What :func:`running_relay` yields: the server, its store, and where it listens."""

    server: RelayServer
    store: SqliteStore | PostgresStore
    port: int

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


def _temporary_directory(path: Path, prefix: str) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=prefix, dir=path))


@asynccontextmanager
async def running_relay(
    path: Path, *, clock: Callable[[], float] | None = None, store_url: str | None = None, **server_kwargs: Any
) -> AsyncIterator[RunningRelay]:
    """A :class:`RelayServer` on 127.0.0.1 (a free port) over a new :class:`SqliteStore` in a temporary
    directory under ``path`` (created if missing; several relays may share ``path``), or over a
    :class:`PostgresStore` in the database ``store_url`` (samizdat.testing_postgres makes one).

    ``clock``, if given, is the store's and the server's clock (NIP-40 expiry, ``created_at`` limits);
    ``server_kwargs`` go to :class:`RelayServer` (``limits=``, ``negentropy=``, ``on_event=``, ...). On the way
    out, also when the body raised, the server is stopped and the store closed.
    """
    store: SqliteStore | PostgresStore
    options: dict[str, Any] = {}
    if clock is not None:
        options["clock"] = server_kwargs["clock"] = clock
    if store_url is not None:
        store = await PostgresStore.open(store_url, **options)
    else:
        store = await SqliteStore.open(_temporary_directory(path, "relay-") / "events.sqlite", **options)
    try:
        server = RelayServer(store, **server_kwargs)
        try:
            await server.start("127.0.0.1", 0)
            yield RunningRelay(server, store, server.port)
        finally:
            await server.stop()
    finally:
        await store.close()


@dataclass(frozen=True)
class JoinedRelays(Generic[B]):
    """What :func:`relays_as_workers` yields: the relays in worker order, each one's follower and bus."""

    servers: list[RelayServer]
    followers: list[Follower]
    buses: Sequence[B]

    def url(self, i: int) -> str:
        return f"ws://127.0.0.1:{self.servers[i].port}"


@asynccontextmanager
async def relays_as_workers(
    stores: Sequence[SqliteStore | PostgresStore],
    buses: Sequence[B],
    *,
    views: Sequence[SharedLimits] | None = None,
    workers: int | None = None,
    listen: Callable[[], socket.socket] | None = None,
    **server_kwargs: Any,
) -> AsyncIterator[JoinedRelays[B]]:
    """One :class:`RelayServer` per store on 127.0.0.1 (free ports), joined as ``serve --workers N`` joins its
    workers: a :class:`Cluster` over the relay's bus (and its view of the shared limits, when given), its follower
    started and running. ``workers`` is the cluster's size (default: one per store); ``server_kwargs`` go to
    every :class:`RelayServer`; ``listen`` makes each server's listening socket (default: a free loopback port).
    The stores, buses and views are the caller's to make; on the way out, also when
    starting or the body failed, the followers are stopped, the servers stopped, and the buses, stores and views
    closed, in that order.
    """
    count = len(stores) if workers is None else workers
    servers = [RelayServer(store, **server_kwargs) for store in stores]
    followers = [
        join(server, Cluster(bus, index=i, workers=count, shared=None if views is None else views[i]))
        for i, (server, bus) in enumerate(zip(servers, buses, strict=True))
    ]
    tasks: list[asyncio.Task[None]] = []
    try:
        for server, follower in zip(servers, followers, strict=True):
            if listen is None:
                await server.start("127.0.0.1", 0)
            else:
                await server.start(sock=listen())
            await follower.start()
            tasks.append(asyncio.create_task(follower.run()))
        yield JoinedRelays(servers, followers, buses)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            await server.stop()
        for bus in buses:
            await bus.close()
        for store in stores:
            await store.close()
        for view in views or ():
            view.close()


# -- a node -------------------------------------------------------------------------------------------------------


@asynccontextmanager
async def test_node(
    home: Path,
    *,
    clock: Callable[[], float] | None = None,  # noqa: PT028 - not a test function (see ``__test__`` below)
    config: Config | None = None,  # noqa: PT028
    sleep: Callable[[float], Awaitable[None]] | None = None,  # noqa: PT028
) -> AsyncIterator[Node]:
    """A :class:`~samizdat.node.Node` on ``home``: the data directory is created as ``samizdat init`` does
    (identity and default configuration; kept if it exists), then opened with ``config`` (default: read from
    ``home``), ``clock`` and ``sleep`` (defaults: the node's own, real time; pass a :class:`FakeClock` and its
    ``sleep`` to drive the node's background loops). Closed on the way out.
    """
    from samizdat.config import init_home  # here, so that importing the kit does not import the whole node
    from samizdat.node import Node

    init_home(home)
    options: dict[str, Any] = {}  # only what is given: the node's own defaults otherwise
    if clock is not None:
        options["clock"] = clock
    if sleep is not None:
        options["sleep"] = sleep
    node = await Node.open(home, config, **options)
    try:
        yield node
    finally:
        await node.close()


test_node.__test__ = False  # type: ignore[attr-defined]  # not a test, for pytest, when a test module imports it


# -- encrypted nodes in tests ---------------------------------------------------------------------------------------

#: The passphrase of the nodes that ``samizdat init`` makes under :func:`passphrase_env`.
TEST_PASSPHRASE = "a test passphrase, known to everyone"

_passphrase_file: Path | None = None
_keys: dict[Path, Any] = {}


class CuttingProxy:
    """See :func:`cutting_proxy`. ``url`` is its transport string, ``tunnels`` counts the tunnels it opened; once
    ``to`` is set (a port on 127.0.0.1) every new tunnel goes there, whatever it asked for: a censor's router that
    takes a relay's address over."""

    def __init__(self, server: asyncio.Server, limit: int | None) -> None:
        self.server = server
        self.limit = limit
        self.to: int | None = None
        self.tunnels = 0
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_writer: asyncio.StreamWriter | None = None
        pump: asyncio.Future[None] | None = None
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            host, _, port = head.split(b" ", 2)[1].decode().rpartition(":")
            target = ("127.0.0.1", self.to) if self.to is not None else (host.strip("[]"), int(port))
            up_reader, up_writer = await asyncio.open_connection(*target)
            self.tunnels += 1
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            pump = asyncio.ensure_future(_pump(reader, up_writer))
            carried = 0
            while data := await up_reader.read(65536):
                if self.limit is not None and carried + len(data) >= self.limit:
                    writer.write(data[: self.limit - carried])
                    await writer.drain()
                    # SO_LINGER 0, then abort: a TCP reset, not an orderly end.
                    writer.get_extra_info("socket").setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    writer.transport.abort()
                    return
                carried += len(data)
                writer.write(data)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            if pump is not None:
                pump.cancel()
                await asyncio.gather(pump, return_exceptions=True)
            if up_writer is not None:
                up_writer.close()
            writer.close()


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()


@asynccontextmanager
async def cutting_proxy(limit: int | None) -> AsyncIterator[CuttingProxy]:
    """An HTTP ``CONNECT`` proxy on 127.0.0.1 that carries each tunnel until ``limit`` bytes came back from the
    target, then resets the connection (None: never). Stopped on the way out."""
    proxy: CuttingProxy | None = None

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        assert proxy is not None
        await proxy.handle(reader, writer)

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    proxy = CuttingProxy(server, limit)
    try:
        yield proxy
    finally:
        server.close()
        await server.wait_closed()


def passphrase_env() -> dict[str, str]:
    """Environment variables for ``samizdat`` commands in tests: a passphrase file holding :data:`TEST_PASSPHRASE`
    (``SAMIZDAT_PASSPHRASE_FILE``; one per process, in a temporary directory) and ``SAMIZDAT_KDF_TEST=1``, so that
    ``samizdat init`` makes encrypted nodes whose unlock costs a millisecond instead of a second (and hundreds of
    megabytes). Never for real nodes: a weak key derivation and a passphrase everyone knows."""
    global _passphrase_file
    if _passphrase_file is None or not _passphrase_file.exists():
        directory = Path(tempfile.mkdtemp(prefix="samizdat-passphrase-"))
        atexit.register(shutil.rmtree, directory, True)
        path = directory / "passphrase"
        path.write_text(TEST_PASSPHRASE + "\n", encoding="utf-8")
        path.chmod(0o600)
        _passphrase_file = path
    return {"SAMIZDAT_PASSPHRASE_FILE": str(_passphrase_file), "SAMIZDAT_KDF_TEST": "1"}


def open_database(path: Path, *, passphrase: str = TEST_PASSPHRASE, timeout: float = 10.0) -> Any:
    """A read-only connection to a node's database file ``path`` (``<home>/events.sqlite`` or ``local.sqlite``),
    for tests that look inside a node another process runs. An encrypted node is unlocked with ``passphrase`` once
    per home (that rewrites its key slots, as every unlock does); a plain one is opened as it is. The connection is
    the encrypting library's (``samizdat.store.dbapi``): catch ``samizdat.store.dbapi.sqlite3``'s exception classes."""
    from samizdat.store import dbapi

    keys = node_keys(path.parent, passphrase=passphrase)
    key = None if keys is None else keys.local if path.name == "local.sqlite" else keys.events
    return dbapi.connect(f"{path.as_uri()}?mode=ro", key, uri=True, timeout=timeout, check_same_thread=False)


def node_keys(home: Path, *, passphrase: str = TEST_PASSPHRASE) -> Any:
    """The :class:`~samizdat.core.sealing.NodeKeys` of the node in ``home`` (None if it is not encrypted), unlocked
    with ``passphrase`` once per home: ``SqliteStore.open(home / "events.sqlite", key=node_keys(home).events)``."""
    from samizdat.services import keyring

    if keyring.kind(home) != "encrypted":
        return None
    if home not in _keys:
        _keys[home] = keyring.unlock(home, passphrase)
    return _keys[home]


def store_key(home: Path) -> bytes | None:
    """The event store's key of the (test) node in ``home``, None for a plain node: see :func:`node_keys`."""
    keys = node_keys(home)
    return None if keys is None else bytes(keys.events)


# -- photos -------------------------------------------------------------------------------------------------------


def clean_photo(width: int = 64, height: int = 48, *, fmt: str = "WEBP", seed: int = 0, noise: bool = False) -> bytes:
    """A small image with no metadata (Pillow writes none unless asked), different for each ``seed``: a blob any
    node accepts. ``fmt``: WEBP, JPEG or PNG; with ``noise``, random pixels (as large as a photo of that size)."""
    import io
    import random

    from PIL import Image

    if noise:
        pixels = random.Random(seed).randbytes(width * height * 3)
        image = Image.frombytes("RGB", (width, height), pixels)
    else:
        image = Image.new("RGB", (width, height), ((seed * 37) % 256, (seed * 91) % 256, 120))
    for x in range(0, width, 7):  # a few lines, so that encoders have something to encode
        image.putpixel((x, (x * (seed + 3)) % height), (255, 255, 255))
    out = io.BytesIO()
    image.save(out, fmt, **({"quality": 80} if fmt != "PNG" else {}))
    return out.getvalue()


def blossom_auth(key: SecretKey, verb: str, hashes: Sequence[str] = (), *, expiration: int | None = None,
                 created_at: int | None = None, kind: int = 24242, servers: Sequence[str] = ()) -> str:  # fmt: skip
    """An ``Authorization: Nostr ...`` header value (BUD-11) signed by ``key`` for ``verb`` and ``hashes``."""
    import base64

    from samizdat.core.event import sign_event

    now = int(time.time()) if created_at is None else created_at
    tags = [["t", verb], ["expiration", str(now + 300 if expiration is None else expiration)]]
    tags += [["x", h] for h in hashes] + [["server", s] for s in servers]
    event = sign_event(key, kind, f"{verb} blob", tags, created_at=now)
    return "Nostr " + base64.urlsafe_b64encode(event.to_json()).decode().rstrip("=")


class CreatedFiles:
    """Every name created in one directory (not below it) while open, through Linux's inotify: also a file made
    and deleted at once, as SQLite's temporary files are (unlinked right after they are opened), which a look at
    the directory afterwards never sees. ``names()`` says what was created so far. Linux only (tests that need it
    skip elsewhere); ``close()`` ends the watch.

    Raises OSError when inotify cannot be set up."""

    _IN_CREATE, _IN_MOVED_TO = 0x100, 0x80

    def __init__(self, directory: Path) -> None:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        self._fd = int(libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC))
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        if libc.inotify_add_watch(self._fd, bytes(directory), self._IN_CREATE | self._IN_MOVED_TO) < 0:
            os.close(self._fd)
            raise OSError(ctypes.get_errno(), f"cannot watch {directory}")
        self._names: list[str] = []

    def names(self) -> list[str]:
        while True:
            try:
                data = os.read(self._fd, 65536)
            except BlockingIOError:
                return list(self._names)
            while data:  # struct inotify_event: wd, mask, cookie, len, then len bytes of name
                _wd, _mask, _cookie, length = struct.unpack_from("iIII", data)
                self._names.append(data[16 : 16 + length].rstrip(b"\0").decode(errors="replace"))
                data = data[16 + length :]

    def close(self) -> None:
        os.close(self._fd)
