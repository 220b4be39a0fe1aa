"""The web app's photo preview: faces blurred by the node, from memory, before the author uploads a photo.

Theory of operation. The compose screen re-encodes a picked photo on the phone (a canvas: no metadata survives)
and sends that WebP here; the node answers with the faces (and any ``regions`` the author asks for) blurred by
:func:`samizdat.services.photos.blur_preview`, and the face rectangles it found. The author looks, blurs more on
the phone, and only then uploads (Blossom ``PUT /upload``). Nothing here is stored, and nothing about a photo is
logged: the bytes live in this coroutine's memory until the answer is sent.

It is a WebSocket route (``/media/preview``), not an HTTP POST: the relay's HTTP side answers only GET and HEAD
(every write goes over a WebSocket with no ambient credential, docs/web.md), and one connection serves every
photo of a post. Like ``/op``:

- only the node's own page may connect (``Origin`` must be ``http(s)://<Host>``);
- the first message proves who asks: an operator session code, proved as at ``/op`` (``{"login": "challenge"}``,
  then ``{"proof": ...}`` for the nonce the node answers: web/operator.py; ``{"token": CODE}``, the code itself,
  is still taken) or ``{"auth": EVENT}``, a kind-24242 event with ``["t", "preview"]`` and an ``expiration`` in
  the future, signed by a key that may post in a channel the node owns or follows (``may_upload``,
  services/blobs.py); answered ``{"ok": true}``, or ``{"ok": false, "error": ...}`` and closed;
- then each request is one binary message: a 4-byte big-endian length, a JSON head ``{"id", "regions": [[x, y, w,
  h], ...], "blur": true}`` (fractions of the picture) and the image; each answer the same framing, the head
  ``{"id", "faces": [...]}`` followed by the WebP, or ``{"id", "error": one sentence}`` alone.

Limits: an image of at most :data:`MAX_IMAGE_BYTES` (the relay's WebSocket message limit is above it); per
address :data:`PER_MINUTE` previews a minute; one preview at a time on the node (it is CPU work, in a thread)
and at most :data:`MAX_WAITING` waiting, beyond which a request is answered "busy". With ``serve --workers N``
the address's previews are one token bucket for all the workers (burst :data:`PER_MINUTE`, refilled over a
minute: relay/shared.py), and "one at a time" is the node's: the thread takes an ``flock`` on a file beside the
workers' shared limits before it starts (red team, round 10: each worker counted its own, N times the previews
and N cores blurring at once).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import secrets
import struct
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from samizdat.core.event import parse_event
from samizdat.errors import RemoteProtocolError
from samizdat.relay.http import header
from samizdat.relay.shared import PREVIEWS, SharedLimits
from samizdat.services.photos import PhotoError, blur_preview
from samizdat.web.operator import address_key, code_by_proof, same_origin, session_valid

PREVIEW_PATH = "/media/preview"
MAX_IMAGE_BYTES = 240 * 1024  #: the phone sends a WebP of at most 200 KB
MAX_HEAD_BYTES = 16 * 1024
MAX_REGIONS = 64
PER_MINUTE = 30  #: previews per address and minute (a post has a few photos; a script gets no more)
MAX_WAITING = 4
LOGIN_TIMEOUT = 10.0
AUTH_KIND = 24242
MAX_AUTH_AGE = 600  #: an authorization made longer ago than this is refused, whatever its expiration
MAX_TRACKED = 4096

Region = tuple[float, float, float, float]
#: Whether a key may hand the node photos (services.uploaders.may_upload with the node's context).
MayUpload = Callable[[str], Awaitable[bool]]
#: The blurring itself (services.photos.blur_preview): image bytes, regions -> WebP, face rectangles.
Preview = Callable[[bytes, Sequence[Region]], tuple[bytes, list[Region]]]


def _default_preview(data: bytes, regions: Sequence[Region]) -> tuple[bytes, list[Region]]:
    return blur_preview(data, blur_faces=True, regions=regions)


def frame(head: dict[str, Any], body: bytes = b"") -> bytes:
    """One message: 4-byte length of the JSON head, the head, the body."""
    data = orjson.dumps(head)
    return struct.pack(">I", len(data)) + data + body


def unframe(data: bytes) -> tuple[dict[str, Any], bytes]:
    """The head and body of one request; RemoteProtocolError when it is not one."""
    if len(data) < 4:
        raise RemoteProtocolError("the request is too short")
    (size,) = struct.unpack(">I", data[:4])
    if size > MAX_HEAD_BYTES or 4 + size > len(data):
        raise RemoteProtocolError("the request's head is too long")
    try:
        head = orjson.loads(data[4 : 4 + size])
    except orjson.JSONDecodeError as exc:
        raise RemoteProtocolError("the request's head is not JSON") from exc
    if not isinstance(head, dict):
        raise RemoteProtocolError("the request's head is not an object")
    return head, data[4 + size :]


def regions_of(raw: object) -> list[Region]:
    """The regions a request asks to blur: up to MAX_REGIONS lists of four numbers between 0 and 1."""
    if raw is None:
        return []
    if not isinstance(raw, list) or len(raw) > MAX_REGIONS:
        raise RemoteProtocolError(f"regions must be a list of at most {MAX_REGIONS} rectangles")
    out: list[Region] = []
    for r in raw:
        if (
            not isinstance(r, list)
            or len(r) != 4
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in r)
        ):
            raise RemoteProtocolError("a region is four numbers: x, y, width, height (fractions of the picture)")
        x, y, w, h = (min(max(float(v), 0.0), 1.0) for v in r)
        out.append((x, y, w, h))
    return out


def check_authorization(raw: object, now: float) -> str:
    """The pubkey of a valid preview authorization (kind 24242, ``t`` preview, unexpired, recent); else
    RemoteProtocolError saying why."""
    event = parse_event(raw)
    if event.kind != AUTH_KIND:
        raise RemoteProtocolError(f"the authorization must be a kind {AUTH_KIND} event")
    tags = {t[0]: t[1] for t in event.tags if len(t) >= 2}
    if tags.get("t") != "preview":
        raise RemoteProtocolError("the authorization is not for a preview (its t tag)")
    expiration = tags.get("expiration", "")
    if not (0 < len(expiration) <= 18 and expiration.isascii() and expiration.isdigit()) or int(expiration) <= now:
        raise RemoteProtocolError("the authorization has expired")
    if event.created_at > now + 60 or event.created_at < now - MAX_AUTH_AGE:
        raise RemoteProtocolError("the authorization's time is wrong; check the phone's clock")
    return event.pubkey


class PreviewEndpoint:
    """The ``/media/preview`` WebSocket route of ``samizdat serve``."""

    def __init__(
        self,
        home: Any,
        may_upload: MayUpload,
        *,
        preview: Preview = _default_preview,
        clock: Callable[[], float] = time.time,
        names: Sequence[str] = (),
        shared: Callable[[], SharedLimits | None] = lambda: None,
    ) -> None:
        self.names = tuple(names)  # host names besides the machine's own ([relay] host_names)
        self.shared = shared  # with workers: the limits of every worker together (relay/shared.py)
        self.home = home
        self.may_upload = may_upload
        self.preview = preview
        self.clock = clock
        self._turn = asyncio.Semaphore(1)
        self._waiting = 0
        self._seen: dict[str, deque[float]] = {}  # address -> times of its recent previews

    def _allow(self, who: str, now: float) -> bool:
        if (shared := self.shared()) is not None:
            return shared.take(who, PER_MINUTE / 60, PER_MINUTE, time.monotonic(), PREVIEWS)
        times = self._seen.pop(who, deque())
        while times and times[0] <= now - 60:
            times.popleft()
        self._seen[who] = times
        while len(self._seen) > MAX_TRACKED:
            del self._seen[next(iter(self._seen))]
        if len(times) >= PER_MINUTE:
            return False
        times.append(now)
        return True

    async def _login(self, ws: ServerConnection) -> str | None:
        """None when the first message proves a right to preview; else the reason."""
        challenge = None
        try:
            async with asyncio.timeout(LOGIN_TIMEOUT):
                message = orjson.loads(await ws.recv())
                if isinstance(message, dict) and message.get("login") == "challenge":  # as at /op: web/operator.py
                    challenge = secrets.token_urlsafe(16)
                    await ws.send(orjson.dumps({"challenge": challenge}).decode())
                    message = orjson.loads(await ws.recv())
        except (TimeoutError, orjson.JSONDecodeError):
            return "expected an authorization first"
        if not isinstance(message, dict):
            return "expected an authorization first"
        if challenge is not None:
            proof = message.get("proof")
            code = await asyncio.to_thread(code_by_proof, self.home, proof if isinstance(proof, str) else "", challenge)
            ok = code is not None and bool(code.link) and not code.expired(self.clock())
            return None if ok else "this operator session is not valid: log in again (it expired or was revoked)"
        token = message.get("token")
        if isinstance(token, str) and token:
            ok = await asyncio.to_thread(session_valid, self.home, token, self.clock())
            return None if ok else "this operator session is not valid: log in again (it expired or was revoked)"
        try:
            pubkey = check_authorization(message.get("auth"), self.clock())
        except RemoteProtocolError as exc:
            return str(exc)
        if not await self.may_upload(pubkey):
            return "this key may not post in any channel this node carries, so it may not send photos here"
        return None

    def _blur(self, image: bytes, regions: Sequence[Region]) -> tuple[bytes, list[Region]]:
        """``preview`` (in a thread), one at a time on the node: with workers, under an ``flock`` they all take."""
        shared = self.shared()
        if shared is None:
            return self.preview(image, regions)
        fd = os.open(shared.path.with_name("previews"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            return self.preview(image, regions)
        finally:
            os.close(fd)  # the lock goes with it

    async def __call__(self, ws: ServerConnection) -> None:
        request = ws.request
        headers = request.headers if request is not None else None
        if headers is None or not same_origin(header(headers, "Origin"), header(headers, "Host"), self.names):
            await ws.close(1008, "photo previews only from this node's own page, at one of its own names")
            return
        who = address_key(ws.remote_address)
        try:
            refused = await self._login(ws)
            if refused is not None:
                await ws.send(orjson.dumps({"ok": False, "error": refused}).decode())
                await ws.close(1008, "not authorised")
                return
            await ws.send(orjson.dumps({"ok": True}).decode())
            async for data in ws:
                await ws.send(await self._answer(data, who))
        except ConnectionClosed:
            pass

    async def _answer(self, data: str | bytes, who: str) -> bytes:
        request_id: object = None
        try:
            if isinstance(data, str):
                raise RemoteProtocolError("a preview request is a binary message")
            head, image = unframe(data)
            request_id = head.get("id")
            if not image:
                raise RemoteProtocolError("the request carries no image")
            if len(image) > MAX_IMAGE_BYTES:
                raise RemoteProtocolError(f"the image is larger than {MAX_IMAGE_BYTES // 1024} KB; re-encode it first")
            regions = regions_of(head.get("regions"))
            if not self._allow(who, self.clock()):
                raise RemoteProtocolError(f"at most {PER_MINUTE} photo previews a minute; wait a little")
            if self._waiting >= MAX_WAITING:
                raise RemoteProtocolError("the node is busy with other photos; try again in a moment")
            self._waiting += 1
            try:
                async with self._turn:
                    webp, faces = await asyncio.to_thread(self._blur, bytes(image), regions)
            finally:
                self._waiting -= 1
        except (RemoteProtocolError, PhotoError) as exc:
            return frame({"id": request_id, "error": str(exc)})
        return frame({"id": request_id, "faces": [list(f) for f in faces]}, webp)
