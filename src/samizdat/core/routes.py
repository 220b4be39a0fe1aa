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
the connection after a few kilobytes, or throttle it. ``samizdat netcheck``'s data step measures that, and
:func:`after_netcheck` writes what it found into the route's record (for :data:`IMPAIRED_FOR`, or until a netcheck
finds the route working): its ``last_error`` starts with :data:`NETCHECK` and the class. While so marked:

4. a route that *stalls* (``data.stall``, ``data.reset``) is left out whenever another candidate exists: it would
   open first and win the race, then carry nothing. Alone, it is still tried (small messages may get through);
5. a *throttled* route (``data.throttled``, only when the control path confirmed it) goes after every route not so
   marked, the backing-off ones included: slow but working is the last resort, not the first choice;
6. a successful connection does not clear the mark (the handshake is what these censors let through); a failed
   one keeps it too.

A node also learns this from its own syncs, without netcheck (:mod:`samizdat.services.sync`): when a connection
that opened on a route goes dead under a sync (nothing came back while an answer was awaited, not even a pong:
:mod:`samizdat.net.watch`; or the connection was cut without a WebSocket close) and another route then carries
the same sync with the same relay, the first route is marked by :func:`after_stall` (``last_error`` starts with
:data:`SYNC` and the class). The other route's success is the
evidence: a relay that is slow or down fails on every route, and then nothing is marked. Such a mark is weaker
than netcheck's, which measured the route on purpose:

7. a route a sync found stalling goes after every other route, and :func:`last_resort` tells failover to start it
   only once every other route has failed to connect (not after a stagger, where it would open first and win);
8. it holds :data:`STALL_HOLD` for the first stall, twice as long for each further one in a row, at most
   :data:`IMPAIRED_FOR`: one hiccup costs a working route minutes, a censor that stays finds the route set aside
   for hours. Once the hold is over the route is tried as usual, and the stalls are remembered (a handshake does
   not forget them) so the next one holds longer;
9. a sync that carried at least :data:`~samizdat.core.interference.DATA_ENOUGH` bytes over the route (more than
   these censors let through) forgets them (:func:`after_transfer`); not, while it holds, a mark that something
   else answers in the relay's name there (``relay.impostor``): a censor's copy carries data too, and a sync
   over it, once the other routes failed to connect (a censor that cuts them for a moment), cleared the mark
   (red team, round 12). Once the hold is over, data carried forgets the findings as it does the stalls (a
   finding that was false would otherwise set an honest route aside for hours), and the first sync over the
   route spot-checks it once more (round 13, :mod:`samizdat.services.relay_memory`): a copy that still withholds
   is marked again;
10. a sync that carried its data slowly has netcheck's data step measure its route and another one, one after
   the other (:mod:`samizdat.services.throttle`): when the other carries it several times faster, the first is
   marked *throttled* by :func:`after_stall` too, held like a stall (rule 8) and placed like netcheck's throttled
   mark (rule 5); carrying data does not forget it (a throttled route carries data, slowly).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from samizdat.core.backoff import backoff_delay
from samizdat.core.interference import DATA_CLASSES, DATA_ENOUGH, IMPOSTOR, OK

ROUTE_BACKOFF_BASE = 30.0
ROUTE_BACKOFF_CAP = 3600.0
#: How ``last_error`` begins for a route netcheck found impaired, followed by the class and ": " and the reason.
NETCHECK = "netcheck: "
#: How long a netcheck's finding holds: a censor's policy does not pass in 30 s; a new netcheck replaces it.
IMPAIRED_FOR = 6 * 3600.0
STALLING = frozenset({"data.stall", "data.reset"})
THROTTLED = "data.throttled"
#: How ``last_error`` begins for a route one of the node's own syncs found stalling (see the module, rules 7-9).
SYNC = "sync: "
#: How long a route is set aside after its first stall seen by a sync; each further stall in a row doubles it.
STALL_HOLD = 300.0


@dataclass(frozen=True, slots=True)
class RouteRecord:
    transport: str
    last_ok: float | None = None
    last_failure: float | None = None
    failures: int = 0  # consecutive
    next_retry: float = 0.0
    last_error: str = ""


def impairment(record: RouteRecord | None, now: float) -> str | None:
    """The data class netcheck or a sync found for this route (``data.stall``, ...), while its finding holds; else
    None. :func:`found_by` says which of the two."""
    if record is None or record.next_retry <= now or found_by(record) is None:
        return None
    cls = record.last_error.split(": ", 2)[1]
    return cls if cls in DATA_CLASSES else None


def found_by(record: RouteRecord | None) -> str | None:
    """``"netcheck"`` or ``"sync"``: who marked this route (the mark may have expired); None if nobody did."""
    if record is None:
        return None
    for prefix in (NETCHECK, SYNC):
        if record.last_error.startswith(prefix):
            return prefix.removesuffix(": ")
    return None


def last_resort(record: RouteRecord | None, now: float) -> bool:
    """Whether failover starts this route only once every route before it failed to connect (rule 7; and a route
    where something else answers in the relay's name, found by a sync or netcheck: it answers at once and would
    win every race it joined)."""
    cls = impairment(record, now)
    return (found_by(record) == "sync" and cls in STALLING) or cls == IMPOSTOR


def order_routes(candidates: Sequence[str], records: Mapping[str, RouteRecord], now: float) -> list[str]:
    """``candidates`` (deduplicated) in the order to try them, stalling routes left out while others exist; see
    the module's rules."""
    unique = list(dict.fromkeys(candidates))
    usable = [
        route
        for route in unique
        if impairment(records.get(route), now) not in STALLING or last_resort(records.get(route), now)
    ]
    unique = usable or unique
    position = {route: i for i, route in enumerate(unique)}

    def key(route: str) -> tuple[int, float, int]:
        record = records.get(route)
        if last_resort(record, now):
            return (4, 0.0, position[route])
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
        if marked or found_by(record) == "sync":  # the handshake is what these censors let through: it proves
            # nothing against a mark, nor against the stalls a sync saw before (rule 8)
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


def after_stall(record: RouteRecord | None, transport: str, cls: str, reason: str, *, now: float) -> RouteRecord:
    """The record of ``transport`` after a sync's connection on it went dead (``cls``: ``data.stall`` or
    ``data.reset``) and another route then carried the same sync, or after a sync found it throttled
    (``data.throttled``, rule 10): set aside for :data:`STALL_HOLD`, doubled for each stall (or failure) in a row
    before it, at most :data:`IMPAIRED_FOR` (rules 7-8). A netcheck's mark that still holds is kept as it is: it
    measured the route on purpose, and says longer."""
    if record is not None and found_by(record) == "netcheck" and impairment(record, now) is not None:
        return record
    failures = (record.failures if record is not None else 0) + 1
    hold = min(STALL_HOLD * 2 ** min(failures - 1, 20), IMPAIRED_FOR)
    last_ok = record.last_ok if record is not None else None
    return RouteRecord(transport, last_ok, now, failures, now + hold, f"{SYNC}{cls}: {reason}"[:300])


def after_transfer(record: RouteRecord | None, transport: str, carried: int, *, now: float) -> RouteRecord | None:
    """The record of ``transport`` after a sync over it ended well having carried ``carried`` bytes (None: nothing
    to record). At least :data:`~samizdat.core.interference.DATA_ENOUGH` forgets the stalls syncs saw on it (rule
    9); less proves nothing against them, and a netcheck's mark is only cleared by a netcheck."""
    if record is None or found_by(record) != "sync" or carried < DATA_ENOUGH:
        return None
    if record.last_error.startswith(f"{SYNC}{THROTTLED}"):  # a throttled route carries data, slowly: no proof
        return None
    if record.last_error.startswith(f"{SYNC}{IMPOSTOR}") and impairment(record, now) is not None:
        return None  # an impostor's copy carries its data: while the mark holds, none clears it (round 12)
    return RouteRecord(transport, last_ok=now, last_failure=record.last_failure, next_retry=now)
