"""Red team, round 10: the rules that tell a censor's relay at a relay's address from an honest relay that lost or
purged events (:mod:`samizdat.services.relay_memory`), and where failover puts a route found impersonated."""

from __future__ import annotations

from samizdat.core.event import sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.core.routes import SYNC, RouteRecord, after_stall, last_resort, order_routes
from samizdat.services import relay_memory
from samizdat.services.context import Context
from samizdat.services.relay_memory import GONE_MIN, Gone, suspicious

NOW = 1_800_000_000.0


def gone(count: int, *, before: int = 0, older_kept: bool = True, kept_any: bool = True) -> Gone:
    return Gone([f"{i:064x}" for i in range(count)], 1_700_000_000, before, older_kept, kept_any)


def test_a_relay_that_lost_a_channel_among_older_events_is_suspicious() -> None:
    assert suspicious(gone(GONE_MIN))  # gone, with older events of ours still there: not a cut in time


def test_an_empty_relay_is_suspicious() -> None:
    assert suspicious(gone(150, older_kept=False, kept_any=False))


def test_a_retention_windows_cut_is_not() -> None:
    """The oldest are gone and every newer one is there: what a relay that keeps a window of time does."""
    assert not suspicious(gone(500, older_kept=False, kept_any=True))


def test_a_few_gone_are_not() -> None:
    assert not suspicious(gone(GONE_MIN - 1))


def test_what_the_relay_already_lacked_after_the_last_sync_does_not_count() -> None:
    """Refused uploads, or a download-only sync: the relay never had them."""
    assert not suspicious(gone(40, before=40 - GONE_MIN + 1))
    assert suspicious(gone(40, before=40 - GONE_MIN))


def test_a_route_a_sync_found_impersonated_is_started_only_when_the_others_fail() -> None:
    """It answers at once: in a staggered race it would open first and win again (a slow fallback, Tor)."""
    marked = after_stall(None, "direct", "relay.impostor", "lacked 150 events it had served before", now=NOW)
    assert marked.last_error.startswith(f"{SYNC}relay.impostor")
    assert last_resort(marked, NOW + 1)
    tor = "socks5h://127.0.0.1:9050"
    records = {"direct": marked, tor: RouteRecord(tor, last_failure=NOW - 10, failures=1, next_retry=NOW + 30)}
    assert order_routes(["direct", tor], records, NOW + 1) == [tor, "direct"]
    assert not last_resort(marked, marked.next_retry)  # once the hold is over it is tried as usual


def test_the_memory_is_per_scope() -> None:
    one = [Filter(kinds=frozenset({1}), authors=frozenset({"ab" * 32}))]
    assert relay_memory.scope_key(one) == relay_memory.scope_key(list(one))
    assert relay_memory.scope_key(one) != relay_memory.scope_key([Filter()])


async def test_events_another_sync_stored_meanwhile_are_not_taken_for_the_relays(ctx: Context) -> None:
    """The mark a sync leaves stops at the first event it did not download itself: a channel's other mirror,
    synced at the same time in the background, may have stored it, and this relay never had it."""
    key = SecretKey(bytes([5]) * 32)
    events = [sign_event(key, kind=1, content=f"n {i}", created_at=int(ctx.now()) - 100 + i) for i in range(6)]
    start = await ctx.store.last_seq()
    await ctx.store.add_many(events[:3])  # downloaded by this sync
    await ctx.store.add_many(events[3:4])  # by another sync, meanwhile
    await ctx.store.add_many(events[4:])  # this sync's again
    mark = await relay_memory.end_mark(ctx, start, {e.id for e in events[:3]} | {e.id for e in events[4:]})
    assert mark == start + 3
    assert await relay_memory.end_mark(ctx, start, {e.id for e in events}) == start + 6
