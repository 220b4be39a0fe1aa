"""A blob is never run as script or page by Chromium on the node's origin, even one that somehow held script: it is
served as the image type it was stored as, with ``nosniff`` and a ``sandbox`` policy of its own. The blob is put
straight into the store here (as if a check had been missed), then loaded by a real Chromium from a real
``samizdat serve``: opened as a page, and as a script from a page of the node's own origin."""

from __future__ import annotations

import asyncio
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Cli

from samizdat.node import Node
from samizdat.services import blobs
from samizdat.testing import node_keys

sync_api = pytest.importorskip("playwright.sync_api")

HOSTILE = b"window.pwned = 1; document.title = 'pwned'; //<html><body><script>document.title='pwned'</script>"
HOSTILE_SHA = hashlib.sha256(HOSTILE).hexdigest()


async def _smuggle(home: Path) -> None:
    node = await Node.open(home, keys=node_keys(home))
    try:
        blobs.blob_store(node.ctx).put(HOSTILE_SHA, HOSTILE, "image/webp", thumb=False, now=node.ctx.now())
    finally:
        await node.close()


@pytest.fixture(scope="module")
def node_url(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> str:
    cli = Cli(tmp_path_factory.mktemp("blossom") / "home")
    cli.ok("init")
    with ThreadPoolExecutor(1) as pool:  # Playwright's own event loop may be running in this thread
        pool.submit(asyncio.run, _smuggle(cli.home)).result(timeout=60)
    return str(module_serve(cli.home).http_url).rstrip("/")


def test_a_blob_holding_script_is_never_run_on_the_nodes_origin(browser: Any, node_url: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        console: list[str] = []
        page.on("console", lambda message: console.append(message.text))
        for name in (f"{HOSTILE_SHA}.html", f"{HOSTILE_SHA}.js", HOSTILE_SHA):
            answer = page.goto(f"{node_url}/{name}")
            assert answer is not None
            assert answer.headers["content-type"] == "image/webp"
            assert page.title() != "pwned"
            assert page.evaluate("() => window.pwned") is None
        page.goto(f"{node_url}/")  # the app's page: its policy allows the node's own scripts, the blob's MIME type not
        outcome = page.evaluate(
            """(src) => new Promise((resolve) => {
                const script = document.createElement('script');
                script.src = src;
                script.onload = () => resolve('loaded');
                script.onerror = () => resolve('refused');
                document.head.append(script);
                setTimeout(() => resolve('timeout'), 5000);
            })""",
            f"/{HOSTILE_SHA}.js",
        )
        assert outcome == "refused"
        assert page.evaluate("() => window.pwned") is None
        assert page.title() != "pwned"
        assert any("MIME type" in line for line in console), console
    finally:
        context.close()
