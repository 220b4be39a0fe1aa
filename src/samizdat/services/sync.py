"""Sync with relays and peers: one reconciliation on request, and the background loop ``serve`` runs.

The background loop keeps each followed and own channel in step with its mirrors (and the relay hints it was
followed with): every (relay, channel) pair on its own schedule, the next attempt ``sync.interval`` after a
success, exponential backoff after a failure; progress is recorded in the local state (``samizdat status``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from samizdat.core.backoff import backoff_delay
from samizdat.core.filters import Filter
from samizdat.errors import SamizdatError
from samizdat.net import sync as netsync
from samizdat.services import channels
from samizdat.services.context import Context

log = logging.getLogger(__name__)

PASS_PAUSE = 30.0  #: seconds between passes over the schedule, at most (shorter when sync.interval is)
SYNC_TIMEOUT = 600.0  #: one (relay, channel) reconciliation, at most
FAILURE_BASE = 30.0  #: first retry delay after a failure; doubles up to 4 × sync.interval


async def sync_with(
    ctx: Context,
    url: str,
    filters: Sequence[Filter] | None = None,
    direction: netsync.Direction = "both",
    progress: netsync.Progress | None = None,
) -> netsync.SyncReport:
    """Reconcile the events matching ``filters`` (default: everything) with ``url`` (NIP-77)."""
    client = await ctx.connect(url)
    try:
        return await netsync.sync(
            client,
            ctx.store,
            list(filters or [Filter()]),
            direction=direction,
            ingest=ctx.ingest,
            progress=progress,
            now=ctx.clock,  # the limits every door applies are checked against the node's clock
        )
    finally:
        await client.close()


async def scopes(ctx: Context) -> dict[str, list[str]]:
    """Channel address → relays to keep it in step with: followed channels (their hints and mirrors) and own
    channels (their mirrors: posts made from phones reach the mirrors too)."""
    wanted = ctx.local.follows()
    for address in await channels.own_channels(ctx):
        wanted.setdefault(address, [])
    out: dict[str, list[str]] = {}
    for address, hints in wanted.items():
        out[address] = list(dict.fromkeys([*hints, *await channels.mirrors(ctx, address)]))
    return out


async def sync_pass(ctx: Context) -> int:
    """One pass over the schedule: sync every (relay, channel) that is due; return how many were tried."""
    tried = 0
    for address, relays in (await scopes(ctx)).items():
        filters = await channels.scope_of(ctx, address)
        for relay in relays:
            now = ctx.clock()
            row = ctx.local.sync_row(relay, address)
            if row is not None and row.next_attempt > now:
                continue
            tried += 1
            try:
                report = await asyncio.wait_for(sync_with(ctx, relay, filters), SYNC_TIMEOUT)
            except (SamizdatError, TimeoutError, OSError) as exc:
                failures = (row.failures if row else 0) + 1
                delay = backoff_delay(
                    failures - 1, base=FAILURE_BASE, cap=ctx.config.sync_interval * 4, random=ctx.random
                )
                ctx.local.record_sync(
                    relay, address, now=now, ok=False, next_attempt=now + delay,
                    summary={"error": str(exc) or type(exc).__name__},
                )  # fmt: skip
                log.info("sync of %s with %s failed: %s", address, relay, exc)
                continue
            ctx.local.record_sync(
                relay, address, now=now, ok=True, next_attempt=now + ctx.config.sync_interval,
                summary=report.to_dict(),
            )  # fmt: skip
    return tried


async def background_sync(ctx: Context) -> None:
    """Run :func:`sync_pass` forever, pausing between passes (``serve`` runs this)."""
    while True:
        try:
            await sync_pass(ctx)
        except Exception:  # a background pass must never stop the node
            log.exception("background sync pass failed; it will run again")
        await ctx.sleep(min(PASS_PAUSE, ctx.config.sync_interval))
