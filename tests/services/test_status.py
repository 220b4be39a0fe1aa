"""One status document for the command line and the web app: per relay delivered, waiting, failed with the
reason; posts replaced or retracted before delivery are not failures; the owner's detail only when asked."""

from __future__ import annotations

from samizdat.core.event import sign_event
from samizdat.net.outbox import GONE
from samizdat.services import status
from samizdat.services.context import Context


async def test_relays_reachability_sync_and_carried(ctx: Context) -> None:
    local = ctx.local
    stored = sign_event(ctx.key, 1, "waiting for its relays", [], created_at=ctx.now())
    await ctx.store.add(stored)
    local.record_sync("wss://up.example", "*", now=100.0, ok=True, next_attempt=400.0,
                      summary={"received": 7, "sent": 2})  # fmt: skip
    local.record_sync("wss://down.example", "*", now=90.0, ok=False, next_attempt=400.0,
                      summary={"error": "connection refused"})  # fmt: skip
    local.enqueue(stored.id, ["wss://up.example", "wss://outbox-only.example", "wss://never.example"], 50.0)
    local.record_attempt(stored.id, "wss://up.example", accepted=True, message="", final=True, next_attempt=0)
    local.record_attempt(stored.id, "wss://outbox-only.example", accepted=False, message="timed out",
                         final=False, next_attempt=999.0)  # fmt: skip
    doc = await status.document(ctx)
    relays = {r["url"]: r for r in doc["relays"]}
    assert relays["wss://up.example"]["reachable"] is True
    assert relays["wss://up.example"]["last_success"] == 100.0
    assert relays["wss://up.example"]["delivered"] == 1
    assert relays["wss://down.example"]["reachable"] is False
    assert relays["wss://down.example"]["last_error"] == "connection refused"
    assert relays["wss://outbox-only.example"]["reachable"] is False
    assert relays["wss://outbox-only.example"]["pending"] == 1
    assert relays["wss://never.example"]["reachable"] is None  # not tried yet
    assert doc["carried"] == {
        "received": 7, "sent": 2, "delivered": 1,
        "quota_bytes": 256_000_000, "store_bytes": None, "carried_bytes": None, "dropped": 0,
    }  # fmt: skip
    assert doc["reachability"] == []
    assert doc["peers"] == []
    assert doc["npub"].startswith("npub1")
    assert "home" not in doc
    assert "outbox" not in doc


async def test_superseded_posts_are_not_failures(ctx: Context) -> None:
    """Rows whose event left the store (replaced, retracted) before or at their delivery are "no longer
    needed", not failures, not waiting."""
    local = ctx.local
    local.enqueue("d" * 64, ["wss://m.example"], 10.0)  # still queued, but its event is gone
    local.enqueue("b" * 64, ["wss://m.example"], 10.0)
    local.enqueue("c" * 64, ["wss://m.example"], 10.0)
    local.record_attempt("b" * 64, "wss://m.example", accepted=False, message=GONE, final=True, next_attempt=0)
    local.record_attempt("c" * 64, "wss://m.example", accepted=False, message="blocked: not allowed here",
                         final=True, next_attempt=0)  # fmt: skip
    doc = await status.document(ctx, detail=True)
    (relay,) = doc["relays"]
    assert (relay["failed"], relay["superseded"], relay["pending"]) == (1, 2, 0)
    assert relay["last_error"] == "blocked: not allowed here"
    assert doc["outbox"]["failed"] == [{"event": "c" * 64, "relay": "wss://m.example",
                                        "last": "blocked: not allowed here"}]  # fmt: skip
    assert doc["outbox"]["superseded"] == 2
    assert doc["outbox"]["pending"] == []
    assert doc["home"] == str(ctx.home)
    assert doc["serving"] is None


async def test_live_peers_and_counts_while_serving(ctx: Context) -> None:
    peer = {"url": "ws://10.0.0.2:4848", "name": "flat 12", "name_verified": False, "source": "mdns", "state": "live",
            "last_seen": 5.0,
            "last_sync": None, "events_in": 3, "events_out": 0, "last_error": "", "secret": "not shown"}  # fmt: skip

    async def counts() -> tuple[int | None, int | None]:
        return 41, 3

    doc = await status.document(ctx, connections=counts, peers=[peer], carry={"store_bytes": 10, "evicted": 2})
    assert doc["peers"] == [{k: v for k, v in peer.items() if k != "secret"}]
    assert (doc["events"], doc["connections"]) == (41, 3)
    assert doc["carried"]["store_bytes"] == 10
    assert doc["carried"]["dropped"] == 2
