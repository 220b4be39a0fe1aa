"""The follows backup: a NIP-51 list whose every item is private, encrypted to the node's own key (NIP-44 v2).

Why kind 10003 (NIP-51 "Bookmarks"): it is a standard list, replaceable, so one per key with no ``d`` tag (a
set's ``d`` tag is public and would have to say something, or be remembered); its expected items are ``a``
tags of addressable events, which is what a followed channel's address is; and a bookmark list is among the most
common lists on Nostr, so the event says little by its kind. The event has **no tags at all**: the items
(``["a", <channel address>, <relay hint>]`` for channels, ``["p", <pubkey>]`` for followed verifiers) are the
JSON array NIP-51 describes, NIP-44 encrypted from the key to itself, in ``content``.

What a relay still sees: the key, when the backup was written, and the ciphertext's size (NIP-44 pads to the next
power of two, from 32 bytes, so it tells roughly how many follows, within a factor of two).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence

import orjson

from samizdat.core import kinds, nip44
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import split_address
from samizdat.errors import RemoteProtocolError

MAX_ITEMS = 10_000
_HEX64 = re.compile(r"[0-9a-f]{64}")
_RELAY = re.compile(r"wss?://[^\s\x00-\x1f]{1,250}")


def backup_filter_dict(pubkey: str) -> dict[str, object]:
    """The REQ filter that finds a key's backup (its newest bookmark list)."""
    return {"kinds": [kinds.BOOKMARKS], "authors": [pubkey], "limit": 1}


def build_follows_backup(
    key: SecretKey,
    follows: Mapping[str, Sequence[str]],
    verifiers: Iterable[str] = (),
    *,
    created_at: int,
    random_bytes: Callable[[int], bytes] = os.urandom,
) -> Event:
    """Sign the backup of ``follows`` (channel address -> relay hints; the first hint is kept) and followed
    ``verifiers`` (hex pubkeys): kind 10003, no tags, the items encrypted to ``key`` itself."""
    items: list[list[str]] = []
    for address, hints in follows.items():
        items.append(["a", address, hints[0]] if hints else ["a", address])
    items += [["p", pubkey] for pubkey in verifiers]
    conversation = nip44.conversation_key(key.secret, key.public_key_hex)
    content = nip44.encrypt(orjson.dumps(items).decode(), conversation, random_bytes=random_bytes)
    return sign_event(key, kinds.BOOKMARKS, content, [], created_at=created_at)


def read_follows_backup(key: SecretKey, event: Event) -> tuple[dict[str, list[str]], list[str]]:
    """The channel follows (address -> relay hints) and verifiers a backup by ``key`` holds. Items that are
    not Samizdat channels or pubkeys (bookmarks another client added) are ignored.

    Raises :class:`RemoteProtocolError` when the event is not this key's bookmark list, or its content does not
    decrypt with this key to a JSON list of tags."""
    if event.kind != kinds.BOOKMARKS or event.pubkey != key.public_key_hex:
        raise RemoteProtocolError("the backup is not this key's private list")
    conversation = nip44.conversation_key(key.secret, key.public_key_hex)
    try:
        items = orjson.loads(nip44.decrypt(event.content, conversation))
    except orjson.JSONDecodeError as exc:
        raise RemoteProtocolError("the backup's private items are not JSON") from exc
    if not isinstance(items, list) or len(items) > MAX_ITEMS:
        raise RemoteProtocolError("the backup's private items are not a list of tags")
    follows: dict[str, list[str]] = {}
    verifiers: list[str] = []
    for item in items:
        if not isinstance(item, list) or len(item) < 2 or not all(isinstance(v, str) for v in item):
            continue
        if item[0] == "a" and (parts := split_address(item[1])) and parts[0] == kinds.CHANNEL and parts[2]:
            hints = [item[2]] if len(item) > 2 and _RELAY.fullmatch(item[2]) else []
            follows.setdefault(item[1], hints)
        elif item[0] == "p" and _HEX64.fullmatch(item[1]):
            verifiers.append(item[1])
    return follows, list(dict.fromkeys(verifiers))
