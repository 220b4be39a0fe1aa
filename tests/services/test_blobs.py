"""The blob rules (services/blobs.py) and store (store/blobs.py): hostile images are refused with a clear reason,
clean ones are stored encrypted under names an examiner cannot match, retractions remove photos, and photos travel
from an HTTP source only when their bytes match the hash.

Every test on a node's context runs twice: on the file store, and on a node whose events and photos are in
PostgreSQL (store/pgblobs.py), which must behave the same."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import struct
import zipfile
import zlib
from collections.abc import AsyncIterator
from pathlib import Path

import piexif
import pytest
from PIL import Image, PngImagePlugin

from photo_samples import photo_post
from samizdat.config import init_home
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_retraction
from samizdat.node import Node
from samizdat.services import blob_travel, blobs, posts
from samizdat.services.context import Context
from samizdat.store.blobs import BlobStore
from samizdat.store.pgblobs import PgBlobStore
from samizdat.testing import FakeClock, clean_photo, test_node


@pytest.fixture(params=["files", "postgresql"])
def store_url(request: pytest.FixtureRequest) -> str:
    """ "" for a node on files; the URL of a fresh PostgreSQL database for a node on PostgreSQL."""
    return "" if request.param == "files" else str(request.getfixturevalue("postgres_url"))


@pytest.fixture
async def opened(tmp_path: Path, fake_clock: FakeClock, store_url: str) -> AsyncIterator[Node]:
    home = tmp_path / "node"
    if store_url:
        init_home(home)
        with (home / "config.toml").open("a", encoding="utf-8") as config:
            config.write(f'\n[store]\nurl = "{store_url}"\n')
    async with test_node(home, clock=fake_clock, sleep=fake_clock.sleep) as node:
        assert isinstance(node.ctx.blobs, PgBlobStore if store_url else BlobStore)
        yield node
    if store_url:
        assert not (home / "blobs").exists()  # nothing of the photos in the data directory


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def decompression_bomb() -> bytes:
    """A PNG of a few KB whose header says 30,000 × 30,000 pixels (900 MB to decode): a decoder that trusts the
    header allocates it all before it finds the data short."""
    row = b"\x00" + b"\x00" * 30_000
    packer = zlib.compressobj(9)
    data = b"".join(packer.compress(row) for _ in range(100)) + packer.flush()
    header = struct.pack(">IIBBBBB", 30_000, 30_000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", data) + _png_chunk(b"IEND", b"")


def jpeg_with_gps() -> bytes:
    exif = piexif.dump({"GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((53, 1), (54, 1),
                                (0, 1)), piexif.GPSIFD.GPSLongitudeRef: b"E",
                                piexif.GPSIFD.GPSLongitude: ((27, 1), (33, 1), (0, 1))},
                        "0th": {piexif.ImageIFD.Make: b"PhoneMaker", piexif.ImageIFD.Model: b"X1"}})  # fmt: skip
    out = io.BytesIO()
    Image.open(io.BytesIO(clean_photo(fmt="JPEG"))).save(out, "JPEG", exif=exif)
    return out.getvalue()


def png_with_text() -> bytes:
    info = PngImagePlugin.PngInfo()
    info.add_text("Author", "Jane Doe, 12 Lenin st.")
    out = io.BytesIO()
    Image.open(io.BytesIO(clean_photo(fmt="PNG"))).save(out, "PNG", pnginfo=info)
    return out.getvalue()


def jpeg_and_zip() -> bytes:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as packed:
        packed.writestr("payload.html", "<p>hello</p>")
    return clean_photo(fmt="JPEG") + archive.getvalue()


def jpeg_with_script_inside() -> bytes:
    """Markup hidden where no metadata block is: inside the compressed scan data of a JPEG."""
    data = clean_photo(200, 150, fmt="JPEG", noise=True)
    middle = len(data) // 2
    return data[:middle] + b"<script>alert(1)</script>"[: len(data) - middle - 2] + data[middle + 26 :]


HOSTILE = {
    "script inside the scan data": (jpeg_with_script_inside, None, "markup"),
    "decompression bomb": (decompression_bomb, None, "30000x30000 pixels"),
    "truncated JPEG": (lambda: clean_photo(200, 150, fmt="JPEG")[:-300], None, "truncated"),
    "JPEG with HTML appended": (
        lambda: clean_photo(fmt="JPEG") + b"<html><script>alert(1)</script></html>",
        None,
        "follow the end of the JPEG image (a polyglot file)",
    ),  # fmt: skip
    "JPEG and ZIP at once": (jpeg_and_zip, None, "follow the end of the JPEG image"),
    "wrong Content-Type": (lambda: clean_photo(fmt="PNG"), "image/jpeg", "declared image/jpeg but is image/png"),
    "SVG declared": (
        lambda: b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
        "image/svg+xml",
        "not accepted",
    ),  # fmt: skip
    "HTML claiming to be a JPEG": (
        lambda: b"<!doctype html><script>alert(1)</script>",
        "image/jpeg",
        "not a JPEG, PNG or WebP",
    ),  # fmt: skip
    "JPEG with GPS EXIF": (jpeg_with_gps, None, "EXIF"),
    "PNG with a text chunk": (png_with_text, None, "text chunk"),
    "WebP with EXIF": (lambda: _webp_with_exif(), None, "EXIF"),
    "empty": (lambda: b"", None, "empty"),
}


def _webp_with_exif() -> bytes:
    out = io.BytesIO()
    Image.open(io.BytesIO(clean_photo())).save(out, "WEBP", exif=piexif.dump({"0th": {piexif.ImageIFD.Make: b"X"}}))
    return out.getvalue()


@pytest.mark.parametrize("name", sorted(HOSTILE))
async def test_hostile_images_are_refused_with_their_reason_and_nothing_is_stored(ctx: Context, name: str) -> None:
    make, declared, reason = HOSTILE[name]
    kept = blobs.put_blob(ctx, clean_photo(seed=1))
    with pytest.raises(blobs.BlobRefused) as refused:
        blobs.put_blob(ctx, make(), declared)
    assert reason in str(refused.value)
    assert "\n" not in str(refused.value)
    assert [e.sha256 for e in blobs.blob_store(ctx).entries()] == [kept.sha256]  # the node keeps its data
    assert blobs.get_blob(ctx, kept.sha256) == clean_photo(seed=1)


@pytest.mark.parametrize("fmt", ["WEBP", "JPEG", "PNG"])
async def test_a_clean_photo_is_stored_and_read_back_unchanged(ctx: Context, fmt: str) -> None:
    data = clean_photo(320, 200, fmt=fmt, seed=4)
    descriptor = blobs.put_blob(ctx, data, f"image/{fmt.lower()}", owner=ctx.pubkey)
    assert descriptor.sha256 == hashlib.sha256(data).hexdigest()
    assert descriptor.type == f"image/{fmt.lower()}"
    assert blobs.get_blob(ctx, descriptor.sha256) == data
    assert blobs.has_blob(ctx, descriptor.sha256)
    assert [e.sha256 for e in blobs.list_blobs(ctx, ctx.pubkey)] == [descriptor.sha256]
    assert blobs.delete_blob(ctx, descriptor.sha256)
    assert blobs.get_blob(ctx, descriptor.sha256) is None
    assert not blobs.has_blob(ctx, descriptor.sha256)


def test_an_encrypted_store_keeps_its_photos_in_its_encrypted_index_and_no_plain_bytes(tmp_path: Path) -> None:
    data = clean_photo(seed=9)
    sha256 = hashlib.sha256(data).hexdigest()
    store = BlobStore(tmp_path / "blobs", bytes(range(32)))
    try:
        store.put(sha256, data, "image/webp", thumb=False, now=1)
        names = [
            p.name for p in (tmp_path / "blobs").iterdir() if p.name.split("-")[0] not in ("index.sqlite", "keycheck")
        ]
        assert names == []  # no file of its own: its size and birth time would tell the photo (store/blobs.py)
        everything = b"".join(p.read_bytes() for p in (tmp_path / "blobs").iterdir())
        assert data[:64] not in everything
        assert data[-64:] not in everything
        assert sha256.encode() not in everything  # the index is encrypted too
        assert store.get(sha256) == data
    finally:
        store.close()
    other = BlobStore(tmp_path / "plain", None)
    try:
        other.put(sha256, data, "image/webp", thumb=False, now=1)
        assert (tmp_path / "plain" / sha256).read_bytes() == data  # a --no-passphrase node: plain, like its store
    finally:
        other.close()


# -- posts with photos -----------------------------------------------------------------------------------------


async def _channel(ctx: Context, editor: SecretKey | None = None) -> str:
    channel, _ = await posts.create_channel(ctx, "photos", "Photos")
    if editor is not None:
        await posts.change_admins(ctx, channel.address, add=[editor.public_key_hex], role="editor", remove=[],
                                  since=None)  # fmt: skip
    return channel.address


async def test_a_retraction_removes_a_photo_unless_another_post_uses_it(ctx: Context) -> None:
    address = await _channel(ctx)
    shared, only = (clean_photo(seed=20), clean_photo(16, 12, seed=21)), (clean_photo(seed=22), clean_photo(16, 12))
    for data in (*shared, *only):
        blobs.put_blob(ctx, data)
    first = photo_post(ctx.key, address, [shared, only], ctx.now())
    second = photo_post(ctx.key, address, [shared], ctx.now() + 1)
    await ctx.ingest([first, second])
    from samizdat.services import blob_travel as travel

    await travel.catch_up(ctx)
    channel = await posts.channels.lookup(ctx, address)
    assert channel is not None
    retraction, deletion = build_retraction(ctx.key, channel, first, "wrong place", created_at=ctx.now() + 2)
    await ctx.ingest([retraction])
    await travel.catch_up(ctx)
    stored = {e.sha256 for e in blobs.blob_store(ctx).entries()}
    assert stored == {hashlib.sha256(d).hexdigest() for d in shared}


async def test_uploads_are_for_the_operator_and_the_channels_posters(ctx: Context, stranger: SecretKey) -> None:
    editor = SecretKey(bytes([9]) * 32)
    assert await blobs.may_upload(ctx, ctx.pubkey)
    assert not await blobs.may_upload(ctx, editor.public_key_hex)
    await _channel(ctx, editor)
    assert await blobs.may_upload(ctx, editor.public_key_hex)
    assert not await blobs.may_upload(ctx, stranger.public_key_hex)


# -- travel ----------------------------------------------------------------------------------------------------


async def _http_server(files: dict[str, bytes], asked: list[str] | None = None) -> AsyncIterator[str]:
    """An HTTP server on loopback serving ``files`` by the name before the first dot (each path asked is added to
    ``asked``); yields its base URL."""

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readuntil(b"\r\n\r\n")
            path = request.split(b" ", 2)[1].decode()
            if asked is not None:
                asked.append(path)
            body = files.get(path.lstrip("/").split(".", 1)[0])
            if body is None:
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            else:
                head = f"HTTP/1.1 200 OK\r\nContent-Type: image/webp\r\nContent-Length: {len(body)}\r\n\r\n"
                writer.write(head.encode() + body)
            await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    finally:
        server.close()
        await server.wait_closed()


@pytest.fixture
async def source() -> AsyncIterator[dict[str, bytes]]:
    files: dict[str, bytes] = {}
    async for url in _http_server(files):
        files["__url__"] = url.encode()
        yield files


async def test_photos_travel_thumbnails_first_and_a_tampered_blob_is_refused(
    ctx: Context, source: dict[str, bytes]
) -> None:
    address = await _channel(ctx)
    good, tampered = (clean_photo(seed=30), clean_photo(16, 12, seed=31)), (clean_photo(seed=32), clean_photo(16, 12))
    post = photo_post(ctx.key, address, [good, tampered], ctx.now())
    await ctx.ingest([post])
    for data in good:
        source[hashlib.sha256(data).hexdigest()] = data
    source[hashlib.sha256(tampered[0]).hexdigest()] = clean_photo(seed=99)  # other bytes under that name
    source[hashlib.sha256(tampered[1]).hexdigest()] = tampered[1] + b"<script>"
    base = source["__url__"].decode()
    report = await blob_travel.travel(ctx, [base], blob_travel.Bounds(count=10))
    assert report.fetched == 2
    assert len(report.refused) == 2
    assert any("not the" in line and "expected" in line for line in report.refused)  # hash mismatch
    assert {blobs.get_blob(ctx, hashlib.sha256(d).hexdigest()) for d in good} == set(good)
    assert not blobs.has_blob(ctx, hashlib.sha256(tampered[0]).hexdigest())
    assert report.missing == 2
    again = await blob_travel.travel(ctx, [base])
    assert again.fetched == 0
    assert not again.refused


async def test_a_pass_is_bounded_in_count(ctx: Context, source: dict[str, bytes]) -> None:
    address = await _channel(ctx)
    pairs = [(clean_photo(seed=40 + i), clean_photo(16, 12, seed=60 + i)) for i in range(4)]
    await ctx.ingest([photo_post(ctx.key, address, pairs, ctx.now())])
    for pair in pairs:
        for data in pair:
            source[hashlib.sha256(data).hexdigest()] = data
    report = await blob_travel.travel(ctx, [source["__url__"].decode()], blob_travel.Bounds(count=4))
    assert report.fetched == 4
    stored = {e.sha256: e.thumb for e in blobs.blob_store(ctx).entries()}
    assert all(stored.values())  # the four thumbnails came first
    assert report.missing == 4


async def test_under_quota_pressure_carried_full_images_go_before_thumbnails_and_own_photos_stay(
    ctx: Context, stranger: SecretKey
) -> None:
    from samizdat.core.channel import build_channel_event
    from samizdat.services import blob_quota, channels

    own = await _channel(ctx)
    definition = build_channel_event(stranger, "elsewhere", "Elsewhere", created_at=ctx.now())
    await ctx.ingest([definition])
    carried_pairs = [(clean_photo(seed=70 + i, noise=True), clean_photo(16, 12, seed=80 + i)) for i in range(2)]
    own_pair = (clean_photo(seed=90, noise=True), clean_photo(16, 12, seed=91))
    address = f"30333:{stranger.public_key_hex}:elsewhere"
    await ctx.ingest([photo_post(stranger, address, carried_pairs, ctx.now()),
                      photo_post(ctx.key, own, [own_pair], ctx.now())])  # fmt: skip
    await blob_travel.catch_up(ctx)
    for full, thumb in [*carried_pairs, own_pair]:  # as travel stores them: no uploader
        await blobs.store_blob(ctx, full, thumb=False)
        await blobs.store_blob(ctx, thumb, thumb=True)
    rules = await channels.keep_rules(ctx)
    events = await ctx.store.carried_bytes(rules)
    thumbs = sum(len(t) for _, t in carried_pairs)

    roomy = await blob_quota.enforce(ctx, rules, 10**9)
    assert roomy.evicted_full == roomy.evicted_thumbs == 0

    tight = await blob_quota.enforce(ctx, rules, events + thumbs + 10)
    assert tight.evicted_full == 2
    assert tight.evicted_thumbs == 0
    assert all(blobs.has_blob(ctx, hashlib.sha256(t).hexdigest()) for _, t in carried_pairs)
    tighter = await blob_quota.enforce(ctx, rules, events + 10)
    assert tighter.evicted_thumbs == 2
    assert tighter.carried_bytes == 0
    assert all(blobs.has_blob(ctx, hashlib.sha256(d).hexdigest()) for d in own_pair)  # a kept channel's photos
    assert await ctx.store.carried_bytes(rules) == events  # text stays: it goes last, in the store's own pass


def test_a_plain_store_is_encrypted_when_the_node_gets_a_key(tmp_path: Path) -> None:
    data = clean_photo(seed=33)
    sha256 = hashlib.sha256(data).hexdigest()
    plain = BlobStore(tmp_path / "blobs", None)
    plain.put(sha256, data, "image/webp", thumb=True, now=5, owner="ab" * 32)
    plain.add_refs("cd" * 32, [sha256])
    plain.close()
    encrypted = BlobStore(tmp_path / "blobs", bytes(range(32)))  # after `samizdat encrypt`
    try:
        assert encrypted.get(sha256) == data
        assert encrypted.listing("ab" * 32)[0].thumb
        assert encrypted.referenced_by(sha256) == {"cd" * 32}
        assert not (tmp_path / "blobs" / sha256).exists()
        everything = b"".join(p.read_bytes() for p in (tmp_path / "blobs").iterdir())
        assert sha256.encode() not in everything
        assert data[:64] not in everything
    finally:
        encrypted.close()


def test_after_a_duress_unlock_the_erased_keys_photos_are_gone_and_the_store_opens_empty(tmp_path: Path) -> None:
    data = clean_photo(seed=34)
    sha256 = hashlib.sha256(data).hexdigest()
    real = BlobStore(tmp_path / "blobs", bytes(range(32)))
    real.put(sha256, data, "image/webp", thumb=False, now=1)
    real.close()
    decoy = BlobStore(tmp_path / "blobs", bytes(range(1, 33)))  # the data key is now the decoy's
    try:
        assert decoy.entries() == []
        assert decoy.get(sha256) is None
        assert sorted(p.name for p in (tmp_path / "blobs").iterdir() if not p.name.startswith("index.sqlite")) == [
            "keycheck"
        ]
    finally:
        decoy.close()


def test_a_damaged_index_is_an_error_and_deletes_nothing(tmp_path: Path) -> None:
    from samizdat.errors import StoreError

    data = clean_photo(seed=35)
    store = BlobStore(tmp_path / "blobs", bytes(range(32)))
    store.put(hashlib.sha256(data).hexdigest(), data, "image/webp", thumb=False, now=1)
    store.close()
    (tmp_path / "blobs" / "index.sqlite").write_bytes(os.urandom(4096))
    before = sorted(p.name for p in (tmp_path / "blobs").iterdir())
    with pytest.raises(StoreError, match="blob index"):
        BlobStore(tmp_path / "blobs", bytes(range(32)))
    assert sorted(p.name for p in (tmp_path / "blobs").iterdir()) == before


async def test_the_authors_deletion_request_removes_the_photos_but_a_strangers_does_not(
    ctx: Context, stranger: SecretKey
) -> None:
    address = await _channel(ctx)
    pair = (clean_photo(seed=36), clean_photo(16, 12, seed=37))
    for data in pair:
        blobs.put_blob(ctx, data)
    post = photo_post(ctx.key, address, [pair], ctx.now())
    await ctx.ingest([post])
    await blob_travel.catch_up(ctx)
    forged = sign_event(stranger, 5, "", [["e", post.id], ["k", "2333"]], created_at=ctx.now() + 1)
    await ctx.ingest([forged])
    await blob_travel.catch_up(ctx)
    assert all(blobs.has_blob(ctx, hashlib.sha256(d).hexdigest()) for d in pair)
    deletion = sign_event(ctx.key, 5, "wrong photo", [["e", post.id], ["k", "2333"]], created_at=ctx.now() + 2)
    await ctx.ingest([deletion])
    await blob_travel.catch_up(ctx)
    assert not any(blobs.has_blob(ctx, hashlib.sha256(d).hexdigest()) for d in pair)


async def test_a_strangers_photo_references_are_not_followed(
    ctx: Context, source: dict[str, bytes], stranger: SecretKey
) -> None:
    # Anyone may store an event on the relay; only the photos of those who may post in a known channel are fetched.
    address = await _channel(ctx)
    photo = clean_photo(seed=70), clean_photo(16, 12, seed=71)
    for data in photo:
        source[hashlib.sha256(data).hexdigest()] = data
    await ctx.ingest([photo_post(stranger, address, [photo], ctx.now())])
    report = await blob_travel.travel(ctx, [source["__url__"].decode()])
    assert report.fetched == 0
    assert blobs.blob_store(ctx).missing(ctx.now(), 100) == []


async def test_references_of_a_post_gone_from_the_store_do_not_block_later_photos(
    ctx: Context, source: dict[str, bytes]
) -> None:
    # Posts that expire (or are evicted, or deleted) leave their references behind: as many as a pass looks at must
    # not keep a later post's photos from ever being fetched.
    address = await _channel(ctx)
    store = blobs.blob_store(ctx)
    for i in range(30):  # older than the real post, so first in line
        store.add_refs(f"{i:064x}", {hashlib.sha256(bytes([i, n])).hexdigest() for n in range(2)})
    later = (clean_photo(seed=95), clean_photo(16, 12, seed=96))
    for data in later:
        source[hashlib.sha256(data).hexdigest()] = data
    await ctx.ingest([photo_post(ctx.key, address, [later], ctx.now())])
    for _ in range(5):  # a pass looks at 10 x count references: the dead ones go, then the photos come
        await blob_travel.travel(ctx, [source["__url__"].decode()], blob_travel.Bounds(count=2))
    assert {blobs.has_blob(ctx, hashlib.sha256(d).hexdigest()) for d in later} == {True}
    assert store.missing(ctx.now(), 1000) == []
