"""Helpers shared by the net tests (importable by name: the test folders are not packages)."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from samizdat.relay.server import RelayServer


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Relay:
    url: str
    server: RelayServer | None = None  # ours, for looking inside
