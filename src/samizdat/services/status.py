"""One status document for the command line (``samizdat status``) and the web app's status screen.

Read from the node's local state (outbox and sync progress) and, while serving, from the running relay and the
LAN mesh. Per relay: posts delivered, waiting, failed (with the last reason), and whether it answers: reachable
when its last sync succeeded or it accepted a delivery and nothing failed since, unreachable when the last
attempt failed, unknown when never tried. An outbox row whose event left the store before delivery (replaced by
a newer version, retracted, expired) is "superseded", not a failure. A post a relay accepted and a later sync
found it lacking is "lost", not delivered; such a relay is "losing" (since when, and how many events it lost)
until a day passes without another loss (services/relay_health.py). A relay that accepted a channel's newest
definition or a retraction and still did not serve it at its last sync has ``withheld`` rows
(services/withholding.py); which channel, only with ``detail``.

The public part (no ``detail``) is what the web app shows anyone on the hub's network: relay URLs and peer names
are not secrets (they are in channel definitions and mDNS announcements), and nothing in it can act for the
operator. ``detail`` adds what only the node's owner sees: the data directory, followed channels, each waiting
or failed post, sync rows.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from samizdat.core import nip19, routes
from samizdat.core.interference import IMPOSTOR
from samizdat.net import netinfo
from samizdat.net.outbox import GONE
from samizdat.net.transports import redacted
from samizdat.services import areas, channels, killcord, relay_health, sync, withholding
from samizdat.services.context import Context
from samizdat.services.instance import running_relay_url
from samizdat.services.reachability import aggregate

REACHABILITY_WINDOW = 24 * 3600
REACHABILITY_ROWS = 50
PEER_FIELDS = ("url", "name", "name_verified", "source", "state", "last_seen", "last_sync", "events_in", "events_out",
               "last_error")  # fmt: skip


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def document(
    ctx: Context,
    *,
    detail: bool = False,
    connections: Callable[[], Awaitable[tuple[int | None, int | None]]] | None = None,
    peers: Sequence[Mapping[str, Any]] | None = None,
    carry: Mapping[str, int | None] | None = None,
) -> dict[str, Any]:
    """The status document. While serving, ``connections`` gives (stored events, open connections) from the
    relay, ``peers`` is the mesh's live view and ``carry`` the last carry pass; otherwise they come from the
    store and the local state."""
    relays: dict[str, dict[str, Any]] = {}

    def relay(url: str) -> dict[str, Any]:
        return relays.setdefault(
            url, {"url": url, "reachable": None, "last_success": None, "last_attempt": None, "delivered": 0,
                  "pending": 0, "failed": 0, "superseded": 0, "lost": 0, "losing_since": None, "lost_events": 0,
                  "last_error": ""},
        )  # fmt: skip

    received = sent = 0
    for row in ctx.local.sync_rows():
        entry = relay(row.relay)
        if row.last_success is not None and (entry["last_success"] or 0) < row.last_success:
            entry["last_success"] = row.last_success
        if row.last_attempt is not None and (entry["last_attempt"] or 0) < row.last_attempt:
            entry["last_attempt"] = row.last_attempt
            entry["reachable"] = row.failures == 0
            entry["last_error"] = str(row.summary.get("error", "")) if row.failures else ""
        received += _number(row.summary.get("received", row.summary.get("events_in")))
        sent += _number(row.summary.get("sent", row.summary.get("events_out")))
    for url, health in ctx.local.relay_health().items():
        since = relay_health.losing(ctx, url)
        if since is not None:
            entry = relay(url)
            entry["losing_since"], entry["lost_events"] = since, health.lost
    network = netinfo.network_id()
    for url, where, record in ctx.local.all_routes():  # red team round 10: a sync (or netcheck) found an impostor
        if where == network and routes.impairment(record, ctx.clock()) == IMPOSTOR:
            found = {"route": redacted(record.transport), "until": record.next_retry, "by": routes.found_by(record)}
            relay(url).setdefault("impersonated", []).append(found)
    for url, kept in withholding.withholding(ctx).items():  # which channel only in ``detail``: it names a follow
        shown = []
        for withheld in kept:
            item = {k: withheld.get(k) for k in ("what", "newest", "served", "refused", "readers")}
            if detail:
                address = str(withheld.get("channel", ""))
                item.update(channel=address, name=await _channel_name(ctx, address))
            shown.append(item)
        relay(url)["withheld"] = shown
    delivered = 0
    waiting: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    lost: list[dict[str, Any]] = []
    rows = ctx.local.outbox()
    waiting_ids = list({r.event_id for r in rows if r.state == "pending"})
    still_stored = await ctx.store.has(waiting_ids) if waiting_ids else set()
    for out in rows:
        entry = relay(out.relay)
        if out.state == "pending" and out.event_id not in still_stored:
            entry["superseded"] += 1  # replaced or retracted before its turn: the outbox will drop it
            continue
        if out.state == "accepted":
            entry["delivered"] += 1
            delivered += 1
            if entry["reachable"] is None:
                entry["reachable"] = True
        elif out.state == "failed" and out.last_message == GONE:
            entry["superseded"] += 1
        elif out.state == "lost":
            entry["lost"] += 1
            lost.append({"event": out.event_id, "relay": out.relay, "last": out.last_message})
        elif out.state == "failed":
            entry["failed"] += 1
            entry["last_error"] = entry["last_error"] or out.last_message
            failed.append({"event": out.event_id, "relay": out.relay, "last": out.last_message})
        else:
            entry["pending"] += 1
            if out.attempts and out.last_message and entry["reachable"] is None:
                entry["reachable"] = False
                entry["last_error"] = out.last_message
            waiting.append({"event": out.event_id, "relay": out.relay, "attempts": out.attempts,
                            "next_attempt": out.next_attempt, "last": out.last_message})  # fmt: skip
    if peers is None:
        peer_rows = [{k: getattr(p, k, None) for k in PEER_FIELDS} for p in ctx.local.peers()]
    else:
        peer_rows = [{k: p.get(k) for k in PEER_FIELDS} for p in peers]
    store = await ctx.store.stats()
    events, open_connections = (await connections()) if connections is not None else (store.get("events"), None)
    carry = carry or {}
    doc: dict[str, Any] = {
        "name": ctx.config.name,
        "npub": nip19.npub_encode(ctx.pubkey),
        "events": events,
        "connections": open_connections,
        "peers": peer_rows,
        "relays": sorted(relays.values(), key=lambda r: r["url"]),
        "follows": len(ctx.local.follows()),
        "proxied": bool(ctx.routing.proxy),  # the phone's direct connections to mirrors would bypass it
        "channel_sources": await _channel_sources(ctx),
        "carried": {
            "received": received,
            "sent": sent,
            "delivered": delivered,
            "quota_bytes": ctx.config.carry_bytes,
            "store_bytes": carry.get("store_bytes"),
            "carried_bytes": carry.get("carried_bytes"),
            "dropped": carry.get("evicted", 0),
        },  # fmt: skip
        "reachability": await _reachability(ctx),
        "photos": _photos(ctx),
    }
    if detail:
        doc.update(
            home=str(ctx.home),
            serving=running_relay_url(ctx.home),
            store=store,
            followed=list(ctx.local.follows()),
            outbox={
                "pending": waiting,
                "failed": failed,
                "lost": lost,
                "accepted": delivered,
                "superseded": sum(r["superseded"] for r in relays.values()),
            },  # fmt: skip
            reading=await _reading(ctx),
            safety=killcord.describe(ctx.config, ctx.home),
            sync=[
                {
                    "relay": r.relay,
                    "channel": r.scope,
                    "last_success": r.last_success,
                    "failures": r.failures,
                    "summary": r.summary,
                }
                for r in ctx.local.sync_rows()
            ],  # fmt: skip
        )
    return doc


async def _channel_name(ctx: Context, address: str) -> str:
    """The name of the channel at ``address`` as this node holds it, or its identifier."""
    channel = await channels.lookup(ctx, address)
    return channel.name if channel is not None else address.split(":", 2)[-1]


async def _channel_sources(ctx: Context) -> list[dict[str, Any]]:
    """Which relays each followed or own channel came from: the relays of the sync units (a channel, or the area
    that holds it) that last succeeded. The web app shows them only to this machine and the operator (they name
    the channels this node follows)."""
    plan = await areas.plan(ctx, await sync.scopes(ctx))
    served = {unit.scope: unit.channels for unit in plan.units}
    found: dict[str, set[str]] = {}
    for row in ctx.local.sync_rows():
        if row.last_success is None:
            continue
        scope = row.scope.removeprefix("before-areas:")
        for address in (scope,) if scope.startswith("30333:") else served.get(row.scope, ()):
            found.setdefault(address, set()).add(row.relay)
    return [{"channel": address, "relays": sorted(relays)} for address, relays in sorted(found.items())]


async def _reading(ctx: Context) -> dict[str, Any]:
    """Private reading, for the owner only (areas and channels say what this node reads): whether areas are
    fetched whole, the areas that were too large to fetch, and what is fetched by channel and why."""
    plan = await areas.plan(ctx, await sync.scopes(ctx))
    current = {a.scope for a in plan.areas()}
    over = [
        str(r.summary["over_budget"])
        for r in ctx.local.sync_rows()
        if "over_budget" in r.summary and r.scope in current
    ]
    return {
        "private": ctx.config.sync_private,
        "areas": [{"cell": a.cell, "channels": len(a.channels), "relays": list(a.relays)} for a in plan.areas()],
        "over_budget": over,
        "by_channel": plan.notes(),
    }


async def _reachability(ctx: Context) -> list[dict[str, Any]]:
    """The last day of the anonymous reachability reports' aggregate, newest first, at most 50 rows."""
    view = await aggregate(ctx.store, since=ctx.now() - REACHABILITY_WINDOW)
    keep = ("relay", "country", "hour", "verdict", "reports", "sources", "classes")
    return [{k: row.get(k) for k in keep} for row in view["rows"][:REACHABILITY_ROWS]]


def _photos(ctx: Context) -> dict[str, int] | None:
    """Photos stored here (services/blobs.py), and referenced ones not fetched yet; None without a blob store."""
    if ctx.blobs is None:
        return None
    entries = ctx.blobs.entries()
    missing = len(ctx.blobs.missing(float("inf"), 100_000))
    return {"stored": len(entries), "bytes": sum(e.size for e in entries), "missing": missing}
