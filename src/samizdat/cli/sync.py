"""Commands that move posts between stores: ``sync`` with a relay or peer, ``export`` / ``import`` of bundles."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, run, with_node
from samizdat.cli.render import plural
from samizdat.cli.timeparse import parse_since
from samizdat.errors import UsageError
from samizdat.net import sync as netsync
from samizdat.services import bundles, channels
from samizdat.services.context import Context
from samizdat.services.sync import sync_with


def _progress_bar(enabled: bool) -> tuple[Any, netsync.Progress | None]:
    if not enabled:
        return None, None
    from rich.progress import Progress

    bar = Progress(transient=True)
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    return bar, update


def register(app: typer.Typer) -> None:
    @app.command("sync")
    def sync_command(
        url: str = typer.Argument(..., help="Relay or peer, e.g. wss://relay.example or ws://192.168.1.20:4848"),
        channel: str | None = typer.Option(None, help="Only this channel's events (short name, naddr or address)."),
        direction: str = typer.Option("both", help="up (send ours), down (fetch theirs) or both."),
        as_json: bool = JsonOption,
    ) -> None:
        """Reconcile with a relay or peer (NIP-77 Negentropy) and transfer exactly what differs."""
        if direction not in ("up", "down", "both"):
            raise UsageError("--direction must be up, down or both")

        async def action(ctx: Context) -> netsync.SyncReport:
            filters = None if channel is None else await channels.scope_named(ctx, channel)
            bar, progress = _progress_bar(not as_json)
            if bar is None:
                return await sync_with(ctx, url, filters, direction, progress)  # type: ignore[arg-type]
            with bar:
                return await sync_with(ctx, url, filters, direction, progress)  # type: ignore[arg-type]

        report = run(with_node(action))
        emit(
            report.to_dict(),
            as_json,
            lambda r: (
                f"Synced with {r['relay']} ({r['direction']}) in {r['seconds']} s: they lacked {r['have']}, "
                f"we lacked {r['need']}; sent {r['sent']}, received {r['received']}, rejected {r['rejected']}; "
                f"{plural(r['round_trips'], 'round trip')}, {r['bytes_in']} bytes in, {r['bytes_out']} bytes out"
                + "".join(f"\n  {e}" for e in r["errors"])
            ),
        )

    @app.command("export")
    def export_command(
        output: Path = typer.Option(..., "-o", "--output", help="Bundle file to write."),
        channel: str | None = typer.Option(None, help="Only this channel's events."),
        since: str | None = typer.Option(
            None, help="Only events created since: a duration (2d: the last two days), a date-time, or Unix time."
        ),
        max_size: str | None = typer.Option(None, "--max-size", help="Split into parts of at most this size (2MB)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Write posts to a bundle file for a USB stick or a messenger attachment."""
        limit = parse_size(max_size) if max_size else None

        async def action(ctx: Context) -> Any:
            start = parse_since(since, ctx.now()) if since is not None else None
            return await bundles.export(ctx, output, channel=channel, since=start, max_part_bytes=limit)

        report = run(with_node(action))
        data = _as_dict(report)
        emit(
            data,
            as_json,
            lambda d: (
                f"Exported {d.get('events', '?')} events to " + ", ".join(str(p) for p in d.get("files", [output]))
            ),
        )

    @app.command("import")
    def import_command(
        files: list[Path] = typer.Argument(..., help="Bundle files (parts may be given in any order)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Verify and store the posts in bundle files; report new, duplicate and invalid counts."""
        async def action(ctx: Context) -> Any:
            return await bundles.import_files(ctx, files)

        report = run(with_node(action))
        data = _as_dict(report)
        emit(data, as_json, _import_text)
        failed = [f for f in report.files if f.error is not None]
        if failed:  # a file that could not be read at all is an error, not a quiet "0 new"
            first = failed[0]
            raise UsageError(
                f"{len(failed)} of {len(report.files)} file(s) could not be imported; {first.path}: {first.error}"
            )


def _import_text(d: dict[str, Any]) -> str:
    lines = [f"Imported: {d.get('new', 0)} new, {d.get('duplicate', 0)} duplicate, {d.get('invalid', 0)} invalid"]
    for f in d.get("files", []):
        if isinstance(f, dict) and f.get("error"):
            lines.append(f"  {f.get('path')}: {f['error']}")
    return "\n".join(lines)


def _jsonable(value: Any) -> Any:
    """Reports hold paths, tuples and counters: turn them into what JSON (and the text views) can show."""
    if isinstance(value, Path):
        return str(value)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _as_dict(report: Any) -> dict[str, Any]:
    if hasattr(report, "to_dict"):
        return dict(report.to_dict())
    data = _jsonable(report)
    if not isinstance(data, dict):
        raise TypeError(f"cannot show a {type(report).__name__}")
    # An import report's totals are properties, not fields.
    for name in ("new", "duplicate", "invalid", "rejected", "missing_parts"):
        if name not in data and hasattr(report, name):
            data[name] = _jsonable(getattr(report, name))
    return data


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?i?b?)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``2MB`` → 2,000,000; ``512KiB`` → 524,288; a bare number is bytes."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"{text!r} is not a size such as 2MB or 500KB")
    number, unit = float(match.group(1)), (match.group(2) or "").lower()
    scale = {
        "": 1,
        "b": 1,
        "k": 1000,
        "kb": 1000,
        "kib": 1024,
        "ki": 1024,
        "m": 10**6,
        "mb": 10**6,
        "mib": 2**20,
        "mi": 2**20,
        "g": 10**9,
        "gb": 10**9,
        "gib": 2**30,
        "gi": 2**30,
    }.get(unit)
    if scale is None:
        raise UsageError(f"{text!r} is not a size such as 2MB or 500KB")
    return int(number * scale)
