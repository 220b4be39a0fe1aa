"""Posts on USB sticks and messenger attachments: export to bundle files, import them (every event verified)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from samizdat.core.filters import Filter
from samizdat.services import channels
from samizdat.services.context import Context
from samizdat.store.bundles import ExportReport, ImportReport, export_bundle, import_bundles


async def export(
    ctx: Context, output: Path, *, channel: str | None = None, since: int | None = None, max_part_bytes: int | None
) -> ExportReport:
    """Write the named channel's events (or everything) created since ``since`` to ``output`` and its parts."""
    filters = [Filter()] if channel is None else channels.scope(await channels.resolve(ctx, channel))
    if since is not None:
        filters = [dataclasses.replace(f, since=since) for f in filters]
    return await export_bundle(ctx.store, output, filters=filters, max_part_bytes=max_part_bytes, created_at=ctx.now())


async def import_files(ctx: Context, files: Sequence[Path]) -> ImportReport:
    """Verify and store the events of bundle files (parts in any order), through the running relay if any."""
    return await import_bundles(list(files), ctx.ingest, clock=ctx.clock)
