"""The composition root: opens a node's parts and wires them together. It holds no rules of its own.

A :class:`Node` is what every command works on: the data directory's configuration, identity, event store and
local state. ``serve`` adds the long-running parts (relay server, outbox delivery, background sync, expiry
purge) as tasks of one task group, and stops them all together.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from pathlib import Path
from typing import Any

import orjson

from samizdat.config import Config, load_config, load_identity
from samizdat.core import kinds
from samizdat.core.carry import KeepRules
from samizdat.core.channel import Channel, current_channel
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.core.posts import split_address
from samizdat.core.relaylist import RelayList, parse_relay_list
from samizdat.errors import SamizdatError, TransportError
from samizdat.mesh.peers import Mesh, MeshOptions
from samizdat.net import failover, netinfo
from samizdat.net.client import RelayClient, default_proxy
from samizdat.net.outbox import DeliveryReport, deliver_due
from samizdat.store.base import AddOutcome
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore

log = logging.getLogger(__name__)

CARRY_INTERVAL = 15.0  # seconds between carry passes
CARRY_KICK_MIN = 1_000_000  # bytes stored that bring the next carry pass forward
#: How long a command (``post``, ``relays``) waits for relays before leaving the rest to the outbox.
CLI_DELIVERY_BUDGET = 3.0
FORWARD_MAX_AGE = 24 * 3600  # posts sent to our relay younger than this are forwarded to their channel's mirrors
FORWARD_QUEUE = 10_000
SERVE_FILE = "serve.json"  # written while `samizdat serve` runs: where the local relay listens


class Node:
    def __init__(
        self,
        home: Path,
        config: Config,
        key: SecretKey,
        store: SqliteStore,
        local: LocalState,
        clock: Callable[[], float],
        *,
        routing: failover.Routing | None = None,
    ) -> None:
        self.home = home
        self.config = config
        self.key = key
        self.store = store
        self.local = local
        self.clock = clock
        self.server: Any = None  # RelayServer while serving
        self.mesh: Mesh | None = None  # LAN and manual peers while serving
        self._carry_seq = -1
        self._stored_since_carry = 0  # bytes stored since the last carry pass
        self._carry_kick = asyncio.Event()
        self._forward: asyncio.Queue[Event] = asyncio.Queue(FORWARD_QUEUE)  # see _from_client
        self.carry_state: dict[str, int | None] = {"evicted": 0}  # what the last carry pass saw (status pages)
        self.routing = routing or _routing(home, config)

    @classmethod
    async def open(cls, home: Path, config: Config | None = None, *, clock: Callable[[], float] = time.time) -> Node:
        """Open the node in ``home`` (after ``samizdat init``); raise UsageError/StoreError with one sentence."""
        config = config or load_config(home)
        routing = _routing(home, config)  # a bad transport in the configuration fails here, before anything opens
        key = load_identity(home)
        store = await SqliteStore.open(home / "events.sqlite", clock=clock)
        try:
            local = LocalState(home / "local.sqlite")
        except BaseException:
            await store.close()
            raise
        return cls(home, config, key, store, local, clock, routing=routing)

    async def close(self) -> None:
        self.local.close()
        await self.store.close()

    async def __aenter__(self) -> Node:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    def now(self) -> int:
        return int(self.clock())

    # -- events in and out -------------------------------------------------------------------------------------

    async def ingest(self, events: Sequence[Event]) -> list[AddOutcome]:
        """Store verified events; while serving, through the relay so live subscribers see them too."""
        if self.server is not None:
            outcomes: list[AddOutcome] = await self.server.ingest_many(events)
            return outcomes
        return await self.store.add_many(events)

    async def publish(self, events: Sequence[Event], relays: Iterable[str]) -> list[AddOutcome]:
        """Store our own new events and queue them for every relay in ``relays`` (the outbox retries)."""
        outcomes = await self._through_running_node(events) or await self.ingest(events)
        own = await self.relay_list()
        targets = list(dict.fromkeys(r for r in [*relays, *own.write, *self.config.write_relays] if r))
        for event, outcome in zip(events, outcomes, strict=True):
            if outcome.accepted:
                self.local.enqueue(event.id, targets, self.clock())
        return outcomes

    async def relay_list(self) -> RelayList:
        """Our own NIP-65 relay list (newest kind 10002 in the store), or an empty one."""
        found = await self.store.query(
            [Filter(kinds=frozenset({kinds.RELAY_LIST}), authors=frozenset({self.key.public_key_hex}), limit=1)]
        )
        return parse_relay_list(found[0]) if found else RelayList()

    async def _through_running_node(self, events: Sequence[Event]) -> list[AddOutcome] | None:
        """If ``samizdat serve`` runs on this home in another process, store the events through it, so its live
        subscribers get them (it shares our store file: storing them here first would make them duplicates
        there, and duplicates are not fanned out). None when no node runs or it did not take them all; the
        caller then stores them itself, which also gives the precise reason for a refusal."""
        url = None if self.server is not None else self.running_relay_url()
        if url is None:
            return None
        try:
            async with await RelayClient.connect(url, timeout=3) as client:
                results = await client.publish_many(events, timeout=10)
        except TransportError as exc:
            log.info("the running node at %s did not take the events: %s", url, exc)
            return None
        if not all(r.accepted for r in results):
            return None
        return [AddOutcome.DUPLICATE if r.prefix == "duplicate" else AddOutcome.STORED for r in results]

    def running_relay_url(self) -> str | None:
        try:
            info = orjson.loads((self.home / SERVE_FILE).read_bytes())
            os.kill(int(info["pid"]), 0)
        except (OSError, ValueError, KeyError, TypeError, orjson.JSONDecodeError):
            return None
        host = "127.0.0.1" if info.get("host") in ("0.0.0.0", "::", "", None) else info["host"]
        return f"ws://{host}:{int(info['port'])}"

    async def connect(self, url: str, *, timeout: float = 15.0) -> RelayClient:
        """A connection to ``url`` through the first of its routes that works here (see net/failover.py)."""
        return await failover.connect(
            url, self.routing, self.local, network=netinfo.network_id(), clock=self.clock, timeout=timeout
        )

    async def deliver_outbox(self, *, budget: float | None = None) -> DeliveryReport:
        """Deliver what is due; with ``budget``, stop waiting after that many seconds (what is left stays queued
        for ``serve``'s outbox loop, so a command never hangs on a blackholed relay)."""
        if budget is None:
            return await deliver_due(self.local, self.store, self.connect, now=self.clock())
        try:  # each relay gets ``budget`` to connect and as much to answer; a relay that does not is retried later
            return await asyncio.wait_for(
                deliver_due(self.local, self.store, self.connect, now=self.clock(), timeout=budget), 2 * budget + 1
            )
        except TimeoutError:
            return DeliveryReport()

    # -- serving -----------------------------------------------------------------------------------------------

    async def serve(
        self,
        host: str,
        port: int,
        *,
        ready: Callable[[str, int], Awaitable[None] | None] | None = None,
        background: Iterable[Callable[[Node], Coroutine[Any, Any, None]]] = (),
        mesh: MeshOptions | None = None,
    ) -> None:
        """Run the relay, the peer links and the background loops until cancelled."""
        from samizdat.relay.limits import RelayInfo, RelayLimits
        from samizdat.relay.negentropy import NegentropyService
        from samizdat.relay.server import RelayServer
        from samizdat.web import web_parts

        info = RelayInfo(name=self.config.name, pubkey=self.key.public_key_hex)
        negentropy = NegentropyService()
        web_app, web_routes = web_parts(self)  # the web app at / and the operator login at /op
        limits = RelayLimits(events_per_second=self.config.events_per_second, events_burst=self.config.events_burst)
        server = RelayServer(
            self.store,
            limits=limits,
            info=info,
            clock=self.clock,
            negentropy=negentropy,
            http_handler=web_app,
            ws_routes=web_routes,
        )
        server.on_event = self._stored
        server.on_client_event = self._from_client
        await server.start(host, port)
        self.server = server
        mesh = mesh or MeshOptions()
        mesh.host, mesh.port = host, server.port
        mesh.name = mesh.name or self.config.name
        self.mesh = Mesh(self.store, self.local, self.ingest, mesh, unwanted=self.store.evicted_among)
        serve_file = self.home / SERVE_FILE
        serve_file.write_bytes(orjson.dumps({"pid": os.getpid(), "host": host, "port": server.port}))
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._outbox_loop(), name="outbox")
                group.create_task(self._every(600.0, self._purge_pass), name="purge")
                group.create_task(self._carry_loop(), name="carry")
                group.create_task(self._forward_loop(), name="forward")
                group.create_task(self.mesh.run(), name="mesh")
                for loop in background:
                    group.create_task(loop(self))
                if ready is not None:
                    result = ready(host, server.port)
                    if result is not None:
                        await result
        finally:
            self.server = None
            self.mesh = None
            with contextlib.suppress(OSError):
                serve_file.unlink()
            await server.stop()

    async def _every(self, seconds: float, action: Callable[[], Awaitable[object]]) -> None:
        while True:
            try:
                await action()
            except Exception:  # noqa: BLE001 - a background pass must never stop the node
                log.exception("background task failed; it will run again")
            await asyncio.sleep(seconds)

    async def _outbox_loop(self, every: float = 5.0) -> None:
        """Deliver what is due every few seconds, each relay on its own: a relay that is blackholed (and takes the
        whole connection time limit to fail) never holds up delivery to the others, nor posts made meanwhile."""
        running: dict[str, asyncio.Task[DeliveryReport]] = {}
        try:
            while True:
                try:
                    for relay in [r for r, task in running.items() if task.done()]:
                        del running[relay]
                    for relay in {row.relay for row in self.local.due(self.clock())} - running.keys():
                        task = asyncio.get_running_loop().create_task(
                            deliver_due(self.local, self.store, self.connect, now=self.clock(), relays={relay}),
                            name=f"outbox {relay}",
                        )
                        task.add_done_callback(_log_failure)
                        running[relay] = task
                except Exception:  # noqa: BLE001 - a background pass must never stop the node
                    log.exception("outbox pass failed; it will run again")
                await asyncio.sleep(every)
        finally:
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)

    async def _purge_pass(self) -> None:
        purged = await self.store.purge_expired()
        if purged:
            log.info("purged %d expired events", purged)

    def _stored(self, event: Event) -> None:
        """Every event the running relay stores, whoever sent it: peer links pass it on, and a flood of them
        brings the next carry pass forward."""
        if self.mesh is not None:
            self.mesh.offer(event)
        self._stored_since_carry += len(event.to_json())
        if self._stored_since_carry >= max(CARRY_KICK_MIN, self.config.carry_bytes // 10):
            self._carry_kick.set()

    async def _carry_loop(self) -> None:
        """The carry pass every 15 s, or as soon as a tenth of the quota (at least 1 MB) was stored since the last:
        a flood cannot grow the store far past the quota between passes."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._carry_kick.wait(), CARRY_INTERVAL)
            self._carry_kick.clear()
            self._stored_since_carry = 0
            try:
                await self._carry_pass()
            except Exception:  # noqa: BLE001 - a background pass must never stop the node
                log.exception("carry pass failed; it will run again")

    async def own_channels(self) -> list[str]:
        """Addresses of the channels this node's key owns."""
        mine = await self.store.query(
            [Filter(kinds=frozenset({kinds.CHANNEL}), authors=frozenset({self.key.public_key_hex}))]
        )
        return [f"{kinds.CHANNEL}:{e.pubkey}:{e.d_tag}" for e in mine]

    async def keep_rules(self) -> KeepRules:
        """What this node keeps whatever its carry quota: its own events and channels, followed channels and
        verifiers."""
        channels = [*self.local.follows(), *await self.own_channels()]
        return KeepRules.of([self.key.public_key_hex], channels, self.local.verifiers())

    async def channel(self, address: str) -> Channel | None:
        """The current definition of the channel at ``address`` in our store, or None (unknown or unreadable)."""
        parts = split_address(address)
        if parts is None:
            return None
        flt = Filter(
            kinds=frozenset({parts[0]}), authors=frozenset({parts[1]}), tags=(("d", frozenset({parts[2]})),)
        )
        try:
            return current_channel(await self.store.query([flt]), address)
        except SamizdatError:
            return None

    async def channel_mirrors(self, address: str) -> tuple[str, ...]:
        """The mirror relays the current definition of channel ``address`` names (none if unknown here)."""
        channel = await self.channel(address)
        return tuple(channel.mirrors) if channel is not None else ()

    def _from_client(self, event: Event) -> None:
        """A new post someone sent to our relay (a phone, a LAN peer's push): recent posts of channels this
        node keeps are forwarded to the channel's mirrors by the outbox (see :meth:`_forward_loop`)."""
        if event.kind == kinds.POST and event.created_at >= self.now() - FORWARD_MAX_AGE:
            with contextlib.suppress(asyncio.QueueFull):
                self._forward.put_nowait(event)

    async def _forward_loop(self) -> None:
        while True:
            batch = [await self._forward.get()]
            while not self._forward.empty() and len(batch) < 500:
                batch.append(self._forward.get_nowait())
            try:
                keep = await self.keep_rules()
                mirrors: dict[str, tuple[str, ...]] = {}
                for event in batch:
                    address = next(iter(event.tag_values("a")), None)
                    if address is None or address not in keep.channels:
                        continue
                    if address not in mirrors:
                        mirrors[address] = await self.channel_mirrors(address)
                    if mirrors[address]:
                        self.local.enqueue(event.id, mirrors[address], self.clock())
            except Exception:  # noqa: BLE001 - a background pass must never stop the node
                log.exception("forwarding posts to mirrors failed")

    async def _carry_pass(self) -> None:
        seq = await self.store.last_seq()
        if seq == self._carry_seq:
            return
        self._carry_seq = seq
        await self._purge_pass()  # expired events go first, whoever they belong to
        report = await self.store.enforce_carry_quota(await self.keep_rules(), self.config.carry_bytes)
        self.carry_state = {
            "store_bytes": report.store_bytes,
            "carried_bytes": report.used,
            "evicted": (self.carry_state.get("evicted") or 0) + report.evicted,
        }
        if report.evicted:
            log.info("carry quota: dropped %d carried events, %d bytes still carried", report.evicted, report.used)

def _routing(home: Path, config: Config) -> failover.Routing:
    """Which transports reach which relay (direct, proxies, Tor); UsageError with one sentence for a bad entry."""
    return failover.Routing.from_config(
        config.extra, proxy=config.proxy or default_proxy() or "", via=config.via, where=str(home / "config.toml")
    )


def _log_failure(task: asyncio.Task[DeliveryReport]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("outbox delivery failed; it will run again", exc_info=task.exception())
