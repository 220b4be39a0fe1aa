"""A relay that claims, over NIP-77, to have everything the node has: it (or a box on a plain ``ws://`` path,
answering in its name) sends the node's own messages back, fingerprint for fingerprint. The reconciliation then
ends at once with nothing to move, and the node took the relay for a mirror in step: nothing it carried went up,
nothing new came down, sync after sync, and the sync said "they lacked 0".

Now each NIP-77 session ends by asking the relay for a few of the events it claimed to have, by id; a relay that
does not serve them is synced with REQs instead (what it really serves and lacks), and the sync says so. Against
honest relays (ours, and nostr-sdk's) in step, the check finds nothing and the sync stays NIP-77."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from net_helpers import Relay, frame
from websockets.asyncio.server import ServerConnection, serve

from samizdat.core.event import Event, parse_event, sign_event
from samizdat.core.filters import Filter, matches_any, parse_filter
from samizdat.core.keys import SecretKey
from samizdat.net import sync as netsync
from samizdat.net.client import RelayClient
from samizdat.relay.negentropy import NegentropyService
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import running_relay

WAIT = 30.0  # seconds: the bound on every sync here
BASE = int(time.time()) - 10_000


class Echo:
    """A relay that answers every NIP-77 message with the message itself ("I have exactly what you have"), keeps
    what it is sent and serves, by id or by filter, only what it keeps."""

    def __init__(self) -> None:
        self.kept: dict[str, Event] = {}
        self.echoed = 0

    async def __call__(self, ws: ServerConnection) -> None:
        async for raw in ws:
            message = orjson.loads(raw)
            if message[0] == "NEG-OPEN":
                self.echoed += 1
                await ws.send(frame("NEG-MSG", message[1], message[3]))
            elif message[0] == "NEG-MSG":
                self.echoed += 1
                await ws.send(frame("NEG-MSG", message[1], message[2]))
            elif message[0] == "EVENT":
                event = parse_event(message[1])
                self.kept[event.id] = event
                await ws.send(frame("OK", event.id, True, ""))
            elif message[0] == "REQ":
                filters = [parse_filter(f) for f in message[2:]]
                for event in [e for e in self.kept.values() if matches_any(filters, e)][:500]:
                    await ws.send(frame("EVENT", message[1], event.to_dict()))
                await ws.send(frame("EOSE", message[1]))


async def ours(local: SqliteStore, count: int) -> list[Event]:
    key = SecretKey.generate()
    events = [sign_event(key, 1, f"carried {i}", created_at=BASE + i) for i in range(count)]
    await local.add_many(events)
    return events


async def test_a_relay_echoing_our_fingerprints_is_caught_and_synced_with_reqs(local: SqliteStore) -> None:
    """The echoing relay has none of the node's 300 events. Before, the sync moved nothing ("they lacked 0") and
    the relay stayed empty; now the sync says the relay claimed events it did not serve, goes on with REQs, and
    the relay gets all 300."""
    events = await ours(local, 300)
    echo = Echo()
    async with serve(echo, "127.0.0.1", 0, close_timeout=1) as server:
        url = f"ws://127.0.0.1:{next(iter(server.sockets)).getsockname()[1]}"
        async with await RelayClient.connect(url, timeout=WAIT) as client, asyncio.timeout(WAIT):
            report = await netsync.sync(client, local, [Filter()], method="nip77")
    assert echo.echoed > 0  # it was asked over NIP-77 first
    assert report.method == "req"
    assert report.unserved > 0
    assert any("claimed over NIP-77" in line for line in report.errors)
    assert report.sent == 300
    assert set(echo.kept) == {e.id for e in events}


@pytest.fixture
async def samizdat_nip77(tmp_path: Path) -> AsyncIterator[Relay]:
    """Our relay with NIP-77, on loopback."""
    async with running_relay(tmp_path / "relay", negentropy=NegentropyService(min_staleness=0.0)) as running:
        yield Relay(running.url, running.server)


@pytest.fixture(params=["samizdat", pytest.param("nostr-sdk", marks=pytest.mark.interop)])
def honest(request: pytest.FixtureRequest) -> str:
    """Our relay or nostr-sdk's LocalRelay (both speak NIP-77): its URL."""
    name = "samizdat_nip77" if request.param == "samizdat" else "sdk_relay"
    relay: Relay = request.getfixturevalue(name)
    return relay.url


async def test_a_relay_in_step_is_checked_and_stays_nip77(local: SqliteStore, honest: str) -> None:
    """Our relay and nostr-sdk's, each given the node's events by a first sync: the next sync asks each for a few
    of them by id, gets them, and stays NIP-77 with nothing to move."""
    await ours(local, 300)
    async with await RelayClient.connect(honest, timeout=WAIT) as client, asyncio.timeout(WAIT):
        first = await netsync.sync(client, local, [Filter()], method="nip77")
        second = await netsync.sync(client, local, [Filter()], method="nip77")
    assert (first.method, first.sent) == ("nip77", 300)
    assert (second.method, second.have, second.need, second.sent, second.unserved) == ("nip77", 0, 0, 0, 0)
    assert second.errors == []
