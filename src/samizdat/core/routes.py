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

A connection that *opens* is not proof that a route works: some censors let every handshake through and then stall
the connection after a few kilobytes, or throttle it. Only ``samizdat netcheck``'s data step sees that, and
:func:`after_netcheck` writes what it found into the route's record (for :data:`IMPAIRED_FOR`, or until a netcheck
finds the route working): its ``last_error`` starts with :data:`NETCHECK` and the class. While so marked:

4. a route that *stalls* (``data.stall``, ``data.reset``) is left out whenever another candidate exists: it would
   open first and win the race, then carry nothing. Alone, it is still tried (small messages may get through);
5. a *throttled* route (``data.throttled``, only when the control path confirmed it) goes after every route not so
   marked, the backing-off ones included: slow but working is the last resort, not the first choice;
6. a successful connection does not clear the mark (the handshake is what these censors let through); a failed
   one keeps it too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from samizdat.core.backoff import backoff_delay
from samizdat.core.interference import DATA_CLASSES, OK

ROUTE_BACKOFF_BASE = 30.0
ROUTE_BACKOFF_CAP = 3600.0
#: How ``last_error`` begins for a route netcheck found impaired, followed by the class and ": " and the reason.
NETCHECK = "netcheck: "
#: How long a netcheck's finding holds: a censor's policy does not pass in 30 s; a new netcheck replaces it.
IMPAIRED_FOR = 6 * 3600.0
STALLING = frozenset({"data.stall", "data.reset"})


@dataclass(frozen=True, slots=True)
class RouteRecord:
    transport: str
    last_ok: float | None = None
    last_failure: float | None = None
    failures: int = 0  # consecutive
    next_retry: float = 0.0
    last_error: str = ""


def impairment(record: RouteRecord | None, now: float) -> str | None:
    """The data class netcheck found for this route (``data.stall``, ...), while its finding holds; else None."""
    if record is None or not record.last_error.startswith(NETCHECK) or record.next_retry <= now:
        return None
    cls = record.last_error.removeprefix(NETCHECK).split(":", 1)[0]
    return cls if cls in DATA_CLASSES else None


def order_routes(candidates: Sequence[str], records: Mapping[str, RouteRecord], now: float) -> list[str]:
    """``candidates`` (deduplicated) in the order to try them, stalling routes left out while others exist; see
    the module's rules."""
    unique = list(dict.fromkeys(candidates))
    usable = [route for route in unique if impairment(records.get(route), now) not in STALLING]
    unique = usable or unique
    position = {route: i for i, route in enumerate(unique)}

    def key(route: str) -> tuple[int, float, int]:
        record = records.get(route)
        if impairment(record, now) is not None:
            return (3, 0.0, position[route])
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
    marked = impairment(record, now) is not None
    if ok:
        if marked:  # the handshake is what these censors let through: it proves nothing against netcheck
            return RouteRecord(transport, now, record.last_failure, record.failures, record.next_retry,
                               record.last_error)  # fmt: skip
        return RouteRecord(transport, last_ok=now, last_failure=record.last_failure, failures=0, next_retry=now)
    failures = record.failures + 1
    delay = backoff_delay(failures - 1, base=ROUTE_BACKOFF_BASE, cap=ROUTE_BACKOFF_CAP, random=random)
    if marked:
        return RouteRecord(transport, record.last_ok, now, failures, max(record.next_retry, now + delay),
                           record.last_error)  # fmt: skip
    return RouteRecord(transport, record.last_ok, now, failures, now + delay, error[:300])


def after_netcheck(
    record: RouteRecord | None, transport: str, cls: str, reason: str, *, confirmed: bool, now: float
) -> RouteRecord | None:
    """The record of ``transport`` after netcheck classed the relay ``cls`` over it (None: nothing to record).

    A data class marks the route (see the module), except ``data.throttled`` unconfirmed: without a control
    path, slow may be this whole network, and another route through it would be no faster. ``ok`` (the data came
    through) clears a mark and counts as a success; without a mark there is nothing to tell failover, which sees
    for itself whether a connection opens. Other classes are for failover's own tries to find."""
    if cls in DATA_CLASSES and (confirmed or cls in STALLING):
        failures = (record.failures if record is not None else 0) + 1
        last_ok = record.last_ok if record is not None else None
        return RouteRecord(transport, last_ok, now, failures, now + IMPAIRED_FOR, f"{NETCHECK}{cls}: {reason}"[:300])
    if cls == OK and impairment(record, now) is not None:
        assert record is not None
        return RouteRecord(transport, last_ok=now, last_failure=record.last_failure, next_retry=now)
    return None
