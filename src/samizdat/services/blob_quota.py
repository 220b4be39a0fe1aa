"""Photos and the carry quota: blobs carried for others count against ``[carry]`` bytes, and go before text.

A blob is **kept** (never dropped for the quota) when a post this node keeps references it (its own posts,
followed channels: :class:`~samizdat.core.carry.KeepRules`) or when someone uploaded it here (the operator or a
channel's poster, through Blossom). Every other blob is **carried**: it came with posts of channels this node only
passes on. Carried blob bytes and carried event bytes share the quota. When they exceed it, carried full-size images
go first (oldest first), then carried thumbnails, and only then text: the store's own carry pass gets the quota
minus the blob bytes still carried (services/upkeep.py). A blob whose every referencing post is gone (dropped,
deleted) and that nobody uploaded is an orphan and is removed at the start of each pass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from samizdat.core.carry import KeepRules
from samizdat.core.event import Event
from samizdat.services import blobs
from samizdat.services.context import Context

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BlobQuotaReport:
    carried_bytes: int  # blob bytes still carried for others after the pass
    evicted_full: int
    evicted_thumbs: int
    orphans: int


def _kept(event: Event, rules: KeepRules) -> bool:
    return rules.keeps(event.pubkey, event.kind, event.d_tag, event.tag_values("a")[:4])


#: A blob nothing references yet is left alone this long (a post is being written around it).
ORPHAN_GRACE = 3600


async def enforce(ctx: Context, rules: KeepRules, quota: int) -> BlobQuotaReport:
    """Remove orphans, then carried full images and thumbnails (oldest first) while carried blobs and carried
    events together exceed ``quota`` bytes. Raises StoreError."""
    store = blobs.blob_store(ctx)
    carried: list[tuple[bool, int, str, int]] = []  # (thumb, stored_at, sha256, size): full images sort first
    orphans = 0
    for entry in store.entries():
        if store.owners(entry.sha256):
            continue  # uploaded here: the uploader deletes it (BUD-12)
        posts = [e for e in [await ctx.store.get(i) for i in store.referenced_by(entry.sha256)] if e is not None]
        if not posts:
            if ctx.now() - entry.uploaded > ORPHAN_GRACE:
                store.delete(entry.sha256)
                orphans += 1
        elif not any(_kept(event, rules) for event in posts):
            carried.append((entry.thumb, entry.uploaded, entry.sha256, entry.size))
    carried_bytes = sum(size for *_, size in carried)
    evicted_full = evicted_thumbs = 0
    if carried and (await ctx.store.stats()).get("file_bytes", 0) + carried_bytes > quota:
        events = await ctx.store.carried_bytes(rules)  # one pass over the events: only when it may matter
        for thumb, _when, sha256, size in sorted(carried):
            if events + carried_bytes <= quota:
                break
            store.delete(sha256)
            carried_bytes -= size
            if thumb:
                evicted_thumbs += 1
            else:
                evicted_full += 1
    if evicted_full or evicted_thumbs:
        log.info("carry quota: dropped %d carried photos and %d thumbnails", evicted_full, evicted_thumbs)
    return BlobQuotaReport(carried_bytes, evicted_full, evicted_thumbs, orphans)
