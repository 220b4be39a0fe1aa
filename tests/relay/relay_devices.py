"""Connections from loopback aliases that the relay's door counts as devices with remote addresses (its
``peer_ip``), for the tests of what one device on a hub's Wi-Fi may open."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from samizdat.relay import door as door_module


def devices_at(monkeypatch: pytest.MonkeyPatch, devices: Mapping[str, str]) -> None:
    """Make a connection from each loopback alias in ``devices`` count as the remote address it maps to."""
    real = door_module.peer_ip

    def peer_ip(peername: Any, *, exempt_loopback: bool = True) -> str | None:
        device = devices.get(str(peername[0]))
        return device if device is not None else real(peername, exempt_loopback=exempt_loopback)

    monkeypatch.setattr(door_module, "peer_ip", peer_ip)
