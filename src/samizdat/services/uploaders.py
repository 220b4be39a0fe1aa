"""Who may hand this node a photo: a key that may post now in some channel the node owns or follows (its owner,
an admin or an editor), or the node's own key (the operator). The web app's face-blur preview asks this
(web/media.py); it is the rule issue 13 gives for Blossom uploads too."""

from __future__ import annotations

import time

from samizdat.services import channels
from samizdat.services.context import Context

#: Channels looked at, at most (own and followed ones are few; this bounds a node that follows thousands).
MAX_CHANNELS = 2000


async def may_upload(ctx: Context, pubkey: str, *, now: int | None = None) -> bool:
    """True when ``pubkey`` is the node's key or has a role in a channel the node owns or follows."""
    if pubkey == ctx.pubkey:
        return True
    when = int(time.time()) if now is None else now
    addresses = [*await channels.own_channels(ctx), *ctx.local.follows()][:MAX_CHANNELS]
    for address in dict.fromkeys(addresses):
        channel = await channels.lookup(ctx, address)
        if channel is not None and channel.role_of(pubkey, when) is not None:
            return True
    return False
