"""The web app's HTTP side: static assets with strict security headers, and the node status as JSON.

Theory of operation. The app itself is a static bundle built from ``web/`` into ``static/`` (see
``scripts/bootstrap.sh``). It talks to the node's relay over WebSocket like any Nostr client, so the only
dynamic HTTP route is ``/api/status``. Everything here answers GET requests on the relay's port through the
relay's ``http_handler`` hook; a WebSocket upgrade never reaches it.

Headers. Every answer carries a strict Content-Security-Policy (no inline script or style, no third-party
origin, no framing), ``nosniff``, ``no-referrer`` and ``X-Frame-Options: DENY``. Assets are loaded into memory
once, with a gzip copy and an ETag; ``index.html`` and ``sw.js`` are revalidated on every load (``no-cache``),
the versioned ``app.js``/``app.css`` are immutable. Without a built bundle the handler passes (returns None) and
the relay's own status page answers ``/``.
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import mimetypes
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from websockets.datastructures import Headers

from samizdat.core import nip19
from samizdat.relay.http import HeaderList, HttpResult

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; manifest-src 'self'; worker-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: HeaderList = (
    ("Content-Security-Policy", CSP),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
    ("X-Frame-Options", "DENY"),
    ("Cross-Origin-Opener-Policy", "same-origin"),
)
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
}
#: Paths that every route of the single-page app answers with index.html.
PAGES = ("/", "/index.html")
STATUS_CACHE_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None  # None when compressing does not pay
    content_type: str
    etag: str
    cache_control: str


def load_assets(directory: Path = STATIC) -> dict[str, Asset]:
    """Every built file of ``directory`` as ``/name`` -> Asset; empty when the bundle was not built."""
    assets: dict[str, Asset] = {}
    if not (directory / "index.html").is_file():
        return assets
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name == "VERSION":
            continue
        body = path.read_bytes()
        packed = gzip.compress(body, 9, mtime=0)
        content_type = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        versioned = path.name in ("app.js", "app.css")  # requested as /app.js?v=<hash of the build>
        assets["/" + path.name] = Asset(
            body,
            packed if len(packed) < len(body) * 0.9 else None,
            content_type,
            '"' + hashlib.sha256(body).hexdigest()[:20] + '"',
            "public, max-age=31536000, immutable" if versioned else "no-cache",
        )
    return assets


class WebApp:
    """The ``http_handler`` of ``samizdat serve``. ``status`` returns the node status document (see
    :func:`samizdat.web.status.node_status`); it is called at most every few seconds."""

    def __init__(
        self,
        status: Callable[[], Any],
        *,
        directory: Path = STATIC,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.assets = load_assets(directory)
        self.status = status
        self.clock = clock
        self._status_cache: tuple[float, bytes] | None = None
        if not self.assets:
            log.warning("the web app is not built (%s); run scripts/bootstrap.sh", directory)

    @property
    def built(self) -> bool:
        return bool(self.assets)

    async def __call__(self, path: str, headers: Headers) -> HttpResult:
        route = path.split("?", 1)[0].split("#", 1)[0]
        if route == "/api/status":
            return 200, "application/json", await self._status_json(), SECURITY_HEADERS
        if not self.assets:
            return None
        asset = self.assets.get("/index.html" if route in PAGES else route)
        if asset is None:
            return None  # the relay answers 404
        extra: list[tuple[str, str]] = [*SECURITY_HEADERS, ("Cache-Control", asset.cache_control)]
        extra += [("ETag", asset.etag), ("Vary", "Accept-Encoding")]
        if asset.etag in headers.get("If-None-Match", ""):
            return 304, asset.content_type, b"", tuple(extra)
        if asset.gzipped is not None and "gzip" in headers.get("Accept-Encoding", ""):
            extra.append(("Content-Encoding", "gzip"))
            return 200, asset.content_type, asset.gzipped, tuple(extra)
        return 200, asset.content_type, asset.body, tuple(extra)

    async def _status_json(self) -> bytes:
        now = self.clock()
        if self._status_cache is not None and now - self._status_cache[0] < STATUS_CACHE_SECONDS:
            return self._status_cache[1]
        document = self.status()
        if hasattr(document, "__await__"):
            document = await document
        body = orjson.dumps(document)
        self._status_cache = (now, body)
        return body


def npub_or_hex(pubkey: str) -> str:
    try:
        return nip19.npub_encode(pubkey)
    except Exception:  # noqa: BLE001 - a status page shows what it can
        return pubkey
