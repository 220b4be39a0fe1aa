"""Route ordering: what worked here comes first, what failed backs off but is never dropped."""

from __future__ import annotations

from samizdat.core.routes import RouteRecord, after_attempt, order_routes

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
