"""Which new events a LAN neighbour brings count as news, for who keeps a place when the room is full.

Theory of operation. When a node's table of LAN neighbours is full, a neighbour that has brought nothing new for
a while makes room for a newcomer, and the half that brought something most lately keep their places
(samizdat.mesh.room). New events are cheap to make: a device on the Wi-Fi can sign junk with fresh keys from each
of its made-up nodes, and each then counts as bringing news, holding the reserved half of the room against real
neighbours.

A node that follows channels, owns one or follows verifiers knows whose events matter to its owner: the keys that
may post in those channels (owners, admins, editors), the verifiers, and its own. :class:`LanNews` counts only
their new events as news, so junk signed by anyone else brings nothing, and the nodes that send it make room like
quiet ones. A node that follows nothing (a hub that carries a town's channels for everyone) counts every new
event, as before: it has no one to prefer. :meth:`refresh` reads the channel definitions again (in the mesh's
process, once a minute, :meth:`run`), so a new admin counts within a minute.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from samizdat.core.event import Event
from samizdat.errors import SamizdatError
from samizdat.services import channels
from samizdat.services.context import Context

log = logging.getLogger(__name__)

#: Seconds between two readings of the followed channels' keys.
REFRESH_EVERY = 60.0


class LanNews:
    """``news(event)``: whether a new event a neighbour brought counts (see the module). Call :meth:`refresh`
    (or run :meth:`run`) to read the followed channels' keys; before the first reading every event counts."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.keys: frozenset[str] | None = None  # None: every event counts

    def __call__(self, event: Event) -> bool:
        return self.keys is None or event.pubkey in self.keys

    async def refresh(self) -> None:
        """Read the keys whose events count: none (every event counts) when the node follows no channel and
        verifier and owns no channel."""
        ctx = self.ctx
        addresses = [*ctx.local.follows(), *await channels.own_channels(ctx)]
        verifiers = ctx.local.verifiers()
        if not addresses and not verifiers:
            self.keys = None
            return
        keys = {ctx.pubkey, *verifiers}
        for address in dict.fromkeys(addresses):
            channel = await channels.lookup(ctx, address)
            if channel is not None:
                keys.add(channel.owner)
                keys.update(channel.admins)
        self.keys = frozenset(keys)

    async def run(self) -> None:
        """Refresh at once, then every :data:`REFRESH_EVERY` seconds, for ever."""
        while True:
            try:
                await self.refresh()
            except SamizdatError as exc:  # keep the last reading; the next may work
                log.warning("could not read the followed channels for the LAN: %s", exc)
            await self.ctx.sleep(REFRESH_EVERY)


def own(ctx: Context) -> Callable[[Event], bool]:
    """Which new events are this node's own, held back from the LAN until a neighbour serves them first
    (relay/embargo.py): those signed by the node's key, the one key it holds (posts, channel definitions,
    corrections, labels). A phone's post sent to this node is not: a hub serving many phones is a crowd."""
    key = ctx.pubkey
    return lambda event: event.pubkey == key
