"""What relays have acknowledged: the memory behind "this relay loses what it accepts".

Theory of operation: a relay answers ``OK true`` to an event the node sends it, and that is noted with the time.
At the next reconciliation with that relay the node learns which of its events the relay lacks; of these, those
it had acknowledged at least :data:`SETTLE` seconds before the reconciliation began are *lost*: no gap of a fresh
relay, but events it said it kept and does not have. The caller then stops counting those posts as delivered,
holds what it uploads to that relay to a bound, and marks the relay's health
(:mod:`samizdat.services.relay_health`).

Two memories answer "what did this relay acknowledge", both behind :class:`Witness`: the outbox's rows for posts
the node published or forwarded (kept anyway, :mod:`samizdat.store.local`, so a post delivered by
``samizdat post`` in another process counts too), and this module's :class:`AckLedger` for the events a sync
uploads (thousands of other people's posts, which no table on disk should tie to a relay).

Rule 1, a sample is enough: a relay that keeps nothing loses the newest events too, so the ledger keeps only the
newest ``per_relay`` acknowledgements of a relay, and at most ``relays`` relays (the one heard from longest ago
forgotten first). Whatever relays do, it holds at most ``relays × per_relay`` ids (by default 64 × 1,000 at about
150 bytes each: 10 MB; a few hundred kB on a node with a handful of relays).

Rule 2, never on disk: which relay holds which ids tells whoever seizes the device where its owner publishes. The
ledger lives in memory only; what survives a restart is the counts of the relay's health.

Rule 3: an id is reported lost once (:meth:`AckLedger.lost` forgets it).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Sequence
from typing import Protocol

#: Events a sync uploaded, remembered per relay: a sample, the newest.
PER_RELAY = 1000
#: Relays remembered at once.
RELAYS = 64
#: Seconds between an ``OK`` and the start of a reconciliation that may count the event as lost (a relay may
#: store what it accepted a little later, and a reconciliation takes a while).
SETTLE = 60.0


class Witness(Protocol):
    """What relays acknowledged, as a sync asks it (ids in hex)."""

    def acknowledged(self, relay: str, ids: Sequence[str], now: float) -> None:
        """``relay`` answered ``OK true`` (or ``duplicate:``) to ``ids`` at ``now``."""

    def lost(self, relay: str, lacking: Sequence[str], began: float) -> list[str]:
        """Of the ids ``relay`` lacks in a reconciliation begun at ``began``, those it had acknowledged at least
        :data:`SETTLE` seconds before."""


class AckLedger:
    """The newest acknowledgements of each relay, bounded (see the module). Not thread-safe: the event loop's."""

    def __init__(self, *, per_relay: int = PER_RELAY, relays: int = RELAYS) -> None:
        self.per_relay, self.relays = per_relay, relays
        self._by_relay: OrderedDict[str, dict[bytes, float]] = OrderedDict()

    def acknowledged(self, relay: str, ids: Sequence[str], now: float) -> None:
        if not ids:
            return
        held = self._by_relay.pop(relay, None) or {}
        self._by_relay[relay] = held  # the newest relay last
        while len(self._by_relay) > self.relays:
            self._by_relay.popitem(last=False)
        for event_id in ids[-self.per_relay :]:
            key = bytes.fromhex(event_id)
            held.pop(key, None)  # the newest acknowledgement last
            held[key] = now
            if len(held) > self.per_relay:
                del held[next(iter(held))]

    def lost(self, relay: str, lacking: Iterable[str], began: float) -> list[str]:
        held = self._by_relay.get(relay)
        if not held:
            return []
        found: list[str] = []
        for event_id in lacking:
            key = bytes.fromhex(event_id)
            when = held.get(key)
            if when is not None and began - when >= SETTLE:
                del held[key]
                found.append(event_id)
        return found

    def __len__(self) -> int:
        """Ids held, over all relays."""
        return sum(len(held) for held in self._by_relay.values())
