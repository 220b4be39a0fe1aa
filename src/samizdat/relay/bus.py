"""The bus: how relay processes sharing one store tell each other "the store grew up to insertion number N".

Theory of operation
-------------------

Several relay processes (the workers of one ``serve --workers N``, or ``serve`` processes on several machines)
share one store. Each fans out the events it stored itself at once; the others learn of them through a
:class:`Bus`: ``publish(seq)`` says "events up to insertion number ``seq`` are committed", ``subscribe()`` yields
such numbers as they come. A message is a hint and never an event: the receiver reads the new rows from the store
(``Store.events_since``, in insertion order, from the last number it saw), so whoever can reach the bus can at
worst cause a needless read, never inject or alter an event. Messages may be lost, repeated or reordered; the
follower (:mod:`samizdat.relay.follow`) also looks at the store's newest insertion number every
:data:`~samizdat.relay.follow.POLL_SECONDS`, so a process that missed messages (restarted, cut off from the bus)
catches up from the store.

Two implementations here:

* :class:`LocalBus`: unix datagram sockets in one directory, one per process; ``publish`` sends the number to
  every other socket in the directory. Nothing to install; one machine only (the workers of ``--workers N``).
* :class:`NatsBus`: a NATS subject (``nats://...``, nats-py), for processes on any number of machines. The
  server's credentials come from the URL (``nats://user:password@host:4222`` or ``nats://token@host:4222``) or
  from a creds file (NATS 2 JWT + nkey).

Ephemeral events (kinds 20000-29999) are never stored, so no insertion number can point at them: they travel on
the bus themselves (``publish_ephemeral``, ``ephemeral()``), as their signed JSON (several in a message, one a
line), at most :data:`EPHEMERAL_MAX_BYTES` a message. That breaks "numbers only" for them alone, and safely: the
receiving process verifies each one's signature before any subscriber sees it (:mod:`samizdat.relay.follow`), so
whoever reaches the bus can repeat an ephemeral event somebody signed, never forge one; and it bounds how many a
second it takes. They are best effort, as ephemeral events are anyway: one lost on the bus is not delivered on
the other processes.

PostgreSQL's ``LISTEN/NOTIFY`` is a third (:class:`StoreBus` on the PostgreSQL store's ``watch()``): a ``serve``
on a PostgreSQL store with no ``--bus`` uses it, so relays on several machines sharing the database hear of each
other's events without NATS (at smaller scale: one listening connection per relay process).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from samizdat.errors import UsageError

logger = logging.getLogger("samizdat.relay.bus")

#: NATS subject prefix; the rest names the store, so that relays of different stores can share a NATS server.
SUBJECT = "samizdat.stored"
#: At most this many numbers wait in a subscriber's queue; more are dropped (the follower's poll catches up).
QUEUE_MAX = 1024
#: The largest ephemeral event (its JSON) that goes over the bus; a larger one reaches only its own process.
EPHEMERAL_MAX_BYTES = 64 * 1024
#: At most this many ephemeral events wait in a subscriber's queue; more are dropped (best effort).
EPHEMERAL_QUEUE_MAX = 256
#: NATS subject prefix of ephemeral events.
EPHEMERAL_SUBJECT = "samizdat.ephemeral"
#: A PostgreSQL NOTIFY payload's limit (StoreBus).
NOTIFY_MAX_BYTES = 7999
_EPHEMERAL = b"E"  # a LocalBus datagram that starts with this is an ephemeral event's JSON, not a number


class Bus(Protocol):
    """Carries insertion numbers between relay processes of one store. Numbers only: never events."""

    async def publish(self, seq: int) -> None:
        """Say that events up to ``seq`` are committed. Never raises for a bus that is down (it logs)."""

    def subscribe(self) -> AsyncIterator[int]:
        """The numbers other processes publish, as they come (possibly lost, repeated or out of order)."""

    async def publish_ephemeral(self, data: bytes) -> None:
        """Send ephemeral events' JSON, one or more joined by newlines (at most :data:`EPHEMERAL_MAX_BYTES` in
        all), to the other processes; best effort. Never raises for a bus that is down."""

    def ephemeral(self) -> AsyncIterator[bytes]:
        """Such messages from other processes, unverified: the receiver checks each event's signature."""

    async def close(self) -> None:
        """Stop publishing and end the subscriptions."""


def _parse_seq(data: bytes) -> int | None:
    try:
        seq = int(data[:20])
    except ValueError:
        return None
    return seq if seq >= 0 else None


class LocalBus:
    """Unix datagram sockets in ``directory``: ``name.sock`` is this process's; publishing sends to all others."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.path = directory / f"{name}.sock"
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # left by a worker that died
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.bind(str(self.path))
        self._sock.setblocking(False)
        with contextlib.suppress(OSError):  # room for a few ephemeral events while this process is busy
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self._queue: asyncio.Queue[int] = asyncio.Queue(QUEUE_MAX)
        self._ephemeral: asyncio.Queue[bytes] = asyncio.Queue(EPHEMERAL_QUEUE_MAX)
        self._reading = False
        self._closed = False

    async def publish(self, seq: int) -> None:
        self._send(str(seq).encode())

    async def publish_ephemeral(self, data: bytes) -> None:
        if len(data) <= EPHEMERAL_MAX_BYTES:
            self._send(_EPHEMERAL + data)

    def _send(self, data: bytes) -> None:
        try:
            names = [p for p in self.directory.iterdir() if p.suffix == ".sock" and p != self.path]
        except OSError:
            return
        for peer in names:
            try:
                self._sock.sendto(data, str(peer))
            except (BlockingIOError, ConnectionRefusedError, FileNotFoundError):
                pass  # a full queue, or a worker that is gone: it catches up from the store
            except OSError as exc:
                logger.debug("wake-up to %s failed: %s", peer, exc)

    def _readable(self) -> None:
        while True:
            try:
                data = self._sock.recv(EPHEMERAL_MAX_BYTES + 1)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if data[:1] == _EPHEMERAL:
                with contextlib.suppress(asyncio.QueueFull):
                    self._ephemeral.put_nowait(data[1:])
                continue
            seq = _parse_seq(data)
            if seq is not None:
                with contextlib.suppress(asyncio.QueueFull):
                    self._queue.put_nowait(seq)

    def _start_reading(self) -> None:
        if not self._reading:
            self._reading = True
            asyncio.get_running_loop().add_reader(self._sock.fileno(), self._readable)

    async def subscribe(self) -> AsyncIterator[int]:
        self._start_reading()
        while not self._closed:
            yield await self._queue.get()

    async def ephemeral(self) -> AsyncIterator[bytes]:
        self._start_reading()
        while not self._closed:
            yield await self._ephemeral.get()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._reading:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_reader(self._sock.fileno())
        self._sock.close()
        with contextlib.suppress(OSError):
            self.path.unlink()


class NatsBus:
    """A NATS subject. Open with :meth:`connect`; nats-py reconnects by itself when the server comes back."""

    def __init__(self, client: Any, subject: str, ephemeral_subject: str = "") -> None:
        self._nc = client
        self.subject = subject
        self.ephemeral_subject = ephemeral_subject
        self._queue: asyncio.Queue[int] = asyncio.Queue(QUEUE_MAX)
        self._ephemeral: asyncio.Queue[bytes] = asyncio.Queue(EPHEMERAL_QUEUE_MAX)
        self._sub: Any = None
        self._ephemeral_sub: Any = None
        self._closed = False

    @classmethod
    async def connect(
        cls, url: str, *, name: str = "samizdat", creds: str | None = None, store: str = "default"
    ) -> NatsBus:
        """Connect to the NATS server(s) at ``url`` (comma-separated for a cluster). Credentials: in the URL, or
        ``creds`` (a creds file). Raises UsageError with one sentence if it cannot connect or log in."""
        try:
            import nats  # optional until used (STYLE habit 6)
            from nats.errors import Error as NatsError
        except ImportError as exc:
            raise UsageError("--bus nats:// needs the nats-py package (pip install nats-py)") from exc
        servers = [u.strip() for u in url.split(",") if u.strip()]
        for server in servers:
            if urlsplit(server).scheme not in ("nats", "tls"):
                raise UsageError(f"bus {server!r}: give a nats:// (or tls://) URL")
        if creds is not None and not Path(creds).is_file():  # noqa: ASYNC240 (once, at start-up)
            raise UsageError(f"the NATS creds file {creds} does not exist")
        options: dict[str, Any] = dict(servers=servers, name=name, connect_timeout=5, max_reconnect_attempts=-1,
                                       reconnect_time_wait=1, allow_reconnect=True)  # fmt: skip
        if creds is not None:
            options["user_credentials"] = creds

        async def error(exc: Exception) -> None:
            logger.warning("NATS bus: %s", exc)

        options["error_cb"] = error
        try:
            client = await nats.connect(**options)
        except (NatsError, OSError, TimeoutError) as exc:
            shown = ", ".join(_hide_password(s) for s in servers)
            raise UsageError(f"cannot connect to the NATS bus at {shown}: {exc or type(exc).__name__}") from exc
        bus = cls(client, f"{SUBJECT}.{store}", f"{EPHEMERAL_SUBJECT}.{store}")

        async def received(message: Any) -> None:
            seq = _parse_seq(message.data)
            if seq is not None:
                with contextlib.suppress(asyncio.QueueFull):
                    bus._queue.put_nowait(seq)

        async def ephemeral(message: Any) -> None:
            if len(message.data) <= EPHEMERAL_MAX_BYTES:
                with contextlib.suppress(asyncio.QueueFull):
                    bus._ephemeral.put_nowait(message.data)

        bus._sub = await client.subscribe(bus.subject, cb=received)
        bus._ephemeral_sub = await client.subscribe(bus.ephemeral_subject, cb=ephemeral)
        return bus

    async def publish(self, seq: int) -> None:
        try:
            await self._nc.publish(self.subject, str(seq).encode())
        except Exception as exc:  # noqa: BLE001 (a bus that is down: the others catch up from the store)
            logger.debug("NATS publish failed: %s", exc)

    async def subscribe(self) -> AsyncIterator[int]:
        while not self._closed:
            yield await self._queue.get()

    async def publish_ephemeral(self, data: bytes) -> None:
        if len(data) > EPHEMERAL_MAX_BYTES or not self.ephemeral_subject:
            return
        # NATS brings our own copy back too: the follower knows the ids it sent and drops it.
        try:
            await self._nc.publish(self.ephemeral_subject, data)
        except Exception as exc:  # noqa: BLE001 (a bus that is down: ephemeral events are best effort)
            logger.debug("NATS publish failed: %s", exc)

    async def ephemeral(self) -> AsyncIterator[bytes]:
        while not self._closed:
            yield await self._ephemeral.get()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):
            await self._nc.drain()
        with contextlib.suppress(Exception):
            await self._nc.close()


class Watching(Protocol):
    """A store that tells of its own growth: ``watch()`` yields its newest insertion number as it grows, whoever
    wrote (the PostgreSQL store, by ``LISTEN/NOTIFY``)."""

    def watch(self) -> AsyncIterator[int]: ...


class StoreBus:
    """The bus of a store that notifies by itself (:class:`Watching`): its commits publish, so :meth:`publish`
    has nothing to do."""

    def __init__(self, store: Watching) -> None:
        self.store = store

    async def publish(self, seq: int) -> None:
        return None

    async def subscribe(self) -> AsyncIterator[int]:
        async for seq in self.store.watch():
            yield seq

    async def publish_ephemeral(self, data: bytes) -> None:
        """By ``NOTIFY`` when the store offers it (PostgreSQL: payloads of at most 8,000 bytes, so the events are
        sent in pieces of that size, and a larger event stays on its own process)."""
        notify = getattr(self.store, "notify_ephemeral", None)
        if notify is None:
            return
        limit = NOTIFY_MAX_BYTES
        batch: list[bytes] = []
        size = 0
        for event in data.split(b"\n"):
            if len(event) > limit:
                continue
            if batch and size + 1 + len(event) > limit:
                await self._notify(notify, batch)
                batch, size = [], 0
            batch.append(event)
            size += len(event) + 1
        if batch:
            await self._notify(notify, batch)

    async def _notify(self, notify: Any, batch: list[bytes]) -> None:
        try:
            await notify(b"\n".join(batch).decode())
        except Exception as exc:  # noqa: BLE001 (best effort, as on every bus)
            logger.debug("NOTIFY of ephemeral events failed: %s", exc)

    async def ephemeral(self) -> AsyncIterator[bytes]:
        watch = getattr(self.store, "watch_ephemeral", None)
        if watch is None:
            return
        async for payload in watch():
            if len(payload) <= EPHEMERAL_MAX_BYTES:
                yield payload

    async def close(self) -> None:
        return None


def store_bus(store: object) -> StoreBus | None:
    """A :class:`StoreBus` on ``store`` if it notifies by itself, else None (SQLite: it needs a bus)."""
    watch = getattr(store, "watch", None)
    return StoreBus(store) if callable(watch) else None  # type: ignore[arg-type]


def _hide_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None and parts.username is None:
        return url
    return parts._replace(netloc=f"***@{parts.hostname}:{parts.port or 4222}").geturl()


def store_name(path: Path) -> str:
    """A NATS subject token naming a store file: relays of one store share it, others do not hear them."""
    import hashlib

    return hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
