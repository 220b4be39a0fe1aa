"""A foreign Blossom client, npm ``blossom-client-sdk`` (in ``blossom_client/``, its own package.json and lock),
uploads a photo to a Samizdat node, fetches it back, lists and deletes it: the node speaks Blossom as other
clients expect (BUD-01, 02, 06, 11, 12). The SDK leaves signing to its application; here a small Python command
signs the kind-24242 events with a key that may post in the node's channel."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from samizdat.core.keys import SecretKey
from samizdat.services import blobs, posts
from samizdat.testing import clean_photo, running_relay, test_node
from samizdat.web.blossom import BlossomEndpoint

CLIENT = Path(__file__).parent / "blossom_client"
INSTALL_TIMEOUT = 300.0
RUN_TIMEOUT = 60.0
POSTER_HEX = "0c" * 32
SIGNER = """
import os, sys, orjson
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
draft = orjson.loads(sys.stdin.buffer.read())
event = sign_event(SecretKey.from_hex(os.environ["SIGNER_KEY"]), draft["kind"], draft["content"], draft["tags"],
                   created_at=draft["created_at"])
sys.stdout.buffer.write(event.to_json())
"""


@pytest.fixture(scope="module")
def sdk() -> Path:
    """The SDK installed from blossom_client/package-lock.json (once; ``npm ci`` when node_modules is missing)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("node and npm are needed for the foreign Blossom client test")
        pytest.skip("node and npm are not installed")
    if not (CLIENT / "node_modules" / "blossom-client-sdk").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=CLIENT, check=True,
                       timeout=INSTALL_TIMEOUT, stdin=subprocess.DEVNULL)  # fmt: skip
    return CLIENT


@pytest.fixture
async def node_port(tmp_path: Path) -> AsyncIterator[tuple[int, SecretKey]]:
    poster = SecretKey.from_hex(POSTER_HEX)
    async with test_node(tmp_path / "node") as node:
        channel, _ = await posts.create_channel(node.ctx, "photos", "Photos")
        await posts.change_admins(node.ctx, channel.address, add=[poster.public_key_hex], role="editor", remove=[],
                                  since=None)  # fmt: skip
        handler = BlossomEndpoint(node.ctx)
        async with running_relay(tmp_path, request_handler=handler, max_body=blobs.MAX_BLOB_BYTES) as relay:
            yield relay.port, poster


async def test_blossom_client_sdk_uploads_fetches_lists_and_deletes(
    sdk: Path, node_port: tuple[int, SecretKey], tmp_path: Path
) -> None:
    port, poster = node_port
    photo = clean_photo(200, 150, seed=5, noise=True)
    file = tmp_path / "photo.webp"
    file.write_bytes(photo)
    env = {**os.environ, "SIGNER": orjson.dumps([sys.executable, "-c", SIGNER]).decode(),
           "SIGNER_KEY": POSTER_HEX}  # fmt: skip
    process = await asyncio.create_subprocess_exec(
        "node", str(sdk / "client.mjs"), f"http://127.0.0.1:{port}", str(file), "image/webp",
        cwd=sdk, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        out, err = await asyncio.wait_for(process.communicate(), RUN_TIMEOUT)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()[-2000:]
    seen = orjson.loads(out.splitlines()[-1])
    sha256 = hashlib.sha256(photo).hexdigest()
    assert seen["descriptor"]["sha256"] == sha256
    assert seen["descriptor"]["url"].endswith(f"/{sha256}.webp")
    assert seen["downloaded"] == sha256
    assert seen["contentType"] == "image/webp"
    assert seen["listed"] == [sha256]
    assert seen["deleted"] is True
    assert seen["afterDelete"] == "404"
