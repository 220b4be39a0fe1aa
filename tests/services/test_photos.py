"""The photo pipeline (services/photos.py): what comes out carries pixels only, is oriented, in sRGB, within its
size caps, with faces blurred; what cannot be read safely is refused with one sentence."""

from __future__ import annotations

import io

import blurhash
import numpy as np
import pytest
from PIL import Image

import photo_samples as samples
from samizdat.services.photos import MAX_INPUT_BYTES, PhotoError, PreparedPhoto, blur_preview, prepare_photo

#: The astronaut's eyes, nose and mouth in scikit-image's 512 x 512 picture (left, top, right, bottom).
FACE = (190, 85, 265, 160)
#: Where the same picture shows her suit and the flag, far from the face.
NOT_FACE = (330, 330, 450, 450)
WEBP_METADATA_CHUNKS = {"EXIF", "XMP", "ICCP"}


def opened(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def assert_pixels_only(data: bytes) -> None:
    """``data`` is a WebP with no metadata chunk, none of the secrets, and nothing Pillow reads as metadata."""
    assert not WEBP_METADATA_CHUNKS & set(samples.webp_chunks(data))
    for secret in samples.SECRETS:
        assert secret.encode() not in data
    for marker in (b"Exif", b"GPS", b"http://ns.adobe.com/xap", b"xmpmeta", b"8BIM", b"Photoshop", b"acsp"):
        assert marker not in data
    image = opened(data)
    assert image.format == "WEBP"
    assert not {"exif", "xmp", "icc_profile", "XML:com.adobe.xmp"} & set(image.info)
    exif = image.getexif()
    assert len(exif) == 0
    assert not exif.get_ifd(0x8825)  # no GPS IFD


@pytest.fixture(scope="module")
def from_loaded_jpeg() -> PreparedPhoto:
    return prepare_photo(samples.loaded_jpeg(samples.with_red_patch(samples.astronaut())))


@pytest.fixture(scope="module")
def astronaut_prepared() -> PreparedPhoto:
    return prepare_photo(samples.loaded_jpeg(samples.astronaut(), icc=False))


def test_the_samples_do_carry_everything_we_strip() -> None:
    """Guard for the tests below: the inputs really hold GPS, serial, maker note, thumbnail, XMP, IPTC, ICC."""
    jpeg = samples.loaded_jpeg(samples.astronaut())
    for secret in samples.SECRETS:
        if secret != samples.PNG_TEXT:
            assert secret.encode() in jpeg
    image = opened(jpeg)
    assert {"exif", "xmp", "icc_profile", "photoshop"} <= set(image.info)
    assert image.getexif().get_ifd(0x8825)  # GPS
    assert samples.PNG_TEXT.encode() in samples.loaded_png(samples.coffee())


def test_a_loaded_jpeg_comes_out_as_pixels_only(from_loaded_jpeg: PreparedPhoto) -> None:
    assert from_loaded_jpeg.mime == "image/webp"
    assert_pixels_only(from_loaded_jpeg.full)
    assert_pixels_only(from_loaded_jpeg.thumb)


@pytest.mark.parametrize("kind", ["png", "heic"])
def test_png_and_heic_come_out_as_pixels_only(kind: str) -> None:
    picture = samples.with_red_patch(samples.coffee())
    data = samples.loaded_png(picture) if kind == "png" else samples.heic(picture)
    prepared = prepare_photo(data)
    assert_pixels_only(prepared.full)
    assert_pixels_only(prepared.thumb)
    assert (prepared.width, prepared.height) == picture.size


def test_a_non_srgb_profile_is_applied_before_it_is_dropped(from_loaded_jpeg: PreparedPhoto) -> None:
    """The sample profile's red is sRGB's green: the red patch of the file must come out green."""
    image = opened(from_loaded_jpeg.full).convert("RGB")
    r, g, b = image.getpixel((8, image.height - 8))  # type: ignore[misc]
    assert g > 200
    assert max(r, b) < 60


def test_exif_orientation_is_applied() -> None:
    """A phone held upright stores a landscape frame with orientation 6 (turn 90° clockwise to show it)."""
    stored = Image.new("RGB", (400, 300), (0, 0, 0))
    stored.paste((255, 255, 255), (0, 0, 60, 60))  # top left of the stored frame: top right once turned
    prepared = prepare_photo(samples.loaded_jpeg(stored, orientation=6), blur_faces=False)
    image = opened(prepared.full).convert("RGB")
    assert image.size == (300, 400)
    assert (prepared.width, prepared.height) == (300, 400)
    assert min(image.getpixel((300 - 20, 20))) > 200  # type: ignore[arg-type]
    assert max(image.getpixel((20, 20))) < 60  # type: ignore[arg-type]


def test_the_astronauts_face_is_blurred_beyond_recovery(astronaut_prepared: PreparedPhoto) -> None:
    original = samples.astronaut()
    stored = opened(astronaut_prepared.full)
    assert stored.size == original.size
    assert astronaut_prepared.faces >= 1
    before = samples.region_variance(original, FACE)
    after = samples.region_variance(stored, FACE)
    assert after < before * 0.1, (before, after)
    # away from the face the picture is only re-encoded
    away_before = samples.region_variance(original, NOT_FACE)
    assert samples.region_variance(stored, NOT_FACE) == pytest.approx(away_before, rel=0.25)


def test_no_blur_keeps_the_face() -> None:
    prepared = prepare_photo(samples.loaded_jpeg(samples.astronaut(), icc=False), blur_faces=False)
    assert prepared.faces == 0
    before = samples.region_variance(samples.astronaut(), FACE)
    assert samples.region_variance(opened(prepared.full), FACE) == pytest.approx(before, rel=0.25)


def test_a_picture_without_faces_is_only_re_encoded() -> None:
    original = samples.coffee()
    prepared = prepare_photo(samples.loaded_jpeg(original, icc=False))
    stored = opened(prepared.full).convert("RGB")
    assert prepared.faces == 0
    assert stored.size == original.size
    box = (0, 0, *original.size)
    assert samples.region_variance(stored, box) == pytest.approx(samples.region_variance(original, box), rel=0.1)
    difference = np.abs(np.asarray(stored, dtype=np.int16) - np.asarray(original, dtype=np.int16))
    assert float(difference.mean()) < 6


def test_regions_chosen_by_the_author_are_blurred_too() -> None:
    original = samples.coffee()  # 600 x 400
    region = (0.5, 0.25, 0.25, 0.5)  # x, y, w, h as fractions
    box = (300, 100, 450, 300)
    prepared = prepare_photo(samples.loaded_jpeg(original, icc=False), regions=[region])
    before = samples.region_variance(original, box)
    assert samples.region_variance(opened(prepared.full), (310, 110, 440, 290)) < before * 0.2


def test_the_preview_shows_the_blur_and_where_the_faces_are() -> None:
    png = io.BytesIO()
    samples.astronaut().save(png, "PNG")
    preview, faces = blur_preview(png.getvalue())
    assert faces
    x, y, w, h = faces[0]
    left, top, right, bottom = (v / 512 for v in FACE)
    assert x < left  # the box found covers the face
    assert y < top
    assert x + w > right
    assert y + h > bottom
    image = opened(preview)
    assert image.format == "WEBP"
    assert samples.region_variance(image, FACE) < samples.region_variance(samples.astronaut(), FACE) * 0.1
    _, none = blur_preview(png.getvalue(), blur_faces=False)
    assert none == []


def test_a_phone_photo_meets_the_size_caps() -> None:
    jpeg = samples.loaded_jpeg(samples.phone_photo(2400, 1800))
    prepared = prepare_photo(jpeg)
    assert len(prepared.full) <= 200 * 1024
    assert len(prepared.thumb) <= 12 * 1024
    assert (prepared.width, prepared.height) == (1600, 1200) == opened(prepared.full).size
    assert (prepared.thumb_width, prepared.thumb_height) == (320, 240) == opened(prepared.thumb).size
    assert len(prepared.blurhash) in range(20, 40)
    shown = np.asarray(blurhash.decode(prepared.blurhash, 8, 6), dtype=np.float64)
    assert shown.shape == (6, 8, 3)


def test_noise_is_made_smaller_until_it_fits() -> None:
    """Pure noise cannot be compressed: the pipeline steps quality down, then size, and still meets the caps."""
    noise = np.random.default_rng(3).integers(0, 256, (1200, 1600, 3), dtype=np.uint8)
    png = io.BytesIO()
    Image.fromarray(noise).save(png, "PNG")
    prepared = prepare_photo(png.getvalue(), blur_faces=False)
    assert len(prepared.full) <= 200 * 1024
    assert len(prepared.thumb) <= 12 * 1024
    assert max(prepared.width, prepared.height) <= 1600


@pytest.mark.parametrize(
    ("name", "data", "says"),
    [
        ("bomb", samples.bomb_png(), "too large to decode safely"),
        ("truncated", samples.truncated_jpeg(samples.astronaut()), "damaged or truncated"),
        ("html", b"<html><script>alert(1)</script></html>", "not an image"),
        ("svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "not an image"),
        ("empty", b"", "empty"),
        ("gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", ""),
    ],
)
def test_what_cannot_be_read_safely_is_refused_in_one_sentence(name: str, data: bytes, says: str) -> None:
    with pytest.raises(PhotoError) as refused:
        prepare_photo(data)
    message = str(refused.value)
    assert says in message
    assert "\n" not in message
    assert len(message) < 160


def test_an_oversized_file_is_refused_before_it_is_read() -> None:
    with pytest.raises(PhotoError, match="too big"):
        prepare_photo(b"\xff\xd8" + bytes(MAX_INPUT_BYTES))


@pytest.mark.parametrize("region", [(1.5, 0, 0.1, 0.1), (0, 0, 0, 0.5), (float("nan"), 0, 1, 1), (0.1, 0.2)])
def test_a_region_outside_the_image_is_refused(region: tuple[float, ...]) -> None:
    png = io.BytesIO()
    samples.coffee().save(png, "PNG")
    with pytest.raises(PhotoError, match="region"):
        prepare_photo(png.getvalue(), regions=[region])  # type: ignore[list-item]


def test_a_16_bit_grayscale_png_keeps_its_tones() -> None:
    """Scanners and some editors write 16-bit PNGs; converted naively they come out white."""
    gray = np.asarray(samples.coffee().convert("L"))
    png = io.BytesIO()
    Image.fromarray(gray.astype(np.uint16) * 257).save(png, "PNG")
    prepared = prepare_photo(png.getvalue(), blur_faces=False)
    stored = np.asarray(opened(prepared.full).convert("L"), dtype=np.int16)
    assert float(np.abs(stored - gray).mean()) < 6


def test_a_transparent_png_is_flattened_on_white() -> None:
    picture = Image.new("RGBA", (200, 100), (0, 0, 0, 0))
    picture.paste((0, 0, 255, 255), (0, 0, 100, 100))
    png = io.BytesIO()
    picture.save(png, "PNG")
    image = opened(prepare_photo(png.getvalue(), blur_faces=False).full).convert("RGB")
    assert min(image.getpixel((150, 50))) > 240  # type: ignore[arg-type]
    assert image.getpixel((50, 50))[2] > 200  # type: ignore[index]


def test_a_polyglot_and_a_comment_do_not_survive() -> None:
    """Bytes after the image's end (an HTML page riding along) and a JPEG comment are not pixels: they are gone."""
    out = io.BytesIO()
    samples.coffee().save(out, "JPEG", quality=85, comment=b"COMMENT-SECRET-NAME")
    polyglot = out.getvalue() + b"<html><script>alert(document.cookie)</script></html>"
    prepared = prepare_photo(polyglot, blur_faces=False)
    for data in (prepared.full, prepared.thumb):
        assert b"<script" not in data
        assert b"COMMENT-SECRET-NAME" not in data
        assert samples.metadata_in(data) == []


def test_the_preview_refuses_a_small_file_that_declares_a_huge_picture() -> None:
    # What the app sends is at most 1600 px long; a lossless WebP of one colour is a few KB for 25 megapixels.
    out = io.BytesIO()
    Image.new("RGB", (5000, 5000), (200, 30, 30)).save(out, "WEBP", lossless=True)
    assert len(out.getvalue()) < 240 * 1024  # under the preview's size limit
    with pytest.raises(PhotoError, match="too large to decode safely"):
        blur_preview(out.getvalue())
