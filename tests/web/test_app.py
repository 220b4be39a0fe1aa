"""The web app's HTTP side: assets with strict security headers, gzip and ETags, single-page routes, and the
fallback to the relay's own status page when the bundle is not built."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.datastructures import Headers

from samizdat.testing import FakeClock
from samizdat.web.app import STATIC, WebApp, load_assets, load_policy

BIG_JS = b"console.log('samizdat');\n" * 400


SCRIPT_HASH = "'sha256-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA='"
STYLE_HASH = "'sha256-BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB='"


@pytest.fixture
def static(tmp_path: Path) -> Path:
    (tmp_path / "index.html").write_bytes(b"<!doctype html><title>Samizdat</title><!--SEED--><script>1</script>")
    (tmp_path / "app.js").write_bytes(BIG_JS)
    (tmp_path / "sw.js").write_bytes(b"self.addEventListener('fetch', () => {});")
    (tmp_path / "VERSION").write_bytes(b"abc\n")
    (tmp_path / "csp.json").write_text(json.dumps({"script": SCRIPT_HASH, "style": STYLE_HASH}))
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
        policy = extra["Content-Security-Policy"]
        assert f"script-src 'self' {SCRIPT_HASH};" in policy  # the build's inline script, and no other
        assert f"style-src 'self' {STYLE_HASH};" in policy
        assert extra["X-Frame-Options"] == "DENY"
        assert extra["Referrer-Policy"] == "no-referrer"
        assert extra["X-Content-Type-Options"] == "nosniff"
        assert extra["Cache-Control"] == "no-store"  # the page carries channel names: never in the disk cache
        assert "'unsafe-inline'" not in policy
        assert "'unsafe-eval'" not in policy
        assert "frame-ancestors 'none'" in policy
        assert "default-src 'none'" in policy


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("192.168.1.5:4848", "connect-src 'self' ws://192.168.1.5:4848 wss://192.168.1.5:4848;"),
        ("[fe80::1]:4848", "connect-src 'self' ws://[fe80::1]:4848 wss://[fe80::1]:4848;"),
        ("evil; script-src *", "connect-src 'self';"),  # a forged Host cannot write into the policy
        ("", "connect-src 'self';"),
    ],
)
async def test_connect_src_names_only_this_host(static: Path, host: str, expected: str) -> None:
    app = WebApp(status, directory=static)
    _, _, _, extra = await get(app, "/", Host=host)
    assert expected in extra["Content-Security-Policy"]
    assert "script-src 'self' 'sha256-" in extra["Content-Security-Policy"]


async def test_assets_gzip_etag_and_cache(static: Path) -> None:
    app = WebApp(status, directory=static)
    code, content_type, body, extra = await get(app, "/app.js?v=abc", Accept_Encoding="gzip, deflate")
    assert (code, content_type) == (200, "text/javascript; charset=utf-8")
    assert extra["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == BIG_JS
    code, _, body, _ = await get(app, "/app.js")  # a client without gzip
    assert body == BIG_JS
    code, _, body, again = await get(app, "/app.js", If_None_Match=extra["ETag"])
    assert (code, body) == (304, b"")
    assert again["ETag"] == extra["ETag"]
    _, _, _, sw = await get(app, "/sw.js")
    assert sw["Cache-Control"] == "no-cache"  # a new service worker must be seen at once


async def test_unknown_paths_and_build_files_pass_to_the_relay(static: Path) -> None:
    app = WebApp(status, directory=static)
    for path in ("/VERSION", "/csp.json", "/missing.js", "/../events.sqlite", "/static/app.js"):
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
    clock = FakeClock(100.0)

    async def counting() -> dict[str, Any]:
        calls.append(1)
        return {"n": len(calls)}

    app = WebApp(counting, directory=static, clock=clock)
    assert orjson.loads((await get(app, "/api/status"))[2]) == {"n": 1}
    assert orjson.loads((await get(app, "/api/status"))[2]) == {"n": 1}
    clock.advance(5)
    assert orjson.loads((await get(app, "/api/status"))[2]) == {"n": 2}


async def test_the_page_carries_channel_definitions_as_inert_data(static: Path) -> None:
    hostile = {"kind": 30333, "content": "</script><script>alert(1)</script>", "tags": [["name", "<!--"]]}

    async def seed() -> list[dict[str, Any]]:
        return [hostile]

    app = WebApp(status, seed=seed, directory=static)
    _, _, body, _ = await get(app, "/")
    assert body.count(b"</script>") == 2  # the seed block's and the app's: the content cannot close a block
    opening = b'<script type="application/json" id="seed">'
    start = body.index(opening) + len(opening)
    data = body[start : body.index(b"</script>", start)]
    assert json.loads(data) == [hostile]


def test_the_built_bundle_is_small() -> None:
    """JS plus CSS at most 200 KB gzipped (issue 5): the page (the app is inline) and its service worker."""
    assets = load_assets(STATIC)
    if not assets:
        pytest.fail("the web app is not built: run scripts/bootstrap.sh")
    total = sum(len(gzip.compress(a.body, 9)) for name, a in assets.items() if name.endswith((".js", ".css", ".html")))
    assert total <= 200 * 1024, f"{total} bytes gzipped"


def test_the_build_allows_exactly_its_own_inline_code() -> None:
    page = load_assets(STATIC)["/index.html"].body.decode()
    policy = load_policy(STATIC)
    for tag, directive in (("script", "script-src"), ("style", "style-src")):
        digests, start = [], 0
        while (start := page.find(f"<{tag}>", start)) >= 0:  # the early socket (head), then the app
            start += len(tag) + 2
            code = page[start : page.index(f"</{tag}>", start)]
            digests.append("'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'")
        assert digests
        assert f"{directive} 'self' {' '.join(digests)};" in policy


def test_the_app_never_parses_text_as_html() -> None:
    """Everything from the network is shown with text nodes (web/src/dom.js); no source file may use an HTML sink
    or evaluate strings, so a hostile post cannot become markup or code."""
    sinks = ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function", "srcdoc")
    sources = sorted((Path(__file__).resolve().parents[2] / "web" / "src").rglob("*.js"))
    assert sources
    for source in sources:
        text = source.read_text()
        for sink in sinks:
            assert sink not in text, f"{source.name} uses {sink}"
