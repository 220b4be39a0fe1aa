"""Commands that move posts between stores: ``sync`` with a relay or peer, ``export`` / ``import`` of bundles."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import sys
from pathlib import Path
from typing import Any

import typer

from samizdat.cli.common import JsonOption, ask_passphrase, emit, run, with_node
from samizdat.cli.render import plural
from samizdat.cli.timeparse import parse_since
from samizdat.core.bundle import MIN_PART_BYTES
from samizdat.core.display import field
from samizdat.errors import TransportError, UsageError
from samizdat.net import sync as netsync
from samizdat.services import bundles, channels
from samizdat.services.context import Context
from samizdat.services.sync import SYNC_TIMEOUT, sync_with


def _progress_bar(enabled: bool) -> tuple[Any, netsync.Progress | None]:
    """A progress bar on standard error, only when a person watches it (a terminal): a bar that is not drawn
    must not leave a blank line in front of the report."""
    if not enabled or not sys.stderr.isatty():
        return None, None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(transient=True, console=Console(stderr=True))
    tasks: dict[str, Any] = {}

    def update(phase: str, done: int, total: int) -> None:
        if phase not in tasks:
            tasks[phase] = bar.add_task(phase, total=total)
        bar.update(tasks[phase], completed=done, total=total)

    return bar, update


def register(app: typer.Typer) -> None:
    @app.command("sync")
    def sync_command(
        url: str = typer.Argument(
            ..., metavar="URL", help="Relay or peer, e.g. wss://relay.example or ws://192.168.1.20:4848."
        ),
        channel: str | None = typer.Option(
            None, metavar="CHANNEL", help="Only this channel's events (short name, naddr or address)."
        ),
        direction: str = typer.Option(
            "both", metavar="up|down|both", help="up (send ours), down (fetch theirs) or both."
        ),
        timeout: float = typer.Option(
            SYNC_TIMEOUT,
            metavar="SECONDS",
            help="Give up after this long (a relay that answers slowly for ever cannot hold the command).",
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """Reconcile with a relay or peer (NIP-77 Negentropy) and transfer exactly what differs."""
        if direction not in ("up", "down", "both"):
            raise UsageError("--direction must be up, down or both")
        if not 0 < timeout <= 86_400:
            raise UsageError("--timeout must be more than 0 and at most 86400 seconds (a day)")

        async def bounded(ctx: Context, filters: Any, progress: netsync.Progress | None) -> netsync.SyncReport:
            try:
                async with asyncio.timeout(timeout):
                    return await sync_with(ctx, url, filters, direction, progress)  # type: ignore[arg-type]
            except TimeoutError:
                raise TransportError(
                    f"the sync with {url} did not finish within {timeout:g} s and was stopped; what it had stored "
                    f"is kept (run it again to go on, or give a longer --timeout)"
                ) from None

        async def action(ctx: Context) -> netsync.SyncReport:
            filters = None if channel is None else await channels.scope_named(ctx, channel)
            bar, progress = _progress_bar(not as_json)
            if bar is None:
                return await bounded(ctx, filters, progress)
            with bar:
                return await bounded(ctx, filters, progress)

        report = run(with_node(action))
        emit(
            report.to_dict(),
            as_json,
            lambda r: (
                f"Synced with {r['relay']} ({r['direction']}, {r['method']}) in {r['seconds']} s: "
                f"they lacked {r['have']}, we lacked {r['need']}; sent {r['sent']}, received {r['received']}, "
                f"rejected {r['rejected']}; "
                f"{plural(r['round_trips'], 'round trip')}, {r['bytes_in']} bytes in, {r['bytes_out']} bytes out"
                + (f"; {plural(r['photos'], 'photo')} fetched" if r.get("photos") else "")
                + "".join(f"\n  {e}" for e in r["errors"])
            ),
        )

    @app.command("export")
    def export_command(
        output: Path = typer.Option(..., "-o", "--output", metavar="FILE", help="Bundle file to write."),
        channel: str | None = typer.Option(None, metavar="CHANNEL", help="Only this channel's events."),
        since: str | None = typer.Option(
            None,
            metavar="WHEN",
            help="Only events created since: a duration (2d: the last two days), a date-time, or Unix time.",
        ),
        max_size: str | None = typer.Option(
            None, "--max-size", metavar="SIZE", help="Split into parts of at most this size: 2MB, 500KB, 512KiB."
        ),
        seal: bool = typer.Option(
            False,
            "--seal",
            help="Ask for a passphrase and write parts that look like random bytes (no name, no magic, padded size).",
        ),
        as_json: bool = JsonOption,
    ) -> None:
        """Write posts to a bundle file for a USB stick or a messenger attachment."""
        limit = parse_part_size(max_size) if max_size else None

        async def action(ctx: Context) -> Any:
            start = parse_since(since, ctx.now()) if since is not None else None
            # Asked after the node's own passphrase, so that a passphrase source has the node's on its first line.
            secret = (
                ask_passphrase(
                    "Passphrase for the sealed bundle: ",
                    missing="--seal needs a passphrase for the bundle",
                    confirm=True,
                )
                if seal
                else None
            )
            if secret is not None and not secret:
                raise UsageError("an empty passphrase seals nothing; give one for the bundle")
            return await bundles.export(
                ctx, output, channel=channel, since=start, max_part_bytes=limit, passphrase=secret
            )

        report = run(with_node(action))
        emit(_as_dict(report), as_json, _export_text)

    @app.command("import")
    def import_command(
        files: list[Path] = typer.Argument(..., metavar="FILE", help="Bundle files (parts in any order)."),
        as_json: bool = JsonOption,
    ) -> None:
        """Verify and store the posts in bundle files; report new, duplicate and invalid counts."""

        async def action(ctx: Context) -> Any:
            secret = None
            if bundles.sealed(files):  # asked once, for every sealed file, after the node's own passphrase
                try:
                    # Empty (Enter, for a file that is not a bundle after all): as if none had been given.
                    secret = ask_passphrase("Passphrase of the sealed bundle: ", missing="a file is sealed") or None
                except UsageError:  # none to be had: each such file says it is not a bundle or needs one
                    secret = None
            return await bundles.import_files(ctx, files, passphrase=secret)

        report = run(with_node(action))
        emit(_as_dict(report), as_json, _import_text)
        troubles = [_trouble(f) for f in report.files if f.error is not None or not f.complete]
        if troubles:  # an unreadable or damaged file is an error, not a quiet "0 new"
            raise UsageError("; ".join(troubles))


def _export_text(d: dict[str, Any]) -> str:
    files = [str(f) for f in d["files"]]
    events = plural(d["events"], "event")
    if len(files) == 1:
        text = f"Exported {events} to {files[0]}"
    else:
        text = f"Exported {events} in {len(files)} parts: {', '.join(files)} (import them in any order)"
    if d["skipped"]:
        text += f"\n{plural(d['skipped'], 'event')} too large for a part left out"
    if d.get("blobs"):
        text += f"\nWith {plural(d['blobs'], 'photo')} ({d['blob_bytes']:,} bytes; thumbnails first)"
    if d.get("blobs_skipped"):
        text += f"\n{plural(d['blobs_skipped'], 'photo')} left out (not here, or too large for a part)"
    return text


def _import_text(d: dict[str, Any]) -> str:
    """The totals, one line per file when there are several, and the parts still missing. Why a file could not
    be read is said once, in the error that follows (see :func:`_trouble`)."""
    line = f"Imported: {d['new']} new, {d['duplicate']} duplicate, {d['invalid']} invalid"
    refused = d.get("refused") or {}  # over a limit every door applies: the relay's reason, with a count
    if d["rejected"] > sum(refused.values()):
        line += f", {d['rejected'] - sum(refused.values())} not kept (outdated, deleted or expired)"
    line += "".join(f", {n} refused ({reason})" for reason, n in refused.items())
    lines = [line]
    photos = sum(f.get("blobs", 0) for f in d["files"])
    refused_photos = [reason for f in d["files"] for reason in f.get("blobs_refused", [])]
    refused_count = sum(f.get("blobs_refused_count", 0) for f in d["files"])
    if photos or refused_count:
        lines.append(f"Photos: {photos} stored" + (f", {refused_count} refused" if refused_count else ""))
        lines += [f"  refused {reason}" for reason in refused_photos[:5]]
    if len(d["files"]) > 1:
        for f in d["files"]:
            if f["error"] is None and f["complete"]:
                # A file name on a stick is anyone's: an escape sequence in it would rewrite the terminal.
                lines.append(f"  {field(Path(f['path']).name)}{_part(f)}: {f['new']} new, {f['duplicate']} duplicate")
    for bundle, parts in d["missing_parts"].items():
        numbers = ", ".join(str(p) for p in parts)
        lines.append(
            f"Not among these files: {'part' if len(parts) == 1 else 'parts'} {numbers} of bundle "
            f"{bundle[:8]} (each part imports on its own)"
        )
    return "\n".join(lines)


def _part(f: dict[str, Any]) -> str:
    if f.get("part") is None or not f.get("total_parts") or f["total_parts"] == 1:
        return ""
    return f" (part {f['part']} of {f['total_parts']})"


def _trouble(f: Any) -> str:
    """One file's trouble, in one clause that starts with a word of ours (a file name keeps its case)."""
    name = field(Path(f.path).name)
    if f.error is not None:
        saved = f"; {plural(f.new, 'event')} before the damage imported" if f.new else ""
        return f"cannot import {name}: {f.error}{saved}"
    if not f.problems:  # intact, but some events' signatures or ids do not verify: altered on the way
        were = "was" if f.invalid == 1 else "were"
        return f"in {name}, {plural(f.invalid, 'event')} failed verification and {were} not imported"
    lost = f"{plural(f.invalid, 'event')} lost" if f.invalid else "nothing lost"
    return f"the bundle {name} is damaged ({f.problems[0]}): {plural(f.new, 'event')} imported, {lost}"


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
    for name in ("new", "duplicate", "invalid", "rejected", "refused", "missing_parts"):
        if name not in data and hasattr(report, name):
            data[name] = _jsonable(getattr(report, name))
    return data


_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmg]?i?b?)?\s*$", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``2MB`` → 2,000,000; ``512KiB`` → 524,288; a bare number is bytes. Units in any case, with or without a
    space: KB, MB and GB are powers of 1000, KiB, MiB and GiB powers of 1024."""
    match = _SIZE.match(text)
    if not match:
        raise UsageError(f"{text!r} is not a size such as 2MB, 500KB or 512KiB")
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
        raise UsageError(f"{text!r} is not a size such as 2MB, 500KB or 512KiB")
    return int(number * scale)


def parse_part_size(text: str) -> int:
    """``--max-size``: a size (see :func:`parse_size`) a bundle part can have."""
    size = parse_size(text)
    if size < MIN_PART_BYTES:
        raise UsageError(
            f"--max-size {text.strip()} is {size} bytes; a part needs at least {MIN_PART_BYTES} bytes "
            f"(4KiB; a KB is 1000 bytes, a KiB 1024)"
        )
    return size
