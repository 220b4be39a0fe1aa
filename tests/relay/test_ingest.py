"""The relay's intake: the EVENTs of many connections stored in a few batches, each OK only once its event is
durable; a batch the store refuses is stored again one event at a time, so only the bad event fails."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from relay_helpers import client, event_message, make_event, recv_json

from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.errors import StoreError
from samizdat.relay.server import RelayServer
from samizdat.store.base import AddOutcome
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import running_relay


async def test_many_connections_events_are_stored_in_few_batches_and_acknowledged_once_stored(
    tmp_path: Path, key: SecretKey
) -> None:
    async with running_relay(tmp_path) as running:
        store, intake = running.store, running.server.intake
        per_connection = 60
        sent = [[make_event(key, 1, f"c{c} n{i}") for i in range(per_connection)] for c in range(4)]

        async def publish(events: list[Event]) -> list[str]:
            stored_at_ok = []
            async with client(running.url) as ws:
                for event in events:  # all in flight at once
                    await ws.send(event_message(event))
                for _ in events:
                    message = await recv_json(ws, timeout=20)
                    assert message[0] == "OK"
                    assert message[2:] == [True, ""]
                    # The OK came after the commit: the store has the event already.
                    if await store.has([message[1]]):
                        stored_at_ok.append(message[1])
            return stored_at_ok

        results = await asyncio.wait_for(asyncio.gather(*(publish(events) for events in sent)), 60)
        for events, stored in zip(sent, results, strict=True):
            assert stored == [event.id for event in events]  # each OK in order, each event stored by then
        assert intake.events == 4 * per_connection
        # One task and one store call per batch, not per event (a batch is what one turn of the loop read, or
        # more when a crowd lingers).
        assert intake.batches <= intake.events // 4


class RefusingStore:
    """A real SqliteStore that cannot store one particular event (as a full disk or a broken row would fail it):
    a batch with it fails as a whole, and it fails alone."""

    def __init__(self, store: SqliteStore, poison: str) -> None:
        self.store = store
        self.poison = poison
        self.whole_batches_refused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    async def add(self, event: Event) -> AddOutcome:
        if event.id == self.poison:
            raise StoreError("The store could not write this event.")
        return await self.store.add(event)

    async def add_many(self, events: Sequence[Event]) -> list[AddOutcome]:
        if any(event.id == self.poison for event in events):
            self.whole_batches_refused += 1
            raise StoreError("The store could not write this batch.")
        return await self.store.add_many(events)


async def test_a_batch_the_store_refuses_is_stored_event_by_event_and_only_the_bad_one_fails(
    tmp_path: Path, key: SecretKey
) -> None:
    events = [make_event(key, 1, f"n {i}") for i in range(40)]
    poison = events[17]
    sqlite = await SqliteStore.open(tmp_path / "events.sqlite")
    store = RefusingStore(sqlite, poison.id)
    server = RelayServer(store)  # type: ignore[arg-type]
    try:
        await server.start("127.0.0.1", 0)
        async with client(f"ws://127.0.0.1:{server.port}") as ws:
            for event in events:
                await ws.send(event_message(event))
            oks = {}
            for _ in events:
                message = await recv_json(ws, timeout=20)
                oks[message[1]] = message[2:]
            assert oks[poison.id] == [False, "error: could not store the event"]
            good = [event.id for event in events if event is not poison]
            assert all(oks[event_id] == [True, ""] for event_id in good)
            assert await sqlite.has(good) == set(good)
            assert store.whole_batches_refused >= 1
            # The relay goes on: the poisoned event can be sent again (and fails again), others still go in.
            later = make_event(key, 1, "after")
            await ws.send(event_message(later))
            assert (await recv_json(ws))[2:] == [True, ""]
    finally:
        await server.stop()
        await sqlite.close()
