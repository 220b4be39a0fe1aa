"""The node's own NIP-65 relay list: every post the node makes also goes to its write relays."""

from __future__ import annotations

from collections.abc import Sequence

from samizdat.core.relaylist import RelayList, build_relay_list
from samizdat.services import publishing
from samizdat.services.channels import relay_list, relay_list_event
from samizdat.services.context import Context


async def change(
    ctx: Context, *, write: Sequence[str] = (), read: Sequence[str] = (), remove: Sequence[str] = ()
) -> RelayList:
    """Add and remove relays, publish the new list (a replaceable event, newer than the one it replaces even
    when the clock went backwards) and return it; with nothing to change, return the current list."""
    current = await relay_list(ctx)
    if not (write or read or remove):
        return current
    new = RelayList(
        tuple(u for u in dict.fromkeys([*current.read, *read]) if u not in remove),
        tuple(u for u in dict.fromkeys([*current.write, *write]) if u not in remove),
    )
    previous = await relay_list_event(ctx)
    created_at = max(ctx.now(), previous.created_at + 1 if previous else 0)
    await publishing.publish_now(ctx, [build_relay_list(ctx.key, new, created_at=created_at)], new.write)
    return new
