"""Photos in posts: NIP-92 ``imeta`` tags that name Blossom blobs by their SHA-256.

A post references each photo with one tag::

    ["imeta", "url <url>", "x <sha256>", "m image/webp", "dim <w>x<h>", "blurhash <bh>", "alt <text>",
     "size <bytes>", "thumb <thumb url>", "thumbx <thumb sha256>"]

``url``, ``x``, ``m``, ``dim``, ``blurhash``, ``alt``, ``size`` and ``thumb`` are NIP-92/NIP-94 fields, so other
Nostr clients show the photo. ``thumbx`` (the thumbnail's SHA-256) is Samizdat's own: it lets a reader fetch the
thumbnail by hash from any node, like the full image. The url is a channel media server's
(``https://server/<sha256>.webp``), or, when the channel names none, the bare BUD-01 path ``<sha256>.webp``, which
Samizdat readers resolve against the node they use (:func:`media_url`); other clients cannot show such a photo
until the channel names a media server.

Pure: parsing is tolerant (a malformed entry is skipped, never an error), since posts come from anyone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from samizdat.core.event import Event

IMETA = "imeta"
MAX_PHOTOS = 8  #: photos read from one post at most (a hostile post may carry thousands of tags)
MAX_ALT = 1000
_HEX64 = re.compile(r"[0-9a-f]{64}")
_DIM = re.compile(r"([1-9][0-9]{0,5})x([1-9][0-9]{0,5})")
_DIGITS = re.compile(r"[0-9]{1,12}")
_EXT = re.compile(r"[a-z0-9]{1,8}")
#: The image types a post may reference, and the file extension of each.
EXTENSIONS = {"image/webp": "webp", "image/jpeg": "jpg", "image/png": "png"}


@dataclass(frozen=True, slots=True)
class PhotoRef:
    """One photo a post references: the full image by ``sha256`` and ``url``, and its thumbnail, if any."""

    sha256: str
    url: str
    mime: str = "image/webp"
    width: int = 0
    height: int = 0
    blurhash: str = ""
    alt: str = ""
    size: int = 0
    thumb_sha256: str = ""
    thumb_url: str = ""


def media_url(server: str | None, sha256: str, ext: str = "webp") -> str:
    """The url of blob ``sha256`` on media ``server`` (``https://server/<sha256>.<ext>``), or with no server the
    bare BUD-01 path ``<sha256>.<ext>`` that a Samizdat reader resolves against the node it uses."""
    if not _HEX64.fullmatch(sha256):
        raise ValueError("a blob hash is 64 lowercase hex characters")
    if not _EXT.fullmatch(ext):
        raise ValueError("a file extension is 1-8 of a-z and 0-9")
    name = f"{sha256}.{ext}"
    return f"{server.rstrip('/')}/{name}" if server else name


def imeta_tag(ref: PhotoRef) -> list[str]:
    """The ``imeta`` tag for ``ref``; empty fields are left out."""
    tag = [IMETA, f"url {ref.url}", f"x {ref.sha256}", f"m {ref.mime}"]
    if ref.width and ref.height:
        tag.append(f"dim {ref.width}x{ref.height}")
    if ref.blurhash:
        tag.append(f"blurhash {ref.blurhash}")
    if ref.alt:
        tag.append(f"alt {_one_line(ref.alt)}")
    if ref.size:
        tag.append(f"size {ref.size}")
    if ref.thumb_url:
        tag.append(f"thumb {ref.thumb_url}")
    if ref.thumb_sha256:
        tag.append(f"thumbx {ref.thumb_sha256}")
    return tag


def _one_line(text: str) -> str:
    return " ".join(text.split())[:MAX_ALT]


def _fields(tag: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for entry in tag[1:]:
        if not isinstance(entry, str):
            continue
        name, _, value = entry.partition(" ")
        fields.setdefault(name, value)  # the first of a repeated field wins (fallback is repeatable; unused here)
    return fields


def parse_imeta(tag: list[str]) -> PhotoRef | None:
    """The photo an ``imeta`` tag describes, or None when it has no valid ``x`` hash or no url."""
    if not tag or tag[0] != IMETA:
        return None
    fields = _fields(tag)
    sha256 = fields.get("x", "")
    url = fields.get("url", "")
    if not _HEX64.fullmatch(sha256) or not url or len(url) > 2048:
        return None
    width = height = 0
    if (dim := _DIM.fullmatch(fields.get("dim", ""))) is not None:
        width, height = int(dim.group(1)), int(dim.group(2))
    size = fields.get("size", "")
    thumbx = fields.get("thumbx", "")
    thumb_url = fields.get("thumb", "")
    return PhotoRef(
        sha256=sha256,
        url=url,
        mime=fields.get("m", "")[:100],
        width=width,
        height=height,
        blurhash=fields.get("blurhash", "")[:200],
        alt=fields.get("alt", "")[:MAX_ALT],
        size=int(size) if _DIGITS.fullmatch(size) else 0,
        thumb_sha256=thumbx if _HEX64.fullmatch(thumbx) else "",
        thumb_url=thumb_url if len(thumb_url) <= 2048 else "",
    )


def photo_refs(event: Event) -> list[PhotoRef]:
    """The photos ``event`` references, in tag order, at most :data:`MAX_PHOTOS`; malformed tags are skipped."""
    refs: list[PhotoRef] = []
    for tag in event.tags:
        if tag and tag[0] == IMETA and (ref := parse_imeta(list(tag))) is not None:
            refs.append(ref)
            if len(refs) == MAX_PHOTOS:
                break
    return refs


def referenced_blobs(event: Event) -> set[str]:
    """Every blob hash ``event`` references: each photo's ``x`` and ``thumbx``."""
    blobs: set[str] = set()
    for ref in photo_refs(event):
        blobs.add(ref.sha256)
        if ref.thumb_sha256:
            blobs.add(ref.thumb_sha256)
    return blobs


def thumbnails(event: Event) -> set[str]:
    """The hashes ``event`` references as thumbnails (``thumbx``), which a full carry quota keeps longest."""
    return {ref.thumb_sha256 for ref in photo_refs(event) if ref.thumb_sha256}
