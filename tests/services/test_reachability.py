"""Reachability reports name only relays a censor could block: never loopback, private or local addresses."""

from __future__ import annotations

import pytest

from samizdat.services.reachability import reportable


@pytest.mark.parametrize(
    ("url", "ok"),
    [
        ("wss://relay.damus.io", True),
        ("wss://93.184.216.34:443", True),
        ("ws://127.0.0.1:4848", False),
        ("ws://localhost:4848", False),
        ("ws://[::1]:4848", False),
        ("ws://10.42.0.1:4848", False),
        ("ws://192.168.1.20:4848", False),
        ("ws://172.16.5.4", False),
        ("ws://169.254.1.1", False),
        ("ws://[fd00::1]:4848", False),
        ("ws://hub.local:4848", False),
        ("ws://router.lan", False),
        ("ws://hub", False),
        ("ws://100.64.0.1", False),  # carrier-grade NAT: the reporter's provider, not the relay
    ],
)
def test_reportable(url: str, ok: bool) -> None:
    assert reportable(url) is ok
