"""Blossom on the node's HTTP port: BUD-01 (get, has), BUD-02 (upload), BUD-06 (upload preflight), BUD-12 (list,
delete), with BUD-11 authorization.

Routes (none clashes with the web app's: its files have names with a dot and no 64-hex stem, ``/api/...``,
``/op``)::

    GET|HEAD /<sha256>[.ext]   the blob, as the type it decoded as          anyone
    PUT /upload                store a blob (checked, never changed)        kind-24242 "upload" of an allowed key
    HEAD /upload               would this upload be accepted? (BUD-06)     same, with X-SHA-256 etc.
    GET /upload                the limits, as JSON (our own)                anyone
    GET /list/<pubkey>         that key's uploads (BUD-12)                  kind-24242 "list" of that key
    DELETE /<sha256>           forget an upload (BUD-12)                    kind-24242 "delete" of an uploader
    OPTIONS on any of them     CORS preflight

Who may upload: the node's own key (its operator), or a key that may post now in a channel the node owns or
follows (services/blobs.py :func:`~samizdat.services.blobs.may_upload`). Uploads, lists and deletions are rate
limited per key and per address (token buckets, as the relay's EVENT limits: relay/connection.py); loopback is
exempt from the per-address bucket, as from the relay's; with ``serve --workers N`` these buckets are the node's,
in the workers' shared file (relay/shared.py), not N of them. Reads (``GET``/``HEAD`` of a blob) have a bucket of their
own per address, larger (a channel page shows many photos at once), and at most :data:`GET_IN_FLIGHT` of them per
address are served at a time; the blob is read and decrypted off the event loop, so a flood of photo requests
costs the relay's other clients nothing but its share of the CPU.

Every blob is served with its decoded type, ``X-Content-Type-Options: nosniff`` and a
``Content-Security-Policy: sandbox; default-src 'none'`` of its own, so that even a blob that somehow held markup
could not run as script on the app's origin; every answer has ``Access-Control-Allow-Origin: *`` (BUD-01) and a
refusal has its one-line reason in ``X-Reason``. Blobs are ``no-store``: a seized phone's browser cache must not
list the photos it showed (the web app keeps its own, bounded and erasable, cache).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from samizdat.core.event import Event, parse_event
from samizdat.core.imeta import EXTENSIONS
from samizdat.errors import SamizdatError
from samizdat.relay.bodies import HttpRequest
from samizdat.relay.connection import TokenBucket
from samizdat.relay.http import HeaderList, HttpResult, header
from samizdat.relay.shared import BLOB_KEYS, BLOB_READS, BLOB_WRITES, SharedLimits
from samizdat.services import blobs
from samizdat.services.context import Context

AUTH_KIND = 24242
#: Uploads (and lists, deletions) one key may make: a burst, then one every two seconds.
KEY_BURST, KEY_RATE = 30, 0.5
#: ... and one address (all keys together; loopback exempt).
IP_BURST, IP_RATE = 60, 1.0
#: Blob reads one address may make (loopback exempt): a page of photos at once, then twenty a second ...
GET_BURST, GET_RATE = 240, 20.0
#: ... and at most this many being read at a time (each up to MAX_BLOB_BYTES in memory).
GET_IN_FLIGHT = 8
#: Seconds an authorization may be dated ahead of this node's clock (phones' clocks drift).
AUTH_FUTURE_SLACK = 60
MAX_AUTH_BYTES = 8 * 1024
MAX_LIST = 500
_BLOB_PATH = re.compile(r"/([0-9a-f]{64})(\.[a-z0-9]{1,10})?")
_LIST_PATH = re.compile(r"/list/([0-9a-f]{64})")
_HEX64 = re.compile(r"[0-9a-f]{64}")
CORS: HeaderList = (
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Headers", "Authorization, Content-Type, X-SHA-256, X-Content-Type, X-Content-Length, *"),
    ("Access-Control-Allow-Methods", "GET, HEAD, PUT, DELETE, OPTIONS"),
    ("Access-Control-Expose-Headers", "X-Reason"),
    ("Access-Control-Max-Age", "86400"),
)
BLOB_HEADERS: HeaderList = (
    ("X-Content-Type-Options", "nosniff"),
    ("Content-Security-Policy", "sandbox; default-src 'none'"),
    ("Cross-Origin-Resource-Policy", "cross-origin"),
    ("Cache-Control", "no-store"),
    ("Referrer-Policy", "no-referrer"),
)


class Refusal(Exception):
    """An answer with a 4xx status and a one-line reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True, slots=True)
class Limits:
    """What the node advertises about its blobs (NIP-11 ``blossom`` and ``GET /upload``)."""

    max_blob_bytes: int = blobs.MAX_BLOB_BYTES
    max_pixels: int = blobs.MAX_PIXELS
    key_burst: int = KEY_BURST
    key_rate: float = KEY_RATE
    ip_burst: int = IP_BURST
    ip_rate: float = IP_RATE
    get_burst: int = GET_BURST
    get_rate: float = GET_RATE

    def document(self) -> dict[str, Any]:
        return {
            "max_blob_bytes": self.max_blob_bytes,
            "max_pixels": self.max_pixels,
            "max_side": blobs.MAX_SIDE,
            "types": list(blobs.ALLOWED_TYPES),
            "uploads": "keys that may post in a channel this node owns or follows, and the node's operator",
            "metadata": "refused: EXIF, XMP, IPTC, comments, text chunks, embedded thumbnails, non-sRGB ICC",
            "rate_per_key": {"burst": self.key_burst, "per_second": self.key_rate},
            "rate_per_address": {"burst": self.ip_burst, "per_second": self.ip_rate},
            "reads_per_address": {"burst": self.get_burst, "per_second": self.get_rate, "at_once": GET_IN_FLIGHT},
            "buds": [1, 2, 6, 11, 12],
        }


def _text(status: int, reason: str, extra: HeaderList = ()) -> HttpResult:
    reason = " ".join(reason.split())[:300]
    return status, "text/plain; charset=utf-8", f"{reason}\n".encode(), (*CORS, ("X-Reason", reason), *extra)


def _json(status: int, value: Any) -> HttpResult:
    return status, "application/json", orjson.dumps(value), CORS


class BlossomEndpoint:
    """The node's :data:`~samizdat.relay.bodies.RequestHandler` for Blossom routes (None for any other path)."""

    def __init__(
        self,
        ctx: Context,
        *,
        limits: Limits | None = None,
        clock: Callable[[], float] = time.monotonic,
        shared: Callable[[], SharedLimits | None] = lambda: None,
    ):
        self.ctx = ctx
        self.limits = limits or Limits()
        self.clock = clock
        self.shared = shared  # with workers: the buckets of every worker together (relay/shared.py)
        self._keys: dict[str, TokenBucket] = {}
        self._ips: dict[str, TokenBucket] = {}
        self._reads: dict[str, TokenBucket] = {}
        self._reading: dict[str, int] = {}  # blob reads in flight per address

    async def __call__(self, request: HttpRequest) -> HttpResult:
        route = request.path.split("?", 1)[0]
        blob = _BLOB_PATH.fullmatch(route)
        listing = _LIST_PATH.fullmatch(route)
        if blob is None and listing is None and route != "/upload":
            return None
        method = request.method
        if method == "OPTIONS":
            return 204, "text/plain", b"", CORS
        try:
            if method in ("PUT", "DELETE") or listing is not None or (route == "/upload" and method == "HEAD"):
                self._rate_address(request)
            if route == "/upload":
                if method == "PUT":
                    return await self._upload(request)
                if method == "HEAD":
                    return await self._preflight(request)
                if method == "GET":
                    return _json(200, self.limits.document())
            elif listing is not None:
                if method in ("GET", "HEAD"):
                    return await self._list(request, listing.group(1))
            elif blob is not None:
                if method in ("GET", "HEAD"):
                    return await self._get(request, blob.group(1))
                if method == "DELETE":
                    return await self._delete(request, blob.group(1))
        except Refusal as refusal:
            return _text(refusal.status, str(refusal))
        return _text(405, f"{method[:10]} is not served at this address", (("Allow", "GET, HEAD, PUT, DELETE"),))

    # -- reading -----------------------------------------------------------------------------------------------

    async def _get(self, request: HttpRequest, sha256: str) -> HttpResult:
        ip = request.ip
        if ip is not None:
            limits, refusal = self.limits, "too many photo requests from this address"
            self._reads = self._take(self._reads, ip, limits.get_rate, limits.get_burst, refusal, BLOB_READS)
            if self._reading.get(ip, 0) >= GET_IN_FLIGHT:
                raise Refusal(429, "too many photos asked at once from this address; try again in a moment")
            self._reading[ip] = self._reading.get(ip, 0) + 1
        try:
            found = await asyncio.to_thread(blobs.read_blob, self.ctx, sha256)
        finally:
            if ip is not None:
                if (left := self._reading[ip] - 1) > 0:
                    self._reading[ip] = left
                else:
                    del self._reading[ip]
        if found is None:
            return _text(404, "this node does not have that blob")
        media_type, data = found
        disposition = ("Content-Disposition", f'inline; filename="{sha256}.{EXTENSIONS.get(media_type, "bin")}"')
        return 200, media_type, data, (*CORS, *BLOB_HEADERS, disposition, ("ETag", f'"{sha256}"'))

    async def _list(self, request: HttpRequest, pubkey: str) -> HttpResult:
        auth = self._authorize(request, "list", None)
        if auth.pubkey != pubkey and auth.pubkey != self.ctx.pubkey:
            raise Refusal(403, "a key may list only its own uploads")
        self._rate(request, auth.pubkey)
        query = parse_qs(urlsplit(request.path).query)
        since, until, limit = _int(query, "since"), _int(query, "until"), _int(query, "limit") or MAX_LIST
        entries = await asyncio.to_thread(blobs.list_blobs, self.ctx, pubkey, since=since, until=until)
        cursor = query.get("cursor", [""])[0]
        if cursor:
            at = next((i for i, e in enumerate(entries) if e.sha256 == cursor), None)
            entries = entries[at + 1 :] if at is not None else []
        host = self._base(request)
        return _json(200, [self._descriptor(host, e.sha256, e.size, e.type, e.uploaded) for e in entries[:limit]])

    # -- writing -----------------------------------------------------------------------------------------------

    async def _upload(self, request: HttpRequest) -> HttpResult:
        data = request.body
        if not data:
            raise Refusal(411, "the upload has no body (send the blob with a Content-Length)")
        if len(data) > self.limits.max_blob_bytes:
            raise Refusal(413, f"the blob is larger than {self.limits.max_blob_bytes} bytes")
        sha256 = hashlib.sha256(data).hexdigest()
        claimed = header(request.headers, "X-SHA-256").strip().lower()
        if claimed and claimed != sha256:
            raise Refusal(409, "the X-SHA-256 header does not match the body")
        auth = self._authorize(request, "upload", sha256)
        await self._may_upload(auth.pubkey)
        self._rate(request, auth.pubkey)
        try:
            await asyncio.to_thread(blobs.check_room, self.ctx, auth.pubkey, len(data))
            descriptor, fresh = await blobs.store_blob(
                self.ctx, data, header(request.headers, "Content-Type") or None, owner=auth.pubkey
            )
        except blobs.BlobRefused as exc:
            status = 413 if "bytes; this node takes" in str(exc) or "delete some first" in str(exc) else 415
            raise Refusal(status, str(exc)) from None
        body = self._descriptor(self._base(request), descriptor.sha256, descriptor.size, descriptor.type,
                                descriptor.uploaded)  # fmt: skip
        return _json(201 if fresh else 200, body)

    async def _preflight(self, request: HttpRequest) -> HttpResult:
        sha256 = header(request.headers, "X-SHA-256").strip().lower()
        if not _HEX64.fullmatch(sha256):
            raise Refusal(400, "X-SHA-256 must be the blob's SHA-256 in lowercase hex")
        length = header(request.headers, "X-Content-Length").strip()
        if whole_number(length, 30) is None:
            raise Refusal(411, "X-Content-Length must give the blob's size")
        if len(length) > 12 or int(length) > self.limits.max_blob_bytes:
            raise Refusal(413, f"the blob is larger than {self.limits.max_blob_bytes} bytes")
        declared = header(request.headers, "X-Content-Type").split(";", 1)[0].strip().lower()
        if declared and declared not in blobs.ALLOWED_TYPES:
            raise Refusal(415, f"type {declared[:60]!r} is not accepted: only JPEG, PNG and WebP images")
        auth = self._authorize(request, "upload", sha256)
        await self._may_upload(auth.pubkey)
        try:
            await asyncio.to_thread(blobs.check_room, self.ctx, auth.pubkey, int(length))
        except blobs.BlobRefused as exc:
            raise Refusal(413, str(exc)) from None
        return 200, "text/plain; charset=utf-8", b"", CORS

    async def _delete(self, request: HttpRequest, sha256: str) -> HttpResult:
        auth = self._authorize(request, "delete", sha256)
        self._rate(request, auth.pubkey)
        # In a thread: the photo store is a database (PostgreSQL's may be slow), never read on the event loop.
        status, words = await asyncio.to_thread(self._delete_now, sha256, auth.pubkey)
        if status != 200:
            raise Refusal(status, words)
        return _text(200, words)

    def _delete_now(self, sha256: str, pubkey: str) -> tuple[int, str]:
        if not blobs.has_blob(self.ctx, sha256):
            return 404, "this node does not have that blob"
        if pubkey == self.ctx.pubkey and pubkey not in blobs.blob_store(self.ctx).owners(sha256):
            if blobs.referenced_by(self.ctx, sha256):
                return 403, "a post stored here uses this blob: retract the post to remove it"
            blobs.delete_blob(self.ctx, sha256)
            return 200, "deleted"
        outcome = blobs.disown_blob(self.ctx, sha256, pubkey)
        if outcome == "not-owner":
            return 403, "only a key that uploaded the blob may delete it"
        if outcome == "kept":
            return 200, "your upload is forgotten; the blob stays while other uploads or stored posts use it"
        return 200, "deleted"

    # -- rules -------------------------------------------------------------------------------------------------

    def _authorize(self, request: HttpRequest, verb: str, sha256: str | None) -> Event:
        """The request's BUD-11 authorization event for ``verb`` (and blob ``sha256``), or a Refusal."""
        value = header(request.headers, "Authorization").strip()
        if not value:
            raise Refusal(401, f"this needs an Authorization: Nostr header with a kind {AUTH_KIND} event")
        scheme, _, token = value.partition(" ")
        if scheme.lower() != "nostr" or not token or len(token) > MAX_AUTH_BYTES:
            raise Refusal(401, "the Authorization header must be 'Nostr <base64 event>'")
        token = token.strip()
        try:
            raw = base64.urlsafe_b64decode(token.replace("+", "-").replace("/", "_") + "=" * (-len(token) % 4))
            event = parse_event(orjson.loads(raw))
        except (binascii.Error, ValueError, orjson.JSONDecodeError, SamizdatError) as exc:
            raise Refusal(401, f"the authorization is not a valid signed event ({str(exc)[:80]})") from None
        now = self.ctx.now()
        if event.kind != AUTH_KIND:
            raise Refusal(401, f"the authorization is kind {event.kind}, not {AUTH_KIND}")
        if event.created_at > now + AUTH_FUTURE_SLACK:
            raise Refusal(401, "the authorization is dated in the future")
        expiration = [whole_number(value, 18) for value in event.tag_values("expiration")]
        if not expiration or expiration[0] is None:
            raise Refusal(401, "the authorization has no expiration tag")
        if expiration[0] <= now:
            raise Refusal(401, "the authorization has expired")
        verbs = event.tag_values("t")
        if verb not in verbs:
            raise Refusal(401, f"the authorization is for {'/'.join(verbs)[:40] or 'nothing'}, not {verb}")
        servers = [s.lower() for s in event.tag_values("server")]
        try:
            host = (urlsplit("//" + header(request.headers, "Host")).hostname or "").lower()
        except ValueError:  # "[::1", "[x]": not a host
            raise Refusal(400, "the Host header does not name a host") from None
        if servers and host not in servers:
            raise Refusal(401, "the authorization names other servers")
        hashes = event.tag_values("x")
        if sha256 is not None and sha256 not in hashes:
            what = "no blob" if not hashes else "another blob"
            raise Refusal(401 if not hashes else 403, f"the authorization is for {what}, not this one ('x' tag)")
        return event

    async def _may_upload(self, pubkey: str) -> None:
        if not await blobs.may_upload(self.ctx, pubkey):
            raise Refusal(403, "this key may not upload here: only keys that may post in a channel this node "
                               "owns or follows")  # fmt: skip

    def _rate_address(self, request: HttpRequest) -> None:
        """The address's bucket, before any signature is checked (so that a flood of bad authorizations costs
        little); this machine is exempt, as from the relay's per-address limits."""
        if request.ip is not None:
            limits = self.limits
            refusal = "too many requests from this address"
            self._ips = self._take(self._ips, request.ip, limits.ip_rate, limits.ip_burst, refusal, BLOB_WRITES)

    def _take(
        self, buckets: dict[str, TokenBucket], ip: str, rate: float, burst: int, refusal: str, kind: int
    ) -> dict[str, TokenBucket]:
        """Take a token from ``ip``'s bucket in ``buckets`` (Refusal 429 when empty); returns the buckets, pruned of
        full ones when they pass 10,000 addresses (bounded memory). With workers, the bucket of ``kind`` in their
        shared file instead."""
        now = self.clock()
        if (shared := self.shared()) is not None:
            if not shared.take(ip, rate, burst, now, kind):
                raise Refusal(429, f"{refusal}; try again in a minute")
            return buckets
        if ip not in buckets and len(buckets) > 10_000:
            buckets = {k: b for k, b in buckets.items() if not _refilled(b, now)}
        if not buckets.setdefault(ip, TokenBucket(rate, burst, now)).take(now):
            raise Refusal(429, f"{refusal}; try again in a minute")
        return buckets

    def _rate(self, request: HttpRequest, pubkey: str) -> None:
        """The key's bucket, once the authorization is known to be the key's."""
        now = self.clock()
        if (shared := self.shared()) is not None:
            if not shared.take(pubkey, self.limits.key_rate, self.limits.key_burst, now, BLOB_KEYS):
                raise Refusal(429, "too many requests from this key; try again in a minute")
            return
        key = self._keys.setdefault(pubkey, TokenBucket(self.limits.key_rate, self.limits.key_burst, now))
        if not key.take(now):
            raise Refusal(429, "too many requests from this key; try again in a minute")
        if len(self._keys) > 10_000:  # bounded memory: full buckets are forgotten
            self._keys = {k: b for k, b in self._keys.items() if not _refilled(b, now)}

    def _base(self, request: HttpRequest) -> str:
        host = header(request.headers, "Host")
        if not re.fullmatch(r"[A-Za-z0-9.:\[\]-]{1,260}", host):
            host = "localhost"
        forwarded = header(request.headers, "X-Forwarded-Proto").lower() == "https"
        scheme = "https" if request.secure or forwarded else "http"
        return f"{scheme}://{host}"

    @staticmethod
    def _descriptor(base: str, sha256: str, size: int, mime: str, uploaded: int) -> dict[str, Any]:
        ext = EXTENSIONS.get(mime, "bin")
        return {"url": f"{base}/{sha256}.{ext}", "sha256": sha256, "size": size, "type": mime, "uploaded": uploaded}


def _int(query: dict[str, list[str]], name: str) -> int | None:
    values = query.get(name)
    if not values:
        return None
    number = whole_number(values[0], 12)
    if number is None:
        raise Refusal(400, f"the {name} parameter must be a whole number")
    return number


def whole_number(text: str, digits: int) -> int | None:
    """``text`` as a whole number of at most ``digits`` ASCII digits, else None ("²" and "٣" are digits to
    ``str.isdigit`` but not numbers to ``int``, and ``int`` refuses more than 4300 digits)."""
    if not 0 < len(text) <= digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)


def _refilled(bucket: TokenBucket, now: float) -> bool:
    """Whether ``bucket`` is full again by ``now``: then it is the same as a new one and can be forgotten."""
    return bucket.tokens + (now - bucket.stamp) * bucket.rate >= bucket.burst
