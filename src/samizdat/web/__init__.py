"""The web app served by ``samizdat serve``: static assets, node status JSON, operator login (``/op``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

    from samizdat.node import Node
    from samizdat.web.app import WebApp

OPERATOR_PATH = "/op"
SEED_CHANNELS = 300  #: newest channel definitions carried inside the page (the relay gives the rest)


def web_parts(node: Node) -> tuple[WebApp, dict[str, Callable[[ServerConnection], Awaitable[None]]]]:
    """The HTTP handler and WebSocket routes that ``Node.serve`` gives the relay server."""
    from samizdat.core import kinds
    from samizdat.core.event import Event
    from samizdat.core.filters import Filter
    from samizdat.store.base import AddOutcome
    from samizdat.web.app import WebApp
    from samizdat.web.operator import OperatorEndpoint
    from samizdat.web.status import node_status

    async def status() -> dict[str, Any]:
        return await node_status(node, node.server)

    async def mirrors(address: str) -> Sequence[str]:
        return await node.channel_mirrors(address)

    async def publish(events: Sequence[Event], relays: Sequence[str]) -> Sequence[AddOutcome]:
        return await node.publish(events, relays)

    async def seed() -> list[dict[str, Any]]:
        found = await node.store.query([Filter(kinds=frozenset({kinds.CHANNEL}), limit=SEED_CHANNELS)])
        return [event.to_dict() for event in found]

    operator = OperatorEndpoint(node.home, node.key, publish, mirrors, clock=node.clock)
    return WebApp(status, seed=seed), {OPERATOR_PATH: operator}
