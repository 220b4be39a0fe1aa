"""A client connection to one Nostr relay (ours, a LAN peer, or any public relay).

Theory of operation: one reader task owns the socket's receive side and routes every relay message to whoever
waits for it: ``OK`` answers to the future registered under the event id, and everything that carries a
subscription id (``EVENT``, ``EOSE``, ``CLOSED``, ``COUNT``, ``NEG-MSG``, ``NEG-ERR``) to that subscription's queue.
Queues are bounded; a subscription whose consumer does not keep up is closed with an error, so a fast relay cannot
grow our memory without bound. Every event received is verified before it is handed out: a relay is a carrier,
never trusted with content.

Transports: a direct connection, or through a SOCKS5 / HTTP proxy given as a URL (``socks5h://127.0.0.1:1080``,
``http://proxy:3128``): :mod:`samizdat.net.transports` opens the TCP connection, ``websockets`` speaks TLS and
the WebSocket protocol on it. Which transport to use for which relay, and failing over between them, is
:mod:`samizdat.net.failover`'s business.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import ssl as ssl_module
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from samizdat.core.event import Event, parse_event
from samizdat.core.filters import Filter
from samizdat.errors import BrokenTransport, ClosedTransport, RemoteProtocolError, TransportError
from samizdat.net.transports import Transport, parse_transport

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
SUBSCRIPTION_QUEUE = 10_000
#: What every subscription queue gets when the connection ends (with ``is_open`` then False).
_CONNECTION_CLOSED = ("CLOSED", "", "error: connection closed")
_ids = itertools.count(1)


@dataclass(frozen=True, slots=True)
class PublishResult:
    relay: str
    event_id: str
    accepted: bool
    message: str

    @property
    def prefix(self) -> str:
        return self.message.split(":", 1)[0] if ":" in self.message else ""


def _frame(*parts: Any) -> str:
    return orjson.dumps(list(parts)).decode()


class RelayClient:
    """One open connection to a relay. Create with :meth:`connect`; close with :meth:`close` or ``async with``."""

    def __init__(self, url: str, ws: ClientConnection) -> None:
        self.url = url
        self._ws = ws
        self._ok: dict[str, asyncio.Future[PublishResult]] = {}
        self._subs: dict[str, asyncio.Queue[list[Any]]] = {}
        self._closed: BaseException | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.notices: list[str] = []
        self._reader = asyncio.get_running_loop().create_task(self._read_loop(), name=f"relay-reader {url}")

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        proxy: str | None = None,
        timeout: float = 15.0,
        transport: Transport | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> RelayClient:
        """Open a connection to ``url`` through ``transport`` (or ``proxy``, a transport's string; else direct);
        raise :class:`BrokenTransport` (with the cause chained) on failure, :class:`UsageError` for a bad proxy."""
        host, port, secure = relay_address(url)
        if transport is None:
            transport = parse_transport(proxy or "direct")
        try:
            async with asyncio.timeout(timeout):
                sock = await transport.open(host, port, timeout=timeout)
                try:
                    ws = await websockets.connect(
                        url,
                        sock=sock,
                        ssl=(ssl or True) if secure else None,
                        server_hostname=host if secure else None,
                        open_timeout=None,
                        max_size=MAX_MESSAGE_BYTES,
                        max_queue=64,
                        compression=None,
                        user_agent_header="samizdat",
                        proxy=None,
                    )
                except BaseException:
                    sock.close()
                    raise
        except TransportError as exc:
            raise BrokenTransport(f"cannot connect to {url}: {exc}") from (exc.__cause__ or exc)
        except (OSError, TimeoutError, ssl_module.SSLError, websockets.exceptions.WebSocketException) as exc:
            raise BrokenTransport(f"cannot connect to {url}: {exc or type(exc).__name__}") from exc
        return cls(url, ws)

    @property
    def is_open(self) -> bool:
        return self._closed is None

    async def __aenter__(self) -> RelayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self) -> None:
        self._reader.cancel()
        try:
            await self._ws.close()
        except Exception:  # noqa: BLE001 - closing a broken socket must never raise
            pass
        try:
            await self._reader
        except (asyncio.CancelledError, Exception):  # noqa: BLE001
            pass
        if self._closed is None:  # the reader was cancelled before it ever ran, so its cleanup did not either
            self._closed = ClosedTransport(f"the connection to {self.url} was closed by us")

    # -- sending -----------------------------------------------------------------------------------------------

    async def send_raw(self, frame: str) -> None:
        self._check_open()
        self.bytes_out += len(frame)
        try:
            await self._ws.send(frame)
        except websockets.exceptions.ConnectionClosed as exc:
            raise ClosedTransport(f"{self.url} closed the connection") from exc
        except OSError as exc:
            raise BrokenTransport(f"{self.url}: {exc}") from exc

    async def publish(self, event: Event, *, timeout: float = 15.0) -> PublishResult:
        """Send ``event`` and wait for the relay's ``OK``; a timeout counts as not accepted."""
        future = self._ok.get(event.id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._ok[event.id] = future
        await self.send_raw('["EVENT",' + event.to_json().decode() + "]")
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return PublishResult(self.url, event.id, False, "error: no answer from the relay in time")
        finally:
            if future.done():
                self._ok.pop(event.id, None)

    async def publish_many(self, events: Sequence[Event], *, timeout: float = 30.0) -> list[PublishResult]:
        """Pipeline several events and wait for all answers."""
        return list(await asyncio.gather(*(self.publish(e, timeout=timeout) for e in events)))

    # -- subscriptions -----------------------------------------------------------------------------------------

    def open_subscription(self, sub_id: str | None = None) -> tuple[str, asyncio.Queue[list[Any]]]:
        sub_id = sub_id or f"s{next(_ids)}"
        queue: asyncio.Queue[list[Any]] = asyncio.Queue(SUBSCRIPTION_QUEUE)
        self._subs[sub_id] = queue
        return sub_id, queue

    def drop_subscription(self, sub_id: str) -> None:
        self._subs.pop(sub_id, None)

    async def next_message(self, queue: asyncio.Queue[list[Any]], timeout: float) -> list[Any]:
        """The next message for a subscription; ``CLOSED`` (with ``is_open`` False) once the connection is gone."""
        if queue.empty() and self._closed is not None:
            # The reader may not have had room to leave its CLOSED in this queue: never wait on a dead socket.
            return list(_CONNECTION_CLOSED)
        try:
            return await asyncio.wait_for(queue.get(), timeout)
        except TimeoutError as exc:
            raise BrokenTransport(f"{self.url} did not answer in {timeout:.0f} s") from exc

    def _connection_lost(self) -> TransportError:
        """The error for a request cut short because the connection ended (cleanly or not)."""
        cause = self._closed
        if isinstance(cause, websockets.exceptions.ConnectionClosedOK | ClosedTransport):
            error: TransportError = ClosedTransport(f"{self.url} closed the connection")
        else:
            error = BrokenTransport(f"the connection to {self.url} failed: {cause or 'closed'}")
        error.__cause__ = cause
        return error

    async def fetch(self, filters: Sequence[Filter], *, timeout: float = 30.0) -> list[Event]:
        """Run a REQ until EOSE and return the (verified) stored events; invalid ones are skipped."""
        events: list[Event] = []
        async for event in self.stream(filters, timeout=timeout, live=False):
            events.append(event)
        return events

    async def stream(
        self, filters: Sequence[Filter], *, timeout: float = 30.0, live: bool = True
    ) -> AsyncIterator[Event]:
        """Yield matching events: stored ones, then (if ``live``) new ones until the caller stops iterating."""
        sub_id, queue = self.open_subscription()
        await self.send_raw(_frame("REQ", sub_id, *(f.to_dict() for f in filters)))
        try:
            while True:
                message = await self.next_message(queue, timeout if not live else 1e9)
                kind = message[0]
                if kind == "EVENT" and len(message) >= 3:
                    try:
                        yield parse_event(message[2])
                    except RemoteProtocolError as exc:
                        log.info("%s sent an invalid event: %s", self.url, exc)
                elif kind == "EOSE":
                    if not live:
                        return
                elif kind == "CLOSED":
                    if not self.is_open:
                        raise self._connection_lost()
                    reason = message[2] if len(message) > 2 and isinstance(message[2], str) else ""
                    raise RemoteProtocolError(f"{self.url} closed the subscription: {reason}", "error")
        finally:
            self.drop_subscription(sub_id)
            if self._closed is None:
                try:
                    await self.send_raw(_frame("CLOSE", sub_id))
                except TransportError:
                    pass

    async def count(self, filters: Sequence[Filter], *, timeout: float = 15.0) -> int:
        sub_id, queue = self.open_subscription()
        try:
            await self.send_raw(_frame("COUNT", sub_id, *(f.to_dict() for f in filters)))
            message = await self.next_message(queue, timeout)
            if message[0] == "COUNT" and len(message) > 2 and isinstance(message[2], dict):
                return int(message[2].get("count", 0))
            if not self.is_open:
                raise self._connection_lost()
            raise RemoteProtocolError(f"{self.url} refused COUNT: {message[2:]}", "error")
        finally:
            self.drop_subscription(sub_id)

    # -- reading -----------------------------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self._closed is not None:
            raise ClosedTransport(f"the connection to {self.url} is closed") from self._closed

    async def _read_loop(self) -> None:
        try:
            async for raw in self._ws:
                self.bytes_in += len(raw)
                self._dispatch(raw)
        except websockets.exceptions.ConnectionClosed as exc:
            self._closed = exc
        except Exception as exc:  # noqa: BLE001 - any failure ends the connection, seen by waiters
            self._closed = exc
        finally:
            if self._closed is None:
                self._closed = ClosedTransport(f"{self.url} closed the connection")
            error = ClosedTransport(f"the connection to {self.url} closed")
            for future in self._ok.values():
                if not future.done():
                    future.set_exception(error)
            for queue in self._subs.values():
                if not queue.full():
                    queue.put_nowait(list(_CONNECTION_CLOSED))

    def _dispatch(self, raw: str | bytes) -> None:
        try:
            message = orjson.loads(raw)
        except orjson.JSONDecodeError:
            log.info("%s sent malformed JSON", self.url)
            return
        if not isinstance(message, list) or not message or not isinstance(message[0], str):
            return
        kind = message[0]
        if kind == "OK" and len(message) >= 3 and isinstance(message[1], str):
            future = self._ok.get(message[1])
            if future is not None and not future.done():
                text = message[3] if len(message) > 3 and isinstance(message[3], str) else ""
                future.set_result(PublishResult(self.url, message[1], message[2] is True, text))
        elif kind == "NOTICE":
            if len(self.notices) < 100:
                self.notices.append(str(message[1:2]))
        elif len(message) >= 2 and isinstance(message[1], str):
            queue = self._subs.get(message[1])
            if queue is None:
                return
            if queue.full():
                # The consumer is not keeping up: end the subscription rather than buffer without bound, and say
                # so (what is still queued is dropped to make room), so that a live consumer does not wait forever.
                self._subs.pop(message[1], None)
                while not queue.empty():
                    queue.get_nowait()
                queue.put_nowait(["CLOSED", message[1], "error: too slow, the subscription's queue overflowed"])
                return
            queue.put_nowait(message)


def default_proxy() -> str | None:
    """A proxy from ``SAMIZDAT_PROXY``; relays are never reached through the generic ``*_proxy`` variables."""
    return os.environ.get("SAMIZDAT_PROXY") or None


def relay_address(url: str) -> tuple[str, int, bool]:
    """``(host, port, secure)`` of a ``ws://`` or ``wss://`` URL; raise :class:`TransportError` otherwise."""
    from urllib.parse import urlsplit

    if not url.startswith(("ws://", "wss://")):
        raise TransportError(f"{url} is not a ws:// or wss:// relay address")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TransportError(f"{url} is not a valid relay address: {exc}") from exc
    if not parts.hostname:
        raise TransportError(f"{url} names no host")
    secure = parts.scheme == "wss"
    return parts.hostname, port or (443 if secure else 80), secure
