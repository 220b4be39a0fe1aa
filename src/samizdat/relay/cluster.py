"""What a relay process needs to know when it is one of several sharing a store (``serve --workers N``, a bus).

Made by :mod:`samizdat.workers` (one per worker process) or by the command line (``serve --bus`` alone), and given
to :meth:`samizdat.node.Node.serve`, which wires the parts: the listening socket, the
:class:`~samizdat.relay.follow.Follower` on the :class:`~samizdat.relay.bus.Bus`, the shared limits.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

from samizdat.core import kinds
from samizdat.relay.bus import Bus
from samizdat.relay.client_conn import QueueTotal
from samizdat.relay.follow import Follower
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.relay.shared import (
    BODIES,
    COUNTS,
    SEARCHES,
    VALUES,
    SharedDoor,
    SharedLimits,
    SharedStoreBudget,
    SharedSyncPace,
    SharedTally,
    per_worker,
)


@dataclass
class Cluster:
    """This process's place among the relay processes of one store."""

    bus: Bus
    index: int = 0  # worker number; 0 runs the loops that must run once (outbox, sync, LAN peers, carry, purge)
    workers: int = 1  # on this machine, under one parent (which then holds the serve lock and the port)
    sock: socket.socket | None = None  # the listening socket (SO_REUSEPORT), made by the worker
    shared: SharedLimits | None = None  # per-address caps and event rates shared with the other workers

    @property
    def primary(self) -> bool:
        return self.index == 0


#: What worker 0's loops use of the events the other workers store, while it has no live subscription and no LAN link
#: takes pushes: posts (forwarded to relays, services/upkeep.py) and posts and deletion requests (the photos' travel,
#: services/blob_travel.py). The others count for the carry pass by their size only.
LOOP_KINDS = frozenset({kinds.POST, kinds.DELETION})


def join(
    server: RelayServer,
    cluster: Cluster,
    *,
    pushing: Callable[[], bool] = lambda: True,
    skipped: Callable[[int], None] | None = None,
) -> Follower:
    """Make ``server`` one of the cluster's relays (before it starts): its share of the memory bounds, the shared
    per-address caps, rates and budgets, and a follower for what the others store. Returns the follower (start and
    run it). ``pushing()``: whether worker 0's LAN links take every stored event now; ``skipped``: told the bytes
    of the events worker 0's follower did not read (see :data:`LOOP_KINDS`)."""
    workers = max(1, cluster.workers)
    limits = per_worker(server.limits, workers)
    server.limits = limits
    server.queued = QueueTotal(limits.send_buffer_total_bytes)
    server.intake.max_bytes = limits.max_pending_event_bytes  # the events waiting for the store, this worker's share
    server.intake.max_bytes_per_ip = limits.max_pending_event_bytes_per_ip  # ... and of one address's
    server.bodies_share = workers  # the request bodies held at once (relay/bodies.py), this worker's share
    if isinstance(server.negentropy, NegentropyService):
        server.negentropy.divide(workers)  # the NIP-77 memory: each worker's service keeps to its share
    shared = cluster.shared
    if shared is not None:
        server.shared = shared
        server.door = SharedDoor(limits, server.refusals, shared, limits.max_connections)
        server.index.group_searches = SharedTally(shared, SEARCHES)
        server.index.group_values = SharedTally(shared, VALUES)
        server.pending_counts = SharedTally(shared, COUNTS)
        server.bodies_in_flight = SharedTally(shared, BODIES)  # an address's uploads in flight (relay/bodies.py)
        # One budget per address for all the workers: seconds at the store, NIP-77 answer bytes.
        rate, burst = limits.address_store_budget
        server.store_budget = SharedStoreBudget(shared, rate, burst, max_wait=limits.store_budget_max_wait)
        server.turns.budget = server.store_budget
        server.sync_pace = SharedSyncPace(shared, limits.sync_bytes_per_second, limits.sync_bytes_burst,
                                          max_wait=limits.sync_max_wait, max_waiting=limits.sync_waiting_per_ip,
                                          clock=server.clock)  # fmt: skip
    server.worker = {"index": cluster.index, "workers": workers, "pid": os.getpid()}
    # Worker 0 runs the loops: it also hands the others' client events to them (forwarding). Another worker, or a
    # relay on another machine, only fans out.
    from_client = cluster.primary and cluster.workers > 1
    primary = cluster.primary  # its loops want some events; another worker only for its live subscriptions

    def wanted() -> bool | frozenset[int]:
        if len(server.index) > 0 or (primary and pushing()):
            return True
        return LOOP_KINDS if primary else False

    follower = Follower(server.store, cluster.bus, lambda event: server.fan_out_stored(event, from_client=from_client),
                        wanted=wanted, skipped=skipped if primary else None, limits=limits.event_limits,
                        clock=server.clock)  # fmt: skip
    server.follower = follower
    return follower
