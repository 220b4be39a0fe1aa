"""Operator login: acting as the node's own key from a browser, for whoever holds a code the CLI printed.

Theory of operation. ``samizdat web login`` makes a random code (128 bits, URL-safe) and stores only its
SHA-256 in ``<home>/web-operators`` (mode 0600); the code is shown once, as a link ``http://host:port/#op=CODE``
(the fragment never travels in a request line or a Referer). The browser opens a WebSocket to ``/op`` and sends
``{"token": CODE}`` as its first message; the node compares hashes in constant time and answers
``{"ok": true, "pubkey": ...}`` or ``{"ok": false, "error": ...}`` and closes. After that, each
``{"id": n, "sign": {kind, content, tags, created_at}}`` is checked (only channel posts, deletion requests and
labels; posts must pass the same shape rules as the CLI's), signed with the node's key, published through the
node (stored, fanned out, queued for the channel's mirrors) and answered ``{"id": n, "event": ...}`` or
``{"id": n, "error": one sentence}``.

Why this is CSRF-safe: there is no cookie or ambient credential. A page from another origin could open a
WebSocket to /op (WebSockets ignore the same-origin policy) but cannot know the code; and the Origin header is
checked anyway, so only pages served by this node can talk to /op. ``samizdat web logout`` forgets every code.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from samizdat.core import kinds
from samizdat.core.channel import MAX_FUTURE
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import parse_label, parse_post, split_address
from samizdat.errors import RemoteProtocolError
from samizdat.store.base import AddOutcome

log = logging.getLogger(__name__)

TOKENS_FILE = "web-operators"
LOGIN_TIMEOUT = 10.0
MAX_MESSAGE = 64 * 1024
SIGNABLE = frozenset({kinds.POST, kinds.DELETION, kinds.LABEL})

#: Publishes our own new events: stores them, fans them out, queues them for ``relays`` (Node.publish).
Publisher = Callable[[Sequence[Event], Sequence[str]], Awaitable[Sequence[AddOutcome]]]
#: The mirror relays of a channel address, when the node knows the channel.
MirrorLookup = Callable[[str], Awaitable[Sequence[str]]]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token(home: Path, now: float | None = None) -> str:
    """Make a login code, remember its hash in ``home``, and return the code (shown once, never stored)."""
    token = secrets.token_urlsafe(16)
    path = home / TOKENS_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(fd, "a", encoding="ascii") as handle:
        handle.write(f"{_digest(token)} {int(now if now is not None else time.time())}\n")
    return token


def forget_tokens(home: Path) -> int:
    """Forget every login code; return how many there were. Open operator sessions end at their next request."""
    path = home / TOKENS_FILE
    try:
        count = len(_hashes(home))
        path.unlink()
    except FileNotFoundError:
        return 0
    return count


def _hashes(home: Path) -> list[str]:
    try:
        lines = (home / TOKENS_FILE).read_text(encoding="ascii", errors="replace").splitlines()
    except FileNotFoundError:
        return []
    return [line.split()[0] for line in lines if line.strip()]


def token_valid(home: Path, token: str) -> bool:
    """True when ``token`` is a current login code (read from the file each time: a new login or a logout from
    another process counts at once)."""
    if not isinstance(token, str) or not 16 <= len(token) <= 128:
        return False
    digest = _digest(token)
    return any(hmac.compare_digest(digest, known) for known in _hashes(home))


def same_origin(origin: str | None, host: str | None) -> bool:
    """True when the Origin header names the host the request was sent to (http or https, same host:port)."""
    if not origin or not host:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and parts.netloc.lower() == host.strip().lower()


def check_template(raw: object) -> tuple[int, str, list[list[str]], int]:
    """(kind, content, tags, created_at) of a signing request; RemoteProtocolError with a sentence otherwise."""
    if not isinstance(raw, dict):
        raise RemoteProtocolError("a signing request is an object with kind, content, tags and created_at")
    kind, content, tags, created_at = raw.get("kind"), raw.get("content"), raw.get("tags"), raw.get("created_at")
    if kind not in SIGNABLE:
        raise RemoteProtocolError("the operator login signs only channel posts, deletion requests and labels")
    if not isinstance(content, str):
        raise RemoteProtocolError("content must be text")
    if not isinstance(tags, list) or not all(
        isinstance(t, list) and all(isinstance(v, str) for v in t) for t in tags
    ):
        raise RemoteProtocolError("tags must be lists of strings")
    if not isinstance(created_at, int) or isinstance(created_at, bool) or created_at < 0:
        raise RemoteProtocolError("created_at must be a unix time")
    return kind, content, tags, created_at


class OperatorEndpoint:
    """The ``/op`` WebSocket route of ``samizdat serve``."""

    def __init__(
        self,
        home: Path,
        key: SecretKey,
        publish: Publisher,
        mirrors: MirrorLookup,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = home
        self.key = key
        self.publish = publish
        self.mirrors = mirrors
        self.clock = clock

    async def __call__(self, ws: ServerConnection) -> None:
        request = ws.request
        headers = request.headers if request is not None else None
        if headers is None or not same_origin(headers.get("Origin"), headers.get("Host")):
            await ws.close(1008, "operator actions only from this node's own page")
            return
        try:
            first = await asyncio.wait_for(ws.recv(), LOGIN_TIMEOUT)
            message = orjson.loads(first)
            token = message.get("token") if isinstance(message, dict) else None
            if not isinstance(token, str) or not token_valid(self.home, token):
                await self._send(ws, {"ok": False, "error": "this operator code is not valid (or was revoked)"})
                await ws.close(1008, "not authorised")
                return
            await self._send(ws, {"ok": True, "pubkey": self.key.public_key_hex})
            async for data in ws:
                await self._send(ws, await self._request(data, token))
        except (TimeoutError, orjson.JSONDecodeError):
            await ws.close(1008, "expected a login message")
        except ConnectionClosed:
            pass

    async def _send(self, ws: ServerConnection, message: dict[str, Any]) -> None:
        await ws.send(orjson.dumps(message).decode())

    async def _request(self, data: str | bytes, token: str) -> dict[str, Any]:
        if len(data) > MAX_MESSAGE:
            return {"error": "the request is too large"}
        try:
            message = orjson.loads(data)
        except orjson.JSONDecodeError:
            return {"error": "the request is not JSON"}
        if not isinstance(message, dict):
            return {"error": "the request is not an object"}
        request_id = message.get("id")
        if not token_valid(self.home, token):  # logged out from the command line meanwhile
            return {"id": request_id, "error": "this operator code was revoked"}
        try:
            kind, content, tags, created_at = check_template(message.get("sign"))
            if created_at > self.clock() + MAX_FUTURE:
                raise RemoteProtocolError("created_at is in the future; check the phone's clock")
            event = sign_event(self.key, kind, content, tags, created_at=created_at)
            relays: Sequence[str] = ()
            if kind == kinds.POST:
                post = parse_post(event)
                if split_address(post.channel) is not None:
                    relays = await self.mirrors(post.channel)
            elif kind == kinds.LABEL:
                parse_label(event)
        except RemoteProtocolError as exc:
            return {"id": request_id, "error": str(exc)}
        outcome = (await self.publish([event], relays))[0]
        log.info("operator signed %s (kind %d) from the web: %s", event.id[:12], kind, outcome.value)
        if not outcome.accepted:
            return {"id": request_id, "error": f"the node did not store it ({outcome.value})"}
        return {"id": request_id, "event": event.to_dict()}
