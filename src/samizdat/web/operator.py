"""Operator login: acting as the node's own key from a browser, for whoever holds a code the CLI printed.

Theory of operation. ``samizdat web login`` makes a random code (128 bits, URL-safe) and stores only its
SHA-256 in ``<home>/web-operators`` (mode 0600); the code is shown once, as a link ``http://host:port/#op=CODE``
(the fragment never travels in a request line or a Referer). The browser opens a WebSocket to ``/op`` and sends
``{"token": CODE}`` as its first message; the node compares hashes in constant time and answers
``{"ok": true, "pubkey": ...}`` or ``{"ok": false, "error": ...}`` and closes. After that, each
``{"id": n, "sign": {kind, content, tags, created_at}}`` is checked for shape here, then handed to the
publishing service (``services.publishing.publish_as_operator``), which signs it with the node's key only if the
command line would publish it too (channel posts, deletion requests and labels; a post only in a channel where
the node's key is the owner, an admin or an editor, with the same shape rules), and publishes it through the
node (stored, fanned out, queued for the channel's mirrors). The answer is ``{"id": n, "event": ...}`` or
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
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import orjson
from websockets.asyncio.server import ServerConnection
from websockets.exceptions import ConnectionClosed

from samizdat.core.event import Event
from samizdat.core.thread import MAX_FUTURE
from samizdat.errors import RemoteProtocolError, UsageError
from samizdat.services.publishing import OPERATOR_KINDS

log = logging.getLogger(__name__)

TOKENS_FILE = "web-operators"
LOGIN_TIMEOUT = 10.0
MAX_MESSAGE = 64 * 1024
SIGNABLE = OPERATOR_KINDS  # the publishing service decides; this only answers a wrong kind early

#: Signs (kind, content, tags, created_at) with the node's key and publishes it; UsageError when refused.
OperatorPublish = Callable[[int, str, list[list[str]], int], Awaitable[Event]]


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
        self, home: Path, pubkey: str, publish: OperatorPublish, *, clock: Callable[[], float] = time.time
    ) -> None:
        self.home = home
        self.pubkey = pubkey
        self.publish = publish
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
            await self._send(ws, {"ok": True, "pubkey": self.pubkey})
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
            event = await self.publish(kind, content, tags, created_at)
        except (RemoteProtocolError, UsageError) as exc:
            return {"id": request_id, "error": str(exc)}
        return {"id": request_id, "event": event.to_dict()}
