"""The node as a client of a relay that lies: the police run it. Small hostile WebSocket servers on loopback, written
here, answer the node's sync and subscriptions with what no honest relay would send; the node must end the sync
with its data intact and a bounded cost in memory, and say why in one line.

Every test bounds its hostile server by a count of messages (a test never waits longer than ``WAIT`` for
anything), and the servers are closed by ``async with`` however the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import threading
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from net_helpers import SETTLE, NegentropyLiar, frame
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from samizdat.core.acks import AckLedger
from samizdat.core.event import sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import Negentropy, VectorStorage, encode_varint, fingerprint_of
from samizdat.errors import RemoteProtocolError
from samizdat.net import sync as netsync
from samizdat.net.client import SUBSCRIPTION_QUEUE_BYTES, RelayClient
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import running_relay, wait_until

WAIT = 20.0  # seconds: the bound on every wait in this module
BASE = int(time.time()) - 10_000
MB = 1024 * 1024
ONE_SYNC = 100_000  # events one sync brings at most, whichever way (net.reqsync.ROUND_EVENTS, net.sync.MAX_NEED)

Handler = Callable[[ServerConnection], Awaitable[None]]


@contextlib.asynccontextmanager
async def lying_relay(handler: Handler) -> AsyncIterator[str]:
    """A WebSocket server on loopback running ``handler`` for each connection (frames up to 8 MB, no compression:
    the client's own limits are what is tested); yields its URL."""
    async with serve(handler, "127.0.0.1", 0, close_timeout=1, max_size=8 * MB, compression=None) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}"


@contextlib.asynccontextmanager
async def connected(url: str) -> AsyncIterator[RelayClient]:
    client = await RelayClient.connect(url, timeout=WAIT)
    try:
        yield client
    finally:
        await client.close()


@contextlib.contextmanager
def traced() -> Iterator[Callable[[], int]]:
    """Python's memory as tracemalloc sees it: yields a function giving the bytes allocated since entering and
    still held (after a collection)."""
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    try:

        def held() -> int:
            gc.collect()
            return tracemalloc.get_traced_memory()[0] - base

        yield held
    finally:
        tracemalloc.stop()


async def drain(answer: AsyncIterator[Any]) -> None:
    """Read an answer to its end (or its error), for at most WAIT seconds."""
    async with asyncio.timeout(WAIT):
        async for _ in answer:
            pass


# -- NIP-77 --------------------------------------------------------------------------------------------------------


def id_list_then_fingerprint(ids: list[bytes]) -> bytes:
    """A NIP-77 server message: an IdList naming ``ids`` for everything up to second 10^9, then a fingerprint that
    matches nothing for the rest, so the client has to answer (and the session goes on)."""
    body = encode_varint(10**9 + 1) + encode_varint(0) + encode_varint(2) + encode_varint(len(ids)) + b"".join(ids)
    body += encode_varint(0) + encode_varint(0) + encode_varint(1) + os.urandom(16)
    return bytes((0x61,)) + body


async def test_a_relay_naming_endless_ids_we_lack_is_bounded(local: SqliteStore) -> None:
    """Every NEG-MSG the relay sends names 10,000 new ids "you need" and leaves the rest unsettled, for up to 30
    rounds (300,000 ids of events that do not exist). The node used to hold every one (a relay could go on for
    MAX_ROUNDS rounds of 4 MB: hundreds of millions of ids) and then ask for each; it now stops once the relay has
    named more than one sync brings, fetches those, says so, and keeps its own events."""
    key = SecretKey.generate()
    ours = [sign_event(key, 1, f"ours {i}", created_at=BASE + i) for i in range(5)]
    await local.add_many(ours)
    per_round = 10_000
    liar = NegentropyLiar(lambda _: id_list_then_fingerprint([os.urandom(32) for _ in range(per_round)]), 30)

    async with lying_relay(liar) as url, connected(url) as client:
        async with asyncio.timeout(WAIT * 3):
            report = await netsync.sync(client, local, [Filter()], direction="down", method="nip77")

    assert report.need <= ONE_SYNC
    assert len(liar.asked) <= ONE_SYNC  # what was asked for is what the relay named, no more
    assert liar.rounds <= ONE_SYNC // per_round + 1  # it stopped listening once the relay had said enough
    assert any("left for a later sync" in line for line in report.errors), report.errors
    assert report.received == 0
    assert {e.id for e in await local.query([Filter()])} == {e.id for e in ours}


async def test_a_relay_settling_the_same_ranges_again_and_again_is_cut_off(local: SqliteStore) -> None:
    """Every NEG-MSG the relay sends says "I have none of your events below this bound" (26 bytes) and leaves the
    rest unsettled. Each costs the node a walk through its whole set (0.4 s for 200,000 events), and the relay
    could go on for MAX_ROUNDS rounds; the node now ends the sync, with the reason, once it has been told it
    holds more than its set several times over."""
    key = SecretKey.generate()
    await local.add_many([sign_event(key, 1, f"ours {i}", created_at=BASE + i) for i in range(2000)])
    lacking_all = (
        bytes((0x61,))
        + encode_varint(BASE + 10_000 + 1) + encode_varint(0) + encode_varint(2) + encode_varint(0)
        + encode_varint(0) + encode_varint(0) + encode_varint(1) + os.urandom(16)
    )  # fmt: skip
    liar = NegentropyLiar(lambda _: lacking_all, 200)

    async with lying_relay(liar) as url, connected(url) as client:
        with pytest.raises(RemoteProtocolError, match="again and again"):
            async with asyncio.timeout(WAIT * 3):
                await netsync.sync(client, local, [Filter()], direction="down", method="nip77")
    assert liar.rounds <= netsync.MAX_HAVE_REPEATS + 2
    assert len([item async for item in local.negentropy_items([Filter()])]) == 2000  # the node keeps its own


async def test_a_relay_lacking_all_it_acknowledged_is_sent_little_after_the_first_sync(local: SqliteStore) -> None:
    """The relay answers every event with ``OK true``, keeps nothing, and at every sync says over NIP-77 that it
    has nothing. The node uploaded its whole scope again at every sync (an area: 120 MB every 300 s, on a phone's
    metered data); now a relay that never acknowledged anything gets everything once, and from the sync that finds
    it lacking what it acknowledged, only the newest LOSING_UPLOAD events go up, and the sync says how many it lost
    and how many were held back."""
    key = SecretKey.generate()
    ours = [sign_event(key, 1, f"ours {i} " + "x" * 200, created_at=BASE + i) for i in range(2000)]
    await local.add_many(ours)
    liar = NegentropyLiar(lambda _: SETTLE, 0)  # "I have nothing", whatever it was sent
    acks = AckLedger()
    reports = []
    async with lying_relay(liar) as url:
        for index in range(3):  # three syncs, 300 s apart
            at = float(BASE + 10_000 + 300 * index)
            async with connected(url) as client, asyncio.timeout(WAIT * 3):
                reports.append(
                    await netsync.sync(client, local, [Filter()], method="nip77", acks=acks, now=lambda t=at: t)
                )
    first, second, third = reports
    assert (first.sent, first.lost, first.held) == (2000, 0, 0)  # a fresh relay gets everything, once
    assert second.lost > 0  # events it acknowledged 300 s before, and lacks
    assert second.sent == netsync.LOSING_UPLOAD
    assert second.held == 2000 - netsync.LOSING_UPLOAD
    assert second.bytes_out * 10 < first.bytes_out
    assert third.lost == netsync.LOSING_UPLOAD  # what went up again was lost again: still held to the bound
    assert third.sent == netsync.LOSING_UPLOAD
    assert liar.events == 2000 + 2 * netsync.LOSING_UPLOAD
    assert len([item async for item in local.negentropy_items([Filter()])]) == 2000  # the node keeps its own
    assert len(acks) <= acks.per_relay


async def test_an_answer_whose_id_is_not_a_string_ends_nothing(local: SqliteStore) -> None:
    """The relay names one id we lack (a real NIP-77 answer), then answers the REQ for it with "events" whose
    ``id`` is a list or an object. That raised TypeError out of the sync (not a project error: the background
    pass stopped there, and no other relay or channel after it was synced); it is now ignored like any event
    not asked for, and the real one, sent after, is stored."""
    key = SecretKey.generate()
    real = sign_event(key, 1, "the one asked for", created_at=BASE)
    theirs = VectorStorage()
    theirs.insert(real.created_at, bytes.fromhex(real.id))
    theirs.seal()

    async def handler(ws: ServerConnection) -> None:
        server = Negentropy(theirs)
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "NEG-OPEN":
                await ws.send(frame("NEG-MSG", message[1], server.reconcile(bytes.fromhex(message[3])).hex()))
            elif message[0] == "NEG-MSG":
                await ws.send(frame("NEG-MSG", message[1], server.reconcile(bytes.fromhex(message[2])).hex()))
            elif message[0] == "REQ":
                await ws.send(frame("EVENT", message[1], {**real.to_dict(), "id": [real.id]}))
                await ws.send(frame("EVENT", message[1], {**real.to_dict(), "id": {"x": 1}}))
                await ws.send(frame("EVENT", message[1], real.to_dict()))
                await ws.send(frame("EOSE", message[1]))

    async with lying_relay(handler) as url, connected(url) as client:
        async with asyncio.timeout(WAIT):
            report = await netsync.sync(client, local, [Filter()], direction="down", method="nip77")

    assert report.need == 1
    assert report.received == 1
    assert await local.get(real.id) == real


async def test_a_relays_fat_replies_do_not_hold_up_the_nodes_own_relay(
    local: SqliteStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay's reply is 64 KB of tiny ranges that each cost the node a lookup and a hash (at 4 MB, 1.6 s; a
    relay may send one every round). Reconciled on the event loop, that held the node's own relay, and every phone
    on a hub with it, for the whole sync. Here reconciling such a reply takes until the test says so, and the test
    says so only once the node's own relay has stored and served a post meanwhile."""
    started, released = threading.Event(), threading.Event()
    waits: list[bool] = []
    reconcile_client = Negentropy.reconcile_client

    def slow(self: Negentropy, message: bytes) -> tuple[bytes | None, list[bytes], list[bytes]]:
        if len(message) > 16 * 1024:
            started.set()
            waits.append(released.wait(10))
        return reconcile_client(self, message)

    monkeypatch.setattr(Negentropy, "reconcile_client", slow)
    empty = fingerprint_of(0, 0)  # the fingerprint of an empty range: anyone can compute it, and it always matches
    fat = bytearray((0x61,))
    while len(fat) < 64 * 1024:
        fat += encode_varint(2) + encode_varint(0) + encode_varint(1) + empty  # one second further, no id
    fat += encode_varint(0) + encode_varint(0) + encode_varint(1) + os.urandom(16)  # the rest: mismatched
    replies = [bytes(fat), SETTLE]

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] in ("NEG-OPEN", "NEG-MSG") and replies:
                await ws.send(frame("NEG-MSG", message[1], replies.pop(0).hex()))

    key = SecretKey.generate()
    post = sign_event(key, 1, "served meanwhile", created_at=BASE)
    try:
        async with (
            running_relay(tmp_path / "own") as own,
            lying_relay(handler) as url,
            connected(url) as client,
            connected(own.url) as phone,
        ):
            syncing = asyncio.create_task(netsync.sync(client, local, [Filter()], direction="down", method="nip77"))
            try:
                assert await asyncio.to_thread(started.wait, WAIT)
                assert (await phone.publish(post, timeout=WAIT)).accepted
                assert await phone.fetch([Filter(ids=frozenset({post.id}))], timeout=WAIT) == [post]
            finally:
                released.set()
                async with asyncio.timeout(WAIT):
                    report = (await asyncio.gather(syncing, return_exceptions=True))[0]
    finally:
        released.set()
    assert waits == [True]  # released by the test, once the phone was served: not by the time-out
    assert isinstance(report, netsync.SyncReport)
    assert report.round_trips == 2


# -- REQ fallback ------------------------------------------------------------------------------------------------


async def test_a_relay_dribbling_an_answer_without_end_stops_at_the_bound_of_one_sync(
    local: SqliteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The relay answers the REQ with one valid event after another, each just within the wait for the next
    message, and never EOSE. The walk's bound in seconds (ROUND_SECONDS, here 1 s) was checked only between
    requests, so one answer could take REQ_TIMEOUT times its 600 messages: 10 hours. Now the sync ends at the
    bound, says so, and keeps the node's data."""
    from samizdat.net import reqsync

    monkeypatch.setattr(reqsync, "ROUND_SECONDS", 1.0)
    key = SecretKey.generate()
    ours = sign_event(key, 1, "ours", created_at=BASE)
    await local.add_many([ours])
    dribble = [sign_event(key, 1, f"slow {i}", created_at=BASE + 100 + i) for i in range(300)]

    async def handler(ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "REQ":
                with contextlib.suppress(ConnectionClosed):  # the node hangs up once it has had enough
                    for event in dribble:  # the test's own bound: 300 events, 30 s
                        await ws.send(frame("EVENT", message[1], event.to_dict()))
                        await asyncio.sleep(0.1)

    async with lying_relay(handler) as url, connected(url) as client:
        async with asyncio.timeout(WAIT):
            report = await netsync.sync(client, local, [Filter()], direction="down", method="req")
    assert any("stopped at the bound of one sync" in line for line in report.errors), report.errors
    assert await local.get(ours.id) == ours


# -- frames --------------------------------------------------------------------------------------------------------


async def test_a_relay_flooding_a_request_with_large_frames_is_cut_off_with_memory_bounded() -> None:
    """The relay answers a REQ with 40 frames of 4 MB (160 MB) while the node is busy with the first: the queue
    used to count messages only (10,000 of them, 40 GB at this size), so all 160 MB stayed in memory. Now the
    request ends with "too slow" once the queue holds SUBSCRIPTION_QUEUE_BYTES, and what was queued is let go."""
    big = {"id": "x", "content": "y" * (4 * MB - 200)}
    frames = 40
    sent = asyncio.Event()
    total = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal total
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "REQ":
                for _ in range(frames):
                    data = frame("EVENT", message[1], big)
                    total += len(data)
                    await ws.send(data)
                await ws.send(frame("EOSE", message[1]))
                sent.set()

    with traced() as held:
        async with lying_relay(handler) as url, connected(url) as client:
            start = client.bytes_in
            answer = client.stored([{"limit": 500}], max_messages=600, timeout=WAIT)
            async with contextlib.aclosing(answer):
                async with asyncio.timeout(WAIT):
                    await anext(answer)
                    await sent.wait()
                await wait_until(
                    lambda: client.bytes_in - start >= total, timeout=WAIT, what="the flood to come in unread"
                )
                assert held() < SUBSCRIPTION_QUEUE_BYTES + 24 * MB  # 160 MB sent; at most the bound and a few frames
                with pytest.raises(RemoteProtocolError, match="too slow"):
                    await drain(answer)
            assert client.is_open  # the connection lives on: only the request was ended


async def test_a_relay_flooding_notices_is_not_kept() -> None:
    """30 NOTICEs of 4 MB each: the client kept up to 100 of them whole for the connection's life (400 MB); now
    only the start of each."""
    notices = 30
    sent = asyncio.Event()

    async def handler(ws: ServerConnection) -> None:
        for i in range(notices):
            await ws.send(frame("NOTICE", f"{i} " + "z" * (4 * MB - 100)))
        sent.set()
        with contextlib.suppress(Exception):
            await ws.wait_closed()

    with traced() as held:
        async with lying_relay(handler) as url, connected(url) as client:
            async with asyncio.timeout(WAIT):
                await sent.wait()
            await wait_until(lambda: len(client.notices) == notices, timeout=WAIT, what="the notices to come in")
            assert held() < 24 * MB  # 120 MB of notices sent
            assert client.notices[0].startswith("['0 zzz")
