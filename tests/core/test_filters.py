"""NIP-01 filters: matching semantics, limits and bad input."""

from __future__ import annotations

import pytest

from samizdat.core.event import sign_event
from samizdat.core.filters import FilterLimits, parse_filter
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError

KEY = SecretKey(bytes.fromhex("02" * 32))
EVENT = sign_event(KEY, 1, "x", [["t", "minsk"], ["e", "aa" * 32]], created_at=1000)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, True),
        ({"ids": [EVENT.id]}, True),
        ({"ids": ["00" * 32]}, False),
        ({"authors": [KEY.public_key_hex]}, True),
        ({"kinds": [1, 2]}, True),
        ({"kinds": [2]}, False),
        ({"#t": ["minsk", "brest"]}, True),
        ({"#t": ["brest"]}, False),
        ({"#e": ["aa" * 32]}, True),
        ({"#p": ["aa" * 32]}, False),
        ({"since": 1000}, True),
        ({"since": 1001}, False),
        ({"until": 1000}, True),
        ({"until": 999}, False),
        ({"kinds": [1], "#t": ["minsk"], "since": 1, "until": 2000}, True),
        ({"unknown": 1}, True),
    ],
)
def test_matching(raw: dict[str, object], expected: bool) -> None:
    assert parse_filter(raw).matches(EVENT) is expected


@pytest.mark.parametrize(
    "raw",
    [
        [],
        {"ids": "x"},
        {"ids": ["abc"]},
        {"authors": ["AA" * 32]},
        {"kinds": ["1"]},
        {"kinds": [True]},
        {"#t": [1]},
        {"since": -1},
        {"until": 1.5},
        {"limit": -3},
        {"search": 5},
        {"kinds": list(range(2000))},
    ],
)
def test_bad_filters_are_refused(raw: object) -> None:
    with pytest.raises(RemoteProtocolError):
        parse_filter(raw)


def test_limit_is_clamped_and_round_trip() -> None:
    flt = parse_filter({"limit": 10**9, "kinds": [1], "#t": ["a"]}, FilterLimits(max_limit=100))
    assert flt.limit == 100
    assert parse_filter(flt.to_dict()) == flt
    assert parse_filter({"kinds": []}).is_empty_set
    assert parse_filter({"since": 5, "until": 4}).is_empty_set
