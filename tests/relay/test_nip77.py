"""NIP-77 on a real relay, spoken with raw WebSocket frames: ``NEG-OPEN`` / ``NEG-MSG`` / ``NEG-CLOSE`` / ``NEG-ERR``.

The client side of each reconciliation is our Negentropy core (which the reference suite checks byte for byte),
so what is tested here is the relay's part: which set it reconciles, its errors and limits, its cache of sealed
storages, and that a connection stays usable after a refusal.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from relay_helpers import client, make_event, publish, query, recv_json
from websockets.asyncio.client import ClientConnection

from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import Negentropy, VectorStorage
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

BASE = int(time.time()) - 100_000  # inside the relay's created_at window, so events can also be published live
MAX_ROUNDS = 100


@dataclass
class Relay:
    server: RelayServer
    service: NegentropyService
    store: SqliteStore

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.server.port}"


@pytest.fixture
async def start_relay(sqlite_store: SqliteStore, clock: FakeClock) -> AsyncIterator[Callable[..., Any]]:
    """``await start_relay(**service_options)``: a relay with NIP-77 on the test's store; stopped in teardown."""
    servers: list[RelayServer] = []

    async def start(**options: Any) -> Relay:
        service = NegentropyService(clock=clock, **options)
        server = RelayServer(sqlite_store, negentropy=service)
        await server.start("127.0.0.1", 0)
        servers.append(server)
        return Relay(server, service, sqlite_store)

    try:
        yield start
    finally:
        for server in servers:
            await server.stop()


def events_for(
    key: SecretKey, label: str, count: int, *, tags: Iterable[list[str]] = (), start: int = 0, step: int = 1
) -> list[Event]:
    """``count`` signed notes, three per ``step`` seconds, so that buckets also split inside equal timestamps."""
    return [
        make_event(key, 1, f"{label} {i}", tags=list(tags), created_at=BASE + start + i * step // 3)
        for i in range(count)
    ]


def storage_of(events: Iterable[Event]) -> VectorStorage:
    storage = VectorStorage()
    for event in events:
        storage.insert(event.created_at, bytes.fromhex(event.id))
    storage.seal()
    return storage


def ids(events: Iterable[Event]) -> set[str]:
    return {e.id for e in events}


def frame(*parts: Any) -> str:
    return orjson.dumps(list(parts)).decode()


@dataclass
class Reconciled:
    have: set[str]  # the client has them, the relay lacks them
    need: set[str]  # the relay has them, the client lacks them
    rounds: int
    reply_sizes: list[int]  # length of each NEG-MSG payload the relay sent (hex characters)


async def reconcile(
    ws: ClientConnection,
    sub_id: str,
    flt: dict[str, Any],
    ours: Iterable[Event],
    *,
    frame_size_limit: int = 0,
) -> Reconciled:
    """Run one whole NIP-77 session as the client over raw frames; fail on anything but NEG-MSG."""
    session = Negentropy(storage_of(ours), frame_size_limit)
    await ws.send(frame("NEG-OPEN", sub_id, flt, session.initiate().hex()))
    have: set[str] = set()
    need: set[str] = set()
    sizes: list[int] = []
    for rounds in range(1, MAX_ROUNDS + 1):
        reply = await recv_json(ws, timeout=30)
        assert reply[:2] == ["NEG-MSG", sub_id], reply
        sizes.append(len(reply[2]))
        message, new_have, new_need = session.reconcile_client(bytes.fromhex(reply[2]))
        have.update(i.hex() for i in new_have)
        need.update(i.hex() for i in new_need)
        if message is None:
            await ws.send(frame("NEG-CLOSE", sub_id))
            return Reconciled(have, need, rounds, sizes)
        await ws.send(frame("NEG-MSG", sub_id, message.hex()))
    raise AssertionError(f"no end of reconciliation after {MAX_ROUNDS} rounds")


async def neg_err(ws: ClientConnection, *parts: Any) -> str:
    """Send one frame; the answer must be NEG-ERR for the same subscription id; return its reason."""
    await ws.send(frame(*parts))
    reply = await recv_json(ws)
    assert reply[0] == "NEG-ERR", reply
    assert reply[1] == parts[1]
    assert isinstance(reply[2], str)
    return str(reply[2])


def initial(events: Iterable[Event] = ()) -> str:
    return Negentropy(storage_of(events)).initiate().hex()


# -- reconciliation ----------------------------------------------------------------------------------------------


async def test_full_reconciliation_finds_exactly_the_differences(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay(frame_size_limit=4096)  # the smallest frames: many rounds, truncated replies
    shared = events_for(key, "shared", 1500)
    # Differences spread over the whole time range: many ranges differ, so replies are cut at the frame limit.
    relay_only = events_for(key, "relay only", 60, start=7, step=25)
    client_only = events_for(key, "client only", 45, start=11, step=33)
    await relay.store.add_many(shared + relay_only)

    async with client(relay.url) as ws:
        result = await reconcile(ws, "sync-1", {}, shared + client_only, frame_size_limit=4096)

    assert result.have == ids(client_only)
    assert result.need == ids(relay_only)
    assert result.rounds > 2, result.reply_sizes
    # Replies were cut at the relay's frame size limit (bytes before hex encoding), never past it.
    assert 4096 < max(result.reply_sizes) <= 2 * 4096


@pytest.mark.parametrize(("client_count", "relay_count"), [(0, 0), (0, 20), (20, 0), (5, 7)])
async def test_small_and_empty_sets(start_relay: Any, key: SecretKey, client_count: int, relay_count: int) -> None:
    relay = await start_relay()
    shared = events_for(key, "shared", 3)
    client_only = events_for(key, "client", client_count)
    relay_only = events_for(key, "relay", relay_count)
    await relay.store.add_many(shared + relay_only)

    async with client(relay.url) as ws:
        result = await reconcile(ws, "s", {}, shared + client_only)

    assert (result.have, result.need) == (ids(client_only), ids(relay_only))
    assert result.rounds == 1


async def test_the_filter_scopes_the_reconciled_set(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay()
    channel = "30333:" + "ab" * 32 + ":minsk"
    in_channel = events_for(key, "channel post", 40, tags=[["a", channel]])
    elsewhere = events_for(key, "other", 40, tags=[["a", "30333:" + "cd" * 32 + ":gomel"]])
    await relay.store.add_many(in_channel + elsewhere)
    ours = [make_event(key, 1, "our channel post", [["a", channel]], created_at=BASE + 5)]

    async with client(relay.url) as ws:
        result = await reconcile(ws, "chan", {"#a": [channel]}, ours)
        by_kind = await reconcile(ws, "kinds", {"kinds": [7]}, [])

    assert result.need == ids(in_channel)
    assert result.have == ids(ours)
    assert by_kind.need == by_kind.have == set()


async def test_two_sessions_interleaved_on_one_connection(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay(frame_size_limit=4096)
    shared = events_for(key, "shared", 600)
    relay_only = events_for(key, "relay", 30, start=3)
    await relay.store.add_many(shared + relay_only)
    sessions = {sub: Negentropy(storage_of(shared), 4096) for sub in ("x", "y")}
    need: dict[str, set[str]] = {"x": set(), "y": set()}

    async with client(relay.url) as ws:
        for sub, session in sessions.items():
            await ws.send(frame("NEG-OPEN", sub, {}, session.initiate().hex()))
        open_subs = set(sessions)
        for _ in range(MAX_ROUNDS):
            if not open_subs:
                break
            reply = await recv_json(ws, timeout=30)
            assert reply[0] == "NEG-MSG", reply
            sub = reply[1]
            message, _, new_need = sessions[sub].reconcile_client(bytes.fromhex(reply[2]))
            need[sub].update(i.hex() for i in new_need)
            if message is None:
                open_subs.discard(sub)
            else:
                await ws.send(frame("NEG-MSG", sub, message.hex()))
    assert not open_subs
    assert need == {"x": ids(relay_only), "y": ids(relay_only)}


async def test_reopening_an_id_replaces_the_session(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay(max_sessions=1)
    relay_only = events_for(key, "relay", 5)
    await relay.store.add_many(relay_only)

    async with client(relay.url) as ws:
        await ws.send(frame("NEG-OPEN", "same", {}, initial()))
        assert (await recv_json(ws))[0] == "NEG-MSG"
        # Same id again: the old session is closed first, so the one-session limit is not hit.
        result = await reconcile(ws, "same", {}, [])
    assert result.need == ids(relay_only)


# -- errors ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad_filter",
    [
        "not a filter",
        ["a", "list"],
        {"kinds": "1"},
        {"kinds": [-1]},
        {"authors": ["not hex"]},
        {"ids": "abc"},
        {"since": "yesterday"},
        {"#a": [1, 2]},
        {"limit": -5},
    ],
)
async def test_bad_filter_gets_neg_err_invalid(start_relay: Any, bad_filter: Any) -> None:
    relay = await start_relay()
    async with client(relay.url) as ws:
        reason = await neg_err(ws, "NEG-OPEN", "bad", bad_filter, initial())
    assert reason.startswith("invalid:"), reason
    assert relay.service.builds == 0


@pytest.mark.parametrize("message", ["zz", "6", "6g", 97, None, ["61"]])
async def test_message_that_is_not_hex_gets_neg_err_invalid(start_relay: Any, message: Any) -> None:
    relay = await start_relay()
    async with client(relay.url) as ws:
        reason = await neg_err(ws, "NEG-OPEN", "hex", {}, message)
    assert reason.startswith("invalid:"), reason


async def test_neg_open_without_a_message_gets_neg_err(start_relay: Any) -> None:
    relay = await start_relay()
    async with client(relay.url) as ws:
        assert (await neg_err(ws, "NEG-OPEN", "short", {})).startswith("invalid:")


@pytest.mark.parametrize("payload", ["61ff", "6100", "61" + "8" * 40, "01", "ff"])
async def test_malformed_negentropy_message_gets_neg_err(start_relay: Any, key: SecretKey, payload: str) -> None:
    relay = await start_relay()
    await relay.store.add_many(events_for(key, "x", 3))
    async with client(relay.url) as ws:
        assert (await neg_err(ws, "NEG-OPEN", "junk", {}, payload)).startswith("invalid:")


async def test_bad_neg_msg_closes_that_session(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay()
    await relay.store.add_many(events_for(key, "x", 100))
    async with client(relay.url) as ws:
        await ws.send(frame("NEG-OPEN", "s", {}, initial(events_for(key, "y", 100))))
        assert (await recv_json(ws))[0] == "NEG-MSG"
        assert (await neg_err(ws, "NEG-MSG", "s", "not hex")).startswith("invalid:")
        # After NEG-ERR the session is gone (NIP-77).
        assert (await neg_err(ws, "NEG-MSG", "s", "61")).startswith("closed:")


async def test_neg_msg_for_an_unknown_session_gets_closed(start_relay: Any) -> None:
    relay = await start_relay()
    async with client(relay.url) as ws:
        reason = await neg_err(ws, "NEG-MSG", "never-opened", "61")
    assert reason.startswith("closed:"), reason


async def test_neg_close_ends_the_session(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay()
    await relay.store.add_many(events_for(key, "x", 100))
    async with client(relay.url) as ws:
        await ws.send(frame("NEG-OPEN", "s", {}, initial(events_for(key, "y", 100))))
        assert (await recv_json(ws))[0] == "NEG-MSG"
        await ws.send(frame("NEG-CLOSE", "s"))
        await ws.send(frame("NEG-CLOSE", "unknown"))  # closing what is not open: no answer at all
        assert (await neg_err(ws, "NEG-MSG", "s", "61")).startswith("closed:")


async def test_too_many_sessions_on_one_connection(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay(max_sessions=2)
    await relay.store.add_many(events_for(key, "x", 100))
    opening = initial(events_for(key, "y", 100))  # a session that is not finished after one round

    async with client(relay.url) as ws, client(relay.url) as other:
        for sub in ("one", "two"):
            await ws.send(frame("NEG-OPEN", sub, {}, opening))
            assert (await recv_json(ws))[:2] == ["NEG-MSG", sub]
        reason = await neg_err(ws, "NEG-OPEN", "three", {}, opening)
        assert reason.startswith("blocked:"), reason
        # The sessions already open are not affected...
        await ws.send(frame("NEG-CLOSE", "one"))
        await ws.send(frame("NEG-OPEN", "three", {}, opening))
        assert (await recv_json(ws))[:2] == ["NEG-MSG", "three"]
        # ...and the limit is per connection.
        await other.send(frame("NEG-OPEN", "one", {}, opening))
        assert (await recv_json(other))[:2] == ["NEG-MSG", "one"]


async def test_more_records_than_max_records_is_blocked(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay(max_records=10)
    mine = SecretKey.generate()
    await relay.store.add_many(events_for(key, "theirs", 8) + events_for(mine, "mine", 3))

    async with client(relay.url) as ws:
        reason = await neg_err(ws, "NEG-OPEN", "all", {}, initial())
        assert reason.startswith("blocked:"), reason
        # A narrower filter, within the limit, is served.
        narrow = await reconcile(ws, "narrow", {"authors": [key.public_key_hex]}, [])
    assert len(narrow.need) == 8


async def test_exactly_max_records_is_served(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay(max_records=10)
    events = events_for(key, "x", 10)
    await relay.store.add_many(events)
    async with client(relay.url) as ws:
        assert (await reconcile(ws, "all", {}, [])).need == ids(events)


async def test_relay_without_negentropy_says_so(relay: RelayServer, url: str) -> None:
    assert 77 not in relay.nip11()["supported_nips"]
    async with client(url) as ws:
        reason = await neg_err(ws, "NEG-OPEN", "s", {}, initial())
        assert reason.startswith("error:"), reason
        assert "77" in reason
        await ws.send(frame("REQ", "after", {"limit": 1}))
        assert (await recv_json(ws))[0] == "EOSE"


async def test_nip11_lists_nip_77_when_enabled(start_relay: Any) -> None:
    relay = await start_relay()
    assert 77 in relay.server.nip11()["supported_nips"]


# -- protocol version --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", [0x60, 0x62, 0x6F])
async def test_other_protocol_version_gets_the_version_reply(start_relay: Any, key: SecretKey, version: int) -> None:
    relay = await start_relay()
    events = events_for(key, "x", 50)
    await relay.store.add_many(events)
    body = Negentropy(storage_of(events_for(key, "y", 50))).initiate()[1:]

    async with client(relay.url) as ws:
        await ws.send(frame("NEG-OPEN", "v", {}, (bytes([version]) + body).hex()))
        assert await recv_json(ws) == ["NEG-MSG", "v", "61"]  # only the byte of the version it speaks
        # The client "downgrades" to V1 and retries under the same id.
        result = await reconcile(ws, "v", {}, [])
    assert result.need == ids(events)


@pytest.mark.parametrize("version", [0x00, 0x51, 0x70, 0xFF])
async def test_a_byte_that_is_no_protocol_version_is_invalid(start_relay: Any, version: int) -> None:
    relay = await start_relay()
    async with client(relay.url) as ws:
        assert (await neg_err(ws, "NEG-OPEN", "v", {}, bytes([version]).hex())).startswith("invalid:")


# -- the connection after errors ---------------------------------------------------------------------------------


async def test_connection_keeps_working_after_neg_err(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay(max_records=5)
    await relay.store.add_many(events_for(key, "x", 6))
    async with client(relay.url) as ws:
        await neg_err(ws, "NEG-OPEN", "a", {"kinds": "x"}, initial())
        await neg_err(ws, "NEG-OPEN", "b", {}, "zz")
        await neg_err(ws, "NEG-MSG", "c", "61")
        await neg_err(ws, "NEG-OPEN", "d", {}, initial())  # blocked: too many records

        event = make_event(key, 1, "still here", created_at=BASE + 50_000)
        ok = await publish(ws, event)
        assert ok[:3] == ["OK", event.id, True], ok
        found = await query(ws, "q", {"ids": [event.id]})
        assert [e["id"] for e in found] == [event.id]
        result = await reconcile(ws, "e", {"ids": [event.id]}, [])
    assert result.need == {event.id}


# -- the cache of sealed storages --------------------------------------------------------------------------------


async def test_cache_is_shared_by_clients_syncing_the_same_filter(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay()
    shared = events_for(key, "shared", 300)
    relay_only = events_for(key, "relay", 20, start=1)
    await relay.store.add_many(shared + relay_only)

    async with client(relay.url) as first, client(relay.url) as second:
        one = await reconcile(first, "a", {"kinds": [1]}, shared)
        two = await reconcile(second, "b", {"kinds": [1], "limit": 10}, shared[:100])  # limit plays no part
    assert relay.service.builds == 1
    assert one.need == ids(relay_only)
    assert two.need == ids(relay_only) | ids(shared[100:])

    async with client(relay.url) as third:
        await reconcile(third, "c", {"kinds": [1, 7]}, shared)  # another filter: another storage
    assert relay.service.builds == 2


async def test_clients_opening_at_once_share_one_build(start_relay: Any, key: SecretKey) -> None:
    relay = await start_relay()
    events = events_for(key, "x", 2000)
    await relay.store.add_many(events)

    async def one(sub: str) -> Reconciled:
        async with client(relay.url) as ws:
            return await reconcile(ws, sub, {}, events[:1000])

    results = await asyncio.gather(*(one(f"s{i}") for i in range(4)))
    assert relay.service.builds == 1
    assert all(r.need == ids(events[1000:]) for r in results)


async def test_cache_is_refreshed_after_new_events_once_min_staleness_passed(
    start_relay: Any, key: SecretKey, clock: FakeClock
) -> None:
    relay = await start_relay(min_staleness=5.0, max_staleness=300.0)
    shared = events_for(key, "shared", 200)
    await relay.store.add_many(shared)

    async with client(relay.url) as ws:
        assert (await reconcile(ws, "a", {}, shared)).need == set()
        assert relay.service.builds == 1

        fresh = make_event(key, 1, "published live", created_at=BASE + 60_000)
        assert (await publish(ws, fresh))[2] is True
        # Within min_staleness the snapshot is still served even though the store changed: correct, only old.
        clock.now += 4
        assert (await reconcile(ws, "b", {}, shared)).need == set()
        assert relay.service.builds == 1
        # Past it, the store's change is noticed: rebuilt, and the new event is found.
        clock.now += 2
        assert (await reconcile(ws, "c", {}, shared)).need == {fresh.id}
        assert relay.service.builds == 2
        # Nothing stored since: the new storage is reused, however long ago it was built (up to max_staleness).
        clock.now += 200
        assert (await reconcile(ws, "d", {}, shared)).need == {fresh.id}
        assert relay.service.builds == 2
        clock.now += 101
        assert (await reconcile(ws, "e", {}, shared)).need == {fresh.id}
        assert relay.service.builds == 3


async def test_events_stored_behind_the_relay_are_found_once_stale(
    start_relay: Any, key: SecretKey, clock: FakeClock
) -> None:
    """Another process (``samizdat post``, ``import`` or ``sync`` while ``serve`` runs) writes the store
    directly; the relay never sees those events, yet its NIP-77 answers must include them before long."""
    relay = await start_relay(min_staleness=5.0)
    shared = events_for(key, "shared", 50)
    await relay.store.add_many(shared)
    async with client(relay.url) as ws:
        assert (await reconcile(ws, "a", {}, shared)).need == set()
        behind = make_event(key, 1, "written by another process", created_at=BASE + 70_000)
        await relay.store.add_many([behind])
        clock.now += 6
        assert (await reconcile(ws, "b", {}, shared)).need == {behind.id}
    assert relay.service.builds == 2
