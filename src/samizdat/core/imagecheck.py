"""The structure of an image file, walked byte by byte before any decoder sees it.

A blob the node stores and serves must be exactly one JPEG, PNG or WebP image and nothing else: no bytes after
the image's end (a ZIP or an HTML page appended makes a polyglot), no metadata that could identify the
photographer (EXIF, XMP, IPTC, maker notes, embedded thumbnails, comments and text chunks, ICC profiles other
than sRGB), and no markup inside. :func:`scan` walks the container (JPEG segments, PNG chunks, RIFF chunks),
reads the pixel size from the header, and raises :class:`ImageRefused` naming the first problem. Decoding is the
caller's (services/blobs.py, with Pillow, only once the pixel count is known to be bounded), so a decompression
bomb is refused from its header, never inflated.

Pure: bytes in, a verdict out.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

JPEG, PNG, WEBP = "image/jpeg", "image/png", "image/webp"
TYPES = (JPEG, PNG, WEBP)

#: Markup that would make a blob something a browser or another program could run, whatever its container.
_MARKUP = re.compile(rb"(?i)<(?:script|html|body|svg|iframe|object|embed|\?xml|!doctype|x:xmpmeta)[\s>/]")
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
#: PNG chunks that carry pixels, colour or layout, and nothing about who made the picture.
_PNG_CHUNKS = {b"IHDR", b"PLTE", b"IDAT", b"IEND", b"tRNS", b"gAMA", b"cHRM", b"sRGB", b"bKGD", b"pHYs", b"sBIT"}
_PNG_NAMES = {b"tEXt": "a text chunk", b"zTXt": "a text chunk", b"iTXt": "a text chunk", b"eXIf": "EXIF data",
              b"tIME": "a timestamp chunk"}  # fmt: skip
_WEBP_CHUNKS = {b"VP8 ", b"VP8L", b"VP8X", b"ALPH"}
_WEBP_NAMES = {b"EXIF": "EXIF data", b"XMP ": "XMP data", b"ANIM": "an animation", b"ANMF": "an animation"}
_MAX_ICC = 64 * 1024
_MAX_ICC_INFLATED = 1 << 20


class ImageRefused(ValueError):
    """The bytes are not one clean image; ``str()`` is the one-line reason."""


@dataclass(frozen=True, slots=True)
class Scanned:
    """What the container says: its type and pixel size (not yet decoded)."""

    mime: str
    width: int
    height: int


def sniff(data: bytes) -> str | None:
    """The image type ``data`` starts like, or None."""
    if data.startswith(b"\xff\xd8\xff"):
        return JPEG
    if data.startswith(_PNG_MAGIC):
        return PNG
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return WEBP
    return None


def scan(data: bytes) -> Scanned:
    """Walk ``data``'s container; raise :class:`ImageRefused` for anything but one clean JPEG, PNG or WebP."""
    mime = sniff(data)
    if mime is None:
        raise ImageRefused("not a JPEG, PNG or WebP image")
    try:
        if mime == JPEG:
            width, height = _jpeg(data)
        elif mime == PNG:
            width, height = _png(data)
        else:
            width, height = _webp(data)
    except ImageRefused:
        raise
    except (struct.error, IndexError, ValueError):  # ValueError: bytes.index found no further marker
        raise ImageRefused(f"the {mime} file is truncated") from None
    if width <= 0 or height <= 0:
        raise ImageRefused("the image has no pixels")
    if _MARKUP.search(data):  # after the walk, which names a metadata block or a polyglot's tail more precisely
        raise ImageRefused("the image contains HTML, XML or script markup")
    return Scanned(mime, width, height)


def is_srgb(profile: bytes) -> bool:
    """True when an ICC profile describes sRGB (its description names it), the one profile a clean photo keeps."""
    return len(profile) <= _MAX_ICC_INFLATED and (b"sRGB" in profile or b"s\x00R\x00G\x00B" in profile)


# -- JPEG ----------------------------------------------------------------------------------------------------


def _jpeg(data: bytes) -> tuple[int, int]:
    pos, size, icc = 2, (0, 0), b""
    while True:
        if data[pos] != 0xFF:
            raise ImageRefused("the JPEG's segments are damaged")
        while data[pos] == 0xFF:  # fill bytes
            pos += 1
        marker = data[pos]
        pos += 1
        if marker == 0xD9:  # end of image
            if pos != len(data):
                raise ImageRefused(f"{len(data) - pos} bytes follow the end of the JPEG image (a polyglot file)")
            if icc and not is_srgb(icc):
                raise ImageRefused("the JPEG carries an ICC colour profile other than sRGB")
            if size == (0, 0):
                raise ImageRefused("the JPEG has no frame header")
            return size
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:
            continue
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2 or pos + length > len(data):
            raise ImageRefused("the JPEG file is truncated")
        body = data[pos + 2 : pos + length]
        pos += length
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack_from(">HH", body, 1)
            size = (width, height)
        elif marker == 0xE0:
            if body.startswith(b"JFXX") or (body.startswith(b"JFIF\x00") and len(body) >= 14 and body[12] and body[13]):
                raise ImageRefused("the JPEG carries an embedded thumbnail")
        elif marker == 0xE1:
            what = "EXIF data" if body.startswith(b"Exif") else "XMP or other metadata"
            raise ImageRefused(f"the JPEG carries {what}")
        elif marker == 0xE2 and body.startswith(b"ICC_PROFILE\x00"):
            if len(icc) + len(body) > _MAX_ICC:
                raise ImageRefused("the JPEG's ICC profile is too large")
            icc += body[14:]
        elif marker == 0xED:
            raise ImageRefused("the JPEG carries IPTC (Photoshop) metadata")
        elif marker == 0xFE:
            raise ImageRefused("the JPEG carries a comment")
        elif 0xE2 <= marker <= 0xEF and marker != 0xEE:  # APP14 "Adobe" only says how colours are stored
            raise ImageRefused(f"the JPEG carries an APP{marker - 0xE0} metadata segment")
        if marker == 0xDA:  # start of scan: entropy-coded data runs to the next marker that is not a restart
            while True:
                pos = data.index(b"\xff", pos)
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7 or following == 0xFF:
                    pos += 1 if following == 0xFF else 2
                    continue
                break


# -- PNG -----------------------------------------------------------------------------------------------------


def _png(data: bytes) -> tuple[int, int]:
    pos, size = len(_PNG_MAGIC), (0, 0)
    while True:
        length, kind = struct.unpack_from(">I4s", data, pos)
        end = pos + 12 + length
        if end > len(data):
            raise ImageRefused("the PNG file is truncated")
        body = data[pos + 8 : pos + 8 + length]
        if zlib.crc32(kind + body) != struct.unpack_from(">I", data, end - 4)[0]:
            raise ImageRefused(f"the PNG's {kind.decode('latin-1')!r} chunk is damaged")
        if pos == len(_PNG_MAGIC):
            if kind != b"IHDR":
                raise ImageRefused("the PNG does not start with its header")
            size = struct.unpack_from(">II", body)
        if kind in _PNG_NAMES:
            raise ImageRefused(f"the PNG carries {_PNG_NAMES[kind]}")
        if kind == b"iCCP":
            name, _, rest = body.partition(b"\x00")
            try:
                profile = zlib.decompressobj().decompress(rest[1:], _MAX_ICC_INFLATED)
            except zlib.error:
                raise ImageRefused("the PNG's ICC profile is damaged") from None
            if not is_srgb(name + profile):
                raise ImageRefused("the PNG carries an ICC colour profile other than sRGB")
        elif kind not in _PNG_CHUNKS:
            raise ImageRefused(f"the PNG carries an unexpected {kind.decode('latin-1')!r} chunk")
        pos = end
        if kind == b"IEND":
            if pos != len(data):
                raise ImageRefused(f"{len(data) - pos} bytes follow the end of the PNG image (a polyglot file)")
            return size


# -- WebP ----------------------------------------------------------------------------------------------------


def _webp(data: bytes) -> tuple[int, int]:
    (riff_size,) = struct.unpack_from("<I", data, 4)
    if riff_size + 8 > len(data):
        raise ImageRefused("the WebP file is truncated")
    if riff_size + 8 < len(data):
        raise ImageRefused(f"{len(data) - riff_size - 8} bytes follow the end of the WebP image (a polyglot file)")
    pos, size = 12, (0, 0)
    while pos < len(data):
        kind, length = struct.unpack_from("<4sI", data, pos)
        body = data[pos + 8 : pos + 8 + length]
        if len(body) != length:
            raise ImageRefused("the WebP file is truncated")
        if kind in _WEBP_NAMES:
            raise ImageRefused(f"the WebP carries {_WEBP_NAMES[kind]}")
        if kind == b"ICCP":
            if not is_srgb(body):
                raise ImageRefused("the WebP carries an ICC colour profile other than sRGB")
        elif kind not in _WEBP_CHUNKS:
            raise ImageRefused(f"the WebP carries an unexpected {kind.decode('latin-1')!r} chunk")
        if kind == b"VP8X":
            size = (1 + int.from_bytes(body[4:7], "little"), 1 + int.from_bytes(body[7:10], "little"))
        elif kind == b"VP8 " and size == (0, 0):
            if body[3:6] != b"\x9d\x01\x2a":
                raise ImageRefused("the WebP's image data is damaged")
            width, height = struct.unpack_from("<HH", body, 6)
            size = (width & 0x3FFF, height & 0x3FFF)
        elif kind == b"VP8L" and size == (0, 0):
            if body[:1] != b"\x2f":
                raise ImageRefused("the WebP's image data is damaged")
            bits = int.from_bytes(body[1:5], "little")
            size = ((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1)
        pos += 8 + length + (length & 1)
    if pos != len(data):
        raise ImageRefused("the WebP file is truncated")
    return size
