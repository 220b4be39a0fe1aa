"""The operator's photo uploads from a phone: the node's key signs Blossom authorizations (kind 24242) for the web
app's operator login (web/operator.py), under rules as narrow as those for what it signs and publishes. Who may
upload at all is services.blobs.may_upload."""

from __future__ import annotations

import re

from samizdat.core.event import Event, sign_event
from samizdat.errors import RemoteProtocolError, UsageError
from samizdat.services.context import Context

_HEX64 = re.compile(r"[0-9a-f]{64}")

#: What the node's key signs for the web app's operator login besides posts: Blossom authorizations (kind 24242).
AUTH_KIND = 24242
AUTH_VERBS = frozenset({"upload", "preview"})
MAX_AUTH_LIFETIME = 3600


def sign_authorization(ctx: Context, content: str, tags: list[list[str]], created_at: int) -> Event:
    """A kind-24242 authorization signed by the node's key, for the operator's photo uploads from a phone; never
    stored or published. Only ``t`` upload or preview, ``x`` hashes, an ``expiration`` within the hour and
    a date close to now. Raises UsageError saying what was wrong."""
    now = ctx.now()
    verbs = [t[1] for t in tags if len(t) >= 2 and t[0] == "t"]
    expirations = [t[1] for t in tags if len(t) >= 2 and t[0] == "expiration"]
    if len(verbs) != 1 or verbs[0] not in AUTH_VERBS:
        raise UsageError("the operator login signs authorizations only to upload or preview photos")
    if any(t[0] not in ("t", "x", "expiration") for t in tags if t):
        raise UsageError("an upload authorization carries only t, x and expiration tags")
    if any(len(t) < 2 or not _HEX64.fullmatch(t[1]) for t in tags if t and t[0] == "x"):
        raise UsageError("an x tag must be a SHA-256 in hex")
    if (
        len(expirations) != 1
        or not expirations[0].isdigit()
        or not now < int(expirations[0]) <= now + MAX_AUTH_LIFETIME
    ):
        raise UsageError("an upload authorization expires within the hour")
    if abs(created_at - now) > 600:
        raise UsageError("created_at is not now; check the phone's clock")
    try:
        return sign_event(ctx.key, AUTH_KIND, content[:200], tags, created_at=created_at)
    except RemoteProtocolError as exc:
        raise UsageError(str(exc)) from exc
