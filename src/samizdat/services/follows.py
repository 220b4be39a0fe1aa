"""The follow list stays on this node: it is never published. ``samizdat follows backup RELAY`` writes an
encrypted copy (core/private_list.py: a NIP-51 list, every item NIP-44 encrypted to the node's own key, no tags)
and ``samizdat follows restore RELAY`` reads it back into a node with the same key."""

from __future__ import annotations

from typing import Any

from samizdat.core.event import parse_event
from samizdat.core.private_list import backup_filter_dict, build_follows_backup, read_follows_backup
from samizdat.errors import RemoteProtocolError, SamizdatError, UsageError
from samizdat.services import channels
from samizdat.services.context import Context

RESTORE_TIMEOUT = 30.0


async def backup(ctx: Context, url: str) -> dict[str, Any]:
    """Publish the encrypted backup of the follows to ``url``. Raises RemoteProtocolError when the relay
    refuses it, TransportError when it cannot be reached."""
    follows, verifiers = ctx.local.follows(), ctx.local.verifiers()
    event = build_follows_backup(ctx.key, follows, verifiers, created_at=ctx.now())
    client = await ctx.connect(url)
    try:
        result = await client.publish(event)
    finally:
        await client.close()
    if not result.accepted and result.prefix != "duplicate":
        raise RemoteProtocolError(f"{url} refused the backup: {result.message or 'no reason given'}")
    return {"relay": url, "event": event.id, "channels": len(follows), "verifiers": len(verifiers)}


async def restore(ctx: Context, url: str) -> dict[str, Any]:
    """Fetch this key's newest backup from ``url``, decrypt it and follow what it lists (follows already here
    stay). Raises UsageError when the relay holds no backup by this key, RemoteProtocolError when the newest one
    does not decrypt with this key, TransportError when the relay cannot be reached."""
    client = await ctx.connect(url)
    try:
        raws = [raw async for raw in client.stored([backup_filter_dict(ctx.pubkey)], max_messages=20,
                                                    timeout=RESTORE_TIMEOUT)]  # fmt: skip
    finally:
        await client.close()
    found = []
    for raw in raws:
        try:
            event = parse_event(raw)  # verified: a relay could forge anything else
        except RemoteProtocolError:
            continue
        if event.pubkey == ctx.pubkey:
            found.append(event)
    if not found:
        raise UsageError(f"{url} holds no follows backup of this node's key")
    newest = max(found, key=lambda e: (e.created_at, e.id))
    follows, verifiers = read_follows_backup(ctx.key, newest)
    added = skipped = 0
    for address, hints in follows.items():
        try:
            done = await channels.follow(ctx, address, hints)
        except SamizdatError:
            skipped += 1
            continue
        added += 1 if done.get("added") else 0
    for pubkey in verifiers:
        added += 1 if ctx.local.follow_verifier(pubkey, ctx.clock()) else 0
    return {"relay": url, "event": newest.id, "written_at": newest.created_at, "channels": len(follows),
            "verifiers": len(verifiers), "added": added, "skipped": skipped}  # fmt: skip
