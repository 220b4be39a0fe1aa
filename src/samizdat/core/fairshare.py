"""Which posts of a channel go first when only some can: the owner's alerts, then every author's newest, then
every author's second newest, and so on (ties: newer, then the lower id).

The same rule as the web app's ``keepFair`` (web/src/keepfair.js), run on the same vectors
(web/test/cache-vectors.json, tests/core/test_fairshare.py). Where a channel's posts are cut to a number (the
posts built into the web app's first screen, services/start_posts.py) or put in an order that may be cut (the
parts of a bundle, services/bundles.py), a key that floods the channel with thousands of posts (an admin's,
seized) no longer pushes the owner's alerts out: it gets what is left after every author's newest.
"""

from __future__ import annotations

from collections.abc import Iterable

from samizdat.core.event import Event


def _owners_alert(event: Event, owner: str) -> bool:
    return event.pubkey == owner and "alert" in event.tag_values("type")


def fair_order(events: Iterable[Event], address: str) -> list[Event]:
    """The ``events`` of the channel at ``address`` ("30333:<owner>:<d>") in the order they are kept: the owner's
    alerts (newest first), then each author's newest, then each author's second newest, and so on."""
    owner = address.split(":")[1] if address.count(":") >= 2 else ""
    nth: dict[str, int] = {}
    ranked: list[tuple[int, int, str, Event]] = []
    for event in sorted(events, key=lambda e: (-e.created_at, e.id)):
        n = nth.get(event.pubkey, 0)
        nth[event.pubkey] = n + 1
        ranked.append((-1 if _owners_alert(event, owner) else n, -event.created_at, event.id, event))
    ranked.sort(key=lambda r: r[:3])
    return [r[3] for r in ranked]


def keep_fair(events: Iterable[Event], address: str, most: int) -> list[Event]:
    """At most ``most`` of ``events`` (see :func:`fair_order`), in that order."""
    return fair_order(events, address)[:most]
