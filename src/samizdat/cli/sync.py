"""Commands that move posts between stores: ``sync`` with a relay or peer, ``export`` / ``import`` of bundles,
and the background sync loop that ``serve`` runs for followed channels."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import re
from pathlib import Path
from typing import Any

import typer

from samizdat.cli.common import JsonOption, emit, run, with_node
from samizdat.cli.timeparse import parse_since
from samizdat.core.backoff import backoff_delay
from samizdat.core.filters import Filter
from samizdat.errors import SamizdatError, UsageError
from samizdat.net import sync as netsync
from samizdat.node import Node

log = logging.getLogger(__name__)


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


async def sync_scope(
    node: Node, url: str, filters: list[Filter], direction: netsync.Direction, progress: netsync.Progress | None = None
) -> netsync.SyncReport:
    client = await node.connect(url)
    try:
        return await netsync.sync(
            client, node.store, filters, direction=direction, ingest=node.ingest, progress=progress
        )
    finally:
        await client.close()


def register(app: typer.Typer) -> None:
    @app.command("sync")
    def sync_command(
        url: str = typer.Argument(..., help="Relay or peer, e.g. wss://relay.example or ws://192.168.1.20:4848"),
        channel: str | None = typer.Option(None, help="Only this channel's events (naddr, address or own id)."),
        direction: str = typer.Option("both", help="up (send ours), down (fetch theirs) or both."),
        as_json: bool = JsonOption,
    ) -> None:
        """Reconcile with a relay or peer (NIP-77 Negentropy) and transfer exactly what differs."""
        if direction not in ("up", "down", "both"):
            raise UsageError("--direction must be up, down or both")

        async def action(node: Node) -> netsync.SyncReport:
            filters = [Filter()]
            if channel is not None:
                filters = await _sync_scope(node, channel)
            bar, progress = _progress_bar(not as_json)
            if bar is None:
                return await sync_scope(node, url, filters, direction, progress)  # type: ignore[arg-type]
            with bar:
                return await sync_scope(node, url, filters, direction, progress)  # type: ignore[arg-type]

        report = run(with_node(action))
        emit(
            report.to_dict(),
            as_json,
            lambda r: (
                f"Synced with {r['relay']} ({r['direction']}) in {r['seconds']} s: they lacked {r['have']}, "
                f"we lacked {r['need']}; sent {r['sent']}, received {r['received']}, rejected {r['rejected']}; "
                f"{r['round_trips']} round trips, {r['bytes_in']} bytes in, {r['bytes_out']} bytes out"
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
        from samizdat.cli.channels import channel_scope, resolve_channel
        from samizdat.store.bundles import export_bundle

        limit = parse_size(max_size) if max_size else None

        async def action(node: Node) -> Any:
            filters = [Filter()]
            if channel is not None:
                filters = channel_scope(await resolve_channel(node, channel))
            if since is not None:
                start = parse_since(since, node.now())
                filters = [dataclasses.replace(f, since=start) for f in filters]
            return await export_bundle(node.store, output, filters=filters, max_part_bytes=limit, created_at=node.now())

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
        from samizdat.store.bundles import import_bundles

        async def action(node: Node) -> Any:
            return await import_bundles(files, node.ingest)

        report = run(with_node(action))
        data = _as_dict(report)
        emit(data, as_json, _import_text)
        failed = [f for f in report.files if f.error is not None]
        if failed:  # a file that could not be read at all is an error, not a quiet "0 new"
            first = failed[0]
            raise UsageError(
                f"{len(failed)} of {len(report.files)} file(s) could not be imported; {first.path}: {first.error}"
            )


async def _sync_scope(node: Node, text: str) -> list[Filter]:
    """What ``sync --channel`` moves: the channel's events; for a channel we follow but do not have yet (its
    definition is what the sync is to fetch), everything that names its address."""
    from samizdat.cli.channels import _address_of, channel_scope, lookup_channel, resolve_channel

    address = _address_of(node, text)
    found = await lookup_channel(node, address)
    if found is not None:
        return channel_scope(found)
    if address.split(":")[1] == node.key.public_key_hex:
        await resolve_channel(node, text)  # one of our own that does not exist: says so
    return channel_scope_from_address(address)


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


async def background_sync(node: Node) -> None:
    """Keep followed and own channels in step with their mirrors (and hints): each (relay, channel) on its own
    schedule, exponential backoff after failures, progress recorded in the node's local state."""
    from samizdat.cli.channels import channel_scope, lookup_channel

    while True:
        now = node.clock()
        scopes = node.local.follows()
        for address in await node.own_channels():  # our own channels too: posts made from phones reach mirrors
            scopes.setdefault(address, [])
        for address, hints in scopes.items():
            channel = await lookup_channel(node, address)
            relays = list(dict.fromkeys([*hints, *(channel.mirrors if channel else ())]))
            filters = channel_scope(channel) if channel else channel_scope_from_address(address)
            for relay in relays:
                row = node.local.sync_row(relay, address)
                if row is not None and row.next_attempt > now:
                    continue
                try:
                    report = await asyncio.wait_for(sync_scope(node, relay, filters, "both"), 600)
                except (SamizdatError, TimeoutError, OSError) as exc:
                    failures = (row.failures if row else 0) + 1
                    delay = backoff_delay(
                        failures - 1, base=30, cap=node.config.sync_interval * 4, random=random.random
                    )
                    node.local.record_sync(
                        relay,
                        address,
                        now=now,
                        ok=False,
                        next_attempt=now + delay,
                        summary={"error": str(exc) or type(exc).__name__},
                    )
                    log.info("sync of %s with %s failed: %s", address, relay, exc)
                    continue
                node.local.record_sync(
                    relay,
                    address,
                    now=now,
                    ok=True,
                    next_attempt=now + node.config.sync_interval,
                    summary=report.to_dict(),
                )
        await asyncio.sleep(min(30.0, node.config.sync_interval))


def channel_scope_from_address(address: str) -> list[Filter]:
    """Before we know a channel's definition, fetch it and everything that points at it."""
    kind, owner, identifier = address.split(":", 2)
    return [
        Filter(kinds=frozenset({int(kind)}), authors=frozenset({owner}), tags=(("d", frozenset({identifier})),)),
        Filter(tags=(("a", frozenset({address})),)),
    ]
