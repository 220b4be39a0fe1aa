"""The PROXY protocol (HAProxy's ``send-proxy`` and ``send-proxy-v2``): the client's address, from a load balancer.

Theory of operation
-------------------

Behind a TCP load balancer every connection comes from the balancer's address, so the relay's per-address caps,
rate limits and logs would see one client. With the PROXY protocol the balancer sends, before the client's first
byte, one header saying whom it is relaying: version 1 is a line of text (``PROXY TCP4 198.51.100.7 203.0.113.1
51234 443\\r\\n``, at most 107 bytes), version 2 a binary block (a 12-byte signature, a command, an address family,
a length, the addresses, then optional TLVs). The format is HAProxy's ``proxy-protocol.txt``.

:func:`parse` is sans-I/O: given the bytes received so far it returns ``None`` (need more), a
:class:`ProxyHeader` (its length tells how many bytes to drop from the stream) or raises
:class:`ProxyProtocolError` with one sentence. It is strict, because whoever may send a header chooses the address
every limit is counted against: a v1 line must be exactly the grammar (single spaces, dotted-quad IPv4, ports
without leading zeros, ``\\r\\n``), a v2 block must have version 2, a known command and family, addresses that fit
its length, and TLVs that fill the rest exactly (their contents are skipped, never interpreted). Reads are
bounded: a v1 line ends within :data:`V1_MAX` bytes, a v2 block is at most :data:`V2_MAX` bytes.

``LOCAL`` (v2) and ``UNKNOWN`` (v1) headers carry no client: the balancer's own health checks. Their
:attr:`ProxyHeader.source` is None, and the connection counts as the balancer's.

Who may send one is the operator's list of trusted networks (:func:`networks`, :func:`trusted`): the relay's door
(:mod:`samizdat.relay.proxied`) expects a header from those addresses and refuses one from anyone else.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from samizdat.errors import RemoteProtocolError, UsageError

V1_PREFIX = b"PROXY "
#: The longest v1 line, "PROXY UNKNOWN" with two IPv6 addresses and ports, CRLF included (the spec's figure).
V1_MAX = 107
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
#: The largest v2 block taken (16 bytes of head, addresses and TLVs); HAProxy's usual TLVs fit many times over.
V2_MAX = 16 + 2048
_V2_HEAD = 16
_ADDRESS_BYTES = {0x1: 12, 0x2: 36, 0x3: 216}  # INET, INET6, UNIX: source, destination and (INET) ports

_PRINTABLE = re.compile(rb"[\x20-\x7e]*\r?")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class ProxyProtocolError(RemoteProtocolError):
    """A connection that had to start with a PROXY protocol header did not, or one that must not sent one."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    """A parsed header: ``length`` bytes of the stream, the client's ``source`` (address, port) and the
    ``destination`` it connected to; both None for a health check (v2 ``LOCAL``, v1 ``UNKNOWN``, or a family
    other than IPv4 and IPv6)."""

    length: int
    version: int
    source: tuple[str, int] | None
    destination: tuple[str, int] | None


def looks_like_header(data: bytes) -> bool:
    """Whether ``data`` (the first bytes of a connection) begins with a PROXY header of either version (for v2,
    its first four bytes at least: no HTTP request begins with an empty line and another)."""
    return data.startswith(V1_PREFIX) or (len(data) >= 4 and V2_SIGNATURE.startswith(data[: len(V2_SIGNATURE)]))


def parse(data: bytes) -> ProxyHeader | None:
    """The header at the start of ``data``, or None if ``data`` is a correct beginning of one that needs more
    bytes. Raises :class:`ProxyProtocolError` for anything else (not a header, or a malformed one)."""
    if data[:1] == b"P":
        if len(data) < len(V1_PREFIX):
            if not V1_PREFIX.startswith(data):
                raise ProxyProtocolError("the connection did not start with a PROXY protocol header")
            return None
        if not data.startswith(V1_PREFIX):
            raise ProxyProtocolError("the connection did not start with a PROXY protocol header")
        return _parse_v1(data)
    if data[:1] == b"\r":
        if len(data) < len(V2_SIGNATURE):
            if not V2_SIGNATURE.startswith(data):
                raise ProxyProtocolError("the connection did not start with a PROXY protocol header")
            return None
        if not data.startswith(V2_SIGNATURE):
            raise ProxyProtocolError("the connection did not start with a PROXY protocol header")
        return _parse_v2(data)
    if not data:
        return None
    raise ProxyProtocolError("the connection did not start with a PROXY protocol header")


def _parse_v1(data: bytes) -> ProxyHeader | None:
    end = data.find(b"\r\n", 0, V1_MAX)
    if end < 0:
        if len(data) >= V1_MAX:
            raise ProxyProtocolError(f"PROXY v1 header longer than {V1_MAX} bytes")
        if not _PRINTABLE.fullmatch(data):
            raise ProxyProtocolError("PROXY v1 header with a byte that is not printable ASCII")
        return None
    if not _PRINTABLE.fullmatch(data, 0, end):
        raise ProxyProtocolError("PROXY v1 header with a byte that is not printable ASCII")
    line = data[:end].decode("ascii")
    parts = line.split(" ")
    if len(parts) >= 2 and parts[1] == "UNKNOWN":  # the rest is ignored (spec: the receiver must not use it)
        return ProxyHeader(end + 2, 1, None, None)
    if len(parts) != 6 or parts[1] not in ("TCP4", "TCP6"):
        raise ProxyProtocolError("PROXY v1 header is not 'PROXY TCP4|TCP6 source destination sport dport'")
    family = socket.AF_INET if parts[1] == "TCP4" else socket.AF_INET6
    source = (_v1_address(parts[2], family), _v1_port(parts[4]))
    destination = (_v1_address(parts[3], family), _v1_port(parts[5]))
    return ProxyHeader(end + 2, 1, source, destination)


def _v1_address(text: str, family: int) -> str:
    """The address in its usual form (inet_pton: strict dotted quads, no leading zeros; no IPv6 zone)."""
    try:
        return socket.inet_ntop(family, socket.inet_pton(family, text))
    except (OSError, ValueError) as exc:
        raise ProxyProtocolError(f"PROXY v1 header has a bad address {text[:45]!r}") from exc


def _v1_port(text: str) -> int:
    if not text.isascii() or not text.isdigit() or len(text) > 5 or (len(text) > 1 and text[0] == "0"):
        raise ProxyProtocolError(f"PROXY v1 header has a bad port {text[:8]!r}")
    port = int(text)
    if port > 65535:
        raise ProxyProtocolError(f"PROXY v1 header has a bad port {text!r}")
    return port


def _parse_v2(data: bytes) -> ProxyHeader | None:
    if len(data) < _V2_HEAD:
        return None
    version, command = data[12] >> 4, data[12] & 0x0F
    if version != 2:
        raise ProxyProtocolError(f"PROXY v2 header of version {version}")
    if command > 1:
        raise ProxyProtocolError(f"PROXY v2 header with an unknown command {command}")
    family, transport = data[13] >> 4, data[13] & 0x0F
    if family > 3 or transport > 2:
        raise ProxyProtocolError(f"PROXY v2 header with an unknown address family 0x{data[13]:02x}")
    length = int.from_bytes(data[14:16], "big")
    total = _V2_HEAD + length
    if total > V2_MAX:
        raise ProxyProtocolError(f"PROXY v2 header of {total} bytes (at most {V2_MAX} are taken)")
    if len(data) < total:
        return None
    body = data[_V2_HEAD:total]
    needed = _ADDRESS_BYTES.get(family, 0)
    if len(body) < needed:
        raise ProxyProtocolError("PROXY v2 header too short for its addresses")
    _check_tlvs(body[needed:])
    if command == 0 or family not in (0x1, 0x2):  # LOCAL (health check), UNSPEC or UNIX: no client address
        return ProxyHeader(total, 2, None, None)
    if transport != 0x1:
        raise ProxyProtocolError("PROXY v2 header for a datagram, not a TCP connection")
    size, af = (4, socket.AF_INET) if family == 0x1 else (16, socket.AF_INET6)
    ports = body[2 * size : 2 * size + 4]
    source = (socket.inet_ntop(af, body[:size]), int.from_bytes(ports[:2], "big"))
    destination = (socket.inet_ntop(af, body[size : 2 * size]), int.from_bytes(ports[2:], "big"))
    return ProxyHeader(total, 2, source, destination)


def _check_tlvs(tlvs: bytes) -> None:
    """TLVs must fill the rest of the block exactly; their contents are not looked at."""
    at = 0
    while at < len(tlvs):
        if len(tlvs) - at < 3:
            raise ProxyProtocolError("PROXY v2 header with a truncated TLV")
        at += 3 + int.from_bytes(tlvs[at + 1 : at + 3], "big")
        if at > len(tlvs):
            raise ProxyProtocolError("PROXY v2 header with a TLV longer than the header")


# -- who may send one -------------------------------------------------------------------------------------------


def networks(cidrs: Iterable[str]) -> tuple[Network, ...]:
    """The trusted networks of ``[relay] trusted_proxies`` / ``--trusted-proxy``. UsageError for a bad one."""
    found: list[Network] = []
    for cidr in cidrs:
        try:
            found.append(ipaddress.ip_network(cidr.strip(), strict=False))
        except ValueError as exc:
            raise UsageError(f"trusted proxy {cidr!r} is not an address or a network such as 10.0.0.0/24") from exc
    return tuple(found)


def trusted(peername: Any, allowed: Sequence[Network]) -> bool:
    """Whether the socket peer ``peername`` is in one of the ``allowed`` networks (IPv4-mapped IPv6 as IPv4)."""
    if not allowed:
        return False
    try:
        ip = ipaddress.ip_address(str(peername[0]).split("%", 1)[0])
    except (TypeError, IndexError, ValueError):
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == network.version and ip in network for network in allowed)
