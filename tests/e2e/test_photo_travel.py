"""Photos travel with posts between real nodes: a post with two photos made on node A reaches node B through a relay
(``samizdat sync``, the photos fetched from the channel's media server), and reaches the relay's own node, which
had the post but none of its photos, through a bundle file (``samizdat export`` / ``samizdat import``). Both serve
the same bytes, with the same SHA-256 and type, over Blossom on their own port. All nodes are ``samizdat serve``
processes or ``samizdat`` commands on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from samizdat.core.event import sign_event
from samizdat.core.imeta import PhotoRef, imeta_tag, media_url
from samizdat.node import Node
from samizdat.services import blobs, posts, publishing
from samizdat.testing import clean_photo, free_port, node_keys

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

HTTP_TIMEOUT = 10.0


async def make_post_with_photos(home: Path, mirror: str, media: str) -> list[bytes]:
    """On A (not serving): a channel with ``mirror`` and ``media``, two photos with thumbnails, and a post that
    references them, published to the mirror. Returns the four blobs."""
    node = await Node.open(home, keys=node_keys(home))
    try:
        ctx = node.ctx
        channel, _ = await posts.create_channel(ctx, "corner", "The corner", mirrors=[mirror], media=[media])
        pairs = [(clean_photo(320, 240, seed=s, noise=True), clean_photo(64, 48, seed=s + 1, noise=True))
                 for s in (1, 3)]  # fmt: skip
        tags: list[list[str]] = [["a", channel.address, mirror], ["type", "news"]]
        for full, thumb in pairs:
            blobs.put_blob(ctx, full, "image/webp", owner=ctx.pubkey, thumb=False)
            blobs.put_blob(ctx, thumb, "image/webp", owner=ctx.pubkey, thumb=True)
            sha, tsha = hashlib.sha256(full).hexdigest(), hashlib.sha256(thumb).hexdigest()
            ref = PhotoRef(sha, media_url(media, sha), "image/webp", 320, 240, "", "police vans", len(full), tsha,
                           media_url(media, tsha))  # fmt: skip
            tags.append(imeta_tag(ref))
        post = sign_event(ctx.key, 2333, "Vans at the corner", tags, created_at=ctx.now())
        await publishing.publish_now(ctx, [post], channel.mirrors)
        return [d for pair in pairs for d in pair]
    finally:
        await node.close()


async def stored_photos(home: Path) -> set[str]:
    node = await Node.open(home, keys=node_keys(home))
    try:
        return {entry.sha256 for entry in blobs.blob_store(node.ctx).entries()}
    finally:
        await node.close()


def fetch(url: str) -> tuple[int, dict[str, str], bytes]:
    with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT) as answer:
        return answer.status, {k.lower(): v for k, v in answer.headers.items()}, answer.read()


def assert_serves(node: ServeProcess, photos: list[bytes]) -> None:
    for data in photos:
        sha256 = hashlib.sha256(data).hexdigest()
        status, headers, body = fetch(f"http://127.0.0.1:{node.port}/{sha256}.webp")
        assert status == 200
        assert hashlib.sha256(body).hexdigest() == sha256
        assert body == data
        assert headers["content-type"] == "image/webp"
        assert headers["x-content-type-options"] == "nosniff"


def test_a_post_with_two_photos_travels_through_a_relay_and_a_bundle(
    tmp_path: Path, make_cli: Callable[[str], Cli], serve: Callable[..., ServeProcess]
) -> None:
    a, b, hub = make_cli("a"), make_cli("b"), make_cli("hub")
    for cli in (a, b, hub):
        cli.ok("init")
    relay = serve(hub.home)
    port_a = free_port()
    photos = asyncio.run(make_post_with_photos(a.home, relay.url, f"http://127.0.0.1:{port_a}"))
    node_a = serve(a.home, "--port", str(port_a))  # A serves its photos: the channel names it as media server
    assert_serves(node_a, photos)

    synced = b.json("sync", relay.url)
    assert synced["photos"] == 4
    assert asyncio.run(stored_photos(b.home)) == {hashlib.sha256(d).hexdigest() for d in photos}  # by the sync
    node_b = serve(b.home)
    assert_serves(node_b, photos)  # through the relay; the photos from the channel's media server
    node_b.stop()

    node_a.stop()
    relay.stop()  # the hub has the post (it relayed it) but none of its photos: now they come by bundle
    bundle = tmp_path / "corner.smz"
    exported = a.json("export", "-o", str(bundle))
    assert exported["blobs"] == 4
    imported = hub.ok("import", str(bundle))
    assert "Photos: 4 stored" in imported.out
    photos_here = hub.json("status")["photos"]
    assert photos_here == {"stored": 4, "bytes": sum(len(p) for p in photos), "missing": 0}
    assert "Photos: 4 stored" in hub.ok("status").out
    assert_serves(serve(hub.home), photos)
