"""NIP-77 (``NEG-OPEN`` / ``NEG-MSG`` / ``NEG-CLOSE`` / ``NEG-ERR``) on the relay.

Theory of operation: :class:`NegentropyService` is the relay's factory for per-connection session tables. A
``NEG-OPEN`` names a filter; the service builds a sealed Negentropy storage of the matching ``(created_at, id)``
pairs and keeps it in a small cache keyed by the filter, so many clients syncing the same channel (or the whole
store) share one storage instead of reading millions of rows each. A cached storage is reused while the store's
insertion number (``Store.last_seq``) is unchanged, which catches events written by any process (``samizdat
post``, ``import`` or ``sync`` next to a running ``serve``), and for ``min_staleness`` seconds in any case, so a
burst of clients on a busy relay shares one build: a slightly older snapshot is still a correct reconciliation,
and what it misses is found by the next sync. Sessions hold no copy of the storage.

A build runs as a task of the service, not of the connection that asked: clients asking for the same filter
meanwhile wait for it, and it is cancelled (and its store read interrupted) when the last of them has gone. It
reads the store under the relay's ``turn`` (a turn at the store's reader threads like any REQ or COUNT, handed
out fairly between addresses: see :mod:`samizdat.relay.fair`) and a turn in one of the service's two *lanes* of
one build each, and gives the event loop a turn every :data:`YIELD_EVERY` records:

* every build first runs in the **quick lane** with ``quick_seconds`` (:data:`QUICK_SECONDS`, 0.5 s: a channel's
  build takes milliseconds; a build of 400,000 records took about 1.5 s on PostgreSQL here);
* one that did not finish there starts again in the **slow lane** with ``build_seconds``, after which the
  ``NEG-OPEN`` gets ``NEG-ERR "blocked: ..."`` (``READ_SECONDS``; PostgreSQL ends its statement there).

Both lanes hand their turn to the waiting address that used the lane least lately (:class:`FairScheduler`), and
the time of both is charged to the address's store budget (the relay's store turn). Before (red-team finding),
builds had one turn: an address's build of the whole store held it for up to ``build_seconds`` (10 s) and an
honest peer's ``NEG-OPEN`` of one channel waited that long, once per such address ahead of it. Now it waits at
most ``quick_seconds`` per address ahead of it in the quick lane (an address that used the lane goes after those
that did not), and never for a slow build; a large build costs at most ``quick_seconds`` more. At most two
builds read the store at once.

Memory: every storage alive (cached, used by an open session, or being built) counts against one bound,
``memory_records`` (about 75 bytes a record). When a build needs room, cached storages no session uses go first,
then sessions idle for ``idle_seconds`` (they get ``NEG-ERR "closed: ..."``); if that is not enough the
``NEG-OPEN`` is refused with ``NEG-ERR "blocked: ..."`` and the client tries again later. A connection's sessions
end with it. Two more bounds keep one address from taking that memory for itself: the storages no session uses
are kept only up to ``cache_records`` records and ``max_cached`` storages (a client asking for ever new filters,
each built once and never shared, would otherwise keep the whole bound full), and the sessions of one address
(``address``, given by the relay: the remote address, as for the store's turns) hold at most
``records_per_address`` records, beyond the first storage it opens (so a peer syncing a large store still can).
That still let a handful of addresses fill the bound, and every LAN peer that came afterwards got ``blocked: too
many syncs`` (red-team finding). So a ``NEG-OPEN`` from an address that holds no storage yet, finding memory short
even after the steps above, closes the newest sessions of the address holding the most (``NEG-ERR "closed:
..."``), while that address holds more than ``records_reserve`` records (loopback connections, the operator's own
processes, are never closed for another): each address keeps that much against newcomers, and a device needs
``memory_records / records_reserve`` addresses (8 by default) holding it to keep a newcomer out. What this does not
tell apart: an honest peer syncing a large store holds more than the reserve, and a newcomer may close it (it syncs
again later), as a newcomer to a full relay closes a connection of the address holding the most (relay/door.py).

Limits (constructor arguments): records per storage (a filter matching more is refused with
``NEG-ERR "blocked: ..."`` so the client narrows it), open sessions per connection, records in memory in all,
idle time, and the frame size of our replies.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from typing import Protocol

import orjson

from samizdat.core.filters import Filter, FilterLimits, parse_filter
from samizdat.core.negentropy import Negentropy
from samizdat.core.negentropy_storage import VectorStorage
from samizdat.errors import RemoteProtocolError, SamizdatError
from samizdat.relay.connection import NegRequest, neg_err_frame
from samizdat.relay.fair import FairScheduler
from samizdat.store.base import READ_SECONDS, Store

log = logging.getLogger(__name__)

Send = Callable[[bytes], bool]
#: A turn at the store for a build (the relay's fair scheduler), entered around the whole build.
Turn = Callable[[], AbstractAsyncContextManager[None]]

#: Records inserted between two checks that a build still fits in memory.
ROOM_CHECK = 16_384
#: Records inserted between two turns the build gives the event loop: the rows of a store read come in chunks of
#: thousands, and inserting a chunk in one go held the loop (handshakes, other clients' answers) for tenths of a
#: second during a flood of NEG-OPENs.
YIELD_EVERY = 1024
#: Messages of at most this many bytes are answered on the event loop (a few milliseconds at most); longer ones in
#: the service's one reconciling thread (see :meth:`NegentropyService.reconcile`).
INLINE_BYTES = 8 * 1024
#: Seconds a storage build may read the store for (a store that honours READ_SECONDS in its Negentropy stream,
#: PostgreSQL's, ends the build there, its statement with it): the largest build allowed (2,000,000 records) takes
#: about 4 s on PostgreSQL here, and a filter the server plans badly held the one build turn for good.
BUILD_SECONDS = 10.0
#: Seconds a build may take in the quick lane before it starts again in the slow one (see the module doc).
QUICK_SECONDS = 0.5
BUSY = "blocked: too many syncs at once on this relay; try again later"
TOO_SLOW = "blocked: this sync's events take the relay too long to list; narrow the filter"
IDLE = "closed: idle for too long"
TAKEN = "closed: the relay needed this sync's memory for another address's; try again later"


class NegentropySession(Protocol):
    """NIP-77 for one connection (extension point). Made on the connection's first ``NEG-*`` message."""

    async def handle(self, request: NegRequest) -> None:
        """Answer ``request``; ``NEG-MSG``/``NEG-ERR`` frames go out through the ``send`` given to the factory."""
        ...

    def close(self) -> None:
        """The connection is gone: drop every open negentropy session."""
        ...


class NegentropyFactory(Protocol):
    """What :class:`~samizdat.relay.server.RelayServer` takes as ``negentropy``: called with the connection's
    ``send(frame) -> bool``, the store, the connection's ``turn`` for store builds and its ``address`` (whom it
    counts as for fair shares).
    :class:`NegentropyService` is one."""

    def __call__(
        self, send: Send, store: Store, *, turn: Turn | None = None, address: Hashable | None = None
    ) -> NegentropySession: ...


class _TooMany(Exception):
    pass


class _Busy(Exception):
    pass


class NegentropyService:
    def __init__(
        self,
        *,
        max_records: int = 2_000_000,
        max_sessions: int = 8,
        memory_records: int = 3_000_000,
        records_per_address: int | None = None,
        records_reserve: int | None = None,
        cache_records: int = 500_000,
        max_cached: int = 256,
        idle_seconds: float = 120.0,
        build_seconds: float | None = BUILD_SECONDS,
        quick_seconds: float = QUICK_SECONDS,
        min_staleness: float = 5.0,
        max_staleness: float = 300.0,
        frame_size_limit: int = 256 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_records = max_records
        self.max_sessions = max_sessions
        self.memory_records = memory_records
        #: Records the sessions of one address may hold beyond their first storage (default: a quarter of the bound).
        self.records_per_address = memory_records // 4 if records_per_address is None else records_per_address
        #: Records an address keeps against a newcomer's NEG-OPEN when memory is short (default: an eighth).
        self.records_reserve = memory_records // 8 if records_reserve is None else records_reserve
        self.cache_records = cache_records
        self.max_cached = max_cached
        self.idle_seconds = idle_seconds
        #: Seconds a storage build may read the store (PostgreSQL ends its statement there; None: no bound).
        self.build_seconds = build_seconds
        #: Seconds a build has in the quick lane before it starts again in the slow lane (see the module doc).
        self.quick_seconds = quick_seconds
        self.quick_lane = FairScheduler(1)  # the two lanes of builds (see the module doc)
        self.slow_lane = FairScheduler(1)
        self.min_staleness = min_staleness
        self.max_staleness = max_staleness
        self.frame_size_limit = frame_size_limit
        self.clock = clock
        self._cache: OrderedDict[bytes, tuple[VectorStorage, int, float]] = OrderedDict()
        self._building: dict[bytes, asyncio.Task[VectorStorage]] = {}
        self._waiters: dict[bytes, int] = {}  # clients waiting for each build
        self._in_use: dict[int, tuple[VectorStorage, int]] = {}  # id(storage) -> (storage, open sessions)
        self._tables: set[ConnectionSessions] = set()  # every connection's sessions (to close idle ones)
        self._by_address: dict[Hashable, set[ConnectionSessions]] = {}
        self._built = 0  # records inserted by builds in progress
        self.builds = 0  # storages built (for tests and status)
        self._reconciling = FairScheduler(1)  # turns at the reconciling thread, shared fairly between addresses
        self._thread: ThreadPoolExecutor | None = None  # made when first needed
        #: The ids left out of every storage built (the node's own new events held back, relay/embargo.py).
        self.hidden: Callable[[], frozenset[bytes]] = frozenset

    def divide(self, parts: int) -> None:
        """Keep to one of ``parts`` equal shares of the memory bounds (``serve --workers N``: each worker has a
        service of its own, and the bounds are the machine's). A storage larger than the share is refused with
        ``NEG-ERR "blocked: ..."`` (the client narrows its filter)."""
        if parts <= 1:
            return
        self.memory_records = max(1, self.memory_records // parts)
        self.max_records = min(self.max_records, self.memory_records)
        self.records_per_address = max(1, self.records_per_address // parts)
        self.records_reserve = max(1, self.records_reserve // parts)
        self.cache_records = max(1, self.cache_records // parts)
        self.max_cached = max(1, self.max_cached // parts)

    def forget_cached(self) -> None:
        """Build again from the store next time (an event held back from the storages is served now)."""
        self._cache.clear()

    def __call__(
        self, send: Send, store: Store, *, turn: Turn | None = None, address: Hashable | None = None
    ) -> ConnectionSessions:
        table = ConnectionSessions(self, send, store, turn, address)
        self._tables.add(table)
        if address is not None:
            self._by_address.setdefault(address, set()).add(table)
        return table

    async def reconcile(self, negentropy: Negentropy, message: bytes, party: Hashable) -> bytes:
        """``negentropy``'s answer to ``message``, for a connection that counts as ``party``.

        The work grows with the message (about a millisecond per kilobyte: 150 ms for a message of the largest
        size), and a client may send one after another without waiting for the answers, so done on the event loop
        a few connections held it for seconds at a time, and every other client with it. A message longer than
        :data:`INLINE_BYTES` is therefore answered in one thread of the service, one at a time, in turns handed
        out round-robin by address: the loop keeps serving meanwhile, and a flood takes at most that thread."""
        if len(message) <= INLINE_BYTES:
            return negentropy.reconcile(message)
        async with self._reconciling.turn(party, party):
            if self._thread is None:
                self._thread = ThreadPoolExecutor(1, thread_name_prefix="samizdat-negentropy")
            return await asyncio.get_running_loop().run_in_executor(self._thread, negentropy.reconcile, message)

    def held_by(self, address: Hashable | None) -> int:
        """Records of the distinct storages the sessions of ``address`` hold."""
        if address is None:
            return 0
        held = {id(s.storage): s.storage for t in self._by_address.get(address, ()) for s in t._sessions.values()}
        return sum(storage.size() for storage in held.values())

    def _forget_table(self, table: ConnectionSessions) -> None:
        self._tables.discard(table)
        tables = self._by_address.get(table.address)
        if tables is not None:
            tables.discard(table)
            if not tables:
                del self._by_address[table.address]

    @property
    def records_in_memory(self) -> int:
        """Records of every storage alive: cached, in use by a session, or being built."""
        alive = {id(entry[0]): entry[0] for entry in self._cache.values()}
        alive.update((key, entry[0]) for key, entry in self._in_use.items())
        return sum(storage.size() for storage in alive.values()) + self._built

    def _fresh(self, built_at: float, seq: int, current_seq: int) -> bool:
        age = self.clock() - built_at
        return age < self.min_staleness or (seq == current_seq and age < self.max_staleness)

    async def storage(
        self, store: Store, flt: Filter, turn: Turn | None = None, asker: Hashable | None = None
    ) -> VectorStorage:
        """A sealed storage of the events matching ``flt``, from the cache when fresh enough.

        A cached storage is fresh while nothing was stored since it was built (the store's insertion number is
        unchanged, whoever wrote), or for ``min_staleness`` seconds in any case so that a burst of clients on a
        busy relay shares one build; never longer than ``max_staleness`` (expiry and purges do not show in the
        insertion number). Raises :class:`_TooMany` past ``max_records``, :class:`_Busy` when memory is short,
        StoreError when the store fails. ``asker``: the address asking (a build it starts may take memory from
        others for it, see the module doc).
        """
        key = orjson.dumps(flt.to_dict(), option=orjson.OPT_SORT_KEYS)
        cached = self._cache.get(key)
        if cached is not None:
            storage, seq, built_at = cached
            if self._fresh(built_at, seq, await store.last_seq()):
                self._cache.move_to_end(key)
                return storage
        build = self._building.get(key)
        if build is None:
            build = asyncio.ensure_future(self._build(store, flt, key, turn, asker))
            self._building[key] = build
        self._waiters[key] = self._waiters.get(key, 0) + 1
        try:
            return await asyncio.shield(build)
        finally:
            left = self._waiters.pop(key) - 1
            if left:
                self._waiters[key] = left
            elif not build.done():
                build.cancel()  # nobody waits for it any more: stop reading the store for it

    def _lanes(self) -> list[tuple[FairScheduler, float | None]]:
        """The lanes a build tries in turn, with its seconds in each (see the module doc)."""
        slow = self.build_seconds
        if slow is not None and slow <= self.quick_seconds:
            return [(self.quick_lane, slow)]  # every build is a quick one
        return [(self.quick_lane, self.quick_seconds), (self.slow_lane, slow)]

    async def _build(
        self, store: Store, flt: Filter, key: bytes, turn: Turn | None, asker: Hashable | None
    ) -> VectorStorage:
        lanes = self._lanes()
        try:
            for number, (lane, seconds) in enumerate(lanes, 1):
                try:
                    return await self._build_in(lane, seconds, store, flt, key, turn, asker)
                except TimeoutError:
                    if number == len(lanes):
                        raise
                    log.debug("NIP-77 build of %r took the quick lane's %s s; in the slow lane now", key[:80], seconds)
            raise AssertionError("unreachable")
        finally:
            self._building.pop(key, None)

    async def _build_in(
        self,
        lane: FairScheduler,
        seconds: float | None,
        store: Store,
        flt: Filter,
        key: bytes,
        turn: Turn | None,
        asker: Hashable | None,
    ) -> VectorStorage:
        """Build in ``lane``, reading the store for at most ``seconds``; raise TimeoutError past them."""
        count = 0
        READ_SECONDS.set(seconds)  # this task's own context: the store ends a longer read (TimeoutError)
        # An address (the loopback's connection, or the build itself without one) queues once in the lane.
        party = asker if asker is not None else key
        try:
            async with lane.turn(party, party), turn() if turn is not None else contextlib.nullcontext():
                seq, started = await store.last_seq(), self.clock()
                storage = VectorStorage()
                hidden = self.hidden()
                async with contextlib.aclosing(store.negentropy_items([flt])) as items:  # type: ignore[type-var]
                    async for created_at, event_id in items:
                        count += 1
                        self._built += 1
                        if count > self.max_records:
                            raise _TooMany
                        if count % ROOM_CHECK == 0:
                            self._make_room(asker)
                        if count % YIELD_EVERY == 0:
                            await asyncio.sleep(0)
                        if not hidden or event_id not in hidden:
                            storage.insert(created_at, event_id)
                self._make_room(asker)
                await asyncio.to_thread(storage.seal)
            self.builds += 1
            self._built -= count
            count = 0
            self._remember(key, storage, seq, started)
            return storage
        finally:
            self._built -= count

    def _make_room(self, asker: Hashable | None = None) -> None:
        """Get the records in memory within ``memory_records``: drop cached storages no session uses, oldest first,
        then sessions idle for ``idle_seconds`` (and what they held), then for an ``asker`` holding nothing the
        newest sessions of the address holding the most beyond ``records_reserve``; raise :class:`_Busy` if that is
        not enough."""
        if self.records_in_memory <= self.memory_records:
            return
        self._drop_unused()
        if self.records_in_memory <= self.memory_records:
            return
        used_before = self.clock() - self.idle_seconds
        for table in list(self._tables):
            table.close_idle(used_before)
        self._drop_unused()
        if asker is not None and self.records_in_memory > self.memory_records and not self.held_by(asker):
            self._take_for(asker)
        if self.records_in_memory > self.memory_records:
            raise _Busy

    def _take_for(self, asker: Hashable) -> None:
        """Close the newest sessions of the address holding the most records, while it holds more than
        ``records_reserve`` and memory is short (see the module doc)."""
        for _ in range(sum(len(table._sessions) for table in self._tables)):  # each round closes one session
            if self.records_in_memory <= self.memory_records:
                return
            heaviest, most = None, self.records_reserve
            for address in self._by_address:
                held = self.held_by(address)
                # Remote addresses only (strings): a loopback connection is the operator's own process.
                if address != asker and isinstance(address, str) and held > most:
                    heaviest, most = address, held
            if heaviest is None:
                return
            newest = max(
                ((session.used, sub_id, table) for table in self._by_address[heaviest]
                 for sub_id, session in table._sessions.items()),
                key=lambda found: found[0],
            )  # fmt: skip
            newest[2]._error(newest[1], TAKEN)
            self._drop_unused()

    def _drop_unused(self) -> None:
        for key in list(self._cache):
            if self.records_in_memory <= self.memory_records:
                return
            if id(self._cache[key][0]) not in self._in_use:
                del self._cache[key]

    def _remember(self, key: bytes, storage: VectorStorage, seq: int, built_at: float) -> None:
        """Cache ``storage``; then drop unused cached storages, oldest first, while the records in memory are over
        ``memory_records`` (a storage larger than the bound alone is used but not kept)."""
        self._cache[key] = (storage, seq, built_at)
        self._cache.move_to_end(key)
        for old in list(self._cache):
            if self.records_in_memory <= self.memory_records:
                break
            if id(self._cache[old][0]) not in self._in_use or old == key:
                del self._cache[old]
        self._trim_cache(keep=key)

    def _trim_cache(self, keep: bytes | None = None) -> None:
        """Drop cached storages no session uses, oldest first, while they hold more than ``cache_records`` records
        or number more than ``max_cached`` (``keep``: the one just built, which its asker is about to use)."""
        unused = [(k, entry[0]) for k, entry in self._cache.items() if id(entry[0]) not in self._in_use]
        records = sum(storage.size() for _, storage in unused)
        count = len(unused)
        for k, storage in unused:
            if records <= self.cache_records and count <= self.max_cached:
                return
            if k == keep:
                continue
            del self._cache[k]
            records -= storage.size()
            count -= 1

    def _hold(self, storage: VectorStorage) -> None:
        held = self._in_use.get(id(storage))
        self._in_use[id(storage)] = (storage, 1 if held is None else held[1] + 1)

    def _let_go(self, storage: VectorStorage) -> None:
        held = self._in_use.pop(id(storage), None)
        if held is not None and held[1] > 1:
            self._in_use[id(storage)] = (storage, held[1] - 1)
        elif held is not None:
            self._trim_cache()  # one more storage no session uses


@dataclasses.dataclass(slots=True)
class _Session:
    negentropy: Negentropy
    storage: VectorStorage
    used: float


class ConnectionSessions:
    """The NIP-77 sessions of one connection, by subscription id."""

    def __init__(
        self,
        service: NegentropyService,
        send: Send,
        store: Store,
        turn: Turn | None = None,
        address: Hashable | None = None,
    ) -> None:
        self._service = service
        self._send = send
        self._store = store
        self._turn = turn
        self.address = address
        self._sessions: dict[str, _Session] = {}

    def close(self) -> None:
        sessions = list(self._sessions.values())
        self._sessions.clear()
        for session in sessions:
            self._service._let_go(session.storage)
        self._service._forget_table(self)

    def close_idle(self, used_before: float) -> None:
        """End the sessions last used before ``used_before`` (the service needs their memory)."""
        for sub_id, session in list(self._sessions.items()):
            if session.used < used_before:
                self._error(sub_id, IDLE)

    def _drop(self, sub_id: str) -> None:
        session = self._sessions.pop(sub_id, None)
        if session is not None:
            self._service._let_go(session.storage)

    def _error(self, sub_id: str, reason: str) -> None:
        self._drop(sub_id)
        self._send(neg_err_frame(sub_id, reason))

    async def handle(self, request: NegRequest) -> None:
        sub_id, args = request.sub_id, request.args
        service = self._service
        if request.verb == "NEG-CLOSE":
            self._drop(sub_id)
            return
        try:
            if request.verb == "NEG-OPEN":
                if len(args) < 2:
                    raise RemoteProtocolError("NEG-OPEN needs a filter and a message")
                self._drop(sub_id)  # re-opening an id closes the old session (NIP-77)
                if len(self._sessions) >= service.max_sessions:
                    self._error(sub_id, "blocked: too many open negentropy sessions on this connection")
                    return
                flt = parse_filter(args[0], FilterLimits(max_limit=2**62))
                if service.held_by(self.address) > service.records_per_address:
                    raise _Busy  # this address holds its share already: no build for it
                storage = await service.storage(
                    self._store, dataclasses.replace(flt, limit=None), self._turn, self.address
                )
                held = service.held_by(self.address)
                if held and held + storage.size() > service.records_per_address:
                    raise _Busy
                session = _Session(Negentropy(storage, service.frame_size_limit), storage, service.clock())
                service._hold(storage)
                self._sessions[sub_id] = session
                message = args[1]
            else:
                found = self._sessions.get(sub_id)
                if found is None:
                    self._error(sub_id, "closed: no such negentropy session")
                    return
                session, message = found, args[0] if args else None
                session.used = service.clock()
            if not isinstance(message, str):
                raise RemoteProtocolError("the negentropy message must be a hex string")
            try:
                payload = bytes.fromhex(message)
            except ValueError as exc:
                raise RemoteProtocolError("the negentropy message is not hex") from exc
            reply = await service.reconcile(session.negentropy, payload, self if self.address is None else self.address)
        except _TooMany:
            self._error(sub_id, f"blocked: more than {service.max_records} events match; narrow the filter")
            return
        except _Busy:
            self._error(sub_id, BUSY)
            return
        except TimeoutError:
            self._error(sub_id, TOO_SLOW)
            return
        except RemoteProtocolError as exc:
            self._error(sub_id, f"invalid: {exc}")
            return
        except SamizdatError as exc:
            log.warning("negentropy session %s failed: %s", sub_id, exc)
            self._error(sub_id, "error: the relay could not read its store")
            return
        self._send(orjson.dumps(["NEG-MSG", sub_id, reply.hex()]))
