"""Plain HTTP answers on their way out: what their bodies hold in memory, per address and in all.

Why: an answer to a plain HTTP request (a file of the web app, a photo) is written whole to its connection, and
what the client has not read stays in the node's memory until the connection closes, about 10 seconds later
for a client that never reads. A device on a hub's Wi-Fi asking for the web app's 1.2 MB ``secp256k1.wasm`` on 64
connections from each of 16 addresses, and reading nothing, took a real node from 222 MB to 1.36 GB, again every
10 seconds; with a hundred addresses a Raspberry Pi runs out of memory (red-team finding).

Theory of operation: :class:`Outgoing` weighs every answer's body from when it is handed to its connection until
that connection is gone (``release``, from the connection's ``connection_lost``). One address (loopback exempt)
holds at most ``per_ip`` bytes: an answer beyond gets ``503`` instead. Everyone together holds at most ``total``:
past it, the address holding the most loses its connections, largest answer first, while it holds more than the
asker's address does, until the answer fits; if it still does not, ``503``. So a device with many addresses can
neither fill the node's memory nor keep phones from loading the app; what it loses is its own unread answers.
"""

from __future__ import annotations

import asyncio
from typing import Protocol


class Sender(Protocol):
    """A connection an answer is written to (the door's ``GuardedConnection``)."""

    ip: str | None
    transport: asyncio.Transport


class Outgoing:
    """What the bodies of the plain HTTP answers on their way out hold, per address and in all."""

    def __init__(self, per_ip: int, total: int) -> None:
        self.per_ip_limit = per_ip
        self.total_limit = total
        self.total = 0
        self.per_ip: dict[str | None, int] = {}
        self.held: dict[Sender, int] = {}  # bytes of the answer each connection was given
        self.closed = 0  # connections closed to make room (for tests and the log)

    def take(self, connection: Sender, size: int) -> bool:
        """Weigh an answer of ``size`` bytes for ``connection``: True when it may be sent (weighed until
        :meth:`release`), False when it must not (the asker gets a 503 instead)."""
        ip = connection.ip
        mine = self.per_ip.get(ip, 0)
        if ip is not None and mine + size > self.per_ip_limit:
            return False
        while self.total + size > self.total_limit:
            if not self._close_one(mine if ip is not None else 0, ip):
                return False
        self.held[connection] = self.held.get(connection, 0) + size
        self.per_ip[ip] = mine + size
        self.total += size
        return True

    def release(self, connection: Sender) -> None:
        """``connection`` is gone (or closed to make room): what it was given no longer counts."""
        size = self.held.pop(connection, 0)
        if not size:
            return
        ip = connection.ip
        self.total -= size
        left = self.per_ip.pop(ip, 0) - size
        if left > 0:
            self.per_ip[ip] = left

    def _close_one(self, held: int, asker: str | None) -> bool:
        """Close the connection with the largest answer of the address (never loopback) holding the most, if that
        address holds more than ``held`` (what the asker's holds); say whether one was closed."""
        heaviest = max((ip for ip in self.per_ip if ip is not None and ip != asker), key=self.per_ip.__getitem__,
                       default=None)  # fmt: skip
        if heaviest is None or self.per_ip[heaviest] <= held:
            return False
        victim = max((c for c in self.held if c.ip == heaviest), key=self.held.__getitem__)
        self.release(victim)
        self.closed += 1
        victim.transport.abort()
        return True
