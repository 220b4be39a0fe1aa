"""``samizdat areas`` (what background sync fetches whole, and the person's choices) and ``samizdat follows``
(the encrypted backup of the follow list)."""

from __future__ import annotations

from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, run, with_node
from samizdat.core.relaylist import check_relay_url
from samizdat.services import areas, follows, status
from samizdat.services.context import Context


def _areas_text(d: dict[str, Any]) -> str:
    if not d["private"]:
        return "Private reading is off ([sync] private = false): every channel is fetched by channel."
    lines = [f"{a['cell']}: {a['channels']} followed channel(s), from {', '.join(a['relays']) or 'no relay'}"
             for a in d["areas"]] or ["No area is fetched whole yet."]  # fmt: skip
    lines += [f"! {line}" for line in d["over_budget"]]
    lines += [f"- {line}" for line in d["by_channel"]]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    areas_app = typer.Typer(
        help="Areas that background sync fetches whole, so relays learn the area, not the channels you follow.",
        invoke_without_command=True,
    )
    app.add_typer(areas_app, name="areas")

    @areas_app.callback()
    def areas_list(ctx: typer.Context, as_json: bool = JsonOption) -> None:
        """List the areas fetched whole, those too large for the budget, and what is fetched by channel and why."""
        if ctx.invoked_subcommand is not None:
            return

        async def action(node: Context) -> dict[str, Any]:
            return (await status.document(node, detail=True))["reading"]  # type: ignore[no-any-return]

        emit(run(with_node(action)), as_json, _areas_text)

    @areas_app.command("by-channel")
    def areas_by_channel(
        cell: str = typer.Argument(..., metavar="CELL", help="The area's geohash cell, e.g. u9ed."),
        as_json: bool = JsonOption,
    ) -> None:
        """Fetch an area too large to fetch whole channel by channel instead: its relays then learn which channels
        you follow there."""

        async def action(node: Context) -> dict[str, Any]:
            return {"area": cell, "by_channel": True, "changed": areas.choose_by_channel(node, cell, True)}

        emit(run(with_node(action)), as_json, lambda d: f"Area {d['area']} is now fetched channel by channel.")

    @areas_app.command("whole")
    def areas_whole(
        cell: str = typer.Argument(..., metavar="CELL", help="The area's geohash cell, e.g. u9ed."),
        as_json: bool = JsonOption,
    ) -> None:
        """Fetch an area whole again (the default)."""

        async def action(node: Context) -> dict[str, Any]:
            return {"area": cell, "by_channel": False, "changed": areas.choose_by_channel(node, cell, False)}

        emit(run(with_node(action)), as_json, lambda d: f"Area {d['area']} is fetched whole.")

    follows_app = typer.Typer(
        help="The channels you follow are never published; these keep an encrypted copy on a relay.",
        no_args_is_help=True,
    )
    app.add_typer(follows_app, name="follows")

    @follows_app.command("backup")
    def follows_backup(
        relay: str = typer.Argument(..., metavar="RELAY_URL", help="The relay to keep the backup, wss://..."),
        as_json: bool = JsonOption,
    ) -> None:
        """Write the follow list to RELAY_URL, encrypted to this node's own key (NIP-44, a NIP-51 private list).
        The relay sees your key, when, and roughly how long the list is; never what is in it."""
        url = check_relay_url(relay)

        async def action(node: Context) -> dict[str, Any]:
            return await follows.backup(node, url)

        emit(
            run(with_node(action)), as_json,
            lambda d: f"Backed up {d['channels']} channel(s) and {d['verifiers']} verifier(s) to {d['relay']}, "
            "encrypted to this node's key.",
        )  # fmt: skip

    @follows_app.command("restore")
    def follows_restore(
        relay: str = typer.Argument(..., metavar="RELAY_URL", help="The relay holding the backup, wss://..."),
        as_json: bool = JsonOption,
    ) -> None:
        """Read this key's follows backup from RELAY_URL, decrypt it and follow what it lists."""
        url = check_relay_url(relay)

        async def action(node: Context) -> dict[str, Any]:
            return await follows.restore(node, url)

        emit(
            run(with_node(action)), as_json,
            lambda d: f"Restored from {d['relay']}: {d['channels']} channel(s), {d['verifiers']} verifier(s); "
            f"{d['added']} newly followed.",
        )  # fmt: skip
