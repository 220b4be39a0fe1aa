"""What ``serve`` runs besides the relay: opening a node's parts, and the loops that run once per node.

:func:`open_parts` opens a data directory's stores (the events in SQLite or PostgreSQL, the local state, the photo
store: files in the data directory, or rows beside the events in PostgreSQL), each under its key from the unlocked
slot when the node is encrypted, and closes what it opened when a later part fails. :func:`loops` names every
background loop of a serving node (the upkeep's, background sync, photo travel, the decoy store's, the panic wipe's
timer); ``Node.serve`` runs each as a task of one task group, in one process of a cluster (docs/scaling.md).
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samizdat.config import Config, load_identity
from samizdat.core.sealing import NodeKeys
from samizdat.net import failover
from samizdat.net.client import default_proxy
from samizdat.services import blob_travel, deadman, operator_codes, spare
from samizdat.services.context import Context
from samizdat.services.sync import background_sync
from samizdat.services.upkeep import Upkeep
from samizdat.store.blobs import DIRECTORY as BLOBS_DIRECTORY
from samizdat.store.blobs import Blobs, BlobStore
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore

if TYPE_CHECKING:
    from samizdat.store.postgres import PostgresStore

Loop = Callable[[], Coroutine[Any, Any, None]]


async def open_parts(
    home: Path,
    config: Config,
    *,
    clock: Callable[[], float],
    sleep: Callable[[float], Awaitable[None]],
    keys: NodeKeys | None,
) -> dict[str, Any]:
    """The :class:`Context`'s fields but ``connect``, ``ingest`` and ``serving`` (which the node gives); a bad
    transport in the configuration fails here, before anything is opened."""
    routing = failover.Routing.from_config(
        config.extra, proxy=config.proxy or default_proxy() or "", via=config.via, where=str(home / "config.toml")
    )
    key = load_identity(home, keys)
    operator_codes.use(home, keys)  # the web login's codes, sealed on an encrypted node
    store: SqliteStore | PostgresStore
    if config.store_url:  # only the events move; keys and local state stay in ``home``
        from samizdat.store.postgres import PostgresStore  # psycopg only when used

        store = await PostgresStore.open(config.store_url, read_url=config.store_read_url or None, clock=clock)
    else:
        store = await SqliteStore.open(home / "events.sqlite", clock=clock, key=keys.events if keys else None)
    try:
        local = LocalState(home / "local.sqlite", key=keys.local if keys else None)
    except BaseException:
        await store.close()
        raise
    try:
        blob_store: Blobs
        if config.store_url:  # the photos go where the events are, so that every machine serves them
            from samizdat.store.pgblobs import PgBlobStore

            blob_store = await asyncio.to_thread(PgBlobStore, config.store_url)
        else:
            blob_store = BlobStore(home / BLOBS_DIRECTORY, keys.blobs if keys else None)
    except BaseException:
        local.close()
        await store.close()
        raise
    return dict(home=home, config=config, key=key, store=store, local=local, routing=routing, clock=clock,
                sleep=sleep, random=random.random, blobs=blob_store)  # fmt: skip


def loops(
    ctx: Context,
    upkeep: Upkeep,
    *,
    peers: Callable[[], Sequence[str]],
    decoy: Context | None = None,
    wipe: Callable[[], None] | None = None,
) -> dict[str, Loop]:
    """The loops of one serving node by task name: ``peers()`` gives the LAN peers' HTTP bases (photos are asked
    of them first); with the ``decoy`` store's context it is kept in step (services/spare.py); with ``wipe``,
    ``[safety] wipe_after_days`` is watched (services/deadman.py)."""
    named: dict[str, Loop] = dict(upkeep.loops())
    named["sync"] = lambda: background_sync(ctx)
    named["photos"] = lambda: blob_travel.loop(ctx, peers, kick=upkeep.photos)
    if decoy is not None:
        named.update(spare.loops(decoy))
    if wipe is not None:
        days = ctx.config.wipe_after_days
        named["wipe-after-days"] = lambda: deadman.watch(ctx.home, days, wipe, clock=ctx.clock, sleep=ctx.sleep)
    return named
