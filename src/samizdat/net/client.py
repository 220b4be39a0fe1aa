"""A client connection to one Nostr relay (ours, a LAN peer, or any public relay).

Theory of operation: one reader task owns the socket's receive side and routes every relay message to whoever
waits for it: ``OK`` answers to the future registered under the event id, and everything that carries a
subscription id (``EVENT``, ``EOSE``, ``CLOSED``, ``COUNT``, ``NEG-MSG``, ``NEG-ERR``) to that subscription's queue.
Queues are bounded, in messages and in bytes (a relay's frame may be 4 MB: 10,000 of them would be 40 GB); a
subscription whose consumer does not keep up is closed with an error, so a fast relay cannot grow our memory
without bound. Every event received is verified before it is handed out: a relay is a carrier,
never trusted with content. Nor with its words: an ``OK`` message or a ``CLOSED`` reason is kept and shown as one
line of at most :data:`REASON_CHARS` characters, without control or reordering characters (:func:`relay_text`).

Transports: a direct connection, or through a SOCKS5 / HTTP proxy given as a URL (``socks5h://127.0.0.1:1080``,
``http://proxy:3128``): :mod:`samizdat.net.transports` opens the TCP connection, ``websockets`` speaks TLS and
the WebSocket protocol on it. Which transport to use for which relay, and failing over between them, is
:mod:`samizdat.net.failover`'s business.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import ssl as ssl_module
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import websockets
from websockets.asyncio.client import ClientConnection

from samizdat.core.display import neutralize
from samizdat.core.event import Event, parse_event
from samizdat.core.filters import Filter
from samizdat.errors import BrokenTransport, ClosedTransport, RemoteProtocolError, TransportError
from samizdat.net.transports import Transport, http_get, parse_transport
from samizdat.net.watch import HeardConnection, Watch

log = logging.getLogger(__name__)

MAX_MESSAGE_BYTES = 4 * 1024 * 1024
INFO_TIMEOUT = 5.0  # for the NIP-11 document
MAX_INFO_BYTES = 64 * 1024  # a NIP-11 document is a few hundred bytes; a relay that sends more is not read
SUBSCRIPTION_QUEUE = 10_000
#: Bytes of frames one subscription's queue holds at most (as they came: a full answer of 500 events of the largest
#: size the door admits fits twice). More means a consumer far behind, or a relay sending far more than asked.
SUBSCRIPTION_QUEUE_BYTES = 64 * 1024 * 1024
MAX_NOTICES = 100
NOTICE_CHARS = 500  # of a NOTICE's text kept: a relay's 4 MB notices, kept whole, were 400 MB until we closed
#: Characters kept of a relay's ``OK`` message or ``CLOSED``/``NEG-ERR`` reason (:func:`relay_text`). A relay may
#: answer each of 500 posts with a 4 MB refusal: kept whole, the answers to one batch held 2 GB (218 MB for 50).
REASON_CHARS = 300
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


def relay_text(value: object, limit: int = REASON_CHARS) -> str:
    """A relay's words (an ``OK`` message, a ``CLOSED`` or ``NEG-ERR`` reason) as the node keeps and shows them:
    one line of at most ``limit`` characters, without control characters (an escape sequence printed by
    ``samizdat status`` or ``samizdat sync`` could clear the terminal and write text of the relay's choosing), line
    breaks (a line of its own in the node's log), or characters that reorder text (core/display.py). Its prefix
    (``blocked:``, ``duplicate:``) stays as it came. Anything but a string is no words at all."""
    if not isinstance(value, str):
        return ""
    text = " ".join(neutralize(value[: 4 * limit]).split())  # cut first: neutralising 4 MB, 500 times, takes minutes
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _frame(*parts: Any) -> str:
    return orjson.dumps(list(parts)).decode()


class _Inbox(asyncio.Queue[list[Any]]):
    """A subscription's queue, bounded in messages (``maxsize``) and in the bytes they came in (``max_bytes``).
    The reader puts with :meth:`offer` only; consumers get as from any queue (``get``, ``get_nowait``).

    A relay's message waits here as it came, and is parsed when taken: parsed, an event of 2,000 short tags is
    about 11 times its 30 KB of JSON, so a queue of parsed messages bounded at 64 MB of wire held 700 MB, and a
    lying relay's answers took a ``samizdat sync`` to 1.9 GB (red-team finding). Parsing twice (once to route the
    message, once here) costs a few µs a message."""

    def __init__(self, maxsize: int, max_bytes: int) -> None:
        super().__init__(maxsize)
        self.max_bytes = max_bytes
        self.bytes = 0
        self._sizes: deque[int] = deque()  # the size of each queued message, in the same order

    def has_room(self, size: int) -> bool:
        """Whether a message of ``size`` bytes fits (one message always fits an empty queue)."""
        return not self.full() and (self.empty() or self.bytes + size <= self.max_bytes)

    def offer(self, message: list[Any] | str | bytes, size: int) -> None:
        """Queue ``message`` (a message's JSON as it came, or one made here; ``size`` bytes on the wire); raises
        :class:`asyncio.QueueFull` when it is full."""
        self.put_nowait(message)  # type: ignore[arg-type]  # JSON is parsed when taken (_get)
        self._sizes.append(size)
        self.bytes += size

    def _get(self) -> list[Any]:
        self.bytes -= self._sizes.popleft()
        message: list[Any] | str | bytes = super()._get()
        return orjson.loads(message) if isinstance(message, str | bytes) else message


class RelayClient:
    """One open connection to a relay. Create with :meth:`connect`; close with :meth:`close` or ``async with``."""

    def __init__(
        self,
        url: str,
        ws: ClientConnection,
        *,
        transport: Transport | None = None,
        ssl: ssl_module.SSLContext | None = None,
    ) -> None:
        self.url = url
        self._ws = ws
        self._transport = transport  # how ``ws`` was reached: the NIP-11 document is fetched the same way
        self._ssl = ssl
        self._info: asyncio.Task[dict[str, Any] | None] | None = None
        self._ok: dict[str, asyncio.Future[PublishResult]] = {}
        self._subs: dict[str, _Inbox] = {}
        self._closed: BaseException | None = None
        self.bytes_in = 0
        self.bytes_out = 0
        self.messages_out = 0  # frames sent: some relays allow a connection only so many (see net.sync.Pacing)
        self.notices: list[str] = []
        #: The route (a transport's string as configured: ``direct``, ``tor``, a proxy) and the network this
        #: connection was opened on, when failover opened it (net/failover.py); None otherwise.
        self.route: str | None = None
        self.network: str | None = None
        #: Notices a connection that carries nothing while an answer is awaited (net/watch.py): then ``data.stall``.
        self._watch = Watch(ws, self._stalled) if isinstance(ws, HeardConnection) else None
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
        raise :class:`BrokenTransport` (with the cause chained) on failure, :class:`UsageError` for a bad proxy.

        The TCP connection is bounded by the transport's own time limit (its error says where it stalled: the
        proxy, or past it), the TLS and WebSocket handshakes by what is left of ``timeout``."""
        host, port, secure = relay_address(url)
        if transport is None:
            transport = parse_transport(proxy or "direct")
        deadline = asyncio.get_running_loop().time() + timeout
        try:
            sock = await transport.open(host, port, timeout=timeout)
            async with asyncio.timeout_at(deadline):
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
                        create_connection=HeardConnection,
                    )
                except BaseException:
                    sock.close()
                    raise
        except TransportError as exc:
            raise BrokenTransport(f"cannot connect to {url}: {exc}") from (exc.__cause__ or exc)
        except TimeoutError as exc:
            raise BrokenTransport(f"cannot connect to {url}: no WebSocket answer within {timeout:.0f} s") from exc
        except (OSError, ssl_module.SSLError, websockets.exceptions.WebSocketException) as exc:
            raise BrokenTransport(f"cannot connect to {url}: {exc or type(exc).__name__}") from exc
        return cls(url, ws, transport=transport, ssl=ssl)

    @property
    def is_open(self) -> bool:
        return self._closed is None

    def breakage(self) -> str | None:
        """How the connection went dead under us, if it did without the relay closing it: ``data.stall`` when the
        keepalive ping got no answer (nothing at all came back for its bound: a relay that is only slow still
        answers pings, which its WebSocket layer does and not its application), ``data.reset`` when it was cut
        without a WebSocket close (a reset, or an end of the stream). None while it is open, or when it was closed
        with a close frame (by the relay, which was reached) or by us."""
        closed = self._closed
        if closed is None or isinstance(closed, websockets.exceptions.ConnectionClosedOK | ClosedTransport):
            return None
        if self._watch is not None and self._watch.stalled:
            return "data.stall"
        if isinstance(closed, websockets.exceptions.ConnectionClosed):
            if closed.rcvd is not None:
                return None
            sent = closed.sent
            if sent is not None and sent.code == 1011 and "keepalive" in sent.reason:
                return "data.stall"
            # Closed by us for a reason of ours (a protocol error, a message too large), or cut.
            return None if sent is not None else "data.reset"
        return "data.reset" if isinstance(closed, OSError) else None

    async def __aenter__(self) -> RelayClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def close(self, *, wait: float | None = None) -> None:
        """Close the connection; ``wait``: at most this many seconds for the relay's closing handshake (websockets'
        default is 10 s, too long on a connection a censor has stalled)."""
        if wait is not None:
            self._ws.close_timeout = wait
        if self._watch is not None:
            self._watch.close()
        if self._info is not None:
            self._info.cancel()
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

    async def relay_info(self, *, timeout: float = INFO_TIMEOUT) -> dict[str, Any] | None:
        """The relay's NIP-11 document, fetched once per connection through the same transport (direct or the
        proxy) as the WebSocket; None when it cannot be had within ``timeout`` (or is not a JSON object).
        Never raises for the relay's sake: a relay that serves no document is a relay we know less about."""
        if self._info is None:
            transport = self._transport or parse_transport("direct")
            self._info = asyncio.get_running_loop().create_task(
                fetch_relay_info(self.url, transport, ssl=self._ssl, timeout=timeout), name=f"nip-11 {self.url}"
            )
        try:
            return await asyncio.shield(self._info)
        except asyncio.CancelledError:
            if self._info.cancelled():  # the connection was closed meanwhile
                return None
            raise
        except Exception:  # noqa: BLE001 - fetch_relay_info maps its errors to None; be safe anyway
            return None

    # -- sending -----------------------------------------------------------------------------------------------

    async def send_raw(self, frame: str) -> None:
        self._check_open()
        self.bytes_out += len(frame)
        self.messages_out += 1
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
            with self._watching():
                async with asyncio.timeout(timeout):
                    return await asyncio.shield(future)
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
        queue = _Inbox(SUBSCRIPTION_QUEUE, SUBSCRIPTION_QUEUE_BYTES)
        self._subs[sub_id] = queue
        return sub_id, queue

    def drop_subscription(self, sub_id: str) -> None:
        self._subs.pop(sub_id, None)

    async def next_message(self, queue: asyncio.Queue[list[Any]], timeout: float, *, answer: bool = True) -> list[Any]:
        """The next message for a subscription; ``CLOSED`` (with ``is_open`` False) once the connection is gone.
        ``answer``: the message answers a request (the connection is watched for a stall meanwhile, net/watch.py);
        False for a live subscription's next event, which may be hours away."""
        if queue.empty() and self._closed is not None:
            # The reader may not have had room to leave its CLOSED in this queue: never wait on a dead socket.
            return list(_CONNECTION_CLOSED)
        try:
            with self._watching() if answer else contextlib.nullcontext():
                async with asyncio.timeout(timeout):
                    return await queue.get()
        except TimeoutError as exc:
            raise BrokenTransport(f"{self.url} did not answer in {timeout:.0f} s") from exc

    def _watching(self) -> contextlib.AbstractContextManager[None]:
        return self._watch.waiting() if self._watch is not None else contextlib.nullcontext()

    def _stalled(self) -> None:
        """The watch found the connection carrying nothing (net/watch.py): drop it without a closing handshake,
        which could not get through either; every waiter then sees the connection lost, :meth:`breakage` says
        ``data.stall``."""
        log.info("%s: nothing came back for %.0f s, not even a pong: the connection is stalled", self.url,
                 self._watch.quiet + self._watch.pong_wait if self._watch else 0)  # fmt: skip
        transport = self._ws.transport
        if transport is not None:
            transport.abort()

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

    async def stored(
        self, wire: Sequence[dict[str, Any]], *, max_messages: int, timeout: float = 30.0
    ) -> AsyncGenerator[dict[str, Any], None]:
        """Yield the raw event objects a ``REQ`` of ``wire`` filters answers until ``EOSE`` (unchecked: the caller
        decides what to verify and what to ignore). Raises RemoteProtocolError when the relay closes the request or
        sends more than ``max_messages`` (a relay that floods us does not keep us here for ever),
        TransportError when the connection fails. The subscription is closed on the way out."""
        sub_id, queue = self.open_subscription()
        try:
            await self.send_raw(_frame("REQ", sub_id, *wire))
            for _ in range(max_messages):
                message = await self.next_message(queue, timeout)
                if message[0] == "EOSE":
                    return
                if message[0] == "CLOSED":
                    if not self.is_open:
                        raise self._connection_lost()
                    reason = relay_text(message[2]) if len(message) > 2 else ""
                    raise RemoteProtocolError(f"{self.url} closed the request: {reason}", "error")
                if message[0] == "EVENT" and len(message) >= 3 and isinstance(message[2], dict):
                    yield message[2]
            raise RemoteProtocolError(f"{self.url} sent far more than the events asked for")
        finally:
            self.drop_subscription(sub_id)
            if self._closed is None:
                try:
                    await self.send_raw(_frame("CLOSE", sub_id))
                except TransportError:  # best effort: the relay ends the request when the connection goes anyway
                    pass

    async def stream(
        self, filters: Sequence[Filter], *, timeout: float = 30.0, live: bool = True
    ) -> AsyncIterator[Event]:
        """Yield matching events: stored ones, then (if ``live``) new ones until the caller stops iterating."""
        sub_id, queue = self.open_subscription()
        await self.send_raw(_frame("REQ", sub_id, *(f.to_dict() for f in filters)))
        stored = True  # until EOSE: the stored events answer the REQ; after it, new ones come when they come
        try:
            while True:
                message = await self.next_message(queue, timeout if not live else 1e9, answer=stored)
                kind = message[0]
                if kind == "EVENT" and len(message) >= 3:
                    try:
                        yield parse_event(message[2])
                    except RemoteProtocolError as exc:
                        log.info("%s sent an invalid event: %s", self.url, exc)
                elif kind == "EOSE":
                    if not live:
                        return
                    stored = False
                elif kind == "CLOSED":
                    if not self.is_open:
                        raise self._connection_lost()
                    reason = relay_text(message[2]) if len(message) > 2 else ""
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
            raise RemoteProtocolError(f"{self.url} refused COUNT: {relay_text(str(message[2:]))}", "error")
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
                    future.exception()  # a publish that gave up waiting does not care: no "never retrieved"
            for queue in self._subs.values():
                if not queue.full():
                    queue.offer(list(_CONNECTION_CLOSED), 0)

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
                text = relay_text(message[3]) if len(message) > 3 else ""
                future.set_result(PublishResult(self.url, message[1], message[2] is True, text))
        elif kind == "NOTICE":
            if len(self.notices) < MAX_NOTICES:
                self.notices.append(str(message[1:2])[:NOTICE_CHARS])
        elif len(message) >= 2 and isinstance(message[1], str):
            queue = self._subs.get(message[1])
            if queue is None:
                return
            size = len(raw)
            if not queue.has_room(size):
                # The consumer is not keeping up: end the subscription rather than buffer without bound, and say
                # so (what is still queued is dropped to make room), so that a live consumer does not wait forever.
                self._subs.pop(message[1], None)
                while not queue.empty():
                    queue.get_nowait()
                queue.offer(["CLOSED", message[1], "error: too slow, the subscription's queue overflowed"], 0)
                return
            queue.offer(raw, size)


async def fetch_relay_info(
    url: str, transport: Transport, *, ssl: ssl_module.SSLContext | None = None, timeout: float = INFO_TIMEOUT
) -> dict[str, Any] | None:
    """GET the NIP-11 document of the relay at ``url`` (``ws://`` → ``http://``, ``wss://`` → ``https://``, same
    host, port and path, ``Accept: application/nostr+json``) through ``transport``; None if that fails for any
    reason within ``timeout``, or the answer is not a JSON object."""
    from urllib.parse import urlsplit

    try:
        host, port, secure = relay_address(url)
        parts = urlsplit(url)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        async with asyncio.timeout(timeout):
            head, reader, writer = await http_get(transport, host, port, secure, target, "application/nostr+json",
                                                  limit=MAX_INFO_BYTES, timeout=timeout, ssl=ssl)  # fmt: skip
            try:
                return await _parse_info(head, reader)
            finally:
                writer.close()
    except Exception as exc:  # noqa: BLE001 - no document, whatever the reason: the caller copes without one
        log.debug("no NIP-11 document from %s: %s", url, exc or type(exc).__name__)
        return None


async def _parse_info(head: bytes, reader: asyncio.StreamReader) -> dict[str, Any] | None:
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "200":
        return None
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            if size == 0 or len(body) + size > MAX_INFO_BYTES:
                break
            body += await reader.readexactly(size + 2)
            body = body[:-2]
    elif "content-length" in headers:
        length = int(headers["content-length"])
        if length > MAX_INFO_BYTES:
            return None
        body = await reader.readexactly(length)
    else:
        body = await reader.read(MAX_INFO_BYTES)
    document = orjson.loads(body)
    return document if isinstance(document, dict) else None


def supports_nip(info: dict[str, Any] | None, nip: int) -> bool | None:
    """Whether a NIP-11 document lists ``nip`` in ``supported_nips`` (as a number or a string); None without a
    document or without that list."""
    nips = info.get("supported_nips") if info is not None else None
    if not isinstance(nips, list):
        return None
    return any(n == nip or (isinstance(n, str) and n.strip() == str(nip)) for n in nips if not isinstance(n, bool))


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
