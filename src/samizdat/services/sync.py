"""Sync with relays and peers: one reconciliation on request, and the background loop ``serve`` runs.

The background loop keeps each followed and own channel in step with its mirrors (and the relay hints it was
followed with). With ``[sync] private`` (the default) it asks each relay for whole areas rather than channels
(:mod:`samizdat.services.areas` says what is asked and why). Every (relay, scope) pair is on its own schedule,
the next attempt ``sync.interval`` after a success, exponential backoff after a failure; progress is recorded in
the local state (``samizdat status``).

A sync whose connection goes dead under it after the handshake (a censor that lets handshakes through and then
stalls or cuts the connection) is run once more through another route; when that one carries it, the first route
is remembered as stalling and the next syncs take the other routes first (``core/routes.py``, rules 7-9). A sync
that carried its data slowly has its route and another measured, and a throttled route goes after the other
(:mod:`samizdat.services.throttle`, rule 10). A relay that lacks events it had at the last sync (not as a
retention window drops them), or another route that brings events from before the sync that this one did not,
by keys with standing in the scope and known from a source other than that route (a spot check, every few hours
and once after a mark's hold ends), has something else answering in the relay's name on this route: the route is
marked ``relay.impostor`` and the sync goes on through the other (:mod:`samizdat.services.relay_memory`). A route
that brought nothing at its first sync in a scope, while the spot check's route served or held events it lacked,
is in doubt: never marked for it (that route could invent them), but sent nothing until a spot check finds the two
agree (red team, round 15).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence

from samizdat.core.backoff import backoff_delay
from samizdat.core.filters import Filter
from samizdat.errors import RemoteProtocolError, SamizdatError, TransportError
from samizdat.net import failover
from samizdat.net import sync as netsync
from samizdat.net.blobfetch import relay_to_http
from samizdat.net.client import RelayClient
from samizdat.net.transports import redacted
from samizdat.services import areas, blob_travel, channels, relay_health, relay_memory, throttle, withholding
from samizdat.services.context import Context

log = logging.getLogger(__name__)

PASS_PAUSE = 30.0  #: seconds between passes over the schedule, at most (shorter when sync.interval is)
SYNC_TIMEOUT = 600.0  #: one (relay, channel) reconciliation, at most
FAILURE_BASE = 30.0  #: first retry delay after a failure; doubles up to 4 × sync.interval
ONCE_DONE = 100 * 365 * 86400.0  #: "never again", for a scope that is synced once (posts from before area tags)
PARALLEL_RELAYS = 8  #: relays synced at once in a pass (each with its own connection)
#: Seconds to wait for a relay's closing handshake after a sync: on a connection a censor stalled, none comes.
CLOSE_WAIT = 2.0


async def sync_with(
    ctx: Context,
    url: str,
    filters: Sequence[Filter] | None = None,
    direction: netsync.Direction = "both",
    progress: netsync.Progress | None = None,
    *,
    byte_budget: int | None = None,
    unwanted: netsync.Unwanted | None = None,
    then: Callable[[RelayClient], Awaitable[None]] | None = None,
) -> netsync.SyncReport:
    """Reconcile the events matching ``filters`` (default: everything) with ``url`` (NIP-77); raises
    :class:`~samizdat.net.sync.OverBudget` when ``byte_budget`` is given and the download would pass it. A relay
    that lost what it had acknowledged is dealt with (:mod:`samizdat.services.relay_health`). ``then`` is given
    the connection after the sync, before it closes (it must not raise for the relay's sake)."""
    scope = list(filters or [Filter()])
    key = relay_memory.scope_key(scope)
    mark = ctx.local.relay_mark(url, key)  # the last sync that ended well, and the last spot check (round 10)
    start, started = await ctx.store.last_seq(), ctx.clock()
    checked: float | None = None
    witnesses: list[relay_memory.Noting] = []

    async def over(
        client: RelayClient, *, transfer: bool = True, hook: bool = True, spot: bool = False
    ) -> netsync.SyncReport:
        began = time.monotonic()
        witness = relay_memory.Noting(ctx, spot=spot, route=client.route)
        witnesses.append(witness)
        try:
            report = await netsync.sync(
                client,
                ctx.store,
                scope,
                direction=direction,
                ingest=witnesses[-1].ingest,
                progress=progress,
                now=ctx.clock,  # the limits every door applies are checked against the node's clock
                unwanted=unwanted,
                byte_budget=byte_budget,
                acks=witnesses[-1],
                upload_limit=relay_health.upload_limit(ctx, url),
                hold=hold,  # what looks gone is not sent back before another route is asked (red team, round 11)
            )
            witness.finished = True
            if throttle.slow(client, time.monotonic() - began):  # measured before the connection closes
                line = await throttle.check(ctx, client)
                if line is not None:
                    report.errors.append(line)
            if then is not None and hook:
                await then(client)
        finally:
            await client.close(wait=CLOSE_WAIT)
        if transfer:
            failover.remember_transfer(ctx.local, client, now=ctx.clock())
        return report

    client = await ctx.connect(url)
    after_hold = relay_memory.hold_over(ctx, client, mark)  # read before the sync: data carried may forget the mark
    # What the relay had through this route at its last sync there: what another route served is never held
    # against this one (a fallback that invents events would otherwise have them found gone here; round 13).
    route_key = relay_memory.route_key(key, client.route)
    had = ctx.local.relay_mark(url, route_key) if route_key != key else mark
    gone_hold = relay_memory.holding(ctx, scope, had)
    # Red team, round 15: a route with nothing of its own to compare with (its first sync in the scope) that serves
    # nothing, while a spot check is to ask another route, is not sent what the node would upload until that check;
    # one found in doubt then (the other route served or held events it lacked) is not sent it until a spot check
    # finds the two agree. Never marked for it: the other route could have invented what it served.
    doubted = ctx.local.relay_doubt(url, route_key) if route_key != key else None
    spot_coming = direction != "up" and (relay_memory.spot_due(mark, started) or after_hold)
    wary = route_key != key and relay_memory.has_other_route(ctx, client) and (had is None and spot_coming)

    async def hold(lacking: Sequence[str]) -> set[str]:
        if len(witnesses) == 1 and (doubted is not None or (wary and not witnesses[0].got)):
            return set(lacking)  # the sync's own route only; what it served so far: nothing (or it is in doubt)
        return await gone_hold(lacking)

    synced: netsync.SyncReport | None = None
    try:
        report = await over(client, transfer=False)  # data carried by a route found impersonated proves nothing
    except TransportError as exc:
        report = await _around(ctx, client, exc, over)
    else:
        synced, lines = report, len(report.errors)
        report = await _impersonated(ctx, client, report, scope, witnesses[-1].lacking, had, over)
        # Spot-checked unless the relay was found lacking what it had: not "unless the report has a line", which
        # one event the node refuses, offered by a censor's copy at every sync, turned off for good (round 11).
        found = report is not synced or len(report.errors) > lines
        if not found and direction != "up" and (relay_memory.spot_due(mark, started) or after_hold):
            checked = ctx.clock()
            report = await _spot_check(ctx, client, report, (started, start), scope, witnesses, over)
    if synced is not None and (wary or doubted is not None):
        doubted = await _doubt(ctx, client, route_key, witnesses, started, doubted)
        if doubted is not None and synced.held:
            report.errors.append(relay_memory.doubt_line(client, doubted, synced.held))
    # Not past what only a spot check brought: the sync's route lacked it, so it is not what the relay "had" at
    # this sync (a fallback that invents events would otherwise have them found gone next time; round 13).
    end = await relay_memory.end_mark(ctx, start, set().union(*(w.got for w in witnesses if not w.spot)))
    ctx.local.record_relay_mark(url, key, end, relay_memory.lacking_after(report), ctx.clock(), checked)
    if route_key != key and report is synced:  # the route carried the sync and was not found impersonated
        end = await relay_memory.end_mark(ctx, start, witnesses[0].got)
        ctx.local.record_relay_mark(url, route_key, end, relay_memory.lacking_after(synced), ctx.clock())
    await relay_health.noted(ctx, url, report)
    if direction != "up":  # photos travel with the posts: from the node synced with first (bounded)
        base = relay_to_http(url)
        photos = await blob_travel.travel(ctx, [base] if base else [], scope=scope)
        report.photos = photos.fetched
        report.errors += [f"photo refused: {reason}" for reason in photos.refused[:5]]
    return report


Over = Callable[[RelayClient], Awaitable[netsync.SyncReport]]


async def _doubt(
    ctx: Context,
    client: RelayClient,
    route_key: str,
    witnesses: Sequence[relay_memory.Noting],
    began: float,
    doubted: float | None,
) -> float | None:
    """Since when ``client``'s route is in doubt after this sync (None: not, or no longer; red team, round 15):
    when a spot check through another route ran to its end, the route is in doubt if that route served or held at
    least :data:`~samizdat.services.relay_memory.GONE_MIN` events from before the sync that this one lacked, and
    this one served nothing (or was in doubt already); otherwise the doubt is settled. Without a spot check that
    ended, the doubt stands as it was."""
    first, spots = witnesses[0], [w for w in witnesses if w.spot and w.finished]
    if not spots:
        return doubted
    elsewhere = await relay_memory.elsewhere(ctx, first, spots[-1], began)
    if elsewhere >= relay_memory.GONE_MIN and (doubted is not None or not first.got):
        since = doubted if doubted is not None else ctx.clock()
        ctx.local.record_relay_doubt(client.url, route_key, since)
        return since
    if doubted is not None:
        log.info("%s: the spot check through another route settled the doubt on %s", client.url,
                 redacted(client.route or "?"))  # fmt: skip
    ctx.local.record_relay_doubt(client.url, route_key, None)
    return None


async def _around(ctx: Context, stalled: RelayClient, exc: TransportError, over: Over) -> netsync.SyncReport:
    """After ``stalled``'s connection went dead under the sync (:meth:`RelayClient.breakage`): the same sync once
    more through another route, and, if that one carries it, the first route remembered as stalling
    (:func:`samizdat.net.failover.remember_stall`). The other route's success is what tells a route that stalls
    from a relay that is slow or down: that fails on every route, and then nothing is marked and ``exc`` (or the
    second route's error) is raised. Nothing is tried again for a connection that failed otherwise (the relay
    closed it, or did not answer while the connection stayed alive) or that failover did not open."""
    how = stalled.breakage()
    if how is None or stalled.route is None:
        raise exc
    try:
        other = await ctx.connect(stalled.url, avoid=(stalled.route,))
    except TransportError:
        raise exc from None  # no other route, or none connects: nothing tells the route from the relay
    log.info("%s: the connection through %s went dead during the sync (%s); once more through %s", stalled.url,
             redacted(stalled.route), exc, redacted(other.route or "another route"))  # fmt: skip
    report = await over(other)
    failover.remember_stall(ctx.local, stalled, how, str(exc), now=ctx.clock())
    report.errors.append(
        f"the connection through {redacted(stalled.route)} stopped carrying data ({how}: {exc}); synced through "
        f"{redacted(other.route or 'another route')} instead, which goes first from now on"
    )
    return report


async def _impersonated(
    ctx: Context,
    client: RelayClient,
    report: netsync.SyncReport,
    scope: Sequence[Filter],
    lacking: Sequence[str],
    mark: relay_memory.Mark | None,
    over: Over,
) -> netsync.SyncReport:
    """After a sync on ``client``: when the relay lacks events it had at the last sync, and not as a retention
    window drops them, another route is asked for them (:mod:`samizdat.services.relay_memory`); when it serves
    them, the route is marked ``relay.impostor`` and the sync runs again through the other route. Otherwise the
    route is remembered as having carried the sync (:func:`samizdat.net.failover.remember_transfer`)."""
    found = None
    try:
        found = await relay_memory.gone(ctx, scope, lacking, mark)
    except Exception:  # a bug in the check must not fail the sync it follows
        log.exception("the check of what a relay had at the last sync failed (-v names it)")
        log.info("the relay whose check failed: %s", client.url)
    if found is None or not relay_memory.suspicious(found):
        failover.remember_transfer(ctx.local, client, now=ctx.clock())
        return report
    finding = await relay_memory.cross_check(ctx, client, found)
    if finding.other is None:
        failover.remember_transfer(ctx.local, client, now=ctx.clock())
        report.errors.append(finding.line)
        return report
    log.info("%s: synced once more through %s", client.url, redacted(finding.other.route or "another route"))
    again = await over(finding.other)
    again.errors.append(finding.line)
    return again


async def _spot_check(
    ctx: Context,
    client: RelayClient,
    report: netsync.SyncReport,
    began: tuple[float, int],
    scope: Sequence[Filter],
    witnesses: Sequence[relay_memory.Noting],
    over: Callable[..., Awaitable[netsync.SyncReport]],
) -> netsync.SyncReport:
    """The same sync once more through another route (:mod:`samizdat.services.relay_memory`, spot checks); when
    that brings events from before this sync (``began``: when it began, and the store's insertion number then)
    that ``client``'s route did not, by keys with standing in the scope, that route is marked ``relay.impostor``.
    Nothing when the node has no other route."""
    if client.route is None:
        return report
    try:
        other = await relay_memory.spot_route(ctx, client)
    except TransportError:
        return report  # no other route (none unimpaired), or none connects: nothing to compare with
    try:
        async with asyncio.timeout(relay_memory.SPOT_TIMEOUT):  # a crawling route must not fail the sync (round 12)
            again = await over(other, transfer=False, hook=False, spot=True)
    except (TransportError, RemoteProtocolError, TimeoutError, netsync.OverBudget) as exc:
        log.info("%s: the spot check through %s failed: %s", client.url, redacted(other.route or "?"),
                 exc or f"no end within {relay_memory.SPOT_TIMEOUT:.0f} s")  # fmt: skip
        return report
    found = await relay_memory.older(ctx, witnesses[-1].got, began[0])
    if len(found) >= relay_memory.GONE_MIN:  # only what that route cannot invent counts (red team, round 13)
        brought = set().union(*(w.got for w in witnesses if not w.spot))  # what the sync's own route downloaded
        found, strangers = await relay_memory.standing(ctx, scope, found, began[1], brought, other.route)
        if len(found) < relay_memory.GONE_MIN:
            report.received += again.received  # stored as any synced events: they passed the same checks
            report.errors.append(relay_memory.strangers_line(client, other, strangers))
            return report
    if len(found) >= relay_memory.GONE_MIN:  # published meanwhile, or withheld? asked by id on the first route
        lacking = await relay_memory.still_lacking(ctx, client, found)
        if lacking is None:  # round 12: a censor that publishes backdated posts and cuts this one connection
            report.received += again.received  # marked an honest route; nothing tells the two apart: no mark
            report.errors.append(relay_memory.unasked_line(client, other, len(found)))
            return report
        found = lacking
    count = len(found)
    if count < relay_memory.GONE_MIN:
        report.received += again.received
        return report
    relay_memory.impersonated(ctx, client, f"lacked {count} events another route served")
    again.received += report.received
    again.errors.append(relay_memory.spot_line(client, other, count))
    return again


async def scopes(ctx: Context) -> dict[str, list[str]]:
    """Channel address → relays to keep it in step with: followed channels (their hints and mirrors) and own
    channels (their mirrors: posts made from phones reach the mirrors too)."""
    wanted = ctx.local.follows()
    for address in await channels.own_channels(ctx):
        wanted.setdefault(address, [])
    out: dict[str, list[str]] = {}
    withheld = withholding.withholding(ctx)  # a mirror that withheld a channel's events goes last for it
    for address, hints in wanted.items():
        relays = list(dict.fromkeys([*hints, *await channels.mirrors(ctx, address)]))
        out[address] = withholding.prefer(withheld, address, relays)
    return out


async def sync_pass(ctx: Context) -> int:
    """One pass over the schedule: sync every (relay, scope) that is due (:func:`samizdat.services.areas.plan`);
    return how many were tried.

    Relays are synced side by side (up to :data:`PARALLEL_RELAYS` at once), each relay's scopes one after another:
    one after another in all, a relay that holds every sync until :data:`SYNC_TIMEOUT` (a mirror the police run
    answers one message a minute) held up every other channel's sync for that long, scope after scope."""
    schedule = await areas.plan(ctx, await scopes(ctx))
    by_relay: dict[str, list[areas.Unit]] = {}
    for unit in schedule.units:
        for relay in unit.relays:
            by_relay.setdefault(relay, []).append(unit)
    slots = asyncio.Semaphore(PARALLEL_RELAYS)
    tried = 0

    async def with_relay(relay: str, units: list[areas.Unit]) -> None:
        nonlocal tried
        async with slots:
            for unit in units:
                done = await _sync_unit(ctx, relay, unit)  # not ``tried += await``: that reads ``tried`` first
                tried += done

    async with asyncio.TaskGroup() as group:
        for relay, units in by_relay.items():
            group.create_task(with_relay(relay, units), name=f"sync {relay}")
    return tried


async def _sync_unit(ctx: Context, relay: str, unit: areas.Unit) -> int:
    """Sync ``unit`` with ``relay`` if it is due, and record how it went; return 1 if it was tried, else 0. Never
    raises for the relay's sake: whatever one relay does costs only its own scopes."""
    now = ctx.clock()
    row = ctx.local.sync_row(relay, unit.scope)
    if row is not None and row.next_attempt > now:
        return 0
    budget = ctx.config.area_budget_bytes if unit.cell is not None else None
    withheld: dict[str, object] = {}

    async def asking(client: RelayClient) -> None:
        withheld.update(await _withheld(ctx, client, unit, row.summary if row else {}))

    try:
        async with asyncio.timeout(SYNC_TIMEOUT):
            # carried events dropped to keep the quota (an area brings other channels) are not fetched again
            report = await sync_with(
                ctx, relay, unit.filters, byte_budget=budget, unwanted=ctx.store.evicted_among, then=asking
            )
    except netsync.OverBudget as exc:
        assert unit.cell is not None  # only areas have a budget
        line = areas.over_budget_line(unit.cell, relay, exc.estimate, exc.at_least, ctx.config.area_budget_mb)
        log.warning("an area brings more than [sync] area_budget_mb from a relay (samizdat status says which)")
        log.info("%s", line)  # names the area and the relay: only with -v (docs/safety.md, "What the log says")
        # The relay answered: not a failure, no backoff; tried again after the interval, in case the budget was
        # raised.
        ctx.local.record_sync(
            relay, unit.scope, now=now, ok=True, next_attempt=now + ctx.config.sync_interval,
            summary={"over_budget": line, "estimate_bytes": exc.estimate, **withholding.kept(row)},
        )  # fmt: skip
        return 1
    except Exception as exc:
        if not isinstance(exc, SamizdatError | TimeoutError | OSError):
            # A fault of ours that a relay's answer set off: logged in full, and it costs this scope alone.
            log.exception("a sync failed on a fault of ours (-v names the relay)")
        failures = (row.failures if row else 0) + 1
        delay = backoff_delay(failures - 1, base=FAILURE_BASE, cap=ctx.config.sync_interval * 4, random=ctx.random)
        if isinstance(exc, TimeoutError) and not str(exc):
            exc = TimeoutError(f"no end to the sync within {SYNC_TIMEOUT:.0f} s")
        ctx.local.record_sync(
            relay, unit.scope, now=now, ok=False, next_attempt=now + delay,
            summary={"error": str(exc) or type(exc).__name__, **withholding.kept(row)},
        )  # fmt: skip
        log.info("sync of %s with %s failed: %s", unit.scope, relay, exc)
        return 1
    later = ONCE_DONE if unit.once else ctx.config.sync_interval
    summary = {**report.to_dict(), **withheld}
    ctx.local.record_sync(
        relay, unit.scope, now=now, ok=True, next_attempt=now + later, summary=summary,
    )  # fmt: skip
    return 1


async def _withheld(
    ctx: Context, client: RelayClient, unit: areas.Unit, before: dict[str, object]
) -> dict[str, object]:
    """At the end of a sync of ``unit`` on ``client``: what its relay withholds of the newest definitions and
    retractions held here (:mod:`samizdat.services.withholding`), for the sync row; what the last check found
    (``before``, the row's last summary) when this one fails."""
    known = {str(r.get("event")) for r in withholding.withholding(ctx).get(client.url, []) if not r.get("readers")}
    try:
        found = await withholding.check(ctx, client, unit.channels, unit.filters, known, before)
    except (SamizdatError, TimeoutError, OSError) as exc:
        log.info("could not ask %s for the newest definitions and retractions: %s", client.url, exc)
        return {k: v for k, v in before.items() if k.startswith("withh")}
    except Exception:  # a bug in the check must not fail the sync it follows
        log.exception("the withholding check of a relay failed (-v names it)")
        log.info("the relay whose withholding check failed: %s", client.url)
        return {k: v for k, v in before.items() if k.startswith("withh")}
    return found.summary()


async def background_sync(ctx: Context) -> None:
    """Run :func:`sync_pass` forever, pausing between passes (``serve`` runs this)."""
    while True:
        try:
            await sync_pass(ctx)
        except Exception:  # a background pass must never stop the node
            log.exception("background sync pass failed; it will run again")
        await ctx.sleep(min(PASS_PAUSE, ctx.config.sync_interval))
