"""What people type for times and sizes."""

from __future__ import annotations

import pytest

from samizdat.cli.sync import parse_size
from samizdat.cli.timeparse import parse_duration, parse_since, parse_when
from samizdat.errors import UsageError

NOW = 1_800_000_000


def test_durations_and_times() -> None:
    assert parse_duration("90m") == 5400
    assert parse_when("2h", NOW, relative=True) == NOW + 7200
    assert parse_when("+1d", NOW) == NOW + 86400
    assert parse_when("1795248630", NOW) == 1795248630
    assert parse_when("2026-11-22T18:00:00+00:00", NOW) == 1795370400
    assert parse_since("2d", NOW) == NOW - 2 * 86400
    for bad in ("soon", "2 hours", "-5m"):
        with pytest.raises(UsageError):
            parse_when(bad, NOW, relative=True)


def test_sizes() -> None:
    assert parse_size("2MB") == 2_000_000
    assert parse_size("512KiB") == 524_288
    assert parse_size("4096") == 4096
    with pytest.raises(UsageError):
        parse_size("lots")
