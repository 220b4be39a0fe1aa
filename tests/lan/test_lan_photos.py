"""Photos travel over a LAN peer link: a post with two photos made on one node reaches a second node on the same
LAN (real network namespaces, mDNS discovery, peer links), and the second node fetches the photos from the first
by hash as soon as the post arrives, and serves the same bytes."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from pathlib import Path

import pytest
from lan_netns import Lab, LanNode, wait_for

from samizdat.core.event import sign_event
from samizdat.core.imeta import PhotoRef, imeta_tag, media_url
from samizdat.node import Node
from samizdat.services import blobs, posts
from samizdat.testing import clean_photo, node_keys

pytestmark = pytest.mark.slow

DISCOVERY_TIMEOUT = 60.0
ARRIVAL_TIMEOUT = 60.0
FETCH = """
import hashlib, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as answer:
    print(answer.headers["Content-Type"], hashlib.sha256(answer.read()).hexdigest())
"""


async def make_post(home: Path) -> tuple[list[bytes], str]:
    node = await Node.open(home, keys=node_keys(home))
    try:
        ctx = node.ctx
        channel, _ = await posts.create_channel(ctx, "yard", "The yard")
        tags: list[list[str]] = [["a", channel.address, ""], ["type", "news"]]
        photos = []
        for seed in (1, 3):
            full, thumb = clean_photo(400, 300, seed=seed, noise=True), clean_photo(80, 60, seed=seed + 1, noise=True)
            blobs.put_blob(ctx, full, owner=ctx.pubkey, thumb=False)
            blobs.put_blob(ctx, thumb, owner=ctx.pubkey, thumb=True)
            sha, tsha = hashlib.sha256(full).hexdigest(), hashlib.sha256(thumb).hexdigest()
            tags.append(imeta_tag(PhotoRef(sha, media_url(None, sha), "image/webp", 400, 300, thumb_sha256=tsha,
                                           thumb_url=media_url(None, tsha))))  # fmt: skip
            photos += [full, thumb]
        post = sign_event(ctx.key, 2333, "Water is back in block 3", tags, created_at=ctx.now())
        await ctx.ingest([post])
        return photos, post.id
    finally:
        await node.close()


def served(lab: Lab, node: LanNode, sha256: str) -> str:
    """What ``node`` serves for ``sha256`` (type and hash), fetched from inside its own namespace; "" if nothing."""
    result = lab.run(node.ns, [sys.executable, "-c", FETCH, f"http://{node.addr}:{node.port}/{sha256}.webp"])
    return result.out.strip() if result.code == 0 else ""


def test_photos_follow_their_post_over_a_lan_link(lab: Lab) -> None:
    lan = lab.lan()
    author, reader = lab.node(lan, "author"), lab.node(lan, "reader")
    photos, post_id = asyncio.run(make_post(author.home))
    author.start("--lan")
    reader.start("--lan")
    started = time.monotonic()
    wait_for(lambda: reader.has(post_id), DISCOVERY_TIMEOUT + ARRIVAL_TIMEOUT, "the post on the reader")
    hashes = [hashlib.sha256(p).hexdigest() for p in photos]
    wait_for(lambda: all(served(lab, reader, h) == f"image/webp {h}" for h in hashes), ARRIVAL_TIMEOUT,
             "the four photos served by the reader")  # fmt: skip
    print(f"\npost and photos on the reader {time.monotonic() - started:.1f} s after the nodes started")
    assert author.running
    assert reader.running
