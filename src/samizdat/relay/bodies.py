"""HTTP requests with a body (Blossom's ``PUT /upload``) on the relay's port, and requests of any method.

``websockets`` parses every request on the port and refuses one with a body ("unsupported request body"): it only
ever needs a handshake. A Blossom upload is a ``PUT`` with the blob as its body. So :class:`BodyConnection` looks
at the first bytes of a connection: a ``PUT`` or ``POST`` is read here whole (the head up to
:data:`MAX_HEAD_BYTES`, then exactly ``Content-Length`` bytes, at most ``max_body``), its body is kept on the
connection (:attr:`BodyConnection.request_body`), and ``websockets`` is handed the head alone, without its
``Content-Length``. It then answers as for any request, through the server's ``process_request``
(``RelayServer._process_request``), which gives the body to the :data:`RequestHandler`. Anything else goes to
``websockets`` untouched, from the first byte.

The whole request must arrive within the relay's handshake timeout, like any other request (a 200 KB photo on a
slow 3G link takes about 4 s). A body without ``Content-Length`` (chunked) gets ``411``, one over ``max_body`` a
``413`` at once, before it is read, and one that would take the bodies held by all connections past
:data:`MAX_BODIES_BYTES` a ``503``.

With ``serve --workers N`` both bounds are the node's (red team, round 10): each worker holds at most 1/N of
:data:`MAX_BODIES_BYTES` (``share``), and an address's bodies in flight are counted in the workers' shared file
(``held_by``, a :class:`~samizdat.relay.shared.SharedTally`), so an address whose connections the kernel spreads
over the workers still has :data:`MAX_BODIES_PER_ADDRESS` in flight, not N times that.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from websockets.datastructures import Headers

from samizdat.relay.door import GuardedConnection
from samizdat.relay.http import HttpResult
from samizdat.relay.subscriptions import Tally

#: Bytes of request line and headers at most.
MAX_HEAD_BYTES = 16 * 1024
#: Bytes of request bodies held by all connections together at most: more uploads at once get 503 before their
#: body is read (64 connections of one address could otherwise hold 64 × 2 MB).
MAX_BODIES_BYTES = 64 * 1024 * 1024
#: Bodies one address may have in flight at once: so that one address cannot reserve the whole of
#: :data:`MAX_BODIES_BYTES` with headers that promise bodies it never sends, and starve everyone else's uploads.
MAX_BODIES_PER_ADDRESS = 2
BODY_METHODS = (b"PUT ", b"POST ")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:[ \t]*([0-9]{1,12})[ \t]*\r?$")
_CHUNKED = re.compile(rb"(?im)^transfer-encoding:")
_CONTINUE = re.compile(rb"(?im)^expect:[ \t]*100-continue")
_DROP_LENGTH = re.compile(rb"(?im)^content-length:[^\n]*\n")


@dataclass(frozen=True, slots=True)
class HttpRequest:
    """One plain HTTP request, as the :data:`RequestHandler` sees it. ``ip`` is whom it counts as for limits
    (:func:`samizdat.relay.door.peer_ip`: None for this machine), ``loopback`` whether it comes from this machine."""

    method: str
    path: str
    headers: Headers
    body: bytes
    ip: str | None
    loopback: bool
    secure: bool = False  # it came over TLS (so URLs given back are https://)


#: Answers requests of any method first (Blossom); None lets the relay and the web app answer.
RequestHandler = Callable[[HttpRequest], Awaitable[HttpResult]]


def _canned(status: str, reason: str) -> bytes:
    body = f"{reason}\n".encode()
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {len(body)}\r\n"
        f"X-Reason: {reason}\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n"
    ).encode() + body


class BodyConnection(GuardedConnection):
    """A :class:`GuardedConnection` that reads the body of a ``PUT`` or ``POST`` itself (see the module)."""

    max_body: int  # set on the class by :func:`body_connection_class`
    held: list[int]  # [bytes of bodies reserved by all connections of the class], shared
    held_by: Tally  # bodies in flight per remote address (loopback is not counted), shared (with the workers too)
    share: int  # the workers this process is one of: it holds 1/share of MAX_BODIES_BYTES

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.request_body = b""
        self._buffer = bytearray()
        self._mode = ""  # "" undecided, "pass" to websockets, "body" reading a body, "done"
        self._head_end = -1
        self._length = 0
        self._reserved = 0
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._reserved:
            self.held[0] -= self._reserved
            self._reserved = 0
            if self.ip is not None:
                self.held_by.change(self.ip, -1)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.refused or self._mode == "pass":
            super().data_received(data)
            return
        if self._mode == "done":
            return  # bytes after a body: the answer closes the connection
        self._buffer += data
        if not self._mode:
            start = bytes(self._buffer[:8])
            if not any(start.startswith(m) for m in BODY_METHODS):
                if any(m.startswith(start) for m in BODY_METHODS):
                    return  # "PU", "POS"...: too short to tell yet
                self._mode = "pass"
                pending, self._buffer = bytes(self._buffer), bytearray()
                super().data_received(pending)
                return
            self._mode = "body"
        self._read_body()

    def _read_body(self) -> None:
        if self._head_end < 0:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(self._buffer) > MAX_HEAD_BYTES:
                    self._refuse("431 Request Header Fields Too Large", "The request's headers are too long.")
                return
            head = bytes(self._buffer[: end + 2])
            if _CHUNKED.search(head):
                self._refuse("411 Length Required", "Send the body with a Content-Length, not chunked.")
                return
            lengths = _CONTENT_LENGTH.findall(head)
            if len(set(lengths)) > 1:
                self._refuse("400 Bad Request", "The Content-Length header is given more than once.")
                return
            self._length = int(lengths[0]) if lengths else 0
            if self._length > self.max_body:
                self._refuse("413 Content Too Large", f"The body is larger than {self.max_body} bytes.")
                return
            if self.held[0] + self._length > MAX_BODIES_BYTES // max(1, self.share):
                self._refuse("503 Service Unavailable", "Too many uploads at once; try again in a minute.")
                return
            if self._length and self.ip is not None and self.held_by.of(self.ip) >= MAX_BODIES_PER_ADDRESS:
                self._refuse("429 Too Many Requests", "Too many uploads at once from this address.")
                return
            if self._length:
                self._reserved = self._length
                self.held[0] += self._length
                if self.ip is not None:
                    self.held_by.change(self.ip, 1)
            self._head_end = end + 4
            if _CONTINUE.search(head) and self._length:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if len(self._buffer) - self._head_end < self._length:
            return
        head = bytes(self._buffer[: self._head_end])
        self.request_body = bytes(self._buffer[self._head_end : self._head_end + self._length])
        self._buffer = bytearray()
        self._mode = "done"
        super().data_received(_DROP_LENGTH.sub(b"", head))

    def _refuse(self, status: str, reason: str) -> None:
        self._mode = "done"
        self._buffer = bytearray()
        self.transport.write(_canned(status, reason))
        self.transport.close()


def body_connection_class(
    base: type[GuardedConnection], max_body: int, held_by: Tally | None = None, share: int = 1
) -> type[GuardedConnection]:
    """``base`` (a door's connection class) reading request bodies up to ``max_body`` bytes; ``held_by`` counts
    each address's bodies in flight (shared by the workers), ``share`` the workers the total is divided between."""
    attrs = {"max_body": max_body, "held": [0], "held_by": Tally() if held_by is None else held_by, "share": share}
    return type("BodyRelayConnection", (BodyConnection, base), attrs)
