"""The node status the web app shows: LAN peers, relays and whether they answer, last sync, data carried.

Read from the node's local state (outbox and sync progress, as ``samizdat status`` reads them) and, when LAN
discovery runs, from ``node.mesh.snapshot()``. A relay counts as reachable when its last sync succeeded or it
accepted a delivery and nothing failed since; unreachable when the last attempt failed; unknown when never
tried. Relay URLs and peer names are not secrets (they are in channel definitions and mDNS announcements), so
this document is public on the hub's network; nothing in it can act for the operator.
"""

from __future__ import annotations

from typing import Any

from samizdat.web.app import npub_or_hex

REACHABILITY_WINDOW = 24 * 3600
REACHABILITY_ROWS = 50


def _number(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


async def node_status(node: Any, server: Any = None) -> dict[str, Any]:
    """The status document; ``server`` is the running RelayServer (connections, event count)."""
    relays: dict[str, dict[str, Any]] = {}

    def relay(url: str) -> dict[str, Any]:
        return relays.setdefault(
            url, {"url": url, "reachable": None, "last_success": None, "last_attempt": None, "delivered": 0,
                  "pending": 0, "failed": 0, "last_error": ""},
        )  # fmt: skip

    received = sent = 0
    for row in node.local.sync_rows():
        entry = relay(row.relay)
        if row.last_success is not None and (entry["last_success"] or 0) < row.last_success:
            entry["last_success"] = row.last_success
        if row.last_attempt is not None and (entry["last_attempt"] or 0) < row.last_attempt:
            entry["last_attempt"] = row.last_attempt
            entry["reachable"] = row.failures == 0
            entry["last_error"] = str(row.summary.get("error", "")) if row.failures else ""
        received += _number(row.summary.get("received", row.summary.get("events_in")))
        sent += _number(row.summary.get("sent", row.summary.get("events_out")))
    delivered = 0
    for row in node.local.outbox():
        entry = relay(row.relay)
        if row.state == "accepted":
            entry["delivered"] += 1
            delivered += 1
            if entry["reachable"] is None:
                entry["reachable"] = True
        elif row.state == "failed":
            entry["failed"] += 1
        else:
            entry["pending"] += 1
            if row.attempts and row.last_message and entry["reachable"] is None:
                entry["reachable"] = False
                entry["last_error"] = row.last_message
    mesh = getattr(node, "mesh", None)
    peers: list[dict[str, Any]] | None = None
    if mesh is not None:
        peers = [
            {
                k: p.get(k)
                for k in ("url", "name", "source", "state", "last_seen", "last_sync", "events_in", "events_out")
            }
            for p in mesh.snapshot()
        ]
    events = connections = None
    if server is not None:
        state = await server.status()
        events, connections = state.events, state.connections
    return {
        "name": node.config.name,
        "npub": npub_or_hex(node.key.public_key_hex),
        "events": events,
        "connections": connections,
        "peers": peers,
        "relays": sorted(relays.values(), key=lambda r: r["url"]),
        "follows": len(node.local.follows()),
        "carried": {"received": received, "sent": sent, "delivered": delivered, **_carry(node)},
        "reachability": await _reachability(node),
    }


def _carry(node: Any) -> dict[str, Any]:
    """The carry quota and, from the last carry pass, what is kept for channels this node does not follow."""
    state = getattr(node, "carry_state", None) or {}
    return {
        "quota_bytes": node.config.carry_bytes,
        "store_bytes": state.get("store_bytes"),
        "carried_bytes": state.get("carried_bytes"),
        "dropped": state.get("evicted", 0),
    }


async def _reachability(node: Any) -> list[dict[str, Any]]:
    """The last day of the anonymous reachability reports' aggregate (issue 6), newest first, at most 50 rows."""
    from samizdat.net.reachability import aggregate

    since = int(node.clock()) - REACHABILITY_WINDOW
    view = await aggregate(node.store, since=since)
    keep = ("relay", "country", "hour", "verdict", "reports", "sources", "classes")
    return [{k: row.get(k) for k in keep} for row in view["rows"][:REACHABILITY_ROWS]]
