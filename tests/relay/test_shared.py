"""The limits the workers of one ``serve --workers N`` share (relay/shared.py): one file, seen by several
:class:`SharedLimits` as the workers see it."""

from __future__ import annotations

from pathlib import Path

import pytest

from samizdat.relay import shared
from samizdat.relay.bus import LocalBus
from samizdat.relay.cluster import Cluster, join
from samizdat.relay.door import OVER_ADDRESS, OVER_RATE, OVER_TOTAL, RefusalLog
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.relay.storebudget import OverBudget
from samizdat.store.sqlite import SqliteStore

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


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_an_addresss_store_time_is_one_budget_for_all_workers(tmp_path: Path) -> None:
    first, second = workers(tmp_path, 2)
    clock = Clock()
    here, there = (shared.SharedStoreBudget(w, 0.25, 10.0, max_wait=5.0, clock=clock) for w in (first, second))
    here.charge("203.0.113.7", 12.0)  # two seconds past the burst, spent on the first worker
    assert there.delay("203.0.113.7") == pytest.approx(8.0)  # ... is owed on the second: 2 s at 0.25 s a second
    with pytest.raises(OverBudget):  # longer than it may wait: refused there too
        await there.wait("203.0.113.7")
    assert there.delay("203.0.113.8") == 0.0  # another address has its own
    clock.now += 8.0
    assert here.delay("203.0.113.7") == there.delay("203.0.113.7") == 0.0


def test_an_addresss_new_connections_are_one_rate_for_all_workers(tmp_path: Path) -> None:
    views = workers(tmp_path, 2)
    limits = RelayLimits(connections_per_ip_per_second=0.001, connections_per_ip_burst=6)
    doors = [shared.SharedDoor(limits, RefusalLog(), view, 10_000) for view in views]
    for door in doors:
        door.clock = Clock()
    for n in range(6):
        assert doors[n % 2].admit("198.51.100.4") is None
    assert doors[1].admit("198.51.100.4") == OVER_RATE  # the burst is spent, whichever worker took it
    assert doors[1].in_box("198.51.100.4")
    assert doors[0].admit("198.51.100.4") == OVER_RATE
    assert doors[1].admit("198.51.100.5") is None


def test_an_addresss_sync_bytes_are_one_budget_for_all_workers(tmp_path: Path) -> None:
    first, second = workers(tmp_path, 2)
    clock = Clock()
    here, there = (shared.SharedSyncPace(w, 1000.0, 8000, clock=clock) for w in (first, second))
    here.spent("192.0.2.1", 10_000)
    assert there.debt("192.0.2.1") == pytest.approx(2000.0)
    assert there.debt("192.0.2.2") == 0.0
    clock.now += 2.0
    assert here.debt("192.0.2.1") == there.debt("192.0.2.1") == 0.0


TOTALS = (
    "send_buffer_total_bytes",
    "max_pending_event_bytes",
    "max_http_answer_bytes",
    "max_subscription_values_total",
    "max_pending_counts_total",
    "max_search_subscriptions_total",
)


async def test_the_workers_memory_bounds_add_up_to_the_machines(tmp_path: Path) -> None:
    """Each worker keeps to its share of the memory totals, so N workers together hold no more than one would."""
    limits = RelayLimits()
    store = await SqliteStore.open(tmp_path / "events.sqlite")
    server = RelayServer(store, limits=limits, negentropy=NegentropyService())
    assert isinstance(server.negentropy, NegentropyService)
    whole = server.negentropy.memory_records
    shared.create(tmp_path / "limits", 4)
    view = shared.SharedLimits(tmp_path / "limits", 1, 4, KEY)
    bus = LocalBus(tmp_path / "bus", "w1")
    try:
        join(server, Cluster(bus, index=1, workers=4, shared=view))
        each = server.limits
        for name in TOTALS:
            assert getattr(each, name) * 4 <= getattr(limits, name), name
        assert server.intake.max_bytes * 4 <= limits.max_pending_event_bytes
        # what one address holds on every worker together is no more than on one alone
        assert server.intake.max_bytes_per_ip * 4 <= limits.max_pending_event_bytes_per_ip
        assert server.door.outgoing.per_ip_limit * 4 <= limits.max_http_answer_bytes_per_ip
        assert server.door.outgoing.total_limit * 4 <= limits.max_http_answer_bytes
        assert server.negentropy.memory_records * 4 <= whole
        assert server.negentropy.max_records <= server.negentropy.memory_records
    finally:
        await bus.close()
        view.close()
        await store.close()
