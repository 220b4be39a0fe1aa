"""Photos travel with posts: the blobs that stored posts reference are fetched, checked and stored.

Theory of operation. Whatever door a post came in by (the relay, ``samizdat sync``, background sync, a LAN peer,
a bundle), it ends up in the event store. :func:`catch_up` reads the store's new events in insertion order from
a cursor kept in the blob index, and notes each one (:func:`samizdat.services.blobs.note_stored`): a post's
``imeta`` hashes become references, a retraction drops them. :func:`fetch_missing` then fetches the referenced
blobs this node lacks, thumbnails first, trying in order the sources it is given (the node or relay the posts came
from: Samizdat nodes serve Blossom on their relay port), the ``imeta`` url itself when it is on one of the
channel's media servers (never a server only the post names: :func:`_candidates`), and the channel's media
servers. Each blob is checked like an upload (SHA-256 against the reference, then
:func:`~samizdat.services.blobs.check_image`) and stored encrypted. A blob no source has is tried again later,
with a delay that doubles (kept in the index).

A pass is bounded in blobs, bytes and seconds (:class:`Bounds`), so a channel full of photos cannot hold a sync
for long or fill the disk in one go; the next pass goes on where this one stopped. The byte bound counts every byte
a source sent, kept or not: a source (the relay synced with may be the police's) that answers every photo with
2 MB of other bytes made one pass read 80 MB, five times the bound, all refused. A source that used up the time
given (it dribbles, or a censor blackholes it), or sent as many bytes that were not the photos asked for as one
photo may weigh, is asked nothing more in that pass: the next sources are (the channel's media servers), which a
lying relay first in line kept waiting a fetch's whole timeout for each photo (a pass brought 6 of 40 photos). One
corrupt copy of a photo costs its source nothing more.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from samizdat.core import kinds
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.imeta import PhotoRef, photo_refs
from samizdat.core.posts import parse_post
from samizdat.errors import SamizdatError
from samizdat.net import blobfetch
from samizdat.services import blobs, channels
from samizdat.services.context import Context

log = logging.getLogger(__name__)

#: Events read from the store per step of a catch-up. Each is parsed: 2,000 events of 2,000 short tags were 680 MB
#: at once, after a sync from a relay that sent such events (red-team finding); 200 are at most 70 MB.
SCAN_BATCH = 200
SCAN_MAX = 100_000  #: events one catch-up scans at most (the next one goes on)
MISS_DELAY = 600.0  #: seconds before a blob no source had is tried again (doubling, up to a day)
CURSOR = "scanned_seq"
#: The kinds :func:`samizdat.services.blobs.note_stored` acts on: posts (photos, retractions) and NIP-09 deletions.
#: Others are skipped by the store without being read or parsed (a relay stores mostly other kinds: reading every
#: event back cost about 10 µs of CPU each).
NOTED_KINDS = frozenset({kinds.POST, kinds.DELETION})


@dataclass(frozen=True, slots=True)
class Bounds:
    """What one pass may fetch at most."""

    count: int = 40
    bytes: int = 16 * 1024 * 1024
    seconds: float = 120.0
    per_fetch_seconds: float = 30.0


@dataclass
class TravelReport:
    fetched: int = 0
    bytes: int = 0
    refused: list[str] = field(default_factory=list)  # "hash: reason" for blobs that came but were refused
    missing: int = 0  # referenced blobs still not here after the pass

    def to_dict(self) -> dict[str, object]:
        return {"fetched": self.fetched, "bytes": self.bytes, "refused": self.refused, "missing": self.missing}


async def catch_up(ctx: Context) -> int:
    """Note every event stored since the last catch-up (references, retractions), up to :data:`SCAN_MAX` of them
    scanned; return how many posts and deletions were noted."""
    store = blobs.blob_store(ctx)
    cursor = int(store.meta(CURSOR, "0") or 0)
    seen, saved = 0, cursor
    for _step in range(SCAN_MAX // SCAN_BATCH):
        last, batch, _ = await ctx.store.scan_kinds(cursor, SCAN_BATCH, NOTED_KINDS)
        if last == cursor:
            break
        for _seq, event in batch:
            await blobs.note_stored(ctx, event)
        seen += len(batch)
        cursor = last
        if batch:  # what was noted is kept; a run of other kinds is saved once, at the end
            store.set_meta(CURSOR, str(cursor))
            saved = cursor
    if cursor != saved:
        store.set_meta(CURSOR, str(cursor))
    return seen


def _candidates(ref: PhotoRef, sha256: str, sources: Sequence[str], media: Sequence[str]) -> list[str]:
    """URLs to try for ``sha256`` (the photo ``ref`` or its thumbnail), in order."""
    ext = "webp" if ref.mime == "image/webp" else ""
    name = f"{sha256}.{ext}" if ext else sha256
    urls = [f"{base.rstrip('/')}/{name}" for base in sources]
    own = ref.url if sha256 == ref.sha256 else ref.thumb_url
    # A post's own url only on one of the channel's media servers: any poster of the channel (an admin whose key
    # the police hold among them) could otherwise name a server of their own, and learn the address of every hub
    # and mirror that carries the post, and when it got it.
    own_ok = _origin(own) in {_origin(server) for server in media}
    named = [*([own] if own_ok else []), *(f"{server.rstrip('/')}/{name}" for server in media)]  # not trusted
    urls += [url for url in named if blobfetch.may_follow(url)]
    return list(dict.fromkeys(urls))


def _origin(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of an absolute http(s) URL, or None."""
    try:
        parts = urlsplit(url)
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    except ValueError:
        return None
    host = (parts.hostname or "").rstrip(".").lower()
    if parts.scheme not in ("http", "https") or not host:
        return None
    return parts.scheme, host, port


async def _media_servers(ctx: Context, event_id: str, cache: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
    event = await ctx.store.get(event_id)
    if event is None:
        return ()
    try:
        address = parse_post(event).channel
    except SamizdatError:
        return ()
    if address not in cache:
        channel = await channels.lookup(ctx, address)
        cache[address] = channel.media if channel is not None else ()
    return cache[address]


async def fetch_missing(
    ctx: Context, sources: Sequence[str] = (), bounds: Bounds | None = None, scope: Sequence[Filter] | None = None
) -> TravelReport:
    """Fetch referenced blobs this node lacks from ``sources`` (HTTP bases such as ``http://host:port``), the
    imeta urls and the channels' media servers, within ``bounds``. Thumbnails come before full images.

    ``scope``: only the photos of posts these filters match (those of a sync with ``sources``). Asking a relay for
    a photo tells it that we hold the post: over the filters just synced it learnt our ids anyway, but a post from
    elsewhere (another channel's mirror, a peer, a bundle) is none of its business: fetched from every relay synced
    with, a channel read privately (by area, from another relay) was named, photo by photo, to each."""
    bounds = bounds or Bounds()
    store = blobs.blob_store(ctx)
    report = TravelReport()
    started = time.monotonic()
    wanted = store.missing(ctx.clock(), (10 if scope is None else 100) * bounds.count)
    plan: list[tuple[bool, str, PhotoRef, str]] = []  # (full image?, sha256, ref, event id)
    for sha256, event_id in wanted:
        event = await ctx.store.get(event_id)
        if event is None:  # expired, evicted or deleted since: its references go, or they would fill `wanted`
            store.drop_refs(event_id)
            continue
        if scope is not None and not any(f.matches(event) for f in scope):
            continue  # left for the loop, which asks peers, the post's own url and the channel's media servers
        ref = next((r for r in photo_refs(event) if sha256 in (r.sha256, r.thumb_sha256)), None)
        if ref is None:
            store.missed(sha256, ctx.clock(), MISS_DELAY)
            continue
        plan.append((sha256 != ref.thumb_sha256, sha256, ref, event_id))
    plan.sort(key=lambda item: item[0])  # thumbnails first; sort is stable, so oldest post first within each
    media_cache: dict[str, tuple[str, ...]] = {}
    spent = 0  # bytes received from every source, kept or refused
    shunned: set[tuple[str, str, int | None] | None] = set()  # sources asked nothing more in this pass
    wasted: dict[tuple[str, str, int | None] | None, int] = {}  # bytes a source sent that were not the photo
    for is_full, sha256, ref, event_id in plan:
        if report.fetched >= bounds.count or spent >= bounds.bytes:
            break
        if bounds.seconds - (time.monotonic() - started) <= 0:
            break
        media = await _media_servers(ctx, event_id, media_cache)
        data = None
        tried = passed = False
        for url in _candidates(ref, sha256, sources, media):
            left = bounds.seconds - (time.monotonic() - started)
            if _origin(url) in shunned or left <= 0 or spent >= bounds.bytes:
                passed = True
                continue
            tried = True
            try:
                data = await blobfetch.fetch(url, ctx.routing, max_bytes=min(blobs.MAX_BLOB_BYTES, bounds.bytes),
                                             timeout=min(bounds.per_fetch_seconds, left))  # fmt: skip
            except blobfetch.FetchFailed as exc:
                spent += exc.received
                if exc.timed_out or _waste(wasted, _origin(url), exc.received):
                    shunned.add(_origin(url))
                log.debug("blob %s not fetched: %s", sha256[:12], exc)
                continue
            spent += len(data)
            if hashlib.sha256(data).hexdigest() != sha256 and _waste(wasted, _origin(url), len(data)):
                shunned.add(_origin(url))
            try:
                await blobs.store_blob(ctx, data, expected_sha256=sha256, thumb=not is_full)
            except blobs.BlobRefused as exc:
                report.refused.append(f"{sha256}: {exc}")
                # Not the reason at this level: a source that sends other bytes has the reason name the photo's
                # hash, public in its post (a seized laptop's journal told which post it was: red team, round 14).
                log.warning("a photo fetched for a post was refused (-v says why and where it came from)")
                log.info("the photo refused came from %s: %s", url[:80], exc)
                data = None
                continue
            break
        if data is None:
            if tried or not passed:  # not when every source was passed over: the next pass asks them
                store.missed(sha256, ctx.clock(), MISS_DELAY)
            continue
        report.fetched += 1
        report.bytes += len(data)
    report.missing = len(store.missing(float("inf"), 100_000))
    return report


def _waste(
    wasted: dict[tuple[str, str, int | None] | None, int], origin: tuple[str, str, int | None] | None, size: int
) -> bool:
    """Count ``size`` bytes that ``origin`` sent and that were not the photo asked for; whether they now weigh as
    much as one photo may (:data:`~samizdat.services.blobs.MAX_BLOB_BYTES`). No honest Blossom server sends other
    bytes under a photo's hash."""
    wasted[origin] = wasted.get(origin, 0) + size
    return wasted[origin] >= blobs.MAX_BLOB_BYTES


async def travel(
    ctx: Context, sources: Sequence[str] = (), bounds: Bounds | None = None, scope: Sequence[Filter] | None = None
) -> TravelReport:
    """:func:`catch_up`, then :func:`fetch_missing` (``scope``: see there): what a sync, a peer pass or a bundle
    import runs after storing posts. Never raises for a source's failure; a failure of the store is logged and
    reported empty."""
    try:
        await catch_up(ctx)
        return await fetch_missing(ctx, sources, bounds, scope)
    except (SamizdatError, OSError) as exc:
        log.warning("photos were not fetched: %s", exc)
        return TravelReport()


async def loop(
    ctx: Context, sources: Callable[[], Sequence[str]], *, every: float = 30.0, kick: asyncio.Event | None = None
) -> None:
    """Catch up and fetch, forever (``serve``): ``sources()`` gives the HTTP bases to try first (peers). A pass
    runs every ``every`` seconds, and at once when ``kick`` is set (a post with photos was just stored)."""
    while True:
        if kick is not None:
            kick.clear()
        try:
            await travel(ctx, sources())
        except Exception:  # a background pass must never stop the node
            log.exception("photo travel pass failed; it will run again")
        if kick is None:
            await ctx.sleep(every)
            continue
        waiting = asyncio.ensure_future(kick.wait())
        sleeping = asyncio.ensure_future(ctx.sleep(every))
        try:
            await asyncio.wait({waiting, sleeping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (waiting, sleeping):
                task.cancel()
            await asyncio.gather(waiting, sleeping, return_exceptions=True)


def has_photos(event: Event) -> bool:
    """Cheap test for whether a just-stored event may reference photos (an ``imeta`` tag)."""
    return any(tag and tag[0] == "imeta" for tag in event.tags)
