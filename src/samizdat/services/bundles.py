"""Posts on USB sticks and messenger attachments: export to bundle files, import them (every event verified)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from samizdat.core.bundle_blobs import BundledBlob
from samizdat.core.filters import Filter
from samizdat.services import blob_travel, blobs, channels
from samizdat.services.context import Context
from samizdat.store.bundles import ExportReport, ImportReport, export_bundle, import_bundles, looks_sealed


async def export(
    ctx: Context,
    output: Path,
    *,
    channel: str | None = None,
    since: int | None = None,
    max_part_bytes: int | None,
    passphrase: str | None = None,
) -> ExportReport:
    """Write the named channel's events (or everything) created since ``since`` to ``output`` and its parts, with
    the photos they reference that this node has (thumbnails first, then full images, each within a part);
    sealed under ``passphrase`` when one is given (docs/bundle-format.md, "Sealed parts")."""
    filters = [Filter()] if channel is None else channels.scope(await channels.resolve(ctx, channel))
    if since is not None:
        filters = [dataclasses.replace(f, since=since) for f in filters]
    store = blobs.blob_store(ctx)

    def load(sha256: str) -> BundledBlob | None:  # in the export's worker thread: reads one file
        entry = store.entry(sha256)
        data = store.get(sha256) if entry is not None else None
        return None if entry is None or data is None else BundledBlob(sha256, entry.type, entry.thumb, data)

    return await export_bundle(ctx.store, output, filters=filters, max_part_bytes=max_part_bytes, created_at=ctx.now(),
                               blobs=load, passphrase=passphrase)  # fmt: skip


def sealed(files: Sequence[Path]) -> list[Path]:
    """The files among ``files`` that need a passphrase to import (they do not start like a plain bundle)."""
    return [f for f in files if looks_sealed(f)]


async def import_files(ctx: Context, files: Sequence[Path], *, passphrase: str | None = None) -> ImportReport:
    """Verify and store the events of bundle files (parts in any order), through the running relay if any; the
    photos they carry are checked like uploads (hash, image, metadata) and stored. Sealed files are opened with
    ``passphrase``."""

    async def take(blob: BundledBlob) -> str | None:
        try:
            await blobs.store_blob(ctx, blob.data, blob.mime, thumb=blob.thumb, expected_sha256=blob.sha256)
        except blobs.BlobRefused as exc:
            return str(exc)
        return None

    report = await import_bundles(list(files), ctx.ingest, clock=ctx.clock, take_blob=take, passphrase=passphrase)
    await blob_travel.catch_up(ctx)  # the imported posts' references (and retractions) are noted
    return report
