"""Which account on this machine a loopback connection comes from (Linux): another account is not the owner.

A reader on the node's own machine sees more than the Wi-Fi does (the relays the node uses, the channels it
follows, its key: relay/http.py, ``local_reader``). "Own machine" used to mean "a loopback address", but on a
laptop with a second account (a guest, a family member's login, a service such as a web server running as its own
user) every account reaches 127.0.0.1: each of them read, from ``/api/status`` and the start page, what only the
owner should.

The kernel knows who owns each TCP socket: ``/proc/net/tcp`` and ``/proc/net/tcp6`` list every socket of the
machine's network namespace, with its two addresses and its owner's uid (readable by every account, as ``ss`` and
identd read it). The client's socket is the row whose local address is the connection's remote one and whose remote
address is the connection's local one. The connection counts as this machine's owner when that row's uid is the
node's own, or root's (root reads the node's memory anyway). When no row matches (the client closed at once), it does
not count. Where there is no ``/proc/net/tcp`` (not Linux), every loopback connection counts, as before.

Pure parsing (:func:`owner_of`) is kept apart from reading the files (:func:`same_user`) so tests can feed it lines.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable

__all__ = ["owner_of", "same_user"]

_TABLES = ("/proc/net/tcp", "/proc/net/tcp6")
Address = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


def _parse(field: str) -> Address:
    """``0100007F:1F90`` (IPv4, or IPv6 in four 32-bit words), each word in the kernel's (little-endian) order."""
    hex_ip, hex_port = field.split(":")
    raw = bytes.fromhex(hex_ip)
    packed = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    ip = ipaddress.ip_address(packed)
    return _plain(ip), int(hex_port, 16)


def _plain(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    return ip


def _address(value: object) -> Address | None:
    try:
        host, port = value[0], value[1]  # type: ignore[index]
        return _plain(ipaddress.ip_address(host)), int(port)
    except (TypeError, IndexError, ValueError):
        return None


def owner_of(lines: Iterable[str], client: Address, server: Address) -> int | None:
    """The uid of the socket whose local address is ``client`` and remote address ``server``, or None."""
    # The ports first, as the table writes them: a node with 20,000 connections has as many rows, and parsing
    # each address would take a tenth of a second of the event loop per request.
    ports = f":{client[1]:04X}", f":{server[1]:04X}"
    for line in lines:
        parts = line.split()
        if len(parts) < 8 or not (parts[1].endswith(ports[0]) and parts[2].endswith(ports[1])):
            continue  # the header line, or another connection
        try:
            if _parse(parts[1]) == client and _parse(parts[2]) == server:
                return int(parts[7])
        except ValueError:
            continue
    return None


def same_user(local_address: object, remote_address: object) -> bool:
    """Whether the client at ``remote_address`` of a loopback connection that came in at ``local_address`` (the
    connection's own ``(host, port, ...)`` tuples) runs as this process's user or as root. Never raises."""
    client, server = _address(remote_address), _address(local_address)
    if client is None or server is None:
        return False
    found_table = False
    for table in _TABLES:
        try:
            with open(table, encoding="ascii") as f:
                found_table = True
                uid = owner_of(f, client, server)
        except OSError:
            continue
        if uid is not None:
            return uid in (os.getuid(), 0)
    return not found_table
