"""NIP-65 relay lists (kind 10002): where a key writes its events and where it reads mentions."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from samizdat.core import kinds
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.errors import UsageError

MAX_RELAYS = 20


@dataclass(frozen=True, slots=True)
class RelayList:
    read: tuple[str, ...] = ()
    write: tuple[str, ...] = ()


def check_relay_url(url: str) -> str:
    """``url`` if it is a ws:// or wss:// URL with a host; else UsageError."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:  # urlsplit refuses some text outright, such as an unclosed IPv6 bracket ("wss://[")
        parts = None
    if parts is None or parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise UsageError(f"{url[:80]!r} is not a relay address (ws://host:port or wss://host).")
    return url.strip()


def parse_relay_list(event: Event) -> RelayList:
    """Read and write relays of a kind-10002 event; malformed ``r`` tags are skipped, as NIP-65 readers do."""
    read: list[str] = []
    write: list[str] = []
    for tag in event.tags:
        if len(tag) < 2 or tag[0] != "r":
            continue
        try:
            url = check_relay_url(tag[1])
        except UsageError:
            continue
        marker = tag[2] if len(tag) > 2 else ""
        if marker in ("", "read") and url not in read:
            read.append(url)
        if marker in ("", "write") and url not in write:
            write.append(url)
    return RelayList(tuple(read[:MAX_RELAYS]), tuple(write[:MAX_RELAYS]))


def build_relay_list(key: SecretKey, relays: RelayList, *, created_at: int) -> Event:
    """Sign a kind-10002 event; relays in both lists get one unmarked tag. Raises UsageError for bad URLs."""
    read = [check_relay_url(u) for u in relays.read]
    write = [check_relay_url(u) for u in relays.write]
    if len(set(read) | set(write)) > MAX_RELAYS:
        raise UsageError(f"A relay list holds at most {MAX_RELAYS} relays.")
    tags: list[Sequence[str]] = []
    for url in dict.fromkeys([*write, *read]):
        if url in read and url in write:
            tags.append(["r", url])
        else:
            tags.append(["r", url, "read" if url in read else "write"])
    return sign_event(key, kinds.RELAY_LIST, "", tags, created_at=created_at)
