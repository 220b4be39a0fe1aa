"""The decoy store kept in step while the real node serves, so that after a duress unlock it looks used.

Theory of operation
-------------------

The decoy store (``spare/``, :mod:`samizdat.services.decoy`) has a data directory's layout, so ``serve`` opens it
as a second node under the decoy's keys (:class:`~samizdat.core.sealing.UnlockedKeys`) and runs on it the same
background sync as on the real node (:func:`samizdat.services.sync.background_sync`): its followed channels, their
relay hints and mirrors, area by area when ``[sync] private`` is on, on the same schedule, through the same routes
and proxy (the real node's configuration), each event through the same door (:func:`samizdat.core.admission.admit`
in :mod:`samizdat.net.sync`). The purge and the carry quota run on it too, as area sync brings other channels.

The two nodes share nothing but the configuration: each has its own event store, its own local state (follows,
sync progress, learned routes) and its own identity, so neither sync reads or writes the other's files. The decoy
serves nobody (no relay, no web app, no LAN peers) and publishes nothing, and nothing of it goes into the real
node's status: a shoulder-surfer reading ``samizdat status`` or the web app learns nothing of its follows.

What it reveals is what it is for: the relays (and a proxy) see this device sync the decoy's public channels, or
their areas, as an ordinary reader of them would. ``[safety] decoy_sync = false`` turns it off.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from samizdat.config import Config
from samizdat.core.sealing import NodeKeys
from samizdat.services import decoy
from samizdat.services.context import Context
from samizdat.services.sync import background_sync
from samizdat.services.upkeep import Upkeep


def directory(home: Path) -> Path:
    """Where the decoy store of the node in ``home`` is: open it there like a node, under its :func:`keys`."""
    return decoy.spare(home)


def keys(config: Config, decoy_keys: NodeKeys | None) -> NodeKeys | None:
    """The keys to open the decoy store with while serving, or None when it is not kept in step: a plain node
    (it has no decoy store) or ``[safety] decoy_sync = false``."""
    return decoy_keys if config.decoy_sync else None


def loops(ctx: Context) -> dict[str, Callable[[], Coroutine[Any, Any, None]]]:
    """The loops ``serve`` runs for the decoy store, ``ctx`` being the decoy's own: its background sync, and the
    purge and carry quota that keep what that sync brings within the same bounds as the real node's store."""
    upkeep = Upkeep(ctx)
    return {"spare-sync": lambda: background_sync(ctx), "spare-purge": upkeep.purge_loop,
            "spare-carry": upkeep.carry_loop}  # fmt: skip
