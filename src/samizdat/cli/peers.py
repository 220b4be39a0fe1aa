"""``samizdat peers``: the nodes this one syncs with directly, on the LAN or added by hand."""

from __future__ import annotations

import time
from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, run, with_node
from samizdat.cli.render import ago
from samizdat.services import peers
from samizdat.services.context import Context


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return (
            "No peers yet. On a LAN, run `samizdat serve --lan`; or add one with `samizdat peers add ws://HOST:PORT`."
        )
    now = time.time()
    lines = []
    for r in rows:
        name = f" (“{r['name']}”{'' if r.get('name_verified') else ', announced, unverified'})" if r["name"] else ""
        lines.append(
            f"{r['url']}{name}  [{r['source']}, {r['state']}]  seen {ago(r['last_seen'], now)}, "
            f"synced {ago(r['last_sync'], now)}, {r['events_in']} in / {r['events_out']} out"
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

        async def action(node: Context) -> list[dict[str, Any]]:
            return peers.listing(node)

        emit(run(with_node(action)), as_json, _table)

    @peers_app.command("add")
    def peers_add(
        url: str = typer.Argument(..., metavar="URL", help="The peer's relay, ws://HOST:PORT."),
        as_json: bool = JsonOption,
    ) -> None:
        """Sync with this node whenever it is reachable (a running `serve` picks it up within seconds)."""
        url = peers.check_url(url)

        async def action(node: Context) -> dict[str, Any]:
            return {"url": url, "added": peers.add(node, url)}

        emit(run(with_node(action)), as_json, lambda d: ("Added " if d["added"] else "Already known: ") + d["url"])

    @peers_app.command("remove")
    def peers_remove(
        url: str = typer.Argument(..., metavar="URL", help="The peer's relay URL."), as_json: bool = JsonOption
    ) -> None:
        """Forget a peer (one found on the LAN comes back when it is seen again)."""

        async def action(node: Context) -> dict[str, Any]:
            return {"url": peers.remove(node, url), "removed": True}

        emit(run(with_node(action)), as_json, lambda d: f"Removed {d['url']}")
