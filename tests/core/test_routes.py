"""Route ordering: what worked here comes first, what failed backs off but is never dropped."""

from __future__ import annotations

from samizdat.core.interference import DATA_ENOUGH
from samizdat.core.routes import (
    IMPAIRED_FOR,
    STALL_HOLD,
    RouteRecord,
    after_attempt,
    after_netcheck,
    after_stall,
    after_transfer,
    found_by,
    impairment,
    last_resort,
    order_routes,
)

PROXY = "socks5h://127.0.0.1:9050"
HTTP = "http://10.0.0.1:3128"


def test_untried_routes_keep_the_configured_order() -> None:
    assert order_routes(["direct", PROXY, HTTP, PROXY], {}, now=100) == ["direct", PROXY, HTTP]


def test_the_route_that_worked_comes_first_and_a_failed_one_goes_last() -> None:
    records = {
        "direct": after_attempt(None, "direct", ok=False, now=100, error="timed out"),
        HTTP: after_attempt(None, HTTP, ok=True, now=90),
    }
    assert order_routes(["direct", PROXY, HTTP], records, now=101) == [HTTP, PROXY, "direct"]


def test_a_failed_route_is_tried_again_once_its_backoff_is_over() -> None:
    failed = after_attempt(None, "direct", ok=False, now=100)
    assert failed.failures == 1
    assert failed.next_retry == 130
    assert order_routes(["direct", PROXY], {"direct": failed}, now=200) == ["direct", PROXY]


def test_failures_back_off_longer_each_time_and_success_forgets_them() -> None:
    record: RouteRecord | None = None
    delays = []
    for attempt in range(4):
        record = after_attempt(record, "direct", ok=False, now=1000 * attempt)
        delays.append(record.next_retry - 1000 * attempt)
    assert delays == [30, 60, 120, 240]
    assert record is not None
    healed = after_attempt(record, "direct", ok=True, now=5000)
    assert healed.failures == 0
    assert healed.last_ok == 5000


def test_when_everything_failed_the_soonest_due_is_tried_first() -> None:
    records = {
        "direct": after_attempt(after_attempt(None, "direct", ok=False, now=0), "direct", ok=False, now=10),
        PROXY: after_attempt(None, PROXY, ok=False, now=10),
    }
    assert order_routes(["direct", PROXY], records, now=11) == [PROXY, "direct"]


# -- what netcheck's data step found: a route that opens is not a route that works --------------------------------


def stalled(now: float = 100, cls: str = "data.stall") -> RouteRecord:
    worked = after_attempt(None, "direct", ok=True, now=now - 50)
    marked = after_netcheck(worked, "direct", cls, "stopped after 15 KB", confirmed=True, now=now)
    assert marked is not None
    return marked


def test_a_route_that_stalls_is_left_out_while_another_exists() -> None:
    records = {"direct": stalled()}
    assert impairment(records["direct"], now=101) == "data.stall"
    assert order_routes(["direct", PROXY], records, now=101) == [PROXY]
    assert order_routes(["direct", PROXY], {"direct": stalled(cls="data.reset")}, now=101) == [PROXY]
    # Alone, it is still tried: small messages may get through before the stall.
    assert order_routes(["direct"], records, now=101) == ["direct"]


def test_a_handshake_does_not_clear_what_netcheck_found_a_new_netcheck_does() -> None:
    record = after_attempt(stalled(), "direct", ok=True, now=200)
    assert impairment(record, now=201) == "data.stall"
    record = after_attempt(record, "direct", ok=False, now=300, error="timed out")
    assert impairment(record, now=301) == "data.stall"
    cleared = after_netcheck(record, "direct", "ok", "the relay answered", confirmed=True, now=400)
    assert cleared is not None
    assert impairment(cleared, now=401) is None
    assert order_routes(["direct", PROXY], {"direct": cleared}, now=401) == ["direct", PROXY]


def test_the_mark_ends_after_a_while() -> None:
    record = stalled(now=100)
    assert impairment(record, now=100 + IMPAIRED_FOR + 1) is None
    assert order_routes(["direct", PROXY], {"direct": record}, now=100 + IMPAIRED_FOR + 1)[0] == "direct"


def test_a_throttled_route_goes_after_every_other_even_one_backing_off() -> None:
    records = {
        "direct": stalled(cls="data.throttled"),
        HTTP: after_attempt(None, HTTP, ok=False, now=100, error="refused"),
    }
    assert order_routes(["direct", PROXY, HTTP], records, now=101) == [PROXY, HTTP, "direct"]
    # Throttling not confirmed by a control path may be the whole network: nothing is recorded.
    assert after_netcheck(None, "direct", "data.throttled", "slow", confirmed=False, now=100) is None
    # A stall is recorded even unconfirmed: whoever is to blame, the route carries nothing.
    assert after_netcheck(None, "direct", "data.stall", "stopped", confirmed=False, now=100) is not None
    # Classes failover sees for itself (the connection fails) are left to it.
    assert after_netcheck(None, "direct", "tcp.timeout", "blackholed", confirmed=True, now=100) is None


# -- what the node's own syncs found: the same, learnt without netcheck --------------------------------------------


class Clock:
    """An injected clock the tests move by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def opened(clock: Clock) -> RouteRecord:
    return after_attempt(None, "direct", ok=True, now=clock())


def test_a_route_a_sync_saw_stall_goes_last_and_is_held_back_not_dropped() -> None:
    clock = Clock()
    record = after_stall(opened(clock), "direct", "data.stall", "keepalive ping timeout", now=clock())
    assert found_by(record) == "sync"
    assert record.last_error.startswith("sync: data.stall: keepalive ping timeout")
    assert impairment(record, clock.advance(1)) == "data.stall"
    assert last_resort(record, clock())
    # Not left out as netcheck's stalling route is: tried last, when every other route failed.
    assert order_routes(["direct", PROXY, HTTP], {"direct": record}, clock()) == [PROXY, HTTP, "direct"]
    failed = after_attempt(None, HTTP, ok=False, now=clock(), error="refused")
    assert order_routes(["direct", PROXY, HTTP], {"direct": record, HTTP: failed}, clock()) == [PROXY, HTTP, "direct"]
    assert order_routes(["direct"], {"direct": record}, clock()) == ["direct"]
    # A netcheck's stalling route still goes before nothing at all: it is left out, the sync's mark is not.
    assert not last_resort(stalled(now=clock()), clock())


def test_one_stall_holds_a_route_for_minutes_repeated_stalls_for_longer_up_to_a_bound() -> None:
    clock = Clock()
    record: RouteRecord = opened(clock)
    holds = []
    for _ in range(10):
        record = after_stall(record, "direct", "data.stall", "keepalive ping timeout", now=clock())
        holds.append(record.next_retry - clock())
        clock.advance(record.next_retry - clock() + 1)  # the hold is over
        assert impairment(record, clock()) is None
        assert order_routes(["direct", PROXY], {"direct": record}, clock()) == ["direct", PROXY]
        # The handshake on the route again: it proves nothing, the stalls are remembered.
        record = after_attempt(record, "direct", ok=True, now=clock())
        assert found_by(record) == "sync"
    assert holds[0] == STALL_HOLD
    assert holds[:4] == [STALL_HOLD, 2 * STALL_HOLD, 4 * STALL_HOLD, 8 * STALL_HOLD]
    assert max(holds) == IMPAIRED_FOR
    assert holds == sorted(holds)


def test_a_sync_that_carried_enough_over_the_route_forgets_its_stalls() -> None:
    clock = Clock()
    record = after_stall(None, "direct", "data.reset", "connection reset", now=clock())
    record = after_stall(record, "direct", "data.reset", "connection reset", now=clock.advance(STALL_HOLD + 1))
    assert record.failures == 2
    # Less than these censors let through proves nothing either way.
    assert after_transfer(record, "direct", DATA_ENOUGH - 1, now=clock()) is None
    healed = after_transfer(record, "direct", DATA_ENOUGH, now=clock.advance(1))
    assert healed is not None
    assert healed.failures == 0
    assert healed.last_ok == clock()
    assert found_by(healed) is None
    assert impairment(healed, clock()) is None
    # The next stall starts again from the shortest hold.
    again = after_stall(healed, "direct", "data.stall", "keepalive ping timeout", now=clock())
    assert again.next_retry - clock() == STALL_HOLD
    # Nothing to forget on a route no sync saw stall; a netcheck's finding is for a netcheck to clear.
    assert after_transfer(opened(clock), "direct", 10 * DATA_ENOUGH, now=clock()) is None
    assert after_transfer(stalled(now=clock()), "direct", 10 * DATA_ENOUGH, now=clock()) is None


def test_a_sync_does_not_shorten_what_netcheck_found() -> None:
    clock = Clock()
    measured = stalled(now=clock())
    assert after_stall(measured, "direct", "data.stall", "keepalive ping timeout", now=clock.advance(5)) == measured
    # Once netcheck's finding is over, a sync's stall is marked as usual.
    later = after_stall(measured, "direct", "data.stall", "keepalive", now=clock.advance(IMPAIRED_FOR))
    assert found_by(later) == "sync"


def test_a_route_a_sync_found_throttled_goes_after_the_others_and_carrying_data_does_not_clear_it() -> None:
    clock = Clock()
    record = after_stall(opened(clock), "direct", "data.throttled", "16 KB/s, through the proxy at 900 KB/s",
                         now=clock())  # fmt: skip
    assert found_by(record) == "sync"
    assert impairment(record, clock.advance(1)) == "data.throttled"
    assert not last_resort(record, clock())  # slow but working: placed like netcheck's throttled mark
    assert order_routes(["direct", PROXY], {"direct": record}, clock()) == [PROXY, "direct"]
    # A throttled route carries data, slowly: a sync that went through it (when the proxy failed) proves nothing.
    assert after_transfer(record, "direct", 10 * DATA_ENOUGH, now=clock()) is None
    clock.advance(STALL_HOLD)
    assert impairment(record, clock()) is None  # held like a stall, then tried again as usual
