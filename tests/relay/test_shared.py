"""The limits the workers of one ``serve --workers N`` share (relay/shared.py): one file, seen by several
:class:`SharedLimits` as the workers see it."""

from __future__ import annotations

from pathlib import Path

from samizdat.relay import shared
from samizdat.relay.door import OVER_ADDRESS, OVER_TOTAL
from samizdat.relay.limits import RelayLimits

KEY = b"k" * 32


def workers(tmp_path: Path, n: int) -> list[shared.SharedLimits]:
    shared.create(tmp_path / "limits", n)
    return [shared.SharedLimits(tmp_path / "limits", i, n, KEY) for i in range(n)]


def test_the_per_address_cap_counts_every_workers_connections(tmp_path: Path) -> None:
    first, second, third = workers(tmp_path, 3)
    for i in range(64):
        assert [first, second, third][i % 3].admit("203.0.113.7", 10_000, 64) is None
    assert third.admit("203.0.113.7", 10_000, 64) == OVER_ADDRESS
    assert first.admit("203.0.113.8", 10_000, 64) is None  # another address is not held back
    second.leave("203.0.113.7")
    assert third.admit("203.0.113.7", 10_000, 64) is None


def test_the_connection_limit_is_for_all_workers_and_loopback_counts_there_only(tmp_path: Path) -> None:
    first, second = workers(tmp_path, 2)
    for _ in range(5):
        assert first.admit(None, 8, 1) is None  # loopback: no per-address cap
    for _ in range(3):
        assert second.admit(None, 8, 1) is None
    assert second.admit(None, 8, 1) == OVER_TOTAL
    assert first.open_connections() == 8


def test_a_dead_workers_connections_are_forgotten_when_it_is_replaced(tmp_path: Path) -> None:
    first, second = workers(tmp_path, 2)
    for _ in range(64):
        assert second.admit("198.51.100.1", 10_000, 64) is None
    assert first.admit("198.51.100.1", 10_000, 64) == OVER_ADDRESS
    replacement = shared.SharedLimits(tmp_path / "limits", 1, 2, KEY)  # kill -9 closed all of second's sockets
    replacement.reset_mine()
    assert first.admit("198.51.100.1", 10_000, 64) is None
    assert first.open_connections() == 1


def test_what_an_address_holds_is_counted_over_every_worker(tmp_path: Path) -> None:
    first, second = workers(tmp_path, 2)
    for kind in (shared.SEARCHES, shared.VALUES, shared.COUNTS):
        here, there = shared.SharedTally(first, kind), shared.SharedTally(second, kind)
        here.change("203.0.113.7", 30_000)
        there.change("203.0.113.7", 15_000)
        assert here.of("203.0.113.7") == there.of("203.0.113.7") == 45_000
        assert here.of("203.0.113.8") == 0
        there.change("203.0.113.7", -15_000)
        assert here.of("203.0.113.7") == 30_000
    assert shared.SharedTally(second, shared.VALUES).of("203.0.113.7") == 30_000  # each kind apart
    assert first.admit("203.0.113.7", 10_000, 1) is None  # and apart from the connections
    replacement = shared.SharedLimits(tmp_path / "limits", 0, 2, KEY)  # first died with all it held
    replacement.reset_mine()
    assert shared.SharedTally(second, shared.COUNTS).of("203.0.113.7") == 0
    assert second.admit("203.0.113.7", 10_000, 1) is None


def test_an_addresss_event_rate_is_one_bucket_for_all_workers(tmp_path: Path) -> None:
    first, second = workers(tmp_path, 2)
    taken = [w.take("192.0.2.9", 1.0, 10, 1000.0) for w in (first, second) * 10]
    assert taken.count(True) == 10  # the burst, whichever worker spends it
    assert first.take("192.0.2.9", 1.0, 10, 1002.0)  # refilled at the rate: two seconds, two tokens
    assert second.take("192.0.2.9", 1.0, 10, 1002.0)
    assert not first.take("192.0.2.9", 1.0, 10, 1002.0)
    assert second.take("192.0.2.10", 1.0, 10, 1002.0)  # another address has its own


def test_the_byte_bounds_are_divided_between_the_workers() -> None:
    limits = RelayLimits()
    each = shared.per_worker(limits, 4)
    assert each.send_buffer_total_bytes * 4 <= limits.send_buffer_total_bytes
    assert each.max_search_subscriptions_total * 4 <= limits.max_search_subscriptions_total
    assert each.max_connections_per_ip == limits.max_connections_per_ip  # counted in the shared file instead
    assert shared.per_worker(limits, 1) is limits
