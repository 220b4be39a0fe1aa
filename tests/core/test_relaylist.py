"""NIP-65 relay lists: markers, round trip, bad URLs."""

from __future__ import annotations

import pytest

from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.relaylist import RelayList, build_relay_list, parse_relay_list
from samizdat.errors import UsageError

KEY = SecretKey(bytes.fromhex("03" * 32))


def test_round_trip_with_markers() -> None:
    wanted = RelayList(read=("wss://both", "wss://r"), write=("wss://w", "wss://both"))
    event = build_relay_list(KEY, wanted, created_at=10)
    assert event.kind == 10002
    assert sorted(event.tags) == sorted([("r", "wss://both"), ("r", "wss://r", "read"), ("r", "wss://w", "write")])
    parsed = parse_relay_list(event)
    assert set(parsed.read) == {"wss://both", "wss://r"}
    assert set(parsed.write) == {"wss://w", "wss://both"}


def test_foreign_lists_with_junk_are_read_leniently() -> None:
    event = sign_event(
        KEY, 10002, "", [["r", "https://web"], ["r"], ["r", "wss://ok", "write"], ["p", "x"]], created_at=1
    )
    assert parse_relay_list(event) == RelayList(read=(), write=("wss://ok",))


def test_bad_urls_are_refused() -> None:
    with pytest.raises(UsageError, match="not a relay address"):
        build_relay_list(KEY, RelayList(write=("http://x",)), created_at=1)
