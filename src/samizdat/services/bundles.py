"""Posts on USB sticks and messenger attachments: export to bundle files, import them (every event verified)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path

from samizdat.core import kinds
from samizdat.core.bundle_blobs import BundledBlob
from samizdat.core.channel import Channel
from samizdat.core.event import Event
from samizdat.core.fairshare import fair_order
from samizdat.core.filters import Filter
from samizdat.services import blob_travel, blobs, channels
from samizdat.services.context import Context
from samizdat.store.bundles import ExportReport, ImportReport, export_bundle, import_bundles, looks_sealed

#: A channel's posts written first in an export, in the channel's fair order (the web app's bundle holds as many).
FAIR_HEAD = 3000


async def fair_head(ctx: Context, channel: Channel, since: int | None) -> list[Event]:
    """The channel's posts an export writes first: each of its keys' newest read apart (the owner's
    :data:`FAIR_HEAD`, the others' a share of four times as many, at most as many each), then
    at most :data:`FAIR_HEAD` of them in the fair order (core/fairshare.py: the owner's alerts first, then each
    author's newest in turn). Parts of an export travel alone (a messenger's attachment limit, a small stick):
    written newest first, a seized admin key's flood filled the first parts and the owner's alerts came last."""
    naming = (("a", frozenset({channel.address})),)
    keys = sorted({channel.owner, *channel.admins, *channel.revoked})
    share = min(FAIR_HEAD, max(100, 4 * FAIR_HEAD // len(keys)))  # a hundred admins: not 300,000 posts in memory
    wanted = [Filter(kinds=frozenset({kinds.POST}), authors=frozenset({k}), tags=naming, since=since,
                     limit=FAIR_HEAD if k == channel.owner else share) for k in keys]  # fmt: skip
    posts = {e.id: e for e in await ctx.store.query(wanted)}
    return fair_order(posts.values(), channel.address)[:FAIR_HEAD]


_DELETIONS = frozenset({kinds.DELETION})
#: A channel's export carries at most this many deletion requests of its keys (the newest).
MAX_DELETIONS = 5000
_IDS_AT_ONCE = 1000


async def own_deletions(ctx: Context, channel: Channel, since: int | None) -> list[Event]:
    """The deletion requests of the channel's keys that concern the channel: one that deletes its definition, a
    post of it that is still stored, or a post that one of its stored events names (the retraction that went
    with it: the post itself left the store). The channel's keys also delete in other channels (an owner's second
    channel, a channel they are an admin of, a vouch they withdrew), and such a request carries its reason, the
    id it deletes and that channel's area: a channel's bundle used to carry them all, and told whoever held the
    stick of the others (red team, round 7b: docs/safety.md). Newest first, :data:`MAX_DELETIONS` at most."""
    keys = frozenset({channel.owner, *channel.admins, *channel.revoked})
    wanted = Filter(kinds=_DELETIONS, authors=keys, since=since, limit=MAX_DELETIONS)
    requests = await ctx.store.query([wanted])
    targets = {t for e in requests for t in e.tag_values("e")}
    ours: set[str] = set()
    naming = ("a", frozenset({channel.address}))
    pending = sorted(targets)
    for start in range(0, len(pending), _IDS_AT_ONCE):
        chunk = frozenset(pending[start : start + _IDS_AT_ONCE])
        stored = await ctx.store.query([Filter(ids=chunk, tags=(naming,), limit=len(chunk))])
        ours |= {e.id for e in stored}
        naming_them = await ctx.store.query([Filter(tags=(naming, ("e", chunk)), limit=MAX_DELETIONS)])
        ours |= {t for e in naming_them for t in e.tag_values("e") if t in chunk}
    return [e for e in requests if channel.address in e.tag_values("a") or ours & set(e.tag_values("e"))]


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
    sealed under ``passphrase`` when one is given (docs/bundle-format.md, "Sealed parts"). A named channel's
    definition comes first, then its posts in its fair order (:func:`fair_head`), then the rest, newest first."""
    named = None if channel is None else await channels.resolve(ctx, channel)
    filters = [Filter()] if named is None else [f for f in channels.scope(named) if f.kinds != _DELETIONS]
    first = [] if named is None else [named.event, *await fair_head(ctx, named, since)]  # a part alone can be read
    if named is not None:
        first += await own_deletions(ctx, named, since)
    if since is not None:
        filters = [dataclasses.replace(f, since=since) for f in filters]
    store = blobs.blob_store(ctx)

    def load(sha256: str) -> BundledBlob | None:  # in the export's worker thread: reads one file
        entry = store.entry(sha256)
        data = store.get(sha256) if entry is not None else None
        return None if entry is None or data is None else BundledBlob(sha256, entry.type, entry.thumb, data)

    return await export_bundle(ctx.store, output, filters=filters, max_part_bytes=max_part_bytes, created_at=ctx.now(),
                               blobs=load, passphrase=passphrase, first=first)  # fmt: skip


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
