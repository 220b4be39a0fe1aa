"""The web app's HTTP side: assets with strict security headers, gzip and ETags, single-page routes, and the
fallback to the relay's own status page when the bundle is not built."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.datastructures import Headers

from samizdat.web.app import CSP, STATIC, WebApp, load_assets

BIG_JS = b"console.log('samizdat');\n" * 400


@pytest.fixture
def static(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_bytes(b"<!doctype html><title>Samizdat</title>")
    (tmp_path / "app.js").write_bytes(BIG_JS)
    (tmp_path / "app.css").write_bytes(b"body{margin:0}")
    (tmp_path / "sw.js").write_bytes(b"self.addEventListener('fetch', () => {});")
    (tmp_path / "VERSION").write_bytes(b"abc\n")
    return tmp_path


def status() -> dict[str, Any]:
    return {"name": "hub", "peers": None}


def headers(**values: str) -> Headers:
    return Headers([(k.replace("_", "-"), v) for k, v in values.items()])


async def get(app: WebApp, path: str, **request_headers: str) -> Any:
    result = await app(path, headers(**request_headers))
    assert result is not None
    status, content_type, body = result[:3]
    return status, content_type, body, dict(result[3]) if len(result) == 4 else {}


async def test_every_page_route_is_the_app_with_strict_headers(static: Path) -> None:
    app = WebApp(status, directory=static)
    for path in ("/", "/index.html", "/?utm=x", "/#/c/30333:abc:d"):
        code, content_type, body, extra = await get(app, path)
        assert code == 200
        assert content_type.startswith("text/html")
        assert body.startswith(b"<!doctype html>")
        assert extra["Content-Security-Policy"] == CSP
        assert extra["X-Frame-Options"] == "DENY"
        assert extra["Referrer-Policy"] == "no-referrer"
        assert extra["X-Content-Type-Options"] == "nosniff"
        assert extra["Cache-Control"] == "no-cache"
    assert "'unsafe-inline'" not in CSP
    assert "script-src 'self'" in CSP
    assert "frame-ancestors 'none'" in CSP


async def test_assets_gzip_etag_and_cache(static: Path) -> None:
    app = WebApp(status, directory=static)
    code, content_type, body, extra = await get(app, "/app.js?v=abc", Accept_Encoding="gzip, deflate")
    assert (code, content_type) == (200, "text/javascript; charset=utf-8")
    assert extra["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == BIG_JS
    assert "immutable" in extra["Cache-Control"]
    code, _, body, _ = await get(app, "/app.js")  # a client without gzip
    assert body == BIG_JS
    code, _, body, again = await get(app, "/app.js", If_None_Match=extra["ETag"])
    assert (code, body) == (304, b"")
    assert again["ETag"] == extra["ETag"]
    _, _, _, sw = await get(app, "/sw.js")
    assert sw["Cache-Control"] == "no-cache"  # a new service worker must be seen at once


async def test_unknown_paths_and_build_files_pass_to_the_relay(static: Path) -> None:
    app = WebApp(status, directory=static)
    for path in ("/VERSION", "/missing.js", "/../events.sqlite", "/static/app.js"):
        assert await app(path, headers()) is None  # the relay answers 404


async def test_without_a_build_the_relay_status_page_answers(tmp_path: Path) -> None:
    app = WebApp(status, directory=tmp_path)
    assert not app.built
    assert await app("/", headers()) is None
    code, _, body, _ = await get(app, "/api/status")  # the JSON status works without the bundle
    assert code == 200
    assert orjson.loads(body) == {"name": "hub", "peers": None}


async def test_status_is_cached_for_a_moment(static: Path) -> None:
    calls = []
    clock = [100.0]

    async def counting() -> dict[str, Any]:
        calls.append(1)
        return {"n": len(calls)}

    app = WebApp(counting, directory=static, clock=lambda: clock[0])
    assert orjson.loads((await get(app, "/api/status"))[2]) == {"n": 1}
    assert orjson.loads((await get(app, "/api/status"))[2]) == {"n": 1}
    clock[0] += 5
    assert orjson.loads((await get(app, "/api/status"))[2]) == {"n": 2}


def test_the_built_bundle_is_small() -> None:
    """JS plus CSS at most 200 KB gzipped (issue 5): what a cheap phone downloads over a hotspot."""
    assets = load_assets(STATIC)
    if not assets:
        pytest.fail("the web app is not built: run scripts/bootstrap.sh")
    total = sum(len(gzip.compress(a.body, 9)) for name, a in assets.items() if name.endswith((".js", ".css")))
    assert total <= 200 * 1024, f"{total} bytes gzipped"
