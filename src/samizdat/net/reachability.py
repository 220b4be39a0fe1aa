"""Reachability reports on a node: publish them after a netcheck (opt-in) and aggregate what the store holds.

:func:`aggregate` is the one entry point for views (the command line's ``samizdat reachability`` and the web
app): it reads the reports in the node's store and returns JSON-able data. Reports arrive in the store like any
other event: published by this node, synced from relays, imported from bundles.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from samizdat.core import reachability as core
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.interference import CLASSES
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError
from samizdat.store.base import Store

if TYPE_CHECKING:
    from samizdat.net.netcheck import Result
    from samizdat.node import Node

log = logging.getLogger(__name__)

MAX_REPORTS = 5000


async def aggregate(
    store: Store,
    *,
    relay: str | None = None,
    since: int | None = None,
    threshold: int = 3,
    min_sources: int = 1,
) -> dict[str, Any]:
    """The reachability view: ``{"rows": [...], "threshold", "min_sources", "classes"}``, one row per (relay,
    country, hour), newest first (see :func:`samizdat.core.reachability.aggregate` for the row's fields and when a
    relay is called blocked). ``relay`` keeps one relay's rows; ``since`` (Unix time) drops older hours."""
    tags: tuple[tuple[str, frozenset[str]], ...] = (("r", frozenset({relay})),) if relay else ()
    events = await store.query([Filter(kinds=frozenset({core.REACHABILITY}), tags=tags, since=since,
                                       limit=MAX_REPORTS)])  # fmt: skip
    reports = []
    for event in events:
        try:
            reports.append(core.parse_report(event))
        except RemoteProtocolError as exc:
            log.debug("skipping report %s: %s", event.id[:12], exc)
    return {
        "rows": core.aggregate(reports, threshold=threshold, min_sources=min_sources),
        "threshold": threshold,
        "min_sources": min_sources,
        "classes": CLASSES,
    }


def build_reports(
    results: Sequence[Result], *, now: float, country: str, asn: str, network: str
) -> list[Event]:
    """One report per measured relay, each signed by a key made for it alone and then forgotten."""
    return [
        core.build_report(
            SecretKey.generate(os.urandom),
            result.url,
            result.verdict.cls,
            now=now,
            country=country,
            asn=asn,
            network=network,
            confirmed=result.verdict.confirmed,
        )
        for result in results
    ]


async def publish_reports(node: Node, reports: Sequence[Event], relays: Sequence[str]) -> None:
    """Store the reports here and queue them for ``relays`` (and this node's write relays)."""
    await node.publish(reports, relays)
