"""Throttling learnt from the node's own syncs, without netcheck.

Theory of operation. Some censors let a connection through and slow it down (Russia throttled Twitter to about
16 KB/s in 2021). ``samizdat netcheck``'s data step finds that, but only when someone runs it; a sync just went on
through the slow route, every time, while a proxy beside it would have carried the same data in a fraction of the
time. A sync's own pace is no proof: a relay that is slow to answer, or a slow network, looks the same.

So when a sync carried at least :data:`~samizdat.core.interference.DATA_ENOUGH` bytes at less than
:data:`~samizdat.core.interference.THROTTLE_RATE` (:func:`slow`), :func:`check` runs netcheck's data step
(:func:`samizdat.net.datacheck.transfer`) on the sync's connection and then on a connection through another route
to the same relay, one after the other, measuring both the same way. Only when the other route carries the data at
:data:`~samizdat.core.interference.THROTTLE_RATE` or more and :data:`~samizdat.core.interference.THROTTLE_FACTOR`
times faster is the first route marked throttled (``core/routes.py`` rule 10): the next syncs take the other route
first. A relay that is slow on every route, or a node with no other route, marks nothing; such a relay is not
measured again for :data:`QUIET_AFTER` seconds (each check costs about 400 KB: two data steps).
"""

from __future__ import annotations

import logging
import time

from samizdat.core.interference import DATA_ENOUGH, THROTTLE_FACTOR, THROTTLE_RATE, Transfer, kilobytes
from samizdat.core.routes import THROTTLED
from samizdat.errors import TransportError
from samizdat.net import failover
from samizdat.net.client import RelayClient
from samizdat.net.datacheck import transfer
from samizdat.net.transports import redacted
from samizdat.services.context import Context

log = logging.getLogger(__name__)

#: Seconds the data step may wait for a byte (netcheck's step timeout); the whole step gets three times that.
IDLE = 10.0
#: Seconds before a relay whose check marked nothing is measured again.
QUIET_AFTER = 3600.0
#: Relays remembered as checked, at most (oldest forgotten first).
REMEMBERED = 1000

_checked: dict[str, float] = {}  # relay URL -> when a check last marked nothing (monotonic)


def slow(client: RelayClient, seconds: float) -> bool:
    """Whether a sync that took ``seconds`` over ``client`` carried enough data, slowly enough, to measure its
    route (and has a route failover chose, and was not measured lately)."""
    if client.route is None or client.network is None or seconds <= 0 or client.bytes_in < DATA_ENOUGH:
        return False
    checked = _checked.get(client.url)
    if checked is not None and time.monotonic() - checked < QUIET_AFTER:
        return False
    return client.bytes_in / seconds < THROTTLE_RATE


async def check(ctx: Context, client: RelayClient) -> str | None:
    """Measure ``client``'s route (its connection still open) and another route to the same relay (see the
    module); mark the first throttled and return a line for the sync's report when the other is much faster.
    Never raises for the relay's sake."""
    assert client.route is not None
    mine = await _measured(client)
    if mine is None or mine >= THROTTLE_RATE:
        _nothing(client.url)
        return None
    try:
        other = await ctx.connect(client.url, avoid=(client.route,))
    except TransportError:
        _nothing(client.url)  # no other route, or none connects: nothing to compare with
        return None
    try:
        theirs = await _measured(other)
    finally:
        await other.close(wait=1.0)
    if theirs is None or theirs < THROTTLE_RATE or theirs < THROTTLE_FACTOR * mine:
        _nothing(client.url)
        return None
    there, elsewhere = redacted(client.route), redacted(other.route or "another route")
    reason = f"data came at {kilobytes(mine)}/s, through {elsewhere} at {kilobytes(theirs)}/s: throttled here"
    failover.remember_stall(ctx.local, client, THROTTLED, reason, now=ctx.clock())
    return (
        f"the connection through {there} carried data at {kilobytes(mine)}/s, through {elsewhere} at "
        f"{kilobytes(theirs)}/s: it is throttled, and {elsewhere} goes first from now on"
    )


async def _measured(client: RelayClient) -> float | None:
    """The downstream rate of netcheck's data step on ``client``, in bytes a second (None: none measured)."""
    try:
        step: Transfer = await transfer(client, limit=3 * IDLE, idle=IDLE)
    except Exception as exc:  # noqa: BLE001 - a bug of ours must not fail the sync that went well
        log.info("measuring %s failed: %s", redacted(client.route or "the route"), exc)
        return None
    return step.rate if step.outcome == "ok" else None


def _nothing(url: str) -> None:
    """Note that measuring ``url`` marked nothing (it is not measured again for a while)."""
    _checked.pop(url, None)
    if len(_checked) >= REMEMBERED:
        _checked.pop(next(iter(_checked)))
    _checked[url] = time.monotonic()
