"""Which route to try first: the pure half of failover (:mod:`samizdat.net.failover` does the connecting).

A *route* is one transport (``direct``, ``socks5h://...``, ``http://...``) to one relay. The node remembers, per
relay and per network it is on, how each route did (:class:`RouteRecord`). :func:`order_routes` puts the
candidates in the order to try them:

1. routes that are not backing off, the one that worked most recently first (what works on this network);
2. routes never tried, in the order the configuration gives them (direct before the fallbacks by default);
3. routes still backing off after failures, the one due soonest first: they are tried last, never skipped, so a
   node always has something to try when everything failed recently.

:func:`after_attempt` computes a route's next record after a try: success clears its failures; each failure
doubles the time before the route is preferred again (30 s up to an hour).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from samizdat.core.backoff import backoff_delay

ROUTE_BACKOFF_BASE = 30.0
ROUTE_BACKOFF_CAP = 3600.0


@dataclass(frozen=True, slots=True)
class RouteRecord:
    transport: str
    last_ok: float | None = None
    last_failure: float | None = None
    failures: int = 0  # consecutive
    next_retry: float = 0.0
    last_error: str = ""


def order_routes(candidates: Sequence[str], records: Mapping[str, RouteRecord], now: float) -> list[str]:
    """``candidates`` (deduplicated) in the order to try them; see the module's rules."""
    unique = list(dict.fromkeys(candidates))
    position = {route: i for i, route in enumerate(unique)}

    def key(route: str) -> tuple[int, float, int]:
        record = records.get(route)
        if record is None or (record.last_ok is None and record.failures == 0):
            return (1, 0.0, position[route])
        if record.next_retry > now and record.failures:
            return (2, record.next_retry, position[route])
        if record.last_ok is not None and record.failures == 0:
            return (0, -record.last_ok, position[route])
        return (1, 0.0, position[route])

    return sorted(unique, key=key)


def after_attempt(
    record: RouteRecord | None,
    transport: str,
    *,
    ok: bool,
    now: float,
    error: str = "",
    random: Callable[[], float] = lambda: 1.0,
) -> RouteRecord:
    """The record of ``transport`` after one try that succeeded (``ok``) or failed with ``error``."""
    record = record or RouteRecord(transport)
    if ok:
        return RouteRecord(transport, last_ok=now, last_failure=record.last_failure, failures=0, next_retry=now)
    failures = record.failures + 1
    delay = backoff_delay(failures - 1, base=ROUTE_BACKOFF_BASE, cap=ROUTE_BACKOFF_CAP, random=random)
    return RouteRecord(transport, record.last_ok, now, failures, now + delay, error[:300])
