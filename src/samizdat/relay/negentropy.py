"""NIP-77 (``NEG-OPEN`` / ``NEG-MSG`` / ``NEG-CLOSE`` / ``NEG-ERR``) on the relay.

Theory of operation: :class:`NegentropyService` is the relay's factory for per-connection session tables. A
``NEG-OPEN`` names a filter; the service builds a sealed Negentropy storage of the matching ``(created_at, id)``
pairs and keeps it in a small cache keyed by the filter, so many clients syncing the same channel (or the whole
store) share one storage instead of reading millions of rows each. A cached storage is reused while the store's
insertion number (``Store.last_seq``) is unchanged, which catches events written by any process (``samizdat
post``, ``import`` or ``sync`` next to a running ``serve``), and for ``min_staleness`` seconds in any case, so a
burst of clients on a busy relay shares one build: a slightly older snapshot is still a correct reconciliation,
and what it misses is found by the next sync. Sessions hold no copy of the storage.

Limits (constructor arguments): records per storage (a filter matching more is refused with
``NEG-ERR "blocked: ..."`` so the client narrows it), open sessions per connection, records kept in the cache
(about 75 bytes each), and the frame size of our replies.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

import orjson

from samizdat.core.filters import Filter, FilterLimits, parse_filter
from samizdat.core.negentropy import Negentropy
from samizdat.core.negentropy_storage import VectorStorage
from samizdat.errors import RemoteProtocolError, SamizdatError
from samizdat.relay.connection import NegRequest, neg_err_frame
from samizdat.store.base import Store

log = logging.getLogger(__name__)

Send = Callable[[bytes], bool]


class NegentropySession(Protocol):
    """NIP-77 for one connection (extension point). Made on the connection's first ``NEG-*`` message."""

    async def handle(self, request: NegRequest) -> None:
        """Answer ``request``; ``NEG-MSG``/``NEG-ERR`` frames go out through the ``send`` given to the factory."""
        ...

    def close(self) -> None:
        """The connection is gone: drop every open negentropy session."""
        ...


#: What :class:`~samizdat.relay.server.RelayServer` takes as ``negentropy``: called with the connection's
#: ``send(frame) -> bool`` and the store. :class:`NegentropyService` is one.
NegentropyFactory = Callable[[Send, Store], NegentropySession]


class _TooMany(Exception):
    pass


class NegentropyService:
    def __init__(
        self,
        *,
        max_records: int = 2_000_000,
        max_sessions: int = 8,
        cache_records: int = 3_000_000,
        min_staleness: float = 5.0,
        max_staleness: float = 300.0,
        frame_size_limit: int = 256 * 1024,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_records = max_records
        self.max_sessions = max_sessions
        self.cache_records = cache_records
        self.min_staleness = min_staleness
        self.max_staleness = max_staleness
        self.frame_size_limit = frame_size_limit
        self.clock = clock
        self._cache: OrderedDict[bytes, tuple[VectorStorage, int, float]] = OrderedDict()
        self._building: dict[bytes, asyncio.Future[VectorStorage]] = {}
        self.builds = 0  # storages built (for tests and status)

    def __call__(self, send: Send, store: Store) -> ConnectionSessions:
        return ConnectionSessions(self, send, store)

    def _fresh(self, built_at: float, seq: int, current_seq: int) -> bool:
        age = self.clock() - built_at
        return age < self.min_staleness or (seq == current_seq and age < self.max_staleness)

    async def storage(self, store: Store, flt: Filter) -> VectorStorage:
        """A sealed storage of the events matching ``flt``, from the cache when fresh enough.

        A cached storage is fresh while nothing was stored since it was built (the store's insertion number is
        unchanged, whoever wrote), or for ``min_staleness`` seconds in any case so that a burst of clients on a
        busy relay shares one build; never longer than ``max_staleness`` (expiry and purges do not show in the
        insertion number). Raises :class:`_TooMany` past ``max_records`` and StoreError when the store fails.
        """
        key = orjson.dumps(flt.to_dict(), option=orjson.OPT_SORT_KEYS)
        cached = self._cache.get(key)
        if cached is not None:
            storage, seq, built_at = cached
            if self._fresh(built_at, seq, await store.last_seq()):
                self._cache.move_to_end(key)
                return storage
        building = self._building.get(key)
        if building is not None:
            return await asyncio.shield(building)
        future: asyncio.Future[VectorStorage] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            seq, started = await store.last_seq(), self.clock()
            storage = VectorStorage()
            count = 0
            async for created_at, event_id in store.negentropy_items([flt]):
                count += 1
                if count > self.max_records:
                    raise _TooMany
                storage.insert(created_at, event_id)
            await asyncio.to_thread(storage.seal)
            self.builds += 1
            self._remember(key, storage, seq, started)
            future.set_result(storage)
            return storage
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters get it, nobody else needs to
            raise
        finally:
            del self._building[key]

    def _remember(self, key: bytes, storage: VectorStorage, seq: int, built_at: float) -> None:
        """Cache ``storage``, evicting the least recently used until the cache holds at most ``cache_records``
        items (about 75 bytes each); a storage larger than that alone is used but not kept."""
        self._cache[key] = (storage, seq, built_at)
        total = sum(entry[0].size() for entry in self._cache.values())
        while self._cache and total > self.cache_records:
            _, (evicted, _, _) = self._cache.popitem(last=False)
            total -= evicted.size()


class ConnectionSessions:
    """The NIP-77 sessions of one connection, by subscription id."""

    def __init__(self, service: NegentropyService, send: Send, store: Store) -> None:
        self._service = service
        self._send = send
        self._store = store
        self._sessions: dict[str, Negentropy] = {}

    def close(self) -> None:
        self._sessions.clear()

    def _error(self, sub_id: str, reason: str) -> None:
        self._sessions.pop(sub_id, None)
        self._send(neg_err_frame(sub_id, reason))

    async def handle(self, request: NegRequest) -> None:
        sub_id, args = request.sub_id, request.args
        if request.verb == "NEG-CLOSE":
            self._sessions.pop(sub_id, None)
            return
        try:
            if request.verb == "NEG-OPEN":
                if len(args) < 2:
                    raise RemoteProtocolError("NEG-OPEN needs a filter and a message")
                self._sessions.pop(sub_id, None)  # re-opening an id closes the old session (NIP-77)
                if len(self._sessions) >= self._service.max_sessions:
                    self._error(sub_id, "blocked: too many open negentropy sessions on this connection")
                    return
                flt = parse_filter(args[0], FilterLimits(max_limit=2**62))
                storage = await self._service.storage(self._store, dataclasses.replace(flt, limit=None))
                session = Negentropy(storage, self._service.frame_size_limit)
                message = args[1]
            else:
                found = self._sessions.get(sub_id)
                if found is None:
                    self._error(sub_id, "closed: no such negentropy session")
                    return
                session, message = found, args[0] if args else None
            if not isinstance(message, str):
                raise RemoteProtocolError("the negentropy message must be a hex string")
            try:
                payload = bytes.fromhex(message)
            except ValueError as exc:
                raise RemoteProtocolError("the negentropy message is not hex") from exc
            reply = session.reconcile(payload)
        except _TooMany:
            self._error(sub_id, f"blocked: more than {self._service.max_records} events match; narrow the filter")
            return
        except RemoteProtocolError as exc:
            self._error(sub_id, f"invalid: {exc}")
            return
        except SamizdatError as exc:
            log.warning("negentropy session %s failed: %s", sub_id, exc)
            self._error(sub_id, "error: the relay could not read its store")
            return
        self._sessions[sub_id] = session
        self._send(orjson.dumps(["NEG-MSG", sub_id, reply.hex()]))
