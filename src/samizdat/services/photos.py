"""The photo pipeline: every photo is rebuilt from its pixels before it leaves the author's device.

Theory of operation. :func:`prepare_photo` takes the bytes of whatever the camera or phone produced (JPEG, PNG,
WebP, HEIC/HEIF) and returns a :class:`PreparedPhoto` that is safe to publish:

1. *Refuse early.* The input size is bounded, the header is read without decoding, and an image whose pixel
   count is over :data:`MAX_PIXELS` is refused before a single pixel is decoded (a 30,000 x 30,000 PNG of a few
   kilobytes would otherwise take gigabytes). A truncated or undecodable file is refused when it is loaded.
2. *Decode small.* A JPEG is decoded at the smallest DCT scale (1/2, 1/4, 1/8) that still gives at least the
   long side we keep, which makes a 12-megapixel photo several times cheaper.
3. *Orientation, colour.* The EXIF orientation is applied (:func:`PIL.ImageOps.exif_transpose`); an embedded ICC
   profile is used to convert the pixels to sRGB, and then dropped.
4. *Fresh image.* Only the RGB pixel data is copied into a new image, so nothing the file carried besides pixels
   (EXIF with GPS and serial numbers, XMP, IPTC, maker notes, ICC, embedded thumbnails, PNG text chunks) can
   reach the output: the encoder is never given anything but pixels.
5. *Faces.* Faces are found with OpenCV's Haar cascades (frontal and profile, both directions) on a small
   grayscale copy; each box is widened by a margin, pixelated to a few blocks and then blurred. Pixelating to a
   handful of blocks throws the detail away for good; a light Gaussian blur alone can be partly undone.
   Extra ``regions`` (fractions x, y, w, h of the image, chosen by the author) are blurred the same way.
6. *Encode.* WebP with the long side capped at :data:`MAX_SIDE`, quality lowered step by step until it fits
   :data:`TARGET_BYTES` (a bounded number of attempts, then the image is made smaller); a thumbnail of
   :data:`THUMB_SIDE` within :data:`THUMB_BYTES`; a blurhash computed on a tiny copy.

Every failure is a :class:`PhotoError` whose message is one sentence. Nothing here stores or logs the image:
:func:`blur_preview` serves the web app's preview from memory.
"""

from __future__ import annotations

import io
import math
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from samizdat.errors import UsageError

# Pillow, OpenCV, NumPy, pillow-heif and blurhash are imported by the functions that use them, when a photo is
# prepared, not with the module: every command and the node import this module, and those libraries cost a
# fifth of a second and tens of megabytes of a node that may never see a photo.
if TYPE_CHECKING:
    import cv2
    from PIL import Image, ImageCms

#: Bigger inputs are refused before decoding (a 48-megapixel HEIC from a phone is about 5-12 MB).
MAX_INPUT_BYTES = 40 * 1024 * 1024
#: Pixel count above which a picture is refused unread (a 48-megapixel phone camera fits; a bomb does not).
MAX_PIXELS = 60_000_000
#: Pixels at most of a picture sent to the web preview: what a phone's canvas sends is at most 1600 px on its long
#: side, so a larger one is not the app's (a small lossless WebP can declare 60 megapixels, a few hundred MB decoded).
PREVIEW_MAX_PIXELS = 4096 * 4096
#: The long side of the stored full image, and of the thumbnail.
MAX_SIDE = 1600
THUMB_SIDE = 320
#: Size targets of the stored full image and of the thumbnail.
TARGET_BYTES = 200 * 1024
THUMB_BYTES = 12 * 1024
#: Extra rectangles an author may ask to blur in one photo.
MAX_REGIONS = 64

#: The formats we decode. Anything else (SVG, TIFF, PDF, ...) is refused.
_FORMATS = {"JPEG": "JPEG", "PNG": "PNG", "WEBP": "WebP", "HEIF": "HEIC/HEIF", "MPO": "JPEG"}
#: WebP quality ladder for the full image and the thumbnail: tried in order until the result fits.
_QUALITIES = (80, 70, 60, 50, 40, 32)
_THUMB_QUALITIES = (60, 50, 40, 30, 22)
#: Long side of the grayscale copies the face detectors see (frontal; profile, the slower cascade).
_DETECT_SIDE = 640
_PROFILE_SIDE = 480
#: How much wider than the detector's box the blurred area is, on each side, as a fraction of the box.
_MARGIN = 0.3
#: The blurred area is pixelated to this many blocks across its longer side before it is blurred.
_BLOCKS = 6

Region = tuple[float, float, float, float]

_DETECTING = threading.Lock()


class PhotoError(UsageError):
    """A photo cannot be used; ``str(error)`` is the one-line reason."""


@dataclass(frozen=True)
class PreparedPhoto:
    """A photo ready to be stored and published: WebP bytes with no metadata, its thumbnail and blurhash."""

    full: bytes
    thumb: bytes
    width: int
    height: int
    thumb_width: int
    thumb_height: int
    blurhash: str
    faces: int
    mime: str = "image/webp"


def prepare_photo(data: bytes, *, blur_faces: bool = True, regions: Sequence[Region] = ()) -> PreparedPhoto:
    """Re-encode ``data`` as a safe WebP with thumbnail and blurhash (see the module's theory of operation).

    Raises PhotoError for input that is too big, not an image of a known type, truncated or damaged, or for
    regions outside the image.
    """
    image = _load(data)
    image, faces = _blurred(image, blur_faces=blur_faces, regions=regions)
    full = _encode(image, TARGET_BYTES, _QUALITIES)
    width, height = _size_of(full)
    thumb_image = _fit(image, THUMB_SIDE)
    thumb = _encode(thumb_image, THUMB_BYTES, _THUMB_QUALITIES)
    thumb_width, thumb_height = _size_of(thumb)
    return PreparedPhoto(
        full=full,
        thumb=thumb,
        width=width,
        height=height,
        thumb_width=thumb_width,
        thumb_height=thumb_height,
        blurhash=_blurhash(thumb_image),
        faces=len(faces),
    )


def blur_preview(data: bytes, *, blur_faces: bool = True, regions: Sequence[Region] = ()) -> tuple[bytes, list[Region]]:
    """The web app's preview: a WebP of ``data`` with faces and ``regions`` blurred, and the face rectangles found
    (fractions x, y, w, h of the image, before the margin), so the author can see what will be hidden.

    Works from memory only: nothing is stored or logged. Raises PhotoError like :func:`prepare_photo`.
    """
    image = _load(data, PREVIEW_MAX_PIXELS)
    image, faces = _blurred(image, blur_faces=blur_faces, regions=regions)
    return _encode(image, TARGET_BYTES, _QUALITIES), faces


# -- decoding ------------------------------------------------------------------------------------------------


def _load(data: bytes, max_pixels: int = MAX_PIXELS) -> Image.Image:
    """Decode ``data`` (at most ``max_pixels``) into a fresh RGB image of long side at most MAX_SIDE, oriented and
    in sRGB."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise PhotoError("the photo file is empty")
    if len(data) > MAX_INPUT_BYTES:
        raise PhotoError(f"the photo file is too big ({len(data) // (1024 * 1024)} MB; at most 40 MB)")
    _register_heif()
    with warnings.catch_warnings():
        # Pillow warns, then raises, above its own pixel bound; ours is lower and checked first, but a header
        # that lies is still refused rather than turned into a warning.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            source = Image.open(io.BytesIO(data))
        except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _refusal(exc) from exc
        except (OSError, ValueError, SyntaxError) as exc:
            raise PhotoError("the file is not a readable image") from exc
        try:
            return _decode(source, max_pixels)
        finally:
            source.close()


@cache
def _register_heif() -> None:
    import pillow_heif

    pillow_heif.register_heif_opener()


def _refusal(exc: Exception) -> PhotoError:
    from PIL import Image

    if isinstance(exc, Image.DecompressionBombError | Image.DecompressionBombWarning):
        return PhotoError(f"the picture is too large to decode safely (at most {MAX_PIXELS // 1_000_000} megapixels)")
    return PhotoError("the file is not an image (JPEG, PNG, WebP or HEIC)")


def _decode(source: Image.Image, max_pixels: int = MAX_PIXELS) -> Image.Image:
    from PIL import Image, ImageOps

    kind = source.format or ""
    if kind not in _FORMATS:
        raise PhotoError(f"{kind or 'this'} pictures are not accepted: use JPEG, PNG, WebP or HEIC")
    width, height = source.size
    if width < 1 or height < 1:
        raise PhotoError("the picture has no pixels")
    if width * height > max_pixels:
        raise PhotoError(
            f"the picture is too large to decode safely ({width} x {height}; "
            f"at most {max_pixels // 1_000_000} megapixels)"
        )
    if kind in ("JPEG", "MPO"):
        # Decode at the smallest DCT scale that keeps at least MAX_SIDE on the long side.
        long = max(width, height)
        if long > MAX_SIDE:
            source.draft("RGB", (max(1, width * MAX_SIDE // long), max(1, height * MAX_SIDE // long)))
    try:
        source.load()
        oriented = ImageOps.exif_transpose(source) or source
        icc = source.info.get("icc_profile")
        rgb = _to_srgb(oriented, icc if isinstance(icc, bytes) else None)
        rgb = _fit(rgb, MAX_SIDE)
    except PhotoError:
        raise
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as exc:
        raise PhotoError(f"the {_FORMATS[kind]} file is damaged or truncated and cannot be read") from exc
    # A fresh image built from the pixel data alone: no info dict, no EXIF, no profile, nothing to leak.
    return Image.frombytes("RGB", rgb.size, rgb.tobytes())


def _to_srgb(image: Image.Image, icc: bytes | None) -> Image.Image:
    """RGB pixels in sRGB: converted through the embedded ICC profile when there is one, flattened on white."""
    from PIL import Image, ImageCms

    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        image = _eight_bit(image)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    if icc:
        try:
            source_profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if image.mode not in ("RGB", "CMYK", "L"):
                image = image.convert("RGB")
            converted = ImageCms.profileToProfile(image, source_profile, _srgb(), outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # a broken profile is dropped and the pixels taken as they are
    return image if image.mode == "RGB" else image.convert("RGB")


def _eight_bit(image: Image.Image) -> Image.Image:
    """A 16-bit or 32-bit grayscale picture (scans, some PNGs) as 8-bit gray: Pillow's own conversion clips it."""
    import numpy as np
    from PIL import Image

    values = np.asarray(image, dtype=np.float64)
    top = 65535.0 if image.mode.startswith("I;16") else max(float(values.max()), 1.0)
    if image.mode in ("I", "F") and top <= 255:
        top = 255.0
    return Image.fromarray((values.clip(0, top) * (255.0 / top)).round().astype(np.uint8), "L")


@cache
def _srgb() -> ImageCms.ImageCmsProfile:
    from PIL import ImageCms

    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def _fit(image: Image.Image, side: int) -> Image.Image:
    """``image`` scaled down so its long side is at most ``side`` (never scaled up)."""
    from PIL import Image

    width, height = image.size
    long = max(width, height)
    if long <= side:
        return image
    size = (max(1, round(width * side / long)), max(1, round(height * side / long)))
    return image.resize(size, Image.Resampling.LANCZOS, reducing_gap=2.0)


# -- faces and regions ---------------------------------------------------------------------------------------


def _blurred(image: Image.Image, *, blur_faces: bool, regions: Sequence[Region]) -> tuple[Image.Image, list[Region]]:
    """``image`` with faces (if asked) and ``regions`` blurred; also the face boxes found, as fractions."""
    if len(regions) > MAX_REGIONS:
        raise PhotoError(f"too many regions to blur ({len(regions)}; at most {MAX_REGIONS})")
    extra = [_checked_region(region) for region in regions]
    faces = find_faces(image) if blur_faces else []
    boxes = [_widened(face, _MARGIN) for face in faces] + extra
    if not boxes:
        return image, faces
    out = image.copy()
    width, height = out.size
    for x, y, w, h in boxes:
        left, top = int(x * width), int(y * height)
        right, bottom = min(width, int(round((x + w) * width))), min(height, int(round((y + h) * height)))
        if right - left < 2 or bottom - top < 2:
            continue
        box = (left, top, right, bottom)
        out.paste(_obliterate(out.crop(box)), box)
    return out, faces


def _checked_region(region: Sequence[Any]) -> Region:
    try:
        x, y, w, h = (float(v) for v in region)
    except (TypeError, ValueError) as exc:
        raise PhotoError("a region to blur is four numbers: x, y, width, height (fractions of the image)") from exc
    if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0 or x < 0 or y < 0 or x >= 1 or y >= 1:
        raise PhotoError("a region to blur lies outside the image (x, y, width, height are fractions 0-1)")
    return x, y, min(w, 1 - x), min(h, 1 - y)


def _widened(box: Region, margin: float) -> Region:
    x, y, w, h = box
    left, top = max(0.0, x - w * margin), max(0.0, y - h * margin)
    right, bottom = min(1.0, x + w * (1 + margin)), min(1.0, y + h * (1 + margin))
    return left, top, right - left, bottom - top


def _obliterate(patch: Image.Image) -> Image.Image:
    """Pixelate ``patch`` to a few blocks, then blur the block edges: the detail is gone, not just softened."""
    from PIL import Image, ImageFilter

    width, height = patch.size
    scale = _BLOCKS / max(width, height)
    small = patch.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX)
    blocky = small.resize((width, height), Image.Resampling.NEAREST)
    return blocky.filter(ImageFilter.GaussianBlur(radius=max(width, height) / _BLOCKS))


@cache
def _cascades() -> tuple[cv2.CascadeClassifier, cv2.CascadeClassifier]:
    import cv2

    # One thread: the node prepares previews on the cores its relay uses, and on a busy machine OpenCV's threads
    # wait for each other (measured here under load: 1.8 s a 12 MP photo with one thread, 2.4 s with two).
    cv2.setNumThreads(1)
    root = cv2.data.haarcascades  # type: ignore[attr-defined]
    frontal = cv2.CascadeClassifier(root + "haarcascade_frontalface_default.xml")
    profile = cv2.CascadeClassifier(root + "haarcascade_profileface.xml")
    if frontal.empty() or profile.empty():
        raise PhotoError("the face detector's data is missing from OpenCV; reinstall opencv-python-headless")
    return frontal, profile


def find_faces(image: Image.Image) -> list[Region]:
    """Face boxes in ``image`` as fractions (x, y, w, h): frontal faces and faces in profile facing either way.

    Frontal faces are looked for on a copy of long side :data:`_DETECT_SIDE`, profiles (the slower cascade, run
    twice) on a smaller one; the smallest face found is 20 pixels of each copy (about 1/32 and 1/24 of the long
    side). Six neighbours keep JPEG noise on a helmet or a wall from counting as a face.
    """
    import numpy as np

    frontal, profile = _cascades()
    found: list[Region] = []
    with _DETECTING:  # a classifier is not safe to use from two threads at once (web previews run in threads)
        gray, (sw, sh) = _gray(image, _DETECT_SIDE)
        for x, y, w, h in frontal.detectMultiScale(gray, scaleFactor=1.15, minNeighbors=6, minSize=(20, 20)):
            found.append((x / sw, y / sh, w / sw, h / sh))
        gray, (sw, sh) = _gray(image, _PROFILE_SIDE)
        for mirrored in (False, True):
            view = np.ascontiguousarray(gray[:, ::-1]) if mirrored else gray
            for x, y, w, h in profile.detectMultiScale(view, scaleFactor=1.2, minNeighbors=6, minSize=(20, 20)):
                left = sw - x - w if mirrored else x
                found.append((left / sw, y / sh, w / sw, h / sh))
    return _distinct([(float(x), float(y), float(w), float(h)) for x, y, w, h in found])


def _gray(image: Image.Image, side: int) -> tuple[Any, tuple[int, int]]:
    """A histogram-equalised grayscale copy of ``image`` of long side at most ``side``, and its size."""
    import cv2
    import numpy as np
    from PIL import Image

    width, height = image.size
    scale = min(1.0, side / max(width, height))
    small = image.convert("L")
    if scale < 1.0:
        small = small.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.BOX)
    return cv2.equalizeHist(np.asarray(small)), small.size


def _distinct(boxes: list[Region]) -> list[Region]:
    """``boxes`` without those that mostly overlap one already kept (one face found by two cascades)."""
    kept: list[Region] = []
    for box in sorted(boxes, key=lambda b: -b[2] * b[3]):
        if not any(_overlap(box, other) > 0.5 * box[2] * box[3] for other in kept):
            kept.append(box)
    return kept


def _overlap(a: Region, b: Region) -> float:
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0.0, width) * max(0.0, height)


# -- encoding ------------------------------------------------------------------------------------------------


def _encode(image: Image.Image, target: int, qualities: Sequence[int]) -> bytes:
    """WebP bytes of ``image`` within ``target`` bytes: lower quality step by step, then a smaller image."""
    from PIL import Image

    current = image
    last = len(qualities) - 1
    for _ in range(4):
        step = 0
        while True:
            out = io.BytesIO()
            current.save(out, "WEBP", quality=qualities[step], method=4)
            if out.tell() <= target:
                return out.getvalue()
            if step == last:
                break
            # far over the target: skip the steps that cannot get there (each saves roughly a fifth or less)
            over = out.tell() / target
            step = min(last, step + (1 if over < 1.5 else 2 if over < 2.5 else last))
        width, height = current.size
        if max(width, height) <= 64:
            break
        current = current.resize((max(1, width * 3 // 4), max(1, height * 3 // 4)), Image.Resampling.LANCZOS)
    raise PhotoError("the photo cannot be made small enough; crop it or choose a simpler picture")


def _size_of(webp: bytes) -> tuple[int, int]:
    from PIL import Image

    with Image.open(io.BytesIO(webp)) as image:
        return image.size


def _blurhash(image: Image.Image) -> str:
    """The blurhash of ``image``, computed on a copy of at most 32 pixels a side (the pure-Python encoder)."""
    import blurhash  # type: ignore[import-untyped]  # no stubs; a small pure-Python encoder

    tiny = _fit(image, 32)
    width, height = tiny.size
    components_x, components_y = (4, 3) if width >= height else (3, 4)
    values = list(tiny.get_flattened_data())
    pixels = [values[row * width : (row + 1) * width] for row in range(height)]
    return str(blurhash.encode(pixels, components_x, components_y))
