"""The nodes this one syncs with directly: found on the LAN (mDNS) or added by hand."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from samizdat.errors import UsageError
from samizdat.services.context import Context

FIELDS = ("url", "name", "name_verified", "source", "state", "last_seen", "last_sync", "events_in", "events_out",
          "bytes_in", "bytes_out", "failures", "last_error")  # fmt: skip


def check_url(url: str) -> str:
    """A peer's relay URL, ``ws://host:port`` or ``wss://...``; UsageError with the reason otherwise."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"{url!r} is not a peer address: give ws://HOST:PORT (or wss://...)")
    try:
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as exc:
        raise UsageError(f"{url!r} has an invalid port") from exc
    return url.rstrip("/")


def listing(ctx: Context) -> list[dict[str, Any]]:
    return [{k: getattr(row, k) for k in FIELDS} for row in ctx.local.peers()]


def add(ctx: Context, url: str) -> bool:
    """Sync with ``url`` whenever it is reachable (a running ``serve`` picks it up within seconds)."""
    return ctx.local.add_peer(check_url(url), "manual", ctx.clock())


def remove(ctx: Context, url: str) -> str:
    url = url.strip().rstrip("/")
    if not ctx.local.remove_peer(url):
        raise UsageError(f"{url} is not a known peer (see `samizdat peers`)")
    return url
