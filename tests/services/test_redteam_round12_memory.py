"""Red team, round 12 (``docs/blocking.md``): what the check of a relay that lacks what it had costs the node.

An empty relay at a relay's address (round 10's first censor) lacks every event of ours in the sync's scope; the
sync asks :func:`samizdat.services.relay_memory.gone` about all of them, twice (to hold them back, then to judge).
"""

from __future__ import annotations

import tracemalloc

from samizdat.core.event import sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.node import Node
from samizdat.services import relay_memory

EVENTS = 20_000


async def test_an_empty_relay_does_not_make_the_node_hold_its_whole_scope_in_memory(opened: Node) -> None:
    """Before: every event the relay lacked was read, parsed and kept at once, and as many again to find one the
    relay still had: 94 MB for a node with 20,000 events in the scope (470 MB and 11 s with 100,000), at every
    sync with such a relay, on a phone or a hub alike. Now one pass over the scope's (created_at, id) pairs, as the
    sync's own reconciliation makes: a few MB, and the same finding."""
    ctx = opened.ctx
    now = int(ctx.now())
    key = SecretKey(bytes([33]) * 32)
    events = [sign_event(key, kind=1, content=f"{i} " + "x" * 300, created_at=now - 86400 + i) for i in range(EVENTS)]
    for start in range(0, EVENTS, 5000):
        await ctx.store.add_many(events[start : start + 5000])
    mark = (await ctx.store.last_seq(), 0, 0.0, 0.0)
    lacking = [e.id for e in events]
    newest = events[-1].created_at
    del events
    tracemalloc.start()
    try:
        found = await relay_memory.gone(ctx, [Filter()], lacking, mark)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert found is not None
    assert len(found.ids) == EVENTS
    assert found.newest == newest
    assert relay_memory.suspicious(found)  # nothing of ours left there: an empty relay
    assert peak < 20 * 2**20, f"{peak / 2**20:.0f} MB"
