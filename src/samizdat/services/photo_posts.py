"""Photos in posts, for the command line: prepared photos become blobs and ``imeta`` tags; a photo named by a
person is found, locally or on the servers that should have it.

A photo is named by its SHA-256 (64 hex characters, the full image or its thumbnail), or by a post and its place in
the post: ``<post>:<n>`` where ``<post>`` is anything ``samizdat correct`` accepts (an id of 8+ hex characters or
an nevent) and ``n`` counts from 1.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass

from samizdat.core.channel import Channel
from samizdat.core.event import Event
from samizdat.core.imeta import MAX_PHOTOS, PhotoRef, media_url, photo_refs
from samizdat.core.posts import parse_post
from samizdat.errors import SamizdatError, UsageError
from samizdat.net import blobfetch
from samizdat.services import blob_travel, blobs, channels
from samizdat.services.context import Context
from samizdat.services.photos import PreparedPhoto

_HEX64 = re.compile(r"[0-9a-f]{64}")
FETCH_SECONDS = 30.0  #: one attempt to fetch a missing photo from one server


@dataclass(frozen=True, slots=True)
class Attachment:
    """A prepared photo and what it shows, in words (``alt``, for blind readers and slow links)."""

    photo: PreparedPhoto
    alt: str = ""


def photo_ref(attachment: Attachment, server: str | None) -> PhotoRef:
    """The reference a post carries for ``attachment``, its urls on media ``server`` (None: the bare file name)."""
    photo = attachment.photo
    sha256 = hashlib.sha256(photo.full).hexdigest()
    thumb_sha256 = hashlib.sha256(photo.thumb).hexdigest()
    return PhotoRef(
        sha256=sha256,
        url=media_url(server, sha256),
        mime=photo.mime,
        width=photo.width,
        height=photo.height,
        blurhash=photo.blurhash,
        alt=attachment.alt,
        size=len(photo.full),
        thumb_sha256=thumb_sha256,
        thumb_url=media_url(server, thumb_sha256),
    )


def photo_refs_for(channel: Channel, attachments: Sequence[Attachment]) -> list[PhotoRef]:
    """References for a post in ``channel``: urls on the channel's first media server. UsageError for too many."""
    if len(attachments) > MAX_PHOTOS:
        raise UsageError(f"a post carries at most {MAX_PHOTOS} photos ({len(attachments)} given)")
    server = channel.media[0] if channel.media else None
    return [photo_ref(attachment, server) for attachment in attachments]


async def store_attachments(ctx: Context, attachments: Sequence[Attachment]) -> None:
    """Store each photo and its thumbnail in the node's blob store, checked like any upload (BlobRefused)."""
    for attachment in attachments:
        await blobs.store_blob(ctx, attachment.photo.full, attachment.photo.mime, owner=ctx.pubkey, thumb=False)
        await blobs.store_blob(ctx, attachment.photo.thumb, attachment.photo.mime, owner=ctx.pubkey, thumb=True)


@dataclass(frozen=True, slots=True)
class FoundPhoto:
    sha256: str
    ref: PhotoRef | None  # the post's reference, when the photo was named through a post
    event: Event | None


async def find_photo(ctx: Context, ident: str, *, thumb: bool = False) -> FoundPhoto:
    """The photo ``ident`` names (see the module's docstring); with ``thumb``, its thumbnail. UsageError when the
    name is malformed, the post is unknown or has no such photo."""
    text = ident.strip().lower().removeprefix("nostr:")
    if _HEX64.fullmatch(text):
        await blob_travel.catch_up(ctx)  # the index of which post references which blob
        for event_id in sorted(blobs.referenced_by(ctx, text))[:1]:
            event = await ctx.store.get(event_id)
            if event is not None:
                ref = next((r for r in photo_refs(event) if text in (r.sha256, r.thumb_sha256)), None)
                if ref is not None:
                    if thumb and text == ref.sha256 and ref.thumb_sha256:
                        return FoundPhoto(ref.thumb_sha256, ref, event)
                    return FoundPhoto(text, ref, event)
        return FoundPhoto(text, None, None)
    post, _, index = ident.strip().rpartition(":")
    if not post or not index.isdigit():
        raise UsageError("name a photo by its SHA-256, or by a post and its number: <post-id>:1")
    event, _channel = await channels.find_post(ctx, post)
    refs = photo_refs(event)
    number = int(index)
    if not refs:
        raise UsageError(f"post {event.id[:12]} has no photos")
    if not 1 <= number <= len(refs):
        raise UsageError(f"post {event.id[:12]} has {len(refs)} photo(s); ask for 1 to {len(refs)}")
    ref = refs[number - 1]
    if thumb and not ref.thumb_sha256:
        raise UsageError(f"photo {number} of post {event.id[:12]} has no thumbnail")
    return FoundPhoto(ref.thumb_sha256 if thumb else ref.sha256, ref, event)


async def photo_bytes(ctx: Context, found: FoundPhoto) -> tuple[bytes, bool]:
    """The photo's bytes and whether they were fetched now: from the blob store, or else from the servers that
    should have it (the channel's mirrors, which serve Blossom when they are Samizdat nodes, the imeta url, the
    channel's media servers); a fetched photo is checked like an upload and kept. UsageError when none has it."""
    data = blobs.get_blob(ctx, found.sha256)
    if data is not None:
        return data, False
    tried: list[str] = []
    for url in await _candidates(ctx, found):
        try:
            data = await blobfetch.fetch(url, ctx.routing, max_bytes=blobs.MAX_BLOB_BYTES, timeout=FETCH_SECONDS)
            thumb = found.ref is not None and found.sha256 == found.ref.thumb_sha256
            await blobs.store_blob(ctx, data, expected_sha256=found.sha256, thumb=thumb)
        except (blobfetch.FetchFailed, SamizdatError) as exc:
            tried.append(f"{url[:60]}: {str(exc)[:60]}")
            continue
        return data, True
    if not tried:
        raise UsageError(f"this node does not have photo {found.sha256[:16]}… and knows no server to ask for it")
    raise UsageError(f"photo {found.sha256[:16]}… is not on this node nor on the {len(tried)} server(s) asked")


async def _candidates(ctx: Context, found: FoundPhoto) -> list[str]:
    ext = "webp" if found.ref is None or found.ref.mime == "image/webp" else ""
    name = f"{found.sha256}.{ext}" if ext else found.sha256
    bases: list[str] = []
    channel = await _channel_of(ctx, found.event)
    if channel is not None:
        bases += [blobfetch.relay_to_http(mirror) for mirror in channel.mirrors]
    urls = [f"{base.rstrip('/')}/{name}" for base in bases if base]
    if found.ref is not None:
        own = found.ref.url if found.sha256 == found.ref.sha256 else found.ref.thumb_url
        if own.startswith(("http://", "https://")):
            urls.append(own)
    if channel is not None:
        urls += [f"{server.rstrip('/')}/{name}" for server in channel.media]
    return list(dict.fromkeys(urls))


async def _channel_of(ctx: Context, event: Event | None) -> Channel | None:
    if event is None:
        return None
    try:
        return await channels.lookup(ctx, parse_post(event).channel)
    except SamizdatError:
        return None
