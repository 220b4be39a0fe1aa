"""Photos as a beacon: a poster of a channel (an admin whose key the police hold) names, as a photo's url, a server
of their own. A node that carries the post must not fetch from it (the server would learn the node's address and
when it got the post); it fetches the photo by hash from the channel's media servers, and a url on one of those
is followed. Real parts: two HTTP servers on loopback that log each request, the node's own photo pass."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from test_blobs import _http_server

from samizdat.core.event import Event, sign_event
from samizdat.core.imeta import PhotoRef, imeta_tag, media_url
from samizdat.core.keys import SecretKey
from samizdat.services import blob_travel, blobs, posts
from samizdat.services.context import Context
from samizdat.testing import clean_photo


@dataclass
class LoggingServer:
    """An HTTP server on loopback (test_blobs.py's) and the paths it was asked for."""

    files: dict[str, bytes] = field(default_factory=dict)
    asked: list[str] = field(default_factory=list)
    url: str = ""


@pytest.fixture
async def servers() -> AsyncIterator[tuple[LoggingServer, LoggingServer]]:
    """The channel's media server, and the police's."""
    media, police = LoggingServer(), LoggingServer()
    async with contextlib.AsyncExitStack() as stack:
        for server in (media, police):
            serving = _http_server(server.files, server.asked)
            server.url = await anext(serving)
            stack.push_async_callback(serving.aclose)
        yield media, police


def post_naming(key: SecretKey, address: str, photo: tuple[bytes, bytes], base: str, created_at: int) -> Event:
    full, thumb = photo
    sha, tsha = hashlib.sha256(full).hexdigest(), hashlib.sha256(thumb).hexdigest()
    ref = PhotoRef(sha, media_url(base, sha), "image/webp", 64, 48, "LEHV6nWB2yk8", "a yard", len(full), tsha,
                   media_url(base, tsha))  # fmt: skip
    tags = [["a", address, ""], ["type", "news"], imeta_tag(ref)]
    return sign_event(key, 2333, "Vans in the yard", tags, created_at=created_at)


async def test_a_photo_url_a_turned_admin_names_is_never_fetched_the_media_server_serves_it(
    ctx: Context, servers: tuple[LoggingServer, LoggingServer]
) -> None:
    media, police = servers
    admin = SecretKey(bytes([11]) * 32)
    channel, _ = await posts.create_channel(ctx, "yard", "Our yard", media=[media.url])
    await posts.change_admins(ctx, channel.address, add=[admin.public_key_hex], role="admin", remove=[], since=None)
    photo = (clean_photo(seed=70), clean_photo(16, 12, seed=71))
    for data in photo:
        police.files[hashlib.sha256(data).hexdigest()] = data
        media.files[hashlib.sha256(data).hexdigest()] = data
    await ctx.ingest([post_naming(admin, channel.address, photo, police.url, ctx.now())])

    report = await blob_travel.travel(ctx, [], blob_travel.Bounds(count=10))

    assert police.asked == []  # the police's server never learnt that this node carries the post
    assert report.fetched == 2  # by hash, from the channel's media server
    assert {blobs.get_blob(ctx, hashlib.sha256(d).hexdigest()) for d in photo} == set(photo)
    assert len(media.asked) == 2


async def test_a_photo_url_on_the_channels_media_server_is_followed(
    ctx: Context, servers: tuple[LoggingServer, LoggingServer]
) -> None:
    media, police = servers
    channel, _ = await posts.create_channel(ctx, "yard", "Our yard", media=[media.url])
    photo = (clean_photo(seed=72), clean_photo(16, 12, seed=73))
    for data in photo:  # under a path of its own on the media server, not the bare hash
        media.files[f"photos/{hashlib.sha256(data).hexdigest()}"] = data
    post = post_naming(ctx.key, channel.address, photo, f"{media.url}/photos", ctx.now())
    await ctx.ingest([post])

    report = await blob_travel.travel(ctx, [], blob_travel.Bounds(count=10))

    assert report.fetched == 2
    assert any(path.startswith("/photos/") for path in media.asked)
    assert police.asked == []
