"""Limits shared by the workers of one ``serve --workers N``: connection counts and event rates per address.

Theory of operation
-------------------

The per-address connection cap, the connection limit and the event rate per address are the node's, not each
worker's: an address that opened 64 connections on one worker is refused on every other. The workers keep the
counts in one small file mapped into each of them (:class:`SharedLimits`), changed under an ``flock`` of that file
(a system call per accepted or closed connection, and per event from a non-loopback address: microseconds).

* Connections: each worker has its own rows of counters, so that the parent can zero a dead worker's rows when it
  starts its replacement (a ``kill -9`` closes all that worker's sockets, so none of them is open any more). An
  address is counted in a count-min sketch (two rows of :data:`SLOTS` counters, each address in one counter of
  each row, chosen by a keyed hash; its count is the smaller of the two sums over the workers): bounded memory
  whatever the number of addresses, and two addresses are counted together only if they collide in both rows,
  which the hash's secret key (made by the parent) keeps an attacker from arranging. A collision can only make
  the cap stricter, never looser.
* The other per-address bounds of :mod:`samizdat.relay.server` (broad live subscriptions, the filter values of
  live subscriptions, COUNTs waiting for the store, request bodies in flight: :mod:`samizdat.relay.bodies`) are
  counted the same way, each in two rows of its own
  (:class:`SharedTally`), so an address that holds its limit on one worker holds it on all of them.
* Rates and budgets per address, token buckets (tokens, last refill) in two rows of :data:`SLOTS` per kind,
  shared by all workers; an address has one bucket in each row (by the keyed hash), holds what the fuller of the
  two holds, and spends from both, so an attacker's address that shares one of its buckets cannot spend an honest
  address's budget unless it shares both (red team, round 10: with one row, a few hundred addresses shared a
  bucket with one honest address in 200, a /48's 65,536 with most): events, REQs (REQ, COUNT, NEG-OPEN), new
  connections (the door's rate, whose refusals put the address in each worker's penalty box), seconds at the
  store (:mod:`samizdat.relay.storebudget`), NIP-77 answer bytes (:mod:`samizdat.relay.syncpace`) and Blossom's
  uploads and photo reads per address and per key (:mod:`samizdat.web.blossom`), photo previews per address
  (:mod:`samizdat.web.media`). So a device whose
  connections the kernel spreads over N workers gets one budget, not N. What stays each worker's own: the order
  in which one address's NIP-77 messages are answered (one at a time per worker), and the penalty box's list.
* Loopback is exempt, as in :mod:`samizdat.relay.door`.

Memory bounds that are not counts (bytes queued for clients, broad subscriptions) are divided between the workers
instead: each gets 1/N of the total (see :func:`per_worker`).
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import mmap
import os
from pathlib import Path
from typing import Any

from samizdat.relay.connection import TokenBucket
from samizdat.relay.door import OVER_ADDRESS, OVER_RATE, OVER_TOTAL, Door, RefusalLog
from samizdat.relay.limits import RelayLimits
from samizdat.relay.storebudget import StoreBudget
from samizdat.relay.subscriptions import Tally
from samizdat.relay.syncpace import Budget, SyncPace

#: Counters per row of the sketch (and token buckets).
SLOTS = 1 << 16
_ROWS = 2
#: What the sketch counts per address, each kind in rows of its own.
CONNECTIONS, SEARCHES, VALUES, COUNTS, BODIES = range(5)
_KINDS = 5
_WORKER_INTS = 1 + _KINDS * _ROWS * SLOTS  # the worker's open connections, then its rows
#: Token buckets per address, each kind in a row of its own.
EVENT_RATE, REQ_RATE, CONNECTION_RATE, STORE_SECONDS, SYNC_BYTES = range(5)
#: ... and Blossom's (web/blossom.py): an address's uploads, lists and deletions, its photo reads, and a key's
#: uploads (a key is hashed into its row as an address is); and an address's photo previews (web/media.py).
BLOB_WRITES, BLOB_READS, BLOB_KEYS, PREVIEWS = range(5, 9)
_BUCKET_KINDS = 9


def file_size(workers: int) -> int:
    return workers * _WORKER_INTS * 4 + _BUCKET_KINDS * _ROWS * SLOTS * 16


def create(path: Path, workers: int) -> None:
    """Make (or empty) the shared file for ``workers`` workers. The parent calls this before starting any."""
    with open(path, "wb") as f:
        f.truncate(file_size(workers))
    os.chmod(path, 0o600)


class SharedLimits:
    """The shared counters as seen by worker ``index`` of ``workers``."""

    def __init__(self, path: Path, index: int, workers: int, key: bytes) -> None:
        self.index, self.workers, self.key = index, workers, key
        self.path = path  # the parent's private directory holds other shared files beside it (web/logins.py)
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, file_size(workers))
        ints = workers * _WORKER_INTS
        self._ints = memoryview(self._map)[: ints * 4].cast("i")
        self._buckets = memoryview(self._map)[ints * 4 :].cast("d")
        self._mine = index * _WORKER_INTS

    def close(self) -> None:
        self._ints.release()
        self._buckets.release()
        self._map.close()
        os.close(self._fd)

    def reset_mine(self) -> None:
        """Zero this worker's counts (its predecessor's connections died with it)."""
        with self._locked():
            start = self._mine * 4
            self._map[start : start + _WORKER_INTS * 4] = bytes(_WORKER_INTS * 4)

    def _locked(self) -> Flock:
        return Flock(self._fd)

    def _slots(self, ip: str) -> tuple[int, int]:
        digest = hashlib.blake2b(ip.encode(), key=self.key, digest_size=8).digest()
        return int.from_bytes(digest[:4], "little") % SLOTS, int.from_bytes(digest[4:], "little") % SLOTS

    def _cells(self, kind: int, ip: str) -> tuple[int, int]:
        """Where ``ip`` is counted for ``kind``: an offset in each of the kind's two rows of a worker's block."""
        a, b = self._slots(ip)
        row = 1 + kind * _ROWS * SLOTS
        return row + a, row + SLOTS + b

    def _sum(self, offset: int) -> int:
        ints = self._ints
        return sum(ints[w * _WORKER_INTS + offset] for w in range(self.workers))

    def _held(self, cells: tuple[int, int]) -> int:
        return min(self._sum(cells[0]), self._sum(cells[1]))

    def _change(self, cells: tuple[int, int], delta: int) -> None:
        self._ints[self._mine + cells[0]] += delta
        self._ints[self._mine + cells[1]] += delta

    def admit(self, ip: str | None, max_total: int, max_per_ip: int) -> str | None:
        """Count a connection from ``ip`` (None: loopback) for this worker, or return why it is refused."""
        with self._locked():
            if self._sum(0) >= max_total:
                return OVER_TOTAL
            if ip is not None:
                cells = self._cells(CONNECTIONS, ip)
                if self._held(cells) >= max_per_ip:
                    return OVER_ADDRESS
                self._change(cells, 1)
            self._ints[self._mine] += 1
        return None

    def leave(self, ip: str | None) -> None:
        with self._locked():
            self._ints[self._mine] -= 1
            if ip is not None:
                self._change(self._cells(CONNECTIONS, ip), -1)

    def held(self, kind: int, ip: str) -> int:
        """How much of ``kind`` the connections from ``ip`` hold on every worker together (at least that much:
        two addresses that collide in both rows are counted together)."""
        cells = self._cells(kind, ip)
        with self._locked():
            return self._held(cells)

    def change(self, kind: int, ip: str, delta: int) -> None:
        """This worker's connections from ``ip`` hold ``delta`` more (or less) of ``kind``."""
        cells = self._cells(kind, ip)
        with self._locked():
            self._change(cells, delta)

    def open_connections(self) -> int:
        with self._locked():
            return self._sum(0)

    def _bucket(
        self, ip: str, kind: int, rate: float, burst: float, now: float, amount: float, debt: bool
    ) -> tuple[bool, float]:
        """Refill ``ip``'s shared buckets of ``kind`` to ``now``, then take ``amount`` from them: always when
        ``debt`` (they may go below zero), else only if the fuller holds that much. Returns whether it was taken, and
        what the fuller holds after (the address's budget: the other may hold less for another address's sake)."""
        a, b = self._slots(ip)
        row = kind * _ROWS * SLOTS
        slots = (2 * (row + a), 2 * (row + SLOTS + b))
        buckets = self._buckets
        with self._locked():
            levels = []
            for slot in slots:
                tokens, stamp = buckets[slot], buckets[slot + 1]
                if stamp == 0.0:
                    tokens, stamp = burst, now
                elapsed = now - stamp
                if elapsed > 0:
                    tokens = min(burst, tokens + elapsed * rate)
                    stamp = now
                buckets[slot], buckets[slot + 1] = tokens, stamp
                levels.append(tokens)
            left = max(levels)
            taken = debt or left >= amount
            if taken:
                left -= amount
                for slot in slots:
                    buckets[slot] -= amount
        return taken, left

    def take(self, ip: str, rate: float, burst: float, now: float, kind: int = EVENT_RATE) -> bool:
        """Spend one token of ``ip``'s shared bucket of ``kind`` (events, REQs, connections), if it has one."""
        return self._bucket(ip, kind, rate, burst, now, 1.0, False)[0]

    def spend(self, ip: str, kind: int, rate: float, burst: float, now: float, amount: float) -> float:
        """Take ``amount`` (seconds, bytes) from ``ip``'s shared budget of ``kind``, into debt if need be; returns
        what is left (below zero: the debt)."""
        return self._bucket(ip, kind, rate, burst, now, amount, True)[1]

    def level(self, ip: str, kind: int, rate: float, burst: float, now: float) -> float:
        """What ``ip``'s shared budget of ``kind`` holds now (below zero: the debt)."""
        return self._bucket(ip, kind, rate, burst, now, 0.0, True)[1]


class Flock:
    """An exclusive ``flock`` on an open file for a ``with`` block (the shared tables' lock across processes)."""

    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)


class SharedDoor(Door):
    """A :class:`~samizdat.relay.door.Door` whose caps count every worker's connections."""

    def __init__(self, limits: RelayLimits, refusals: RefusalLog, shared: SharedLimits, max_total: int) -> None:
        super().__init__(limits, refusals)
        self.shared = shared
        self.max_total = max_total

    def admit(self, ip: str | None) -> str | None:
        if self.open >= self.max_connections:  # this process's own file descriptors
            return OVER_TOTAL
        if not self.arrival(ip):  # this worker's own count of the address's new connections
            return OVER_RATE
        reason = self.shared.admit(ip, self.max_total, self.limits.max_connections_per_ip)
        if reason is not None:
            return reason
        self.open += 1
        if ip is not None:
            self._hold(ip, self.per_ip.get(ip, 0) + 1)
        return None

    def leave(self, ip: str | None) -> None:
        super().leave(ip)
        self.shared.leave(ip)

    def arrival(self, ip: str | None) -> bool:
        """The address's rate of new connections, over every worker's (one bucket in the shared file)."""
        if ip is None:
            return True
        rate, burst = self.limits.address_connection_rate
        now = self.clock()
        allowed = self.shared.take(ip, rate, burst, now, CONNECTION_RATE)
        if not allowed:
            self.box(ip, now)
        return allowed


class SharedTally(Tally):
    """A per-address count of ``kind`` kept in the shared file: what every worker's connections from an address
    hold together (:meth:`SharedLimits.held`)."""

    def __init__(self, shared: SharedLimits, kind: int) -> None:
        super().__init__()
        self.shared, self.kind = shared, kind

    def of(self, key: str) -> int:
        return self.shared.held(self.kind, key)

    def change(self, key: str, delta: int) -> None:
        self.shared.change(self.kind, key, delta)


class SharedBucket(TokenBucket):
    """The event (or REQ: ``kind``) rate of one address, shared by every worker (a :class:`TokenBucket` in the
    shared file)."""

    __slots__ = ("shared", "ip", "kind")

    def __init__(
        self, shared: SharedLimits, ip: str, rate: float, burst: int, now: float, kind: int = EVENT_RATE
    ) -> None:
        super().__init__(rate, burst, now)
        self.shared = shared
        self.ip = ip
        self.kind = kind

    def take(self, now: float) -> bool:
        return self.shared.take(self.ip, self.rate, self.burst, now, self.kind)


class SharedStoreBudget(StoreBudget):
    """An address's seconds at the store (relay/storebudget.py), one budget for every worker's reads."""

    def __init__(self, shared: SharedLimits, rate: float, burst: float, **kwargs: Any) -> None:
        super().__init__(rate, burst, **kwargs)
        self.shared = shared

    def _left(self, address: str, now: float) -> float:
        return self.shared.level(address, STORE_SECONDS, self.rate, self.burst, now)

    def _spend(self, address: str, seconds: float, now: float) -> None:
        self.shared.spend(address, STORE_SECONDS, self.rate, self.burst, now, seconds)


class SharedSyncPace(SyncPace):
    """An address's NIP-77 answer bytes (relay/syncpace.py), one budget for every worker's answers. Each worker
    still answers one message of an address at a time, in the order they came."""

    def __init__(self, shared: SharedLimits, rate: float, burst: int, **kwargs: Any) -> None:
        super().__init__(rate, burst, **kwargs)
        self.shared = shared

    def _refill(self, address: str, budget: Budget, now: float) -> None:
        budget.tokens = self.shared.level(address, SYNC_BYTES, self.rate, self.burst, now)
        budget.stamp = now

    def spent(self, address: str, size: int) -> None:
        self._budget(address).tokens = self.shared.spend(address, SYNC_BYTES, self.rate, self.burst, self.clock(), size)

    def debt(self, address: str) -> float:
        return max(0.0, -self.shared.level(address, SYNC_BYTES, self.rate, self.burst, self.clock()))


def per_worker(limits: RelayLimits, workers: int) -> RelayLimits:
    """``limits`` for one of ``workers`` workers: the memory bounds that are totals divided between them (the bytes
    queued for clients, the events waiting for the store, the plain HTTP answers on their way out, the live
    searches, the live subscriptions' values, the COUNTs waiting). The per-address parts of those are counted in
    the shared file instead, or, for the bytes of one address's events waiting and of its HTTP answers, divided too
    (so an address whose connections land on every worker holds no more than on one; one on a single worker gets
    1/N there, never less than a message's worth)."""
    if workers <= 1:
        return limits
    message = limits.max_message_bytes
    return dataclasses.replace(
        limits,
        max_pending_event_bytes_per_ip=max(message, limits.max_pending_event_bytes_per_ip // workers),
        max_http_answer_bytes_per_ip=max(message, limits.max_http_answer_bytes_per_ip // workers),
        send_buffer_total_bytes=max(1, limits.send_buffer_total_bytes // workers),
        max_search_subscriptions_total=max(1, limits.max_search_subscriptions_total // workers),
        max_pending_event_bytes=max(1, limits.max_pending_event_bytes // workers),
        max_http_answer_bytes=max(1, limits.max_http_answer_bytes // workers),
        max_subscription_values_total=max(1, limits.max_subscription_values_total // workers),
        max_pending_counts_total=max(1, limits.max_pending_counts_total // workers),
    )
