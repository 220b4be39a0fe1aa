"""The node's own new events, served first by a LAN neighbour rather than by the node itself.

Theory of operation. With the internet cut, a post enters the LAN at its author's node. A device on the Wi-Fi that
subscribes live to every node's relay (mDNS names them all) sees which node served a new post first, and that node
is the author's laptop: "police at entrance 3" then points at flat 42. So the node does what Dandelion's "stem"
does: it hands each of its own new events, privately, to *one* LAN neighbour picked at random (the stem), which
stores it and serves it to everyone at once, like any event a neighbour brought. Meanwhile the node itself holds
the event back from everyone else on the LAN: live subscriptions, REQ answers, COUNTs, NIP-77 listings and its
other peer links, until the event is out: the neighbour it was pushed to took it (its ``OK``: it serves it from
then on, so the node serves it about when the neighbour's own neighbours do, not always after them), or it comes
back from elsewhere (a neighbour pushes it, a peer's relay streams it to us; when the stem was a peer subscribed
here, which acknowledges nothing, that is one hop later than the others), or a random time of ``hold / 4`` to
``hold`` seconds passes. Then it is served and pushed as any other event: nothing is
lost when the stem took it and dropped it. With no neighbour to hand it to, nothing is held at all: the node
would be the first and only one to serve it anyway, and a hub alone on its Wi-Fi would only keep its operator's
alert from the phones for minutes.

What counts as the node's own: an event signed by the node's key (its posts, its channels' definitions, its
corrections and labels, from ``samizdat post`` or the operator's web app). A post a phone sent to a hub is not
held: many phones use a hub, which is a crowd, and the node cannot tell a phone's post from a neighbour's push.

Who still sees a held event at once: connections from the node's own machine (loopback: the owner's web app, the
command line). The outbox to the channel's internet relays is not delayed either (they see the author's address
anyway); only the LAN is.

This class only keeps the book (what is held, until when, and through whom it went out); the relay server applies
it at each door, and the mesh pushes a held event to the stem's link only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence

from samizdat.core.event import Event

log = logging.getLogger(__name__)

#: Default longest hold, seconds (``[lan] hold_own``); each event is held a random time from a quarter of it.
HOLD = 120.0
#: Events held at once at most; beyond, a new one is not held (a node signs a few events a minute, not thousands).
MAX_HELD = 1000


class Embargo:
    """``own(event)``: whether the event is this node's own (signed by a key it holds). ``hold``: the longest
    hold in seconds (0: nothing is held). ``random``: a float in [0, 1). Call :meth:`take` on the event loop."""

    def __init__(
        self,
        own: Callable[[Event], bool],
        *,
        hold: float = HOLD,
        random: Callable[[], float],
        max_held: int = MAX_HELD,
    ) -> None:
        self.own = own
        self.hold = hold
        self.random = random
        self.max_held = max_held
        self._held: dict[str, tuple[Event, asyncio.TimerHandle]] = {}
        #: The outgoing peer link (its URL) each held event was handed to; absent: none (a peer subscription, or
        #: no peer at all).
        self._stems: dict[str, str] = {}
        #: Called with each event when its hold ends (the relay serves it, the mesh pushes it to every link).
        self.on_release: list[Callable[[Event], None]] = []

    def take(self, event: Event) -> bool:
        """Hold ``event`` if it is the node's own and new here; False when it is served as usual."""
        if self.hold <= 0 or event.id in self._held or len(self._held) >= self.max_held or not self.own(event):
            return False
        delay = self.hold * (0.25 + 0.75 * self.random())
        timer = asyncio.get_running_loop().call_later(delay, self.release, event.id)
        self._held[event.id] = (event, timer)
        return True

    def holds(self, event_id: str) -> bool:
        return event_id in self._held

    def held_events(self) -> list[Event]:
        """The events held now."""
        return [event for event, _timer in self._held.values()]

    def held_ids(self) -> frozenset[bytes]:
        """The ids held now, as NIP-77 storages list them."""
        return frozenset(bytes.fromhex(event_id) for event_id in self._held)

    def choose(self, candidates: Sequence[object]) -> object | None:
        """The stem among ``candidates`` (peer subscriptions and outgoing links alike), at random; None if none."""
        if not candidates:
            return None
        return candidates[min(len(candidates) - 1, int(self.random() * len(candidates)))]

    def went_by(self, event_id: str, url: str) -> None:
        """The held event goes out through the outgoing peer link to ``url`` (the mesh pushes it there only)."""
        self._stems[event_id] = url

    def pushes(self, event_id: str) -> frozenset[str] | None:
        """The peer links a newly stored event may be pushed to: None for all (not held), else the stem's only."""
        if event_id not in self._held:
            return None
        stem = self._stems.get(event_id)
        return frozenset() if stem is None else frozenset((stem,))

    def came_back(self, event_id: str) -> None:
        """The held event arrived again from elsewhere on the LAN, or the neighbour it was pushed to took it: a
        neighbour serves it already."""
        if event_id in self._held:
            log.debug("own event %s is out on the LAN", event_id[:12])
            self.release(event_id)

    def taken(self, event_ids: list[str]) -> None:
        """A peer link's neighbour took these pushed events (stored, or had them)."""
        for event_id in event_ids:
            self.came_back(event_id)

    def release(self, event_id: str) -> None:
        """End the hold: from now on the event is served and pushed like any other."""
        held = self._held.pop(event_id, None)
        self._stems.pop(event_id, None)
        if held is None:
            return
        event, timer = held
        timer.cancel()
        for listener in self.on_release:
            try:
                listener(event)
            except Exception:
                log.exception("releasing a held event failed")

    def close(self) -> None:
        """Release everything at once (the relay stops): nothing stays held in memory."""
        for event_id in list(self._held):
            _event, timer = self._held.pop(event_id)
            timer.cancel()
        self._stems.clear()
