"""The composition root: opens a node's parts, builds the services' context, and runs them together.

A :class:`Node` is what every command works on: the data directory's configuration, identity, event store and
local state, as one :class:`~samizdat.services.context.Context` (``node.ctx``). :meth:`Node.serve` adds the
long-running parts (the relay with the web app on its port, the LAN mesh, and the services' loops: outbox,
purge, carry, forwarding, background sync, and the decoy store's sync: services/spare.py) as tasks of one task
group, and stops them all together. Rules live in :mod:`samizdat.services`; this module only wires
(docs/architecture.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import errno
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samizdat.config import Config, load_config
from samizdat.core.event import Event
from samizdat.core.sealing import NodeKeys
from samizdat.errors import UsageError
from samizdat.net import failover, netinfo
from samizdat.net.client import RelayClient
from samizdat.services import encryption, instance, running, spare
from samizdat.services.context import Context
from samizdat.services.upkeep import Upkeep
from samizdat.store.base import AddOutcome

if TYPE_CHECKING:
    from samizdat.mesh.peers import MeshOptions
    from samizdat.relay.cluster import Cluster
    from samizdat.relay.server import RelayServer

Ready = Callable[[str, int], Awaitable[None] | None]


class Node:
    def __init__(self, parts: dict[str, Any]) -> None:
        """``parts``: the Context's fields but ``connect``, ``ingest`` and ``serving``, which the node gives."""
        self.server: RelayServer | None = None  # while serving
        self.ctx = Context(**parts, connect=self._connect, ingest=self._ingest, serving=lambda: self.server is not None)

    @classmethod
    async def open(
        cls,
        home: Path,
        config: Config | None = None,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        keys: NodeKeys | None = None,
    ) -> Node:
        """Open the node in ``home`` (after ``samizdat init``); raise UsageError/StoreError with one sentence.

        An encrypted node needs its ``keys`` (:func:`samizdat.services.keyring.unlock`); a plain one has none.
        An interrupted ``samizdat encrypt`` is finished or rolled back first, so that only one set of stores is live.
        """
        encryption.settle(home)
        return cls(await running.open_parts(home, config or load_config(home), clock=clock, sleep=sleep, keys=keys))

    async def close(self) -> None:
        if self.ctx.blobs is not None:
            self.ctx.blobs.close()
        self.ctx.local.close()
        await self.ctx.store.close()

    async def __aenter__(self) -> Node:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _ingest(self, events: Sequence[Event]) -> list[AddOutcome]:
        if self.server is not None:  # through the relay, so live subscribers and peer links see them
            return await self.server.ingest_many(events)
        return await self.ctx.store.add_many(events)

    async def _connect(self, url: str, *, timeout: float = 15.0, avoid: Collection[str] = ()) -> RelayClient:
        ctx = self.ctx
        return await failover.connect(
            url, ctx.routing, ctx.local, network=netinfo.network_id(), clock=ctx.clock, timeout=timeout, avoid=avoid
        )

    async def serve(
        self,
        host: str,
        port: int,
        *,
        ready: Ready | None = None,
        mesh: MeshOptions | None = None,
        wipe: Callable[[], None] | None = None,
        decoy: NodeKeys | None = None,
        cluster: Cluster | None = None,
    ) -> None:
        """Run the relay, the web app, the peer links and the services' loops until cancelled. UsageError when
        another ``serve`` runs on this data directory or the port is taken.

        ``wipe`` erases, stops and deletes this node (the command line's panic wipe): with it, the web app's
        operator may wipe the node and ``[safety] wipe_after_days`` is watched (services/deadman.py). With the
        ``decoy`` store's keys, that store is kept in step too (services/spare.py), and closed with the node.
        In a ``cluster`` of workers (samizdat/workers.py), their parent holds the serve lock, and only worker 0
        runs the loops that must run once (docs/scaling.md)."""
        # The serving parts are imported here, not at the top: a command that only opens the node (`samizdat
        # post`, `status`, ...) then starts without loading the relay server, the mesh and the web side.
        from samizdat.relay.bus import store_bus
        from samizdat.relay.cluster import Cluster

        ctx = self.ctx
        if cluster is None and (notifying := store_bus(ctx.store)) is not None:  # PostgreSQL: LISTEN/NOTIFY
            cluster = Cluster(notifying)
        if cluster is not None and not cluster.primary:
            await self._serve(host, port, ready, None, wipe, None, cluster)
            return
        lock = instance.serve_lock(ctx.home) if cluster is None or cluster.workers == 1 else contextlib.nullcontext()
        with lock:
            spare_keys = spare.keys(ctx.config, decoy)
            decoy_node = None
            if spare_keys is not None:
                # The decoy's events stay in its own encrypted file, never in a shared PostgreSQL store.
                local_only = dataclasses.replace(ctx.config, store_url="", store_read_url="")
                decoy_node = await Node.open(spare.directory(ctx.home), local_only, clock=ctx.clock, sleep=ctx.sleep,
                                             keys=spare_keys)  # fmt: skip
            try:
                await self._serve(host, port, ready, mesh, wipe, decoy_node, cluster)
            finally:
                if decoy_node is not None:
                    await decoy_node.close()

    async def _serve(
        self,
        host: str,
        port: int,
        ready: Ready | None,
        mesh: MeshOptions | None,
        wipe: Callable[[], None] | None,
        decoy_node: Node | None,
        cluster: Cluster | None = None,
    ) -> None:
        from samizdat.mesh.peers import Mesh, MeshOptions
        from samizdat.net.blobfetch import relay_to_http
        from samizdat.relay.cluster import join
        from samizdat.relay.embargo import Embargo
        from samizdat.relay.tls import server_context
        from samizdat.services.lan_news import LanNews, own
        from samizdat.web.serving import relay_server

        ctx = self.ctx
        upkeep = Upkeep(ctx)
        options = mesh or MeshOptions()
        options.name = options.name or ctx.config.name
        # With a proxy set, every connection goes through it, peers' too (docs/blocking.md); else peers are
        # on the LAN and reached directly.
        connect = ctx.connect if ctx.routing.proxy else None
        news = LanNews(ctx)  # whose new events count as a neighbour's news (services/lan_news.py)
        # On a LAN, the node's own new events are served first by a neighbour, not by the node (relay/embargo.py);
        # with workers, another process would serve them, so they are not held there.
        on_lan = host not in ("localhost", "::1") and not host.startswith("127.")
        embargo = None
        if on_lan and cluster is None and ctx.config.lan_hold_own > 0:
            embargo = Embargo(own(ctx), hold=ctx.config.lan_hold_own, random=ctx.random)
        lan = Mesh(ctx.store, ctx.local, ctx.ingest, options, unwanted=ctx.store.evicted_among, clock=ctx.clock,
                   connect=connect, valued=news, hidden=embargo.held_ids if embargo else None)  # fmt: skip
        server = relay_server(ctx, peers=lan.snapshot, carry=upkeep.carry_state, wipe=wipe)
        if embargo is not None:
            server.hold_own(embargo, lan.live_links)
            embargo.on_release.append(lan.offer)  # to every link once the hold ends
            lan.taken = embargo.taken  # the neighbour it went to has it: it is out

        def stored(event: Event) -> None:
            lan.offer(event, embargo.pushes(event.id) if embargo is not None else None)
            upkeep.stored(event)

        if cluster is None or cluster.primary:
            # Only where the loops and the LAN links run. Worker 0's follower reads back every event the other
            # workers store and calls both there (relay/cluster.py); on another worker they only filled a
            # forwarding queue that nothing empties, for a few µs of CPU per event.
            server.on_event = stored
            server.on_client_event = upkeep.from_client
        config = ctx.config
        tls = server_context(config.tls_cert, config.tls_key) if config.tls_cert or config.tls_key else None
        follower = (
            join(server, cluster, pushing=lan.pushing, skipped=upkeep.stored_bytes) if cluster is not None else None
        )
        try:
            await server.start(host, port, sock=cluster.sock if cluster is not None else None, tls=tls)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise UsageError(f"port {port} is in use: another node may be running; try --port") from exc
            raise UsageError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from exc
        options.host, options.port = host, server.port
        self.server = server
        alone = cluster is None or cluster.workers == 1  # else the parent of the workers announces itself
        if alone:
            cord = ctx.config.kill_cord_action if ctx.config.kill_cord else None
            instance.announce(ctx.home, host, server.port, kill_cord_action=cord)
        try:
            async with asyncio.TaskGroup() as group:
                if follower is not None:
                    await follower.start()
                    group.create_task(follower.run(), name="follow")
                if cluster is None or cluster.primary:  # else worker 0 runs the loops (docs/scaling.md)
                    peers = lambda: [url for p in lan.snapshot() if (url := relay_to_http(p["url"]))]  # noqa: E731
                    decoy = decoy_node.ctx if decoy_node is not None else None
                    for name, loop in running.loops(ctx, upkeep, peers=peers, decoy=decoy, wipe=wipe).items():
                        group.create_task(loop(), name=name)
                    group.create_task(lan.run(), name="mesh")
                    group.create_task(news.run(), name="lan news")
                if ready is not None and (started := ready(host, server.port)) is not None:
                    await started
        finally:
            self.server = None
            if alone:
                instance.withdraw(ctx.home)
            await server.stop()
