"""Photos and the carry quota: blobs carried for others count against ``[carry]`` bytes, and go before text.

A blob is **kept** (never dropped for the quota) when a post this node keeps references it (its own posts,
followed channels: :class:`~samizdat.core.carry.KeepRules`) or when someone uploaded it here (the operator or a
channel's poster, through Blossom). Every other blob is **carried**: it came with posts of channels this node only
passes on. Carried blob bytes and carried event bytes share the quota. When they exceed it, carried full-size images
go first (oldest first), then carried thumbnails, and only then text: the store's own carry pass gets the quota
minus the blob bytes still carried (services/upkeep.py). A blob that no stored post references an hour after it
came (:data:`ORPHAN_GRACE`: its posts dropped or deleted, or never written) is an orphan and is removed at the
start of each pass, **uploaded or not**: a photo someone uploaded from a phone and then did not post would
otherwise wait on the node's disk, with the key that sent it and the time it came, for whoever takes the node (a
hub runs without a passphrase: docs/safety.md, "Red team, round 4b"). A posted upload stays until its uploader
deletes it (BUD-12) or its post is withdrawn.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from samizdat.core.carry import KeepRules
from samizdat.core.event import Event
from samizdat.services import blob_travel, blobs
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


#: A blob nothing references yet is left alone this long (a post is being written around it, or is on its way
#: from the phone or the LAN peer that uploaded its photo first).
ORPHAN_GRACE = 3600


async def enforce(ctx: Context, rules: KeepRules, quota: int) -> BlobQuotaReport:
    """Note the posts stored since the last pass (blob_travel.catch_up), remove orphans, then carried full images
    and thumbnails (oldest first) while carried blobs and carried events together exceed ``quota`` bytes. Raises
    StoreError."""
    store = blobs.blob_store(ctx)
    carried: list[tuple[bool, int, str, int]] = []  # (thumb, stored_at, sha256, size): full images sort first
    orphans = 0
    # An upload is removed only when every stored post was looked at for the photos it names (a backlog of
    # thousands of posts from a sync is read SCAN_MAX at a time): a posted photo is never taken for an unposted one.
    await blob_travel.catch_up(ctx)
    noted = int(store.meta(blob_travel.CURSOR, "0") or 0) >= await ctx.store.last_seq()
    for entry in store.entries():
        posts = [e for e in [await ctx.store.get(i) for i in store.referenced_by(entry.sha256)] if e is not None]
        if not posts:
            if not noted and store.owners(entry.sha256):
                continue  # perhaps posted in what is not read yet: the next pass
            if ctx.now() - entry.uploaded > ORPHAN_GRACE:
                store.delete(entry.sha256)  # an upload too: never posted, it is nobody's news (above)
                orphans += 1
        elif store.owners(entry.sha256):
            continue  # uploaded here and posted: the uploader deletes it (BUD-12)
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
