"""What people type for times and sizes."""

from __future__ import annotations

import pytest

from samizdat.cli.sync import parse_part_size, parse_size
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
    assert parse_size("1.5 MB") == 1_500_000
    with pytest.raises(UsageError):
        parse_size("lots")


@pytest.mark.parametrize("text", ["4KiB", "4kib", "4 KiB", "4 kib", " 4KIB ", "4Ki", "4096", "4096B", "4096 b"])
def test_four_kibibytes_however_written(text: str) -> None:
    assert parse_size(text) == 4096
    assert parse_part_size(text) == 4096


@pytest.mark.parametrize("text", ["4KB", "4kb", "4 KB", "4 kB", "4k", "4 K"])
def test_four_kilobytes_however_written(text: str) -> None:
    assert parse_size(text) == 4000
    with pytest.raises(UsageError, match=r"is 4000 bytes; a part needs at least 4096 bytes \(4KiB"):
        parse_part_size(text)  # a part needs 4KiB: the error says why 4KB is not enough


@pytest.mark.parametrize("text", ["4 KiBs", "4 iB", "KB", "-4KB", "4 TB", "4 K B"])
def test_not_sizes(text: str) -> None:
    with pytest.raises(UsageError, match="not a size such as 2MB"):
        parse_size(text)
