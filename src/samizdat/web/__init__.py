"""The web app served by ``samizdat serve``: static assets, node status JSON, operator login (``/op``).

The web side receives callables from :mod:`samizdat.node` (status document, channel seed, operator publishing,
each a service) and never imports the node: see docs/architecture.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from samizdat.web.app import WebApp
from samizdat.web.operator import OperatorEndpoint, OperatorPublish

if TYPE_CHECKING:
    from websockets.asyncio.server import ServerConnection

OPERATOR_PATH = "/op"
SEED_CHANNELS = 300  #: newest channel definitions carried inside the page (the relay gives the rest)


def web_parts(
    home: Path,
    pubkey: str,
    *,
    status: Callable[[], Awaitable[dict[str, Any]]],
    seed: Callable[[], Awaitable[list[dict[str, Any]]]],
    operator: OperatorPublish,
) -> tuple[WebApp, dict[str, Callable[[ServerConnection], Awaitable[None]]]]:
    """The HTTP handler and WebSocket routes that ``Node.serve`` gives the relay server."""
    return WebApp(status, seed=seed), {OPERATOR_PATH: OperatorEndpoint(home, pubkey, operator)}
