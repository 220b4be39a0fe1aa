"""The web app's HTTP side: static assets with strict security headers, and the node status as JSON.

Theory of operation. The app itself is a static bundle built from ``web/`` into ``static/`` (see
``scripts/bootstrap.sh``). It talks to the node's relay over WebSocket like any Nostr client, so the only
dynamic HTTP route is ``/api/status``. Everything here answers GET requests on the relay's port through the
relay's ``http_handler`` hook; a WebSocket upgrade never reaches it. One more: ``/api/share/<handle>`` gives a
phone's browser on a plain-HTTP page its vault's share (services/phone_share.py; docs/web.md).

One request. ``index.html`` carries the whole app inline (script and style): on a slow hotspot each further
request costs a full round trip. The page also carries a *seed*: channel definitions as signed events in a
``<script type="application/json">`` block (data, never executed), so a first visit lists the channels before its
WebSocket to the relay has even opened. The app treats seeded events exactly like relayed ones. Before the seed it
carries the newest posts of the node's own and followed channels (``posts``: services.start_posts, at most
:data:`POSTS_BYTES`), from which the page's first script shows a channel opened by link before the app has arrived,
after checking every signature (docs/web.md, "A channel opened by link").

The seed never makes the page grow with what strangers store: the node's ``seed`` callable gives valid
definitions best first (own, followed, vouched, then the newest others: services.channels.start_page_definitions)
and the page keeps the ones that fit in :data:`PAGE_BYTES` with everything else, listed newest first so that their
order does not tell which channels are the node's own. A reader who may not know whose node this is
(:data:`~samizdat.relay.http.KEY_VISIBLE` false) gets a page of its own, built from ``public_seed`` and
``public_posts``: which channels the node follows is as private as its key. The page is rebuilt in a worker
thread, only when ``seed_version`` (the store's last insertion number, the follows) changed, at most every few
seconds, one build at a time; meanwhile the last page is served.

Whose node it is. ``/api/status`` names the node's key only when the relay says the reader may see it
(:data:`samizdat.relay.http.KEY_VISIBLE`: a request from this machine, or ``[node] publish_key``); anyone else
gets ``"npub": null``, and a logged-in operator's page shows the key it got from ``/op``. "From this machine" is
:func:`samizdat.relay.http.local_reader`: a page of another site that a browser on the node's machine opens is not
one, whether it asks across origins or points its own name at 127.0.0.1 (DNS rebinding) to read
``/api/status`` as its own origin; it would learn the node's key and the relays its channels came from.

Disguise. ``[web] disguise`` (:data:`DISGUISES`) gives the app a neutral name, colour and icon: the page's title
and ``application-name`` (the app shows that name), the manifest (the name under a home-screen icon) and
``/icon.svg`` are replaced when the assets are loaded, so the phone's home screen, tabs and browser history do not
say "Samizdat" (docs/safety.md, "Your phone").

Headers. Every answer carries a strict Content-Security-Policy: scripts and styles only from this origin or with
the exact SHA-256 of the build's inline scripts and style (``csp.json``, written by the build), so no other inline
code runs; no third-party origin, no framing; workers from this origin or from a ``blob:`` the page's own script
made (web/src/first.js checks signatures in workers started from its own text). Also ``nosniff``, ``no-referrer``
and ``X-Frame-Options: DENY``.
Assets are loaded into memory once, with a gzip copy and an ETag, and revalidated on every load (``no-cache``;
the service worker serves them offline). The page itself is ``no-store``: its seed names channels, places and
relays, which a seized phone's browser cache must not hold (the service worker keeps a copy without the seed
and the posts).
Without a built bundle the handler passes (returns None) and the relay's own status page answers ``/``.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import logging
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
from websockets.datastructures import Headers

from samizdat.core import nip19
from samizdat.errors import UsageError
from samizdat.relay.http import KEY_VISIBLE, HeaderList, HttpResult, header
from samizdat.web.firstpaint import first_paint

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def csp(script_hashes: str = "", style_hashes: str = "") -> str:
    """The Content-Security-Policy: this origin only, plus the build's own inline script and style by hash."""
    script = f"'self' {script_hashes}".strip()
    style = f"'self' {style_hashes}".strip()
    return (
        f"default-src 'none'; script-src {script}; style-src {style}; img-src 'self' data:; "
        "connect-src 'self'; manifest-src 'self'; worker-src 'self' blob:; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )


CSP = csp()


def security_headers(policy: str = CSP) -> HeaderList:
    return (
        ("Content-Security-Policy", policy),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
        ("Cross-Origin-Opener-Policy", "same-origin"),
    )


SECURITY_HEADERS = security_headers()
SEED_MARK = b"<!--SEED-->"
HOST = re.compile(r"[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?|\[[0-9A-Fa-f:.]{2,45}\](:[0-9]{1,5})?")
TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".webmanifest": "application/manifest+json",
    ".svg": "image/svg+xml",
    ".wasm": "application/wasm",
}
#: The Web Worker that reads bundle files may compile WebAssembly (its signature verifier, libsecp256k1): its own
#: answer carries a policy with 'wasm-unsafe-eval' (a worker runs under the policy sent with its script); the
#: page's policy never has it.
WASM_WORKERS = ("/verify-worker.js",)
#: A mirror named in a channel definition, as a CSP source (scheme, host and port; never a wildcard).
MIRROR = re.compile(r"(wss?)://([A-Za-z0-9.-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\])(:[0-9]{1,5})?(?:/[^\s;,']*)?")
MAX_MIRROR_SOURCES = 200  #: mirrors named in the page's connect-src at most (the header stays a few KB)
#: Where a phone's browser on a plain-HTTP page asks for its vault's share (services/phone_share.py): the path,
#: then, in lower-case hex, a blinded ask (a 33-byte point) or an earlier version's handle (16 bytes).
SHARE_PATH = "/api/share/"
SHARE_HANDLE = re.compile(r"0[23][0-9a-f]{64}|[0-9a-f]{32}")


def mirror_sources(events: list[dict[str, Any]], limit: int = MAX_MIRROR_SOURCES) -> tuple[str, ...]:
    """The mirrors (``r`` tags) of the channel definitions among ``events`` as CSP sources, sorted: what the page
    may connect to besides the node, to read a channel from its mirrors when the node cannot answer for it."""
    found: set[str] = set()
    for event in events:
        tags = event.get("tags") if event.get("kind") == 30333 else None
        for tag in tags if isinstance(tags, list) else ():
            if isinstance(tag, list) and len(tag) > 1 and tag[0] == "r" and isinstance(tag[1], str):
                match = MIRROR.fullmatch(tag[1])
                if match:
                    found.add(f"{match[1]}://{match[2].lower()}{match[3] or ''}")
    return tuple(sorted(found)[:limit])


#: Paths that every route of the single-page app answers with index.html.
PAGES = ("/", "/index.html")
PAGE_CACHE = "no-store"  #: the page carries the seed: never written to the browser's disk cache
STATUS_CACHE_SECONDS = 2.0
PAGE_BYTES = 500_000  #: the start page with its seed, uncompressed, at most (whatever the store holds)
SEED_START = b'<script type="application/json" id="seed">'
SEED_END = b"</script>"
POSTS_MARK = b"<!--POSTS-->"
POSTS_START = b'<script type="application/json" id="posts">'
#: The newest posts of the node's own and followed channels that the page carries, JSON bytes at most: about 25 KB
#: gzipped, half a second on "Slow 3G", for a channel opened by link without waiting for the relay.
POSTS_BYTES = 64_000

#: The start page's channel definitions, best first (as event dicts), and a value that changes when they may.
Seed = Callable[[], Awaitable[list[dict[str, Any]]]]
SeedVersion = Callable[[], Awaitable[Hashable]]


@dataclass(frozen=True, slots=True)
class Disguise:
    """A neutral face for the web app: its name, the colour of its bar and its icon (SVG)."""

    name: str
    theme: str
    background: str
    icon: str


def _icon(background: str, body: str) -> str:
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64">'
        f'<rect width="64" height="64" rx="14" fill="{background}"/>{body}</svg>'
    )


_KEYS = "".join(f'<circle cx="{x}" cy="{y}" r="2.8"/>' for y in (32, 40, 48) for x in (23, 32, 41))
#: ``[web] disguise``: the names in samizdat.config.DISGUISES.
DISGUISES: dict[str, Disguise] = {
    "weather": Disguise("Weather", "#2f6fb0", "#f4f8fc", _icon(
        "#2f6fb0", '<circle cx="25" cy="24" r="10" fill="#ffd54a"/>'
        '<path d="M21 48a9 9 0 0 1 1-18 12 12 0 0 1 23 2 8 8 0 0 1 0 16z" fill="#fff"/>')),
    "notes": Disguise("Notes", "#a07a12", "#fffdf5", _icon(
        "#f2c14e", '<rect x="16" y="11" width="32" height="42" rx="3" fill="#fffdf5"/>'
        '<path d="M22 22h20M22 30h20M22 38h13" stroke="#8a6d1e" stroke-width="3" stroke-linecap="round"/>')),
    "calculator": Disguise("Calculator", "#3b3f45", "#f3f4f6", _icon(
        "#3b3f45", '<rect x="14" y="9" width="36" height="46" rx="4" fill="#e8eaed"/>'
        f'<rect x="19" y="14" width="26" height="10" rx="1.5" fill="#3b3f45"/><g fill="#3b3f45">{_KEYS}</g>')),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    gzipped: bytes | None  # None when compressing does not pay
    content_type: str
    etag: str
    cache_control: str


def load_assets(directory: Path = STATIC, disguise: str = "") -> dict[str, Asset]:
    """Every built file of ``directory`` as ``/name`` -> Asset (the page no-store, in its ``disguise`` if one is
    named); empty when the bundle was not built. UsageError for a disguise that is not in :data:`DISGUISES`."""
    face = DISGUISES.get(disguise) if disguise else None
    if disguise and face is None:
        raise UsageError(f"no web app disguise {disguise!r}: one of {', '.join(DISGUISES)}")
    assets: dict[str, Asset] = {}
    if not (directory / "index.html").is_file():
        return assets
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name in ("VERSION", "csp.json"):
            continue
        body = path.read_bytes()
        content_type = TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        if face is not None:
            body = _disguised(path.name, body, face)
        assets["/" + path.name] = _asset(body, content_type, PAGE_CACHE if path.name == "index.html" else "no-cache")
    return assets


def _disguised(name: str, body: bytes, face: Disguise) -> bytes:
    """A built file in a disguise: the page's title, name and colour; the manifest; the icon."""
    if name == "icon.svg":
        return face.icon.encode()
    if name == "manifest.webmanifest":
        manifest = orjson.loads(body)
        manifest.update(name=face.name, short_name=face.name, theme_color=face.theme, background_color=face.background)
        return orjson.dumps(manifest)
    if name == "index.html":
        meta = '<meta name="{}" content="{}">'
        for old, new in (
            ("<title>Samizdat</title>", f"<title>{face.name}</title>"),
            (meta.format("application-name", "Samizdat"), meta.format("application-name", face.name)),
            (meta.format("theme-color", "#7a1f1f"), meta.format("theme-color", face.theme)),
        ):
            body = body.replace(old.encode(), new.encode(), 1)  # the head comes before the inline script
    return body


def _asset(body: bytes, content_type: str, cache_control: str = "no-cache") -> Asset:
    packed = gzip.compress(body, 9, mtime=0)
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    return Asset(body, packed if len(packed) < len(body) * 0.9 else None, content_type, etag, cache_control)


def _inert_json(event: dict[str, Any]) -> bytes:
    """``event`` as JSON that stays data inside ``<script type="application/json">``: every "<" written "\\u003c"
    (the same string to JSON.parse). Escaping "</" alone is not enough: "<!--" followed by "<script" puts the
    HTML parser in a state where the block's own "</script>" does not end it (the rest of the page, the app's
    scripts with it, becomes data), and a page mark such as ``<!--SEED-->`` inside an event would be the one the
    next step replaces, closing the block early and turning the rest of the event into markup on this origin."""
    return orjson.dumps(event).replace(b"<", b"\\u003c")


def posts_page(page: bytes, events: list[dict[str, Any]], limit: int = POSTS_BYTES) -> bytes:
    """``page`` with its posts mark replaced by ``events`` in their order, as many as fit in ``limit`` bytes of
    JSON (the node chose and bounded them: services.start_posts; this bound holds whatever it gives). Written as
    :func:`seed_page` writes the seed; the page as it is when it has no mark."""
    if POSTS_MARK not in page:
        return page
    room = limit - 2
    kept: list[bytes] = []
    for event in events:
        data = _inert_json(event)
        if len(data) + 1 <= room:
            room -= len(data) + 1
            kept.append(data)
    return page.replace(POSTS_MARK, POSTS_START + b"[" + b",".join(kept) + b"]" + SEED_END, 1)


def seed_page(page: bytes, events: list[dict[str, Any]], limit: int = PAGE_BYTES) -> bytes:
    """``page`` with its seed mark replaced by the events that fit within ``limit`` bytes of page, taken best
    first and listed newest first. JSON inside HTML is written with every "<" as "\\u003c" (:func:`_inert_json`)."""
    room = limit - (len(page) - len(SEED_MARK)) - len(SEED_START) - len(SEED_END) - 2  # the brackets
    kept: list[tuple[int, bytes]] = []
    for event in events:
        data = _inert_json(event)
        if len(data) + 1 <= room:
            room -= len(data) + 1
            created = event.get("created_at")
            kept.append((created if isinstance(created, int) else 0, data))
    kept.sort(key=lambda pair: -pair[0])
    block = SEED_START + b"[" + b",".join(data for _, data in kept) + b"]" + SEED_END
    return page.replace(SEED_MARK, block, 1)


@dataclass(frozen=True, slots=True)
class _Built:
    checked: float  # when the version was last compared
    version: Hashable
    asset: Asset
    mirrors: tuple[str, ...] = ()  # CSP sources of the seeded channels' mirrors


def load_policy(directory: Path = STATIC) -> str:
    """The CSP for the build in ``directory`` (its inline script and style hashes from csp.json)."""
    try:
        hashes = orjson.loads((directory / "csp.json").read_bytes())
        script, style = str(hashes["script"]), str(hashes["style"])
    except (OSError, orjson.JSONDecodeError, KeyError, TypeError):
        return CSP
    hashes = [*script.split(" "), style]  # the page's scripts: early.js in its head, then the app
    if not all(h.startswith("'sha256-") and h.endswith("'") and len(h) > 10 for h in hashes) or " " in style:
        return CSP
    return csp(script, style)


class WebApp:
    """The ``http_handler`` of ``samizdat serve``. ``status`` returns the node status document (see
    :func:`samizdat.services.status.document`); it is called at most every few seconds. ``seed`` gives the start
    page's channel definitions, ``seed_version`` says whether they may have changed (without it, the page is
    rebuilt every few seconds). ``disguise``: one of :data:`DISGUISES`, or "" for the app's own name."""

    def __init__(
        self,
        status: Callable[[], Any],
        *,
        seed: Seed | None = None,
        seed_version: SeedVersion | None = None,
        posts: Seed | None = None,
        public_seed: Seed | None = None,
        public_posts: Seed | None = None,
        directory: Path = STATIC,
        clock: Callable[[], float] = time.monotonic,
        page_bytes: int = PAGE_BYTES,
        disguise: str = "",
        share: Callable[[bytes], bytes] | None = None,
    ) -> None:
        self.assets = load_assets(directory, disguise)
        self.share = share
        self.policy = load_policy(directory)
        self.headers = security_headers(self.policy)
        self.status = status
        self.seed = seed
        self.seed_version = seed_version
        self.posts = posts
        # What a reader who may not know whose node this is gets instead: the channels the node follows are as
        # private as its key, and a page seeded with them first, carrying their posts, told any device on a hub's
        # Wi-Fi which they are (red-team finding). With neither, everyone gets the same page.
        self.public_seed = public_seed
        self.public_posts = public_posts
        self.clock = clock
        self.page_bytes = page_bytes
        self._status_cache: tuple[float, bytes, bytes] | None = None  # when, full, without the node's key
        self._page_cache: dict[bool, _Built] = {}  # the page for readers shown the key (True), and for others
        self._building = asyncio.Lock()
        if not self.assets:
            log.warning("the web app is not built (%s); run scripts/bootstrap.sh", directory)

    @property
    def built(self) -> bool:
        return bool(self.assets)

    async def __call__(self, path: str, headers: Headers) -> HttpResult:
        route = path.split("?", 1)[0].split("#", 1)[0]
        if route == "/api/status":
            return 200, "application/json", await self._status_json(KEY_VISIBLE.get()), self.headers
        if route.startswith(SHARE_PATH) and self.share is not None:
            return self._share(route[len(SHARE_PATH) :])
        if not self.assets:
            return None
        full = KEY_VISIBLE.get() or (self.public_seed is None and self.public_posts is None)
        asset = await self._page(full) if route in PAGES else self.assets.get(route)
        if asset is None:
            return None  # the relay answers 404
        cached = self._page_cache.get(full)
        mirrors = cached.mirrors if route in PAGES and cached is not None else ()
        extra: list[tuple[str, str]] = [
            *self._headers_for(headers, route, mirrors),
            ("Cache-Control", asset.cache_control),
        ]
        extra += [("ETag", asset.etag), ("Vary", "Accept-Encoding")]
        if asset.etag in header(headers, "If-None-Match"):
            return 304, asset.content_type, b"", tuple(extra)
        if asset.gzipped is not None and "gzip" in header(headers, "Accept-Encoding"):
            extra.append(("Content-Encoding", "gzip"))
            return 200, asset.content_type, asset.gzipped, tuple(extra)
        return 200, asset.content_type, asset.body, tuple(extra)

    def _share(self, handle: str) -> HttpResult:
        """``/api/share/<handle>``: the share of a phone's vault (services/phone_share.py), never cached."""
        if SHARE_HANDLE.fullmatch(handle) is None or self.share is None:
            return None  # the relay answers 404
        try:
            body = orjson.dumps({"s": self.share(bytes.fromhex(handle)).hex()})
        except ValueError:
            return None  # not a point of the curve: 404, as for any other path
        return 200, "application/json", body, (*self.headers, ("Cache-Control", "no-store"))

    def _headers_for(self, request: Headers, route: str = "/", mirrors: tuple[str, ...] = ()) -> HeaderList:
        """Security headers; the relay's own WebSocket address is also named in connect-src, because some browsers
        (older Safari) do not count ws:// to the page's host as 'self'. Only that exact host, never any ws:.
        The page also names ``mirrors``: the mirrors of the channels in its seed, which the app reads directly
        when the node cannot answer (web/src/mirrors.js); no other relay, and never a wildcard."""
        policy = self.policy
        if route in WASM_WORKERS:
            policy = policy.replace("script-src 'self'", "script-src 'self' 'wasm-unsafe-eval'", 1)
        host = header(request, "Host")  # two Host headers join into one that does not match
        sources = ["'self'"]
        if HOST.fullmatch(host):
            sources += [f"ws://{host}", f"wss://{host}"]
        sources += mirrors
        if len(sources) == 1 and policy is self.policy:
            return self.headers
        return security_headers(policy.replace("connect-src 'self';", f"connect-src {' '.join(sources)};", 1))

    async def _page(self, full: bool) -> Asset | None:
        """index.html with the seed of channel definitions and the newest posts (see the module's docstring for
        when it is rebuilt); ``full``: for a reader who may know whose node this is (else the public seed and
        posts, which do not tell what the node follows)."""
        page = self.assets.get("/index.html")
        if page is None or self.seed is None or SEED_MARK not in page.body:
            return page
        seed, posts = (self.seed, self.posts) if full else (self.public_seed or self.seed, self.public_posts)
        built = self._page_cache.get(full)
        if built is not None and (self.clock() - built.checked < STATUS_CACHE_SECONDS or self._building.locked()):
            return built.asset  # checked a moment ago, or being rebuilt: the last page meanwhile
        async with self._building:
            built, now = self._page_cache.get(full), self.clock()
            if built is not None and now - built.checked < STATUS_CACHE_SECONDS:
                return built.asset  # rebuilt while this request waited
            version = await self._seed_version()
            if built is not None and version is not None and version == built.version:
                self._page_cache[full] = _Built(now, version, built.asset, built.mirrors)
                return built.asset
            try:
                events = await seed()
            except Exception:  # the app works without a seed (it asks the relay)
                log.exception("the channel seed failed")
                events, version = [], None
            try:
                carried = await posts() if posts is not None else []
            except Exception:  # the app asks the relay for them
                log.exception("the page's posts failed")
                carried, version = [], None
            body = await asyncio.to_thread(posts_page, page.body, carried, min(POSTS_BYTES, self.page_bytes // 4))
            body = await asyncio.to_thread(first_paint, body, events)
            body = await asyncio.to_thread(seed_page, body, events, self.page_bytes)
            asset = await asyncio.to_thread(_asset, body, page.content_type, page.cache_control)
            self._page_cache[full] = _Built(now, version, asset, mirror_sources(events))
            return asset

    async def _seed_version(self) -> Hashable:
        """The seed's version; None (rebuild) when there is no way to tell or it cannot be read."""
        if self.seed_version is None:
            return None
        try:
            return await self.seed_version()
        except Exception:
            log.exception("the channel seed's version could not be read")
            return None

    async def _status_json(self, visible: bool) -> bytes:
        """The status document; for a reader who may not see the node's key, :func:`public_status` of it."""
        now = self.clock()
        if self._status_cache is None or now - self._status_cache[0] >= STATUS_CACHE_SECONDS:
            document = self.status()
            if hasattr(document, "__await__"):
                document = await document
            public = public_status(document) if isinstance(document, dict) else document
            self._status_cache = (now, orjson.dumps(document), orjson.dumps(public))
        return self._status_cache[1] if visible else self._status_cache[2]


#: Of each relay's row in the status, what a reader who may not see the node's key gets (the rest is null).
PUBLIC_RELAY_FIELDS = ("reachable", "last_success", "last_attempt")


def public_status(document: dict[str, Any]) -> dict[str, Any]:
    """The status document for a reader who may not know whose node this is (a device on the Wi-Fi): without the
    node's key, and without what tells what its owner follows or that its owner publishes. Which relays the node
    syncs with names the mirrors of the channels it follows (``channel_sources`` says which channel came from
    where); how many posts it delivered to each, and lost or waits to deliver, says that this is a publisher's
    node, which is what the police on the Wi-Fi look for (red-team finding). Such a reader sees how many relays
    there are, whether each is reachable and when it last synced; the follows' count and what went out are null."""
    hidden: dict[str, Any] = {k: None for k in ("npub", "channel_sources", "follows") if k in document}
    public = {**document, **hidden}
    relays = document.get("relays")
    if isinstance(relays, list):
        public["relays"] = [
            {k: (row.get(k) if k in PUBLIC_RELAY_FIELDS else None) for k in row}
            for row in relays
            if isinstance(row, dict)
        ]
    carried = document.get("carried")
    if isinstance(carried, dict):
        public["carried"] = {**carried, "sent": None, "delivered": None}
    return public


def npub_or_hex(pubkey: str) -> str:
    try:
        return nip19.npub_encode(pubkey)
    except Exception:  # noqa: BLE001 - a status page shows what it can
        return pubkey
