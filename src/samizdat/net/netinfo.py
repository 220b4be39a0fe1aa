"""What network this machine is on: a name for it (so failover remembers what works *here*, not on the café's
Wi-Fi of last week) and its type (for reachability reports). Read from ``/proc/net/route``; never a network
request, never an address in what it returns to a report."""

from __future__ import annotations

import hashlib
import socket
import struct
from pathlib import Path

ROUTE_TABLE = Path("/proc/net/route")

_TYPES = (
    (("wwan", "rmnet", "ppp", "usb", "ccmni", "pdp", "wwp"), "mobile"),
    (("wl", "wifi", "ath", "ra"), "wifi"),
    (("eth", "en", "em", "veth", "br", "smzb"), "fixed"),
    (("tun", "tap", "wg", "vpn"), "vpn"),
)


def default_route(table: Path = ROUTE_TABLE) -> tuple[str, str] | None:
    """(interface, gateway address) of the IPv4 default route, or None (no default route, or not Linux)."""
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 3 and fields[1] == "00000000":
            try:
                gateway = socket.inet_ntoa(struct.pack("<L", int(fields[2], 16)))
            except (ValueError, struct.error):
                gateway = "?"
            return fields[0], gateway
    return None


def network_id(table: Path = ROUTE_TABLE) -> str:
    """A short stable name for the current network (a hash of the default route), ``"none"`` without one."""
    route = default_route(table)
    if route is None:
        return "none"
    return hashlib.sha256(f"{route[0]} {route[1]}".encode()).hexdigest()[:12]


def network_type(table: Path = ROUTE_TABLE) -> str:
    """``mobile``, ``wifi``, ``fixed``, ``vpn`` or ``unknown``, guessed from the default route's interface name."""
    route = default_route(table)
    if route is None:
        return "unknown"
    name = route[0].lower()
    for prefixes, kind in _TYPES:
        if name.startswith(prefixes):
            return kind
    return "unknown"
