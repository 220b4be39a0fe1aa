"""``samizdat peers``: the nodes this one syncs with directly, on the LAN or added by hand."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import typer

from samizdat.cli.common import JsonOption, emit, run, with_node
from samizdat.errors import UsageError
from samizdat.node import Node


def _ago(stamp: float | None, now: float) -> str:
    if stamp is None:
        return "never"
    seconds = max(0, int(now - stamp))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def check_peer_url(url: str) -> str:
    """A peer's relay URL, ``ws://host:port`` or ``wss://...``; raise UsageError with the reason otherwise."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"{url!r} is not a peer address: give ws://HOST:PORT (or wss://...)")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise UsageError(f"{url!r} has an invalid port") from exc
    return url.rstrip("/")


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return (
            "No peers yet. On a LAN, run `samizdat serve --lan`; or add one with `samizdat peers add ws://HOST:PORT`."
        )
    now = time.time()
    lines = []
    for r in rows:
        name = f" ({r['name']})" if r["name"] else ""
        lines.append(
            f"{r['url']}{name}  [{r['source']}, {r['state']}]  seen {_ago(r['last_seen'], now)}, "
            f"synced {_ago(r['last_sync'], now)}, {r['events_in']} in / {r['events_out']} out"
            + (f"  last error: {r['last_error']}" if r["last_error"] and r["state"] != "live" else "")
        )
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    peers_app = typer.Typer(
        help="Nodes this one syncs with directly: found on the LAN (mDNS) or added by hand.",
        invoke_without_command=True,
    )
    app.add_typer(peers_app, name="peers")

    @peers_app.callback()
    def peers_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
        """List known peers: where they are, when they were last seen and synced, what moved."""
        if ctx.invoked_subcommand is not None:
            return

        async def action(node: Node) -> list[dict[str, Any]]:
            return [
                {
                    "url": r.url,
                    "name": r.name,
                    "source": r.source,
                    "state": r.state,
                    "last_seen": r.last_seen,
                    "last_sync": r.last_sync,
                    "events_in": r.events_in,
                    "events_out": r.events_out,
                    "bytes_in": r.bytes_in,
                    "bytes_out": r.bytes_out,
                    "failures": r.failures,
                    "last_error": r.last_error,
                }
                for r in node.local.peers()
            ]

        emit(run(with_node(action)), as_json, _table)

    @peers_app.command("add")
    def peers_add(
        url: str = typer.Argument(..., help="The peer's relay, ws://HOST:PORT."), as_json: bool = JsonOption
    ) -> None:
        """Sync with this node whenever it is reachable (a running `serve` picks it up within seconds)."""
        url = check_peer_url(url)

        async def action(node: Node) -> dict[str, Any]:
            return {"url": url, "added": node.local.add_peer(url, "manual", node.clock())}

        emit(run(with_node(action)), as_json, lambda d: ("Added " if d["added"] else "Already known: ") + d["url"])

    @peers_app.command("remove")
    def peers_remove(url: str = typer.Argument(..., help="The peer's relay URL."), as_json: bool = JsonOption) -> None:
        """Forget a peer (one found on the LAN comes back when it is seen again)."""
        url = url.strip().rstrip("/")

        async def action(node: Node) -> dict[str, Any]:
            if not node.local.remove_peer(url):
                raise UsageError(f"{url} is not a known peer (see `samizdat peers`)")
            return {"url": url, "removed": True}

        emit(run(with_node(action)), as_json, lambda d: f"Removed {d['url']}")
