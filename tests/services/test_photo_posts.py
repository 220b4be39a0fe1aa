"""Photos in posts (services/photo_posts.py): a post carries one imeta tag per photo, with urls on the channel's
media server; the photos are stored only once the post is valid; a photo missing here is fetched from the media
server, checked against its hash, and kept."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator

import pytest

import photo_samples as samples
from samizdat.core.imeta import photo_refs
from samizdat.errors import UsageError
from samizdat.services import blobs, photo_posts, posts
from samizdat.services.context import Context
from samizdat.services.photo_posts import Attachment
from samizdat.services.photos import prepare_photo


class MediaServer:
    """A plain HTTP server on loopback answering ``GET /<name>`` from a dict (the bytes a media server holds)."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.url = ""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            path = head.split(b" ", 2)[1].decode()
            self.requests.append(path)
            body = self.files.get(path.lstrip("/"))
            status = b"200 OK" if body is not None else b"404 Not Found"
            body = body or b""
            writer.write(
                b"HTTP/1.1 " + status + b"\r\nContent-Type: image/webp\r\nContent-Length: "
                + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
            )  # fmt: skip
            await writer.drain()
        finally:
            writer.close()


@pytest.fixture
async def media() -> AsyncIterator[MediaServer]:
    server = MediaServer()
    listening = await asyncio.start_server(server.handle, "127.0.0.1", 0)
    server.url = f"http://127.0.0.1:{listening.sockets[0].getsockname()[1]}"
    try:
        yield server
    finally:
        listening.close()
        await listening.wait_closed()


@pytest.fixture(scope="module")
def attachment() -> Attachment:
    return Attachment(prepare_photo(samples.loaded_jpeg(samples.coffee(), icc=False)), "A cup of coffee")


async def test_a_post_names_its_photos_on_the_channels_media_server(
    ctx: Context, media: MediaServer, attachment: Attachment
) -> None:
    await posts.create_channel(ctx, "district", "District", media=[media.url])
    published = await posts.post(ctx, "district", "news", "Coffee is free at the corner", photos=[attachment])
    event = await ctx.store.get(published.ids[0])
    assert event is not None
    [ref] = photo_refs(event)
    full_hash = hashlib.sha256(attachment.photo.full).hexdigest()
    thumb_hash = hashlib.sha256(attachment.photo.thumb).hexdigest()
    assert ref.sha256 == full_hash
    assert ref.url == f"{media.url}/{full_hash}.webp"
    assert ref.thumb_url == f"{media.url}/{thumb_hash}.webp"
    assert ref.thumb_sha256 == thumb_hash
    assert (ref.width, ref.height, ref.size, ref.alt) == (600, 400, len(attachment.photo.full), "A cup of coffee")
    assert ref.blurhash == attachment.photo.blurhash
    assert blobs.get_blob(ctx, full_hash) == attachment.photo.full
    assert blobs.get_blob(ctx, thumb_hash) == attachment.photo.thumb


async def test_without_a_media_server_the_url_is_the_bare_file_name(ctx: Context, attachment: Attachment) -> None:
    await posts.create_channel(ctx, "district", "District")
    published = await posts.post(ctx, "district", "news", "Coffee", photos=[attachment])
    event = await ctx.store.get(published.ids[0])
    assert event is not None
    [ref] = photo_refs(event)
    assert ref.url == f"{ref.sha256}.webp"


async def test_a_refused_post_stores_no_photo(ctx: Context, attachment: Attachment) -> None:
    await posts.create_channel(ctx, "district", "District")
    with pytest.raises(UsageError):
        await posts.post(ctx, "district", "alert", "No place given", photos=[attachment])  # an alert needs one
    assert not blobs.has_blob(ctx, hashlib.sha256(attachment.photo.full).hexdigest())


async def test_a_missing_photo_is_fetched_from_the_media_server_and_checked(
    ctx: Context, media: MediaServer, attachment: Attachment
) -> None:
    await posts.create_channel(ctx, "district", "District", media=[media.url])
    published = await posts.post(ctx, "district", "news", "Coffee", photos=[attachment])
    full_hash = hashlib.sha256(attachment.photo.full).hexdigest()
    assert blobs.delete_blob(ctx, full_hash)

    found = await photo_posts.find_photo(ctx, f"{published.ids[0][:10]}:1")
    assert found.sha256 == full_hash
    # a media server that hands out other bytes is not believed
    media.files[f"{full_hash}.webp"] = attachment.photo.thumb
    with pytest.raises(UsageError, match="not on this node nor on the 1 server"):
        await photo_posts.photo_bytes(ctx, found)
    assert not blobs.has_blob(ctx, full_hash)

    media.files[f"{full_hash}.webp"] = attachment.photo.full
    data, fetched = await photo_posts.photo_bytes(ctx, found)
    assert fetched
    assert data == attachment.photo.full
    assert blobs.get_blob(ctx, full_hash) == attachment.photo.full  # kept for next time
    assert media.requests == [f"/{full_hash}.webp"] * 2


async def test_a_photo_is_found_by_its_hash_and_its_thumbnail_too(ctx: Context, attachment: Attachment) -> None:
    await posts.create_channel(ctx, "district", "District")
    await posts.post(ctx, "district", "news", "Coffee", photos=[attachment])
    full_hash = hashlib.sha256(attachment.photo.full).hexdigest()
    found = await photo_posts.find_photo(ctx, full_hash, thumb=True)
    assert found.ref is not None
    assert found.sha256 == found.ref.thumb_sha256
    data, fetched = await photo_posts.photo_bytes(ctx, found)
    assert not fetched
    assert data == attachment.photo.thumb
    with pytest.raises(UsageError, match="has 1 photo"):
        await photo_posts.find_photo(ctx, f"{found.event.id if found.event else ''}:2")


async def test_more_photos_than_a_post_may_carry_are_refused(ctx: Context, attachment: Attachment) -> None:
    await posts.create_channel(ctx, "district", "District")
    with pytest.raises(UsageError, match="at most 8 photos"):
        await posts.post(ctx, "district", "news", "Many", photos=[attachment] * 9)


def test_the_prepared_photo_is_what_the_blob_check_accepts(attachment: Attachment) -> None:
    """What the pipeline makes passes the node's own upload check (services/blobs.py), full image and thumbnail."""
    for data in (attachment.photo.full, attachment.photo.thumb):
        info = blobs.check_image(data, "image/webp")
        assert info.mime == "image/webp"
    assert samples.metadata_in(attachment.photo.full) == []
