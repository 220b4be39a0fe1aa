"""What LAN peers acknowledged, and which of them lose it: the memory that keeps a device on the Wi-Fi from making
the node send it the whole store again and again. Pure: the caller gives the time and the randomness.

Theory of operation. A peer link reconciles both ways, and the node uploads every event the peer says it lacks.
Anyone on the Wi-Fi can announce a node whose relay answers ``OK`` to everything and keeps nothing (or says, at
every reconciliation, that it lacks everything): the node then sends it its whole store at every reconciliation,
of every link (each address a device announces is one), at the first one, six seconds later, every ten minutes
and at every reconnection. A hub's store is hundreds of megabytes: a few such made-up nodes fill the Wi-Fi's
airtime and the node's event loop with uploads, and the phones and neighbours on that Wi-Fi wait.

:class:`PeerUploads` is the :class:`samizdat.core.acks.Witness` a link's sync is given, as the outbox's relays
have theirs (:mod:`samizdat.services.relay_health`), with two differences for the LAN:

- Rule 1, a random sample: of what a peer acknowledged, up to ``per_peer`` ids are kept, each acknowledged id with
  the same chance (reservoir sampling). A sample of the newest only (:class:`samizdat.core.acks.AckLedger`'s)
  lets a device keep the newest events it was sent and lose all the rest unseen; against a uniform sample, a
  device that loses a fraction f of what it took is caught with probability about 1 - (1 - f)^per_peer.
- Rule 2, it sticks: a peer that lacks events it acknowledged at least :data:`SETTLE` seconds before a
  reconciliation began (our relay answers ``OK`` after its commit, and answers a reconciliation from a snapshot
  at most a few seconds old) is *losing* for :data:`LOSING_FOR` seconds: every sync with it then uploads at most
  :data:`~samizdat.net.sync.LOSING_UPLOAD` events, the newest (:meth:`limit`). A reconnection does not clear it.

Everything is in memory only (a seized device does not show whom it met), bounded by ``peers`` × ``per_peer`` ids.
What a losing peer does not get from this node it gets live (new events are pushed to it as they come) and from
its other neighbours. Not handled: the first uploads to a new address, before any acknowledgement has settled;
a device pays for each with an address of its own (the roster's bounds, ``LINK_RATE``).
"""

from __future__ import annotations

import random as random_module
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from samizdat.net.sync import LOSING_UPLOAD

#: Acknowledged ids sampled per peer address.
PER_PEER = 200
#: Peer addresses remembered, the one heard from longest ago forgotten first: the announced ones are at most 64
#: addresses in all (announcements.Addresses), manual ones come on top. At most 128 × 200 ids: about 4 MB.
PEERS = 128
#: Seconds between an acknowledgement and a reconciliation that may count the event as lost: the peer's relay
#: may answer from a snapshot up to a few seconds old (ours, relay/negentropy.py: min_staleness 5 s).
SETTLE = 15.0
#: Seconds a peer that lost acknowledged events gets bounded uploads: a device that keeps nothing is sent the
#: whole store about once an hour per address rather than at every reconciliation.
LOSING_FOR = 3600.0


@dataclass
class _Sample:
    ids: dict[bytes, float] = field(default_factory=dict)  # id -> when acknowledged
    order: list[bytes] = field(default_factory=list)  # the same ids, for a replacement chosen at random
    seen: int = 0  # acknowledgements so far


class PeerUploads:
    """The witness of LAN peers' acknowledgements (see the module). Not thread-safe: the event loop's."""

    def __init__(
        self,
        *,
        per_peer: int = PER_PEER,
        peers: int = PEERS,
        settle: float = SETTLE,
        losing_for: float = LOSING_FOR,
        random: Callable[[], float] = random_module.random,
    ) -> None:
        self.per_peer, self.peers, self.settle, self.losing_for = per_peer, peers, settle, losing_for
        self.random = random
        self._samples: OrderedDict[str, _Sample] = OrderedDict()
        self._losing: OrderedDict[str, float] = OrderedDict()  # url -> until when

    def acknowledged(self, relay: str, ids: Sequence[str], now: float) -> None:
        sample = self._samples.pop(relay, None) or _Sample()
        self._samples[relay] = sample  # the peer heard from most lately last
        while len(self._samples) > self.peers:
            self._samples.popitem(last=False)
        for event_id in ids:
            key = bytes.fromhex(event_id)
            if key in sample.ids:
                sample.ids[key] = now
                continue
            sample.seen += 1
            if len(sample.order) < self.per_peer:
                sample.order.append(key)
                sample.ids[key] = now
                continue
            slot = int(self.random() * sample.seen)
            if slot < self.per_peer:
                del sample.ids[sample.order[slot]]
                sample.order[slot] = key
                sample.ids[key] = now

    def lost(self, relay: str, lacking: Iterable[str], began: float) -> list[str]:
        sample = self._samples.get(relay)
        if sample is None or not sample.ids:
            return []
        found = []
        for event_id in lacking:
            key = bytes.fromhex(event_id)
            when = sample.ids.get(key)
            if when is not None and began - when >= self.settle:
                found.append(event_id)
        if found:
            gone = {bytes.fromhex(i) for i in found}  # each reported once
            sample.order = [k for k in sample.order if k not in gone]
            for key in gone:
                del sample.ids[key]
            self._losing.pop(relay, None)
            self._losing[relay] = began + self.losing_for
            while len(self._losing) > self.peers:
                self._losing.popitem(last=False)
        return found

    def limit(self, relay: str, now: float) -> int | None:
        """The most events a sync with ``relay`` may upload now: None (all it lacks) unless it is losing."""
        until = self._losing.get(relay)
        if until is None:
            return None
        if now >= until:
            del self._losing[relay]
            return None
        return LOSING_UPLOAD
