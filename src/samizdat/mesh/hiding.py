"""The node's store as a peer link's reconciliation sees it: the node's own new events held back are left out.

The relay holds the node's own new events back from the LAN until a neighbour serves them first
(relay/embargo.py). A link's reconciliation (NIP-77 both ways, every 10 minutes and at each new link) lists the
store and uploads what the peer lacks: without this view it would hand a held event to every neighbour it
reconciles with, and the neighbours would serve it at once. The held ids are read at each listing, so an event
whose hold ended is listed again from the next reconciliation on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any, cast

from samizdat.core.filters import Filter
from samizdat.store.base import Store


class _Hiding:
    def __init__(self, store: Store, hidden: Callable[[], frozenset[bytes]]) -> None:
        self._store = store
        self._hidden = hidden

    def __getattr__(self, name: str) -> Any:  # everything else is the store's own
        return getattr(self._store, name)

    async def negentropy_items(self, filters: Sequence[Filter]) -> AsyncIterator[tuple[int, bytes]]:
        hidden = self._hidden()
        async for created_at, event_id in self._store.negentropy_items(filters):
            if not hidden or event_id not in hidden:
                yield created_at, event_id


def hiding(store: Store, hidden: Callable[[], frozenset[bytes]] | None) -> Store:
    """``store`` with the ids ``hidden()`` names left out of its NIP-77 listings (``store`` itself for None)."""
    return store if hidden is None else cast(Store, _Hiding(store, hidden))
