"""Two nodes on one PostgreSQL database serve the same photos (store/pgblobs.py): a photo uploaded through one
node's Blossom endpoint is served byte for byte by the other (BUD-01), listed by it (BUD-12) and deleted through it,
over real HTTP on loopback, each node with its own data directory and identity."""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
from test_blossom import auth, request

from samizdat.config import init_home
from samizdat.core.keys import SecretKey
from samizdat.node import Node
from samizdat.services import blobs, posts
from samizdat.testing import clean_photo, running_relay, test_node
from samizdat.web.blossom import BlossomEndpoint

EDITOR = SecretKey(bytes([5]) * 32)


@contextlib.asynccontextmanager
async def served_node(home: Path, url: str) -> AsyncIterator[tuple[Node, int]]:
    """A node on ``home`` whose events and photos are in ``url``, with its Blossom endpoint on a loopback port."""
    init_home(home)
    with (home / "config.toml").open("a", encoding="utf-8") as config:
        config.write(f'\n[store]\nurl = "{url}"\n')
    async with test_node(home) as node:
        handler = BlossomEndpoint(node.ctx)
        async with running_relay(home.parent / f"{home.name}-relay", request_handler=handler,
                                 max_body=blobs.MAX_BLOB_BYTES) as relay:  # fmt: skip
            yield node, relay.port


async def test_a_photo_uploaded_to_one_node_is_served_listed_and_deleted_by_the_other(
    tmp_path: Path, postgres_url: str
) -> None:
    async with (
        served_node(tmp_path / "a", postgres_url) as (a, a_port),
        served_node(tmp_path / "b", postgres_url) as (b, b_port),
    ):
        assert a.ctx.pubkey != b.ctx.pubkey  # two nodes, one database
        channel, _ = await posts.create_channel(a.ctx, "photos", "Photos")
        await posts.change_admins(a.ctx, channel.address, add=[EDITOR.public_key_hex], role="editor", remove=[],
                                  since=None)  # fmt: skip
        data, thumb = clean_photo(320, 200, seed=3), clean_photo(40, 25, seed=4)
        sha256 = hashlib.sha256(data).hexdigest()
        for body in (data, thumb):
            created = await request(a_port, "PUT", "/upload", body, {"Content-Type": "image/webp",
                                                                     **auth(EDITOR, "upload", body)})  # fmt: skip
            assert created.status == 201, created.headers.get("x-reason")

        got = await request(b_port, "GET", f"/{sha256}.webp")
        assert got.status == 200
        assert got.body == data
        assert got.headers["content-type"] == "image/webp"
        listed = await request(b_port, "GET", f"/list/{EDITOR.public_key_hex}", headers=auth(EDITOR, "list"))
        assert sorted(d["sha256"] for d in orjson.loads(listed.body)) == sorted(
            hashlib.sha256(x).hexdigest() for x in (data, thumb)
        )
        assert all(d["url"].startswith(f"http://127.0.0.1:{b_port}/") for d in orjson.loads(listed.body))

        deleted = await request(b_port, "DELETE", f"/{sha256}", headers=auth(EDITOR, "delete", data))
        assert deleted.status == 200
        assert (await request(a_port, "GET", f"/{sha256}")).status == 404
        assert (await request(b_port, "HEAD", f"/{sha256}")).status == 404
        other = await request(a_port, "GET", f"/{hashlib.sha256(thumb).hexdigest()}")
        assert other.body == thumb  # the other upload stays
        for node in (a, b):
            assert not (node.ctx.home / "blobs").exists()
