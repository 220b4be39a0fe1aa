"""A plain ``samizdat serve`` does not load the photo, PostgreSQL and NATS libraries it has no use for yet.

Pillow, pillow-heif, OpenCV, NumPy, blurhash, psycopg and nats-py together doubled the idle node's memory (63 MB
to about 140 MB with 60,000 posts), and an attacked node needs that room (issue 11's 600 MB bound). They load when
a photo is first handled, when the store is PostgreSQL, when the bus is NATS. The process is a real
``samizdat serve`` run with ``PYTHONPROFILEIMPORTTIME`` (``python -X importtime``), which writes one line to
stderr for every module the moment it is imported: after the node has started and answered a visitor's start page,
NIP-11 document and REQ, the lines name none of those libraries.
"""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest
from websockets.asyncio.client import connect

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

WAIT = 30.0  # seconds, for each request below

#: Top-level packages a node loads only when it uses them.
ON_USE = ("PIL", "pillow_heif", "cv2", "numpy", "blurhash", "psycopg", "psycopg_binary", "nats", "skimage", "piexif")

IMPORTED = re.compile(r"^import time:\s+\d+ \|\s+\d+ \|(\s*)([\w.]+)\s*$")


def imported(output: str) -> dict[str, str]:
    """The modules named by ``-X importtime`` lines in ``output``, each with the top-level import that brought
    it in (the next line at the outermost depth: the tree is printed children first)."""
    found: list[tuple[int, str]] = [
        (len(m.group(1)), m.group(2)) for line in output.splitlines() if (m := IMPORTED.match(line))
    ]
    modules: dict[str, str] = {}
    for index, (_depth, name) in enumerate(found):
        root = next((n for d, n in found[index:] if d <= 1), name)
        modules.setdefault(name, root)
    return modules


async def visit(port: int) -> None:
    """What a reader's phone does first: the start page, the NIP-11 document, a REQ answered to EOSE."""

    def get(path: str, accept: str) -> bytes:
        request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return bytes(response.read())

    assert b"<html" in (await asyncio.to_thread(get, "/", "text/html")).lower()
    assert "supported_nips" in json.loads(await asyncio.to_thread(get, "/", "application/nostr+json"))
    async with asyncio.timeout(WAIT), connect(f"ws://127.0.0.1:{port}") as ws:
        await ws.send(json.dumps(["REQ", "s", {"kinds": [1], "limit": 10}]))
        while json.loads(await ws.recv())[0] != "EOSE":
            pass


def test_serve_loads_no_photo_postgres_or_nats_library(
    cli: Cli, serve: Callable[..., ServeProcess], monkeypatch: pytest.MonkeyPatch
) -> None:
    cli.ok("init")
    cli.ok("channel", "create", "district", "--name", "District news")
    cli.ok("post", "district", "--type", "news", "Hello")
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # the serve process's environment copies ours
    node = serve(cli.home)
    asyncio.run(visit(node.port))
    assert node.stop() == 0
    output = node.log_path.read_text(errors="replace")
    modules = imported(output)
    assert "samizdat.relay.server" in modules, "the import log is missing: " + output[-2000:]
    loaded: dict[str, str] = {}
    for name, root in modules.items():
        if name.split(".")[0] in ON_USE:
            loaded.setdefault(name.split(".")[0], root)
    assert not loaded, "loaded at start (module: the top-level import that brought it): " + ", ".join(
        f"{name}: {root}" for name, root in sorted(loaded.items())
    )
