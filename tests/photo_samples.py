"""Pictures for the photo tests, made here with Pillow and piexif: a phone photo carrying every kind of metadata
that betrays a photographer, a rotated one, a HEIC, a decompression bomb, a truncated JPEG.

Every secret written into a picture is one of :data:`SECRETS`, so a test can look for each in the bytes that
come out. Importable as ``photo_samples`` from any test folder (``tests/`` is on the path through its conftest).
"""

from __future__ import annotations

import hashlib
import io
import struct
import zlib

import numpy as np
import piexif
from PIL import Image
from PIL.PngImagePlugin import PngInfo

from samizdat.core.event import Event, sign_event
from samizdat.core.imeta import PhotoRef, imeta_tag, media_url
from samizdat.core.keys import SecretKey

SERIAL = "SERIAL-4711-CAMERA"
MAKER_NOTE = "MAKERNOTE-SECRET-OWNER"
XMP_CREATOR = "XMP-SECRET-CREATOR"
IPTC_BYLINE = "IPTC-SECRET-BYLINE"
PNG_TEXT = "PNG-SECRET-AUTHOR"
ICC_NAME = "Swapped primaries test profile"
#: Every string a stripped photo must not contain.
SECRETS = (SERIAL, MAKER_NOTE, XMP_CREATOR, IPTC_BYLINE, PNG_TEXT, ICC_NAME, "Phone Maker Inc")
#: A place near the Brandenburg Gate, as EXIF GPS rationals.
GPS = {
    piexif.GPSIFD.GPSLatitudeRef: b"N",
    piexif.GPSIFD.GPSLatitude: ((52, 1), (30, 1), (5_940, 100)),
    piexif.GPSIFD.GPSLongitudeRef: b"E",
    piexif.GPSIFD.GPSLongitude: ((13, 1), (22, 1), (4_740, 100)),
}


def astronaut() -> Image.Image:
    from skimage import data

    return Image.fromarray(data.astronaut())


def coffee() -> Image.Image:
    """A picture with no face in it."""
    from skimage import data

    return Image.fromarray(data.coffee())


def exif_bytes(*, orientation: int = 1, thumbnail: bool = True) -> bytes:
    """EXIF as a phone writes it: make, model, serial number, maker note, GPS position and an embedded
    thumbnail (a different picture, as after an edit: the thumbnail then shows what was cropped away)."""
    exif: dict[str, object] = {
        "0th": {
            piexif.ImageIFD.Make: b"Phone Maker Inc",
            piexif.ImageIFD.Model: b"Phone 15",
            piexif.ImageIFD.Orientation: orientation,
        },
        "Exif": {
            piexif.ExifIFD.BodySerialNumber: SERIAL.encode(),
            piexif.ExifIFD.MakerNote: MAKER_NOTE.encode(),
            piexif.ExifIFD.DateTimeOriginal: b"2026:11:21 18:04:05",
        },
        "GPS": dict(GPS),
    }
    if thumbnail:
        small = io.BytesIO()
        Image.new("RGB", (160, 120), (250, 10, 10)).save(small, "JPEG", quality=70)
        exif["1st"] = {piexif.ImageIFD.JPEGInterchangeFormat: 0, piexif.ImageIFD.JPEGInterchangeFormatLength: 0}
        exif["thumbnail"] = small.getvalue()
    return bytes(piexif.dump(exif))


def xmp_packet() -> bytes:
    return (
        '<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
        f'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:creator>{XMP_CREATOR}</dc:creator>'
        '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
    ).encode()


def iptc_segment() -> bytes:
    """An APP13 "Photoshop 3.0" segment with an IPTC By-line (2:80), as news agencies' software writes it."""
    byline = IPTC_BYLINE.encode()
    iptc = b"\x1c\x02\x50" + struct.pack(">H", len(byline)) + byline
    if len(iptc) % 2:
        iptc += b"\x00"
    resource = b"8BIM" + b"\x04\x04" + b"\x00\x00" + struct.pack(">I", len(iptc)) + iptc
    body = b"Photoshop 3.0\x00" + resource
    return b"\xff\xed" + struct.pack(">H", len(body) + 2) + body


def swapped_icc() -> bytes:
    """A valid ICC v2 RGB display profile whose primaries are sRGB's, rotated: its red is sRGB's green, its green
    sRGB's blue, its blue sRGB's red. Pure red in a file with this profile is pure green once converted to sRGB,
    so a test sees whether the profile was applied."""
    srgb_d50 = {"r": (0.4361, 0.2225, 0.0139), "g": (0.3851, 0.7169, 0.0971), "b": (0.1431, 0.0606, 0.7141)}

    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(values: tuple[float, float, float]) -> bytes:
        return b"XYZ \x00\x00\x00\x00" + b"".join(s15(v) for v in values)

    text = ICC_NAME.encode() + b"\x00"
    desc = b"desc\x00\x00\x00\x00" + struct.pack(">I", len(text)) + text + b"\x00" * 8 + b"\x00\x00\x00" + b"\x00" * 67
    curve = b"curv\x00\x00\x00\x00" + struct.pack(">I", 1) + struct.pack(">H", 0x0233) + b"\x00\x00"
    tags = [
        (b"desc", desc),
        (b"wtpt", xyz((0.9642, 1.0, 0.8249))),
        (b"rXYZ", xyz(srgb_d50["g"])),
        (b"gXYZ", xyz(srgb_d50["b"])),
        (b"bXYZ", xyz(srgb_d50["r"])),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
        (b"cprt", b"text\x00\x00\x00\x00" + b"none\x00\x00\x00\x00"),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for signature, body in tags:
        while (offset + len(data)) % 4:
            data += b"\x00"
        table += signature + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size) + b"lcms" + struct.pack(">I", 0x02100000) + b"mntrRGB XYZ "
        + struct.pack(">6H", 2026, 11, 21, 12, 0, 0) + b"acsp" + b"APPL" + b"\x00" * 4 + b"\x00" * 8
        + b"\x00" * 8 + b"\x00" * 4 + s15(0.9642) + s15(1.0) + s15(0.8249) + b"\x00" * 4 + b"\x00" * 16
        + b"\x00" * 28
    )  # fmt: skip
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data


def with_red_patch(image: Image.Image) -> Image.Image:
    """``image`` with a pure red square in its bottom-left corner (to see the ICC conversion)."""
    out = image.convert("RGB")
    side = max(8, min(out.size) // 8)
    out.paste((255, 0, 0), (0, out.height - side, side, out.height))
    return out


def loaded_jpeg(image: Image.Image, *, orientation: int = 1, quality: int = 90, icc: bool = True) -> bytes:
    """``image`` as a JPEG carrying everything: EXIF (GPS, serial, maker note, thumbnail), XMP, IPTC and (unless
    ``icc`` is false) the non-sRGB ICC profile of :func:`swapped_icc`."""
    out = io.BytesIO()
    image.convert("RGB").save(
        out, "JPEG", quality=quality, exif=exif_bytes(orientation=orientation),
        icc_profile=swapped_icc() if icc else None, xmp=xmp_packet(),
    )  # fmt: skip
    jpeg = out.getvalue()
    return jpeg[:2] + iptc_segment() + jpeg[2:]  # right after SOI


def loaded_png(image: Image.Image) -> bytes:
    """``image`` as a PNG with EXIF (eXIf chunk), a text chunk and the non-sRGB ICC profile."""
    info = PngInfo()
    info.add_text("Author", PNG_TEXT)
    info.add_itxt("XML:com.adobe.xmp", xmp_packet().decode())
    out = io.BytesIO()
    image.convert("RGB").save(out, "PNG", pnginfo=info, exif=exif_bytes(thumbnail=False), icc_profile=swapped_icc())
    return out.getvalue()


def heic(image: Image.Image) -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    out = io.BytesIO()
    image.convert("RGB").save(out, "HEIF", quality=80, exif=exif_bytes(thumbnail=False))
    return out.getvalue()


def phone_photo(width: int = 4000, height: int = 3000, *, seed: int = 1) -> Image.Image:
    """A phone-like picture: the astronaut upscaled onto a wall, with sensor-like noise (realistic detail)."""
    person = astronaut().resize((height, height), Image.Resampling.BICUBIC)
    canvas = Image.new("RGB", (width, height), (96, 104, 112))
    canvas.paste(person, ((width - height) // 2, 0))
    noise = np.random.default_rng(seed).integers(-10, 11, (height, width, 3), dtype=np.int16)
    return Image.fromarray((np.asarray(canvas, dtype=np.int16) + noise).clip(0, 255).astype(np.uint8))


def bomb_png(side: int = 30_000) -> bytes:
    """A valid PNG of ``side`` x ``side`` black pixels (1 bit each), about 100 KB: decoding it whole would take
    ``side``² bytes of memory in RGB, which is what a decompression bomb is for."""
    row = b"\x00" + b"\x00" * ((side + 7) // 8)
    packer = zlib.compressobj(9)
    compressed = b"".join(packer.compress(row) for _ in range(side)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", compressed) + chunk(b"IEND", b"")


def truncated_jpeg(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=90)
    return out.getvalue()[: out.tell() // 2]


def webp_chunks(data: bytes) -> list[str]:
    """The RIFF chunk names of a WebP file (VP8, VP8L, VP8X, ALPH, and EXIF, XMP, ICCP if metadata is there)."""
    assert data[:4] == b"RIFF", "not a RIFF file"
    assert data[8:12] == b"WEBP", "not a WebP file"
    names, at = [], 12
    while at + 8 <= len(data) and len(names) < 64:
        name, size = data[at : at + 4], struct.unpack("<I", data[at + 4 : at + 8])[0]
        names.append(name.decode("latin-1").strip())
        at += 8 + size + (size % 2)
    return names


def region_variance(image: Image.Image, box: tuple[int, int, int, int]) -> float:
    """Variance of the grayscale pixels of ``box`` (left, top, right, bottom) in ``image``."""
    return float(np.asarray(image.convert("L").crop(box), dtype=np.float64).var())


def metadata_in(data: bytes) -> list[str]:
    """Whatever in WebP ``data`` could identify a photographer: metadata chunks, any of :data:`SECRETS`, EXIF, XMP,
    IPTC or ICC markers, and what Pillow reads as metadata. Empty for a clean photo."""
    found = [f"{name} chunk" for name in webp_chunks(data) if name in ("EXIF", "XMP", "ICCP")]
    found += [secret for secret in SECRETS if secret.encode() in data]
    markers = (b"Exif", b"GPS", b"http://ns.adobe.com/xap", b"xmpmeta", b"8BIM", b"Photoshop", b"acsp")
    found += [marker.decode() for marker in markers if marker in data]
    with Image.open(io.BytesIO(data)) as image:
        found += [f"info {key}" for key in ("exif", "xmp", "icc_profile", "XML:com.adobe.xmp") if key in image.info]
        exif = image.getexif()
        found += ["EXIF tags"] if len(exif) else []
        found += ["GPS"] if exif.get_ifd(0x8825) else []
    return found


def photo_post(key: SecretKey, address: str, photos: list[tuple[bytes, bytes]], created_at: int) -> Event:
    """A news post in ``address`` referencing each (full, thumbnail) pair of ``photos`` by imeta tags."""
    tags: list[list[str]] = [["a", address, ""], ["type", "news"]]
    for full, thumb in photos:
        sha, tsha = hashlib.sha256(full).hexdigest(), hashlib.sha256(thumb).hexdigest()
        ref = PhotoRef(sha, media_url(None, sha), "image/webp", 64, 48, "LEHV6nWB2yk8", "a street", len(full), tsha,
                       media_url(None, tsha))  # fmt: skip
        tags.append(imeta_tag(ref))
    tags.append(["alt", "Samizdat channel post (news)"])
    return sign_event(key, 2333, "Police vans at the corner", tags, created_at=created_at)
