"""With ``serve --workers N`` the kernel spreads one device's connections over the workers. A per-address budget
kept by each worker alone would give the device N budgets: the issue asks that rate limits be the node's, not each
worker's. Two relay workers on one SQLite file, joined as ``serve --workers 2`` joins them (relay/cluster.py: the
bus, the follower, the shared limits file), each listening on the relay's address of a network namespace
(relay_netns.py), where each "device" has an address of its own."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from relay_helpers import make_event, recv_until
from relay_netns import AddressLab, websockets_from
from test_redteam_cost import _get
from websockets.asyncio.client import ClientConnection

from samizdat.core.keys import SecretKey
from samizdat.relay import shared
from samizdat.relay.bus import LocalBus
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.relay.storebudget import OVER_BUDGET
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import JoinedRelays, relays_as_workers

WORKERS = 2
BASE = int(time.time()) - 100_000
EVENTS = 4000
TOPICS = [f"topic{i}" for i in range(50)]


@pytest.fixture
async def joined(lab: AddressLab, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[list[RelayServer]]:
    limits: RelayLimits = request.param
    shared.create(tmp_path / "limits", WORKERS)
    key = secrets.token_bytes(32)
    first = await SqliteStore.open(tmp_path / "events.sqlite")
    author = SecretKey.generate()
    events = [
        make_event(author, 1, f"post {i}", tags=[["t", TOPICS[i % len(TOPICS)]]], created_at=BASE + i)
        for i in range(EVENTS)
    ]
    for start in range(0, EVENTS, 2000):
        await first.add_many(events[start : start + 2000])
    stores = [first, *[await SqliteStore.open(tmp_path / "events.sqlite") for _ in range(WORKERS - 1)]]
    buses = [LocalBus(tmp_path / "bus", f"w{i}") for i in range(WORKERS)]
    views = [shared.SharedLimits(tmp_path / "limits", i, WORKERS, key) for i in range(WORKERS)]
    relays: JoinedRelays[LocalBus]
    async with relays_as_workers(stores, buses, views=views, limits=limits, listen=lab.listener) as relays:
        yield relays.servers


def _frame(*parts: object) -> str:
    return orjson.dumps(list(parts)).decode()


async def _answer(ws: ClientConnection, sub: str) -> list[object]:
    """The COUNT's answer, or the CLOSED that refused it."""
    async with asyncio.timeout(30):
        while True:
            message = orjson.loads(await ws.recv())
            if message[0] in ("COUNT", "CLOSED") and message[1] == sub:
                return list(message)


# A small budget that a few costly queries spend on any machine, and that a phone's two reads stay inside even on
# a loaded one: 100 ms, then next to nothing (a microsecond a second), and a read is refused rather than wait
# longer than a second.
STORE_TIME = RelayLimits(
    store_seconds_per_ip_burst=0.1, store_seconds_per_ip_per_second=1e-6, store_budget_max_wait=1.0
)


@pytest.mark.parametrize("joined", [STORE_TIME], indirect=True)
async def test_a_device_out_of_store_time_on_one_worker_is_refused_on_the_other(
    lab: AddressLab, joined: list[RelayServer]
) -> None:
    one, other = joined
    costly = [{"#t": TOPICS, "since": BASE - i} for i in range(10)]  # every stored event, ten times over
    device, phone = lab.addresses[0], lab.addresses[1]
    async with websockets_from(lab, one.port) as open_one, websockets_from(lab, other.port) as open_other:
        here = await open_one(device)
        answers = []
        for n in range(30):  # a few spend the burst; one of the next is refused
            await here.send(_frame("COUNT", f"c{n}", *costly))
            answers.append(await _answer(here, f"c{n}"))
            if answers[-1][0] == "CLOSED":
                break
        assert answers[-1] == ["CLOSED", f"c{len(answers) - 1}", OVER_BUDGET], answers
        assert answers[0][0] == "COUNT"

        # The same device's connection to the other worker owes the same debt.
        there = await open_other(device)
        await there.send(_frame("COUNT", "x", *costly))
        assert await _answer(there, "x") == ["CLOSED", "x", OVER_BUDGET]

        # A phone on another address is answered by either worker.
        for open_ in (open_one, open_other):
            reader = await open_(phone)
            await reader.send(_frame("REQ", "p", {"#t": ["topic7"], "limit": 3}))
            answer = await recv_until(reader, "EOSE", timeout=30)
            assert [m[2]["content"] for m in answer if m[0] == "EVENT"] == [
                f"post {i}" for i in range(EVENTS - 50 + 7, 0, -50)
            ][:3]


# Four new connections, then one every 1,000 seconds.
CONNECTION_RATE = RelayLimits(connections_per_ip_burst=4, connections_per_ip_per_second=0.001)


@pytest.mark.parametrize("joined", [CONNECTION_RATE], indirect=True)
async def test_a_device_over_its_connection_rate_on_one_worker_is_refused_on_the_other(
    lab: AddressLab, joined: list[RelayServer]
) -> None:
    one, other = joined
    device, phone = lab.addresses[0], lab.addresses[1]
    opened = [await asyncio.to_thread(_get, lab, device, one.port) for _ in range(4)]
    assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in opened)
    refused = await asyncio.to_thread(_get, lab, device, other.port)
    assert refused.startswith(b"HTTP/1.1 503 "), refused[:80]
    assert b"Too many connections, try again later." in refused
    assert (await asyncio.to_thread(_get, lab, phone, other.port)).startswith(b"HTTP/1.1 200 ")
