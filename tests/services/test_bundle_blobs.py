"""Photos in bundles (format version 2): a post with two photos exported on one node arrives with its photos on
another, thumbnails first in the file; hostile blob records (wrong hash, not an image, metadata, too large, out of
order) are refused with a reason while the posts still import; version-1 bundles still import."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import orjson
import pytest
from PIL import Image
from test_blobs import jpeg_with_gps, photo_post

from samizdat.core.bundle import BLOB_VERSION, VERSION, BundleWriter
from samizdat.core.bundle_blobs import CHUNK_BYTES, BlobAssembler, BlobRecordError, BundledBlob, blob_records
from samizdat.services import blob_travel, blobs, bundles, posts
from samizdat.services.context import Context
from samizdat.store.bundles import REASONS_KEPT
from samizdat.testing import FakeClock, clean_photo, test_node


async def _post_with_photos(ctx: Context) -> tuple[list[bytes], str]:
    channel, _ = await posts.create_channel(ctx, "photos", "Photos")
    pairs = [(clean_photo(160, 120, seed=1, noise=True), clean_photo(40, 30, seed=2, noise=True)),
             (clean_photo(120, 160, seed=3, noise=True), clean_photo(30, 40, seed=4, noise=True))]  # fmt: skip
    for full, thumb in pairs:
        blobs.put_blob(ctx, full, thumb=False)
        blobs.put_blob(ctx, thumb, thumb=True)
    post = photo_post(ctx.key, channel.address, pairs, ctx.now())
    await ctx.ingest([post])
    return [d for pair in pairs for d in pair], post.id


async def test_a_post_and_its_photos_travel_through_a_bundle(tmp_path: Path, ctx: Context,
                                                             fake_clock: FakeClock) -> None:  # fmt: skip
    photos, post_id = await _post_with_photos(ctx)
    out = tmp_path / "news.smz"
    report = await bundles.export(ctx, out, max_part_bytes=None)
    assert report.blobs == 4
    assert report.blob_bytes == sum(len(p) for p in photos)
    raw = out.read_bytes()
    assert raw[8] == BLOB_VERSION
    async with test_node(tmp_path / "b", clock=fake_clock, sleep=fake_clock.sleep) as other:
        imported = await bundles.import_files(other.ctx, [out])
        assert imported.new >= 2  # the channel definition and the post
        assert [f.blobs for f in imported.files] == [4]
        assert await other.ctx.store.get(post_id) is not None
        for data in photos:
            assert blobs.get_blob(other.ctx, hashlib.sha256(data).hexdigest()) == data
        thumbs = {e.sha256 for e in blobs.blob_store(other.ctx).entries() if e.thumb}
        assert thumbs == {hashlib.sha256(d).hexdigest() for d in photos[1::2]}


async def test_parts_keep_each_photo_whole_and_thumbnails_come_first(tmp_path: Path, ctx: Context) -> None:
    photos, _ = await _post_with_photos(ctx)
    biggest = max(len(p) for p in photos)
    out = tmp_path / "parts.smz"
    report = await bundles.export(ctx, out, max_part_bytes=max(8192, int(biggest * 1.45) + 512))
    assert report.blobs == 4
    assert len(report.files) > 1
    order = []
    for path in report.files:
        assert path.stat().st_size <= max(8192, int(biggest * 1.45) + 512)
        order += [line for line in _records(path) if b'"blob"' in line[:10]]
    kinds = [orjson.loads(line)["thumb"] for line in order]
    assert kinds == sorted(kinds, reverse=True)  # every thumbnail before any full image


def _records(path: Path) -> list[bytes]:
    from samizdat.core.bundle import RawEvent
    from samizdat.core.bundle_reader import BundleReader

    reader = BundleReader()
    items = reader.feed(path.read_bytes()) + reader.close()
    return [orjson.dumps(i.value) for i in items if isinstance(i, RawEvent)]


def _bundle(tmp_path: Path, records: list[bytes], name: str = "hostile.smz") -> Path:
    writer = BundleWriter(created_at=1_700_000_000)
    data = writer.add_blob(records)
    assert data is not None
    path = tmp_path / name
    path.write_bytes(data + writer.finish())
    return path


def _raw_record(sha256: str, payload: bytes, **changes: object) -> bytes:
    import base64

    value = {"blob": sha256, "type": "image/webp", "thumb": False, "size": len(payload), "offset": 0,
             "data": base64.b64encode(payload).decode(), **changes}  # fmt: skip
    return orjson.dumps(value)


def _with_xmp() -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(clean_photo())).save(out, "WEBP", xmp=b"<x:xmpmeta>Jane</x:xmpmeta>")
    return out.getvalue()


@pytest.mark.parametrize(
    ("name", "record", "reason"),
    [
        ("hash mismatch", lambda: _raw_record("ab" * 32, clean_photo()), "do not match its hash"),
        (
            "HTML under its own hash",
            lambda: _raw_record(hashlib.sha256(b"<html><script>x").hexdigest(), b"<html><script>x"),
            "not a JPEG, PNG or WebP",
        ),  # fmt: skip
        (
            "GPS EXIF",
            lambda: _raw_record(hashlib.sha256(jpeg_with_gps()).hexdigest(), jpeg_with_gps(), type="image/jpeg"),
            "EXIF",
        ),  # fmt: skip
        ("XMP", lambda: _raw_record(hashlib.sha256(_with_xmp()).hexdigest(), _with_xmp()), "XMP"),
        ("too large", lambda: _raw_record("cd" * 32, b"x" * 100, size=50 * 1024 * 1024), "larger than"),
        ("out of order", lambda: _raw_record("ef" * 32, b"x" * 100, offset=10, size=200), "out of order"),
    ],
)
async def test_hostile_blob_records_are_refused_with_a_reason(tmp_path: Path, ctx: Context, name: str,
                                                              record: object, reason: str) -> None:  # fmt: skip
    path = _bundle(tmp_path, [record()])  # type: ignore[operator]
    report = await bundles.import_files(ctx, [path])
    (only,) = report.files
    assert only.blobs == 0
    assert any(reason in line for line in only.blobs_refused), only.blobs_refused
    assert blobs.blob_store(ctx).entries() == []


def test_a_large_blob_is_split_into_records_and_assembled_again() -> None:
    data = bytes(range(256)) * (CHUNK_BYTES * 2 // 256 + 3)
    blob = BundledBlob(hashlib.sha256(data).hexdigest(), "image/webp", False, data)
    records = blob_records(blob)
    assert len(records) == 3
    assembler = BlobAssembler(len(data))
    results = [assembler.feed(orjson.loads(r)) for r in records]
    assert results[:2] == [None, None]
    assert results[2] == blob
    smaller = BlobAssembler(len(data) - 1)
    with pytest.raises(BlobRecordError, match="larger than"):
        smaller.feed(orjson.loads(records[0]))


async def test_a_version_1_bundle_still_imports(tmp_path: Path, ctx: Context, fake_clock: FakeClock) -> None:
    await posts.create_channel(ctx, "text", "Text only")
    out = tmp_path / "text.smz"
    report = await bundles.export(ctx, out, max_part_bytes=None)
    assert report.blobs == 0
    assert out.read_bytes()[8] == VERSION  # no photos: a bundle every older node reads
    async with test_node(tmp_path / "b", clock=fake_clock, sleep=fake_clock.sleep) as other:
        imported = await bundles.import_files(other.ctx, [out])
        assert imported.new == 1
        assert imported.files[0].complete
    await blob_travel.catch_up(ctx)


async def test_many_bad_photo_records_are_counted_not_kept(tmp_path: Path, ctx: Context) -> None:
    """A file of 30,000 photo records that are each out of order: every one is counted as refused (the report said
    "20 refused" whatever the number, and the reasons piled up in memory, about 35 MB for a million), and only the
    first few reasons are kept."""
    records = [_raw_record(f"{n:064x}", b"x" * 10, offset=5, size=20) for n in range(30_000)]
    path = _bundle(tmp_path, records)
    report = await bundles.import_files(ctx, [path])
    (only,) = report.files
    assert only.blobs == 0
    assert only.blobs_refused_count == 30_000
    assert len(only.blobs_refused) == REASONS_KEPT
    assert "30000 refused" in only.describe()
