"""Photos as blobs: what the node accepts, stores, serves and deletes, whoever hands it a blob.

Every door (a Blossom upload, a peer, a bundle, ``samizdat post --photo``) goes through :func:`put_blob`, so one
rule decides: a blob is at most :data:`MAX_BLOB_BYTES`, exactly one decodable JPEG, PNG or WebP of at most
:data:`MAX_PIXELS` pixels, with nothing after the image's end and no metadata that could identify who took it
(:func:`check_image`). The node never changes a blob (BUD-02): what fails is refused with
:class:`BlobRefused`, whose text is the one-line reason, and nothing is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import logging
import warnings
from dataclasses import dataclass

from samizdat.core import imagecheck, kinds
from samizdat.core.channel import ADMIN, EDITOR, OWNER
from samizdat.core.event import Event
from samizdat.core.imeta import referenced_blobs, thumbnails
from samizdat.core.posts import RETRACTION, parse_post
from samizdat.core.thread import amendment_refusal
from samizdat.errors import LocalProtocolError, RemoteProtocolError, SamizdatError
from samizdat.services import channels
from samizdat.services.context import Context
from samizdat.store.blobs import BlobEntry, Blobs

log = logging.getLogger(__name__)

#: Bytes of one blob at most: a 1600 px WebP is about 200 KB; a foreign client's JPEG may be larger.
MAX_BLOB_BYTES = 2 * 1024 * 1024
#: Bytes of photos one key (other than the node's own) may keep here: uploaded photos are never dropped for the
#: carry quota (services/blob_quota.py), so without this a channel's editor could fill the disk. BUD-12 deletions
#: make room again.
UPLOADER_BYTES = 256 * 1024 * 1024
#: Pixels of one image at most (decoded, it takes 3-4 bytes a pixel): refuses decompression bombs from the header.
MAX_PIXELS = 4096 * 4096
#: The longest side of an image at most.
MAX_SIDE = 8192
#: An image whose long side is at most this is taken for a thumbnail when nothing else says (carry quota order).
THUMB_SIDE = 400
ALLOWED_TYPES = imagecheck.TYPES
_FORMATS = {imagecheck.JPEG: "JPEG", imagecheck.PNG: "PNG", imagecheck.WEBP: "WEBP"}
#: Metadata Pillow reports that a clean image must not have (a second net under core/imagecheck.py).
_INFO_KEYS = ("exif", "xmp", "XML:com.adobe.xmp", "photoshop", "comment", "iptc", "thumbnail")


class BlobRefused(RemoteProtocolError):
    """A blob the node will not store; ``str()`` is the one-line reason (sent as BUD-01 ``X-Reason``)."""


@dataclass(frozen=True, slots=True)
class ImageInfo:
    mime: str
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class BlobDescriptor:
    """What BUD-02 answers for a stored blob (the url is the HTTP layer's, which knows the host)."""

    sha256: str
    size: int
    type: str
    uploaded: int


def _normal_type(declared: str) -> str:
    return declared.split(";", 1)[0].strip().lower()


def check_image(data: bytes, declared_type: str | None = None) -> ImageInfo:
    """Check that ``data`` is one clean image; raise :class:`BlobRefused` with the first problem.

    In order: size; the declared type (when given) is an allowed one; the container (core/imagecheck.py: type,
    truncation, bytes after the end, markup, metadata, non-sRGB profiles); the declared type agrees with the
    content; the pixel count is bounded; and the whole image decodes.
    """
    from PIL import Image, UnidentifiedImageError  # Pillow loads with the first image, not with the node

    if len(data) > MAX_BLOB_BYTES:
        raise BlobRefused(f"the blob has {len(data)} bytes; this node takes at most {MAX_BLOB_BYTES}")
    if not data:
        raise BlobRefused("the blob is empty")
    declared = _normal_type(declared_type) if declared_type else ""
    if declared and declared not in ALLOWED_TYPES and declared != "application/octet-stream":
        raise BlobRefused(f"type {declared[:60]!r} is not accepted: only JPEG, PNG and WebP images")
    try:
        scanned = imagecheck.scan(data)
    except imagecheck.ImageRefused as exc:
        raise BlobRefused(str(exc)) from None
    if declared and declared != "application/octet-stream" and declared != scanned.mime:
        raise BlobRefused(f"the blob was declared {declared} but is {scanned.mime}")
    if scanned.width > MAX_SIDE or scanned.height > MAX_SIDE or scanned.width * scanned.height > MAX_PIXELS:
        raise BlobRefused(
            f"the image is {scanned.width}x{scanned.height} pixels; at most {MAX_PIXELS} pixels "
            f"and {MAX_SIDE} a side are accepted"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=[_FORMATS[scanned.mime]]) as image:
                if image.size != (scanned.width, scanned.height):
                    raise BlobRefused("the image's headers disagree about its size")
                if getattr(image, "n_frames", 1) != 1:
                    raise BlobRefused("animated images are not accepted")
                image.load()
                found = [key for key in _INFO_KEYS if image.info.get(key)]
                icc = image.info.get("icc_profile")
    except BlobRefused:
        raise
    except (OSError, SyntaxError, ValueError, UnidentifiedImageError, Image.DecompressionBombError,
            Image.DecompressionBombWarning, EOFError, MemoryError) as exc:  # fmt: skip
        reason = str(exc)[:80] or type(exc).__name__
        raise BlobRefused(f"the {scanned.mime} image cannot be decoded ({reason})") from None
    if found:
        raise BlobRefused(f"the image carries metadata ({', '.join(found)})")
    if icc and not imagecheck.is_srgb(icc):
        raise BlobRefused("the image carries an ICC colour profile other than sRGB")
    return ImageInfo(scanned.mime, scanned.width, scanned.height)


def blob_store(ctx: Context) -> Blobs:
    """The node's blob store (LocalProtocolError for a context built without one)."""
    if ctx.blobs is None:
        raise LocalProtocolError("this context has no blob store")
    return ctx.blobs


def put_blob(
    ctx: Context,
    data: bytes,
    declared_type: str | None = None,
    *,
    owner: str | None = None,
    thumb: bool | None = None,
    expected_sha256: str | None = None,
) -> BlobDescriptor:
    """Check ``data`` (:func:`check_image`) and store it, recording ``owner`` as an uploader.

    ``thumb`` says whether it is a thumbnail (None: an image of at most :data:`THUMB_SIDE` pixels a side is).
    With ``expected_sha256`` (a hash an authorization or a post names), other bytes are refused. Raises
    :class:`BlobRefused`, or StoreError when the disk fails.
    """
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise BlobRefused(f"the blob's SHA-256 is {sha256[:16]}…, not the {expected_sha256[:16]}… expected")
    info = check_image(data, declared_type)
    is_thumb = max(info.width, info.height) <= THUMB_SIDE if thumb is None else thumb
    now = ctx.now()
    blob_store(ctx).put(sha256, data, info.mime, thumb=is_thumb, now=now, owner=owner)
    return BlobDescriptor(sha256, len(data), info.mime, now)


def get_blob(ctx: Context, sha256: str) -> bytes | None:
    """The blob's bytes (checked against its hash), or None when this node does not have it."""
    return blob_store(ctx).get(sha256)


def read_blob(ctx: Context, sha256: str) -> tuple[str, bytes] | None:
    """The blob's media type and bytes, or None when this node does not have it (blocking: call it in a thread)."""
    entry = blob_store(ctx).entry(sha256)
    data = blob_store(ctx).get(sha256) if entry is not None else None
    return (entry.type, data) if entry is not None and data is not None else None


def has_blob(ctx: Context, sha256: str) -> bool:
    return blob_store(ctx).has(sha256)


def blob_entry(ctx: Context, sha256: str) -> BlobEntry | None:
    """What the index says of blob ``sha256`` (size, type, thumbnail or not), or None."""
    return blob_store(ctx).entry(sha256)


def delete_blob(ctx: Context, sha256: str) -> bool:
    """Remove the blob from this node whoever uploaded it; True when it was stored."""
    return blob_store(ctx).delete(sha256)


def list_blobs(ctx: Context, owner: str, *, since: int | None = None, until: int | None = None) -> list[BlobEntry]:
    """The blobs ``owner`` uploaded here, newest first (BUD-12)."""
    return blob_store(ctx).listing(owner, since=since, until=until)


async def store_blob(
    ctx: Context,
    data: bytes,
    declared_type: str | None = None,
    *,
    owner: str | None = None,
    thumb: bool | None = None,
    expected_sha256: str | None = None,
) -> tuple[BlobDescriptor, bool]:
    """:func:`put_blob` for the event loop: the image is checked in a worker thread. Returns the descriptor and
    whether the blob is new here. Raises :class:`BlobRefused`."""
    sha256 = hashlib.sha256(data).hexdigest()
    if expected_sha256 is not None and sha256 != expected_sha256:
        raise BlobRefused(f"the blob's SHA-256 is {sha256[:16]}…, not the {expected_sha256[:16]}… expected")
    info = await asyncio.to_thread(check_image, data, declared_type)
    store = blob_store(ctx)
    is_thumb = max(info.width, info.height) <= THUMB_SIDE if thumb is None else thumb
    now = ctx.now()

    def put() -> tuple[bool, BlobEntry | None]:  # a database write and read: not on the event loop
        return store.put(sha256, data, info.mime, thumb=is_thumb, now=now, owner=owner), store.entry(sha256)

    fresh, entry = await asyncio.to_thread(put)
    uploaded = now if fresh or entry is None else entry.uploaded
    return BlobDescriptor(sha256, len(data), info.mime, uploaded), fresh


def check_room(ctx: Context, pubkey: str, size: int) -> None:
    """BlobRefused when ``size`` more bytes from ``pubkey`` would take it past :data:`UPLOADER_BYTES` here (the
    node's own key has no such bound: its operator sizes the disk)."""
    if pubkey == ctx.pubkey:
        return
    held = sum(entry.size for entry in list_blobs(ctx, pubkey))
    if held + size > UPLOADER_BYTES:
        limit = UPLOADER_BYTES // 2**20
        raise BlobRefused(f"this key's photos here take {held / 2**20:.0f} MB of the {limit} MB a key may keep; "
                          "delete some first")  # fmt: skip


async def may_upload(ctx: Context, pubkey: str) -> bool:
    """True when ``pubkey`` may upload here: the node's own key (its operator), or a key that may post now
    (owner, admin or editor) in a channel the node owns or follows."""
    if pubkey == ctx.pubkey:
        return True
    now = ctx.now()
    for address in dict.fromkeys([*await channels.own_channels(ctx), *ctx.local.follows()]):
        channel = await channels.lookup(ctx, address)
        if channel is not None and channel.role_of(pubkey, now) in (OWNER, ADMIN, EDITOR):
            return True
    return False


def referenced_by(ctx: Context, sha256: str) -> set[str]:
    """Ids of the stored posts that reference blob ``sha256``."""
    return blob_store(ctx).referenced_by(sha256)


def disown_blob(ctx: Context, sha256: str, owner: str) -> str:
    """A BUD-12 delete by ``owner``: forget that they uploaded it, and remove the blob when no other key uploaded
    it and no stored post references it. Returns "deleted", "kept" (others still need it) or "not-owner"."""
    store = blob_store(ctx)
    if owner not in store.owners(sha256):
        return "not-owner"
    store.disown(sha256, owner)
    if store.owners(sha256) or store.referenced_by(sha256):
        return "kept"
    store.delete(sha256)
    return "deleted"


async def note_stored(ctx: Context, event: Event) -> set[str]:
    """Keep the blob index in step with a newly stored event: a post's photos are referenced by it; a valid
    retraction (or the author's NIP-09 deletion) of a post drops its references, and removes each blob that no
    other stored post references. Returns the hashes removed."""
    store = blob_store(ctx)
    hashes = referenced_blobs(event)
    if hashes and await _valid_post(ctx, event):
        store.add_refs(event.id, hashes)
        for sha256 in thumbnails(event):
            if store.has(sha256):
                store.mark_thumb(sha256)
    removed: set[str] = set()
    for target in await _withdrawn(ctx, event):
        for sha256 in store.drop_refs(target):
            if store.delete(sha256):
                removed.add(sha256)
    if removed:
        log.info("removed %d photo(s) of a retracted post", len(removed))
    return removed


async def _valid_post(ctx: Context, event: Event) -> bool:
    """Whether ``event`` is a post by someone who may post in its channel, as this node knows the channel: only
    such posts' photos are fetched. Anyone may store an event on a relay, and a stranger's imeta tags would
    otherwise make the node fetch whatever they name, or fill the list of photos to fetch with hashes nobody has."""
    if event.kind != kinds.POST:
        return False
    try:
        post = parse_post(event)
    except SamizdatError:
        return False
    channel = await channels.lookup(ctx, post.channel)
    return channel is not None and channel.role_of(event.pubkey, event.created_at) is not None


async def _withdrawn(ctx: Context, event: Event) -> list[str]:
    """The posts ``event`` withdraws, if it is a retraction this node honours or the author's deletion."""
    if event.kind == kinds.DELETION:
        targets = []
        for target_id in event.tag_values("e")[:100]:
            target = await ctx.store.get(target_id)
            if target is None or target.pubkey == event.pubkey:  # a deleted post is already gone from the store
                targets.append(target_id)
        return targets
    if event.kind != kinds.POST:
        return []
    try:
        post = parse_post(event)
    except SamizdatError:
        return []
    if post.post_type != RETRACTION or post.target is None:
        return []
    original = await ctx.store.get(post.target)
    channel = await channels.lookup(ctx, post.channel)
    if original is None or channel is None:
        return []
    # The readers' own rule: a retraction in a channel of the retracter's own withdraws nothing of another.
    if amendment_refusal(event, original, channel, ctx.now())[0] is None:
        return []
    return [post.target]
