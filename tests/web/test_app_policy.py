"""The web app's Content-Security-Policy for reading from mirrors and verifying bundles (samizdat.web.app): the
page's connect-src names the node and the mirrors of the channels in its seed, nothing wider and nothing a hostile
definition slips in; only the bundle worker may compile WebAssembly; which relays the channels came from is shown
only to the node's own machine."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.datastructures import Headers

from samizdat.relay.http import KEY_VISIBLE
from samizdat.web.app import WebApp, mirror_sources

HOSTILE_MIRRORS = [
    "wss://relay.example.org/nostr",
    "ws://10.0.0.7:4848",
    "WSS://Relay.Example.org",  # the same relay, spelled otherwise: not a second source
    "wss://a.example; script-src *",
    "wss://*",
    "https://example.org",
    "javascript:alert(1)",
    "ws://[fd00::1]:7447/",
    "wss://b.example 'unsafe-inline'",
]


@pytest.fixture
def static(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_bytes(b"<!doctype html><title>Samizdat</title><!--SEED--><script>1</script>")
    (tmp_path / "verify-worker.js").write_bytes(b"self.onmessage = () => {};")
    (tmp_path / "csp.json").write_text(json.dumps({"script": "'sha256-AAAA'", "style": "'sha256-BBBB'"}))
    return tmp_path


def definition(*mirrors: str) -> dict[str, Any]:
    return {"kind": 30333, "content": "", "tags": [["d", "x"], *(["r", m] for m in mirrors)], "created_at": 1}


async def get(app: WebApp, path: str, host: str = "192.168.4.1:4848") -> dict[str, str]:
    result = await app(path, Headers([("Host", host)]))
    assert result is not None
    return dict(result[3])


def connect_src(policy: str) -> list[str]:
    return next(p for p in policy.split("; ") if p.startswith("connect-src")).split()[1:]


def test_mirror_sources_take_only_relay_origins() -> None:
    assert mirror_sources([definition(*HOSTILE_MIRRORS), {"kind": 1, "tags": [["r", "wss://note.example"]]}]) == (
        "ws://10.0.0.7:4848",
        "ws://[fd00::1]:7447",
        "wss://relay.example.org",
    )


async def test_the_page_may_connect_to_the_node_and_its_channels_mirrors(static: Path) -> None:
    async def seed() -> list[dict[str, Any]]:
        return [definition(*HOSTILE_MIRRORS), definition("wss://relay.example.org")]

    app = WebApp(lambda: {}, seed=seed, directory=static)
    page = await get(app, "/")
    assert connect_src(page["Content-Security-Policy"]) == [
        "'self'", "ws://192.168.4.1:4848", "wss://192.168.4.1:4848",
        "ws://10.0.0.7:4848", "ws://[fd00::1]:7447", "wss://relay.example.org",
    ]  # fmt: skip
    assert "wasm-unsafe-eval" not in page["Content-Security-Policy"]
    worker = await get(app, "/verify-worker.js")
    assert "script-src 'self' 'wasm-unsafe-eval' 'sha256-AAAA';" in worker["Content-Security-Policy"]
    assert connect_src(worker["Content-Security-Policy"]) == [
        "'self'",
        "ws://192.168.4.1:4848",
        "wss://192.168.4.1:4848",
    ]


async def test_where_channels_came_from_is_shown_only_to_the_nodes_machine(static: Path) -> None:
    document = {"npub": "npub1x", "channel_sources": [{"channel": "30333:ab:x", "relays": ["wss://r.example"]}]}
    app = WebApp(lambda: document, directory=static)
    result = await app("/api/status", Headers())
    assert result is not None
    assert orjson.loads(result[2])["channel_sources"] is None
    token = KEY_VISIBLE.set(True)
    try:
        app._status_cache = None
        result = await app("/api/status", Headers())
        assert result is not None
        assert orjson.loads(result[2])["channel_sources"] == document["channel_sources"]
    finally:
        KEY_VISIBLE.reset(token)
