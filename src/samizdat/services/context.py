"""What every service is given: one frozen :class:`Context`, built by :mod:`samizdat.node`.

Tests build their own (see :mod:`samizdat.testing`), with a fake clock and ``sleep`` and an in-memory
``connect``, so the services run without real sockets or waiting.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from samizdat.config import Config
from samizdat.core.acks import AckLedger
from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.net.client import RelayClient
from samizdat.net.failover import Routing
from samizdat.store.base import AddOutcome
from samizdat.store.blobs import Blobs
from samizdat.store.local import LocalState
from samizdat.store.sqlite import SqliteStore

if TYPE_CHECKING:  # psycopg loads only on a node whose store is PostgreSQL (node.py)
    from samizdat.store.postgres import PostgresStore


class Connect(Protocol):
    """A connection to a relay URL through whatever route works here (net/failover.py), the routes in ``avoid``
    left out."""

    def __call__(self, url: str, /, *, avoid: Collection[str] = ()) -> Awaitable[RelayClient]: ...


#: Store verified events; while ``serve`` runs, through the relay so live subscribers and peers see them.
Ingest = Callable[[Sequence[Event]], Awaitable[list[AddOutcome]]]


@dataclass(frozen=True)
class Context:
    home: Path
    config: Config
    key: SecretKey
    store: SqliteStore | PostgresStore
    local: LocalState
    routing: Routing
    connect: Connect
    ingest: Ingest
    clock: Callable[[], float]
    sleep: Callable[[float], Awaitable[None]]
    random: Callable[[], float]
    #: True in the process that runs ``serve``: events are then stored through its relay, never handed off.
    serving: Callable[[], bool] = lambda: False
    #: The photo store: files encrypted under the node's data key (store/blobs.py), or rows beside the events in
    #: PostgreSQL (store/pgblobs.py); services/blobs.py has its rules.
    blobs: Blobs | None = field(default=None, repr=False)
    #: What relays acknowledged of the events syncs uploaded, in memory only (core/acks.py).
    acks: AckLedger = field(default_factory=AckLedger, repr=False)

    @property
    def pubkey(self) -> str:
        return self.key.public_key_hex

    def now(self) -> int:
        return int(self.clock())
