"""Fetch one blob by HTTP GET, through the same transport the node uses for that server's relay connections.

Photos travel with posts: after a sync, a node fetches the blobs its new posts reference from the node it synced
with (Samizdat nodes serve Blossom on their relay port), or from a Blossom server an ``imeta`` url or the channel
names. A proxy set for the node (``[sync] proxy``, Tor) carries these requests too, so fetching a photo never
reveals more than fetching the post did. The body is read up to ``max_bytes`` only; anything else (a redirect, an
error status, a body too long or cut short) is a failure, and the caller tries the next source. The caller checks
the bytes' SHA-256 and the image itself. A failure says how many body bytes were read before it (a source that
sends 2 MB of other bytes for every photo costs what it sent: the caller's byte bound counts them) and whether
the source ran out the time it was given (a dribbling or blackholed server: the caller asks it no more for a while).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
from urllib.parse import urlsplit

from samizdat.net.failover import Routing
from samizdat.net.transports import http_get, parse_transport

log = logging.getLogger(__name__)

MAX_HEAD = 16 * 1024


class FetchFailed(Exception):
    """The blob could not be fetched from this source; ``str()`` says why, ``received`` how many body bytes came
    before the failure, ``timed_out`` whether the source used up the time given."""

    def __init__(self, message: str, *, received: int = 0, timed_out: bool = False) -> None:
        super().__init__(message)
        self.received, self.timed_out = received, timed_out


class _Count:
    """Body bytes read so far (kept outside the reading coroutine: a timeout cancels it)."""

    def __init__(self) -> None:
        self.n = 0


def may_follow(url: str) -> bool:
    """Whether a URL that a post or a channel names (an ``imeta`` url, a media server) may be fetched: http(s),
    and never a link-local address (where cloud metadata services and routers' set-up pages live), a multicast,
    broadcast, reserved or unspecified one. Loopback and private addresses stay allowed (a hub's media server may be
    on its LAN, or on the same machine): the node only GETs them and keeps nothing that does not hash to the photo,
    so such a URL can make it send a request, never read an answer (docs/protocol.md)."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".").lower()
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host:
        return False
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return True  # a name: the address it resolves to is checked when connecting (fetch)
    return may_connect(host)


def may_connect(host: str) -> bool:
    """Whether an IP address is one :func:`may_follow` allows (a name is not an address: False)."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    reserved = address.is_reserved and not address.is_loopback  # ::1 lies in the reserved ::/8
    refused = address.is_link_local or address.is_multicast or address.is_unspecified or reserved
    return not refused


def relay_to_http(url: str) -> str:
    """The HTTP base of a relay URL (``ws://h:p/x`` → ``http://h:p``), or "" when it is not ws:// or wss://."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.netloc:
        return ""
    return f"{'https' if parts.scheme == 'wss' else 'http'}://{parts.netloc}"


async def fetch(url: str, routing: Routing, *, max_bytes: int, timeout: float = 30.0) -> bytes:
    """GET ``url`` (http:// or https://) and return its body; raise :class:`FetchFailed`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchFailed(f"not an http(s) URL: {url[:80]}")
    secure = parts.scheme == "https"
    host = parts.hostname
    try:
        port = parts.port or (443 if secure else 80)
    except ValueError:
        raise FetchFailed(f"bad port in {url[:80]}") from None
    spec = routing.candidates(f"{'wss' if secure else 'ws'}://{parts.netloc}")[0]
    transport = parse_transport(spec, tor=routing.tor)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    read = _Count()
    try:
        async with asyncio.timeout(timeout):
            accept = "image/webp,image/jpeg,image/png"
            # A name that resolves to a refused address (DNS can say anything) is refused once connected, by the
            # address the socket reached; through a proxy, the proxy resolves names and is what the socket reached.
            head, reader, writer = await http_get(transport, host, port, secure, target, accept, limit=MAX_HEAD,
                                                  timeout=timeout, peer_allowed=may_connect)  # fmt: skip
            try:
                return await _body(head, reader, max_bytes, read)
            finally:
                writer.close()
    except FetchFailed as exc:
        exc.received = read.n
        raise
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        timed_out = isinstance(exc, TimeoutError)
        raise FetchFailed(f"{url[:80]}: {exc or type(exc).__name__}", received=read.n, timed_out=timed_out) from None


async def _body(head: bytes, reader: asyncio.StreamReader, max_bytes: int, read: _Count) -> bytes:
    lines = head.decode("latin-1").split("\r\n")
    status = lines[0].split(" ", 2)
    if len(status) < 2 or status[1] != "200":
        raise FetchFailed(f"answered {' '.join(status[1:])[:60] or 'nothing'}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = bytearray()
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return bytes(body)
            if len(body) + size > max_bytes:
                raise FetchFailed(f"the blob is larger than {max_bytes} bytes")
            body += (await reader.readexactly(size + 2))[:-2]
            read.n = len(body)
    length = headers.get("content-length", "")
    if length.isdigit():
        if int(length) > max_bytes:
            raise FetchFailed(f"the blob is larger than {max_bytes} bytes")
        parts: list[bytes] = []
        while read.n < int(length):  # as it comes, to count it (readexactly would say nothing of a dribble)
            more = await reader.read(int(length) - read.n)
            if not more:
                raise FetchFailed(f"the body was cut short after {read.n} of {length} bytes")
            parts.append(more)
            read.n += len(more)
        return b"".join(parts)
    chunks: list[bytes] = []
    while read.n <= max_bytes and (more := await reader.read(max_bytes + 1 - read.n)):
        chunks.append(more)  # joined once (`data += more` copied all read so far at each read)
        read.n += len(more)
    data = b"".join(chunks)
    if len(data) > max_bytes:
        raise FetchFailed(f"the blob is larger than {max_bytes} bytes")
    return data
