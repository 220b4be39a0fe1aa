"""The relay's NIP-01 conformance tests (test_server.py) and nostr-sdk interop tests (test_interop_nostr_sdk.py)
again, against two relay workers: two RelayServers on one SQLite file (and on one PostgreSQL database), joined as
``serve --workers 2`` joins its workers (relay/cluster.py: the unix datagram bus, the follower, the shared limits
file, per-worker byte bounds).

The test functions are imported unchanged; this module's ``relay`` fixture puts the two workers behind one port
that hands connections to them in turn (a small forwarder on loopback), so that in every test with two
connections the reader is on one worker and the writer on the other: each live delivery in these tests crosses
workers, every time (the kernel's SO_REUSEPORT spread would do so in half the tests, at random). What the real
``serve --workers N`` adds around this (processes, restarts, the web app) is tested in tests/scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from test_interop_nostr_sdk import (  # noqa: F401 - collected here again, across workers
    sdk,
    test_count,
    test_deletion_request,
    test_live_stream_gets_new_events,
    test_refusal_is_reported_to_the_sdk,
    test_replaceable_kinds_keep_the_newest,
    test_tags_and_filters,
)
from test_server import (  # noqa: F401
    test_ephemeral_events_are_fanned_out_not_stored,
    test_pipelined_events_each_get_exactly_one_ok,
    test_publish_query_and_live_fan_out,
    test_replaceable_addressable_and_deletion,
    test_reusing_a_sub_id_replaces_and_close_stops,
    test_search_is_passed_to_the_store,
    test_stored_events_come_newest_first_then_eose,
)

from samizdat.relay import shared
from samizdat.relay.bus import LocalBus
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.postgres import PostgresStore
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import relays_as_workers

WORKERS = 2


class Workers:
    """What the imported tests see as ``relay``: a port, and the live subscriptions of all workers."""

    def __init__(self, servers: list[RelayServer], port: int) -> None:
        self.servers = servers
        self.port = port

    @property
    def subscription_count(self) -> int:
        return sum(server.subscription_count for server in self.servers)


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


@contextlib.asynccontextmanager
async def in_turn(ports: list[int]) -> AsyncIterator[int]:
    """A loopback port whose connections go to ``ports`` in turn."""
    turn = itertools.cycle(ports)
    pipes: set[asyncio.Task[None]] = set()

    async def forward(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            relay_reader, relay_writer = await asyncio.open_connection("127.0.0.1", next(turn))
        except OSError:
            client_writer.close()
            return
        for pipe in (_pipe(client_reader, relay_writer), _pipe(relay_reader, client_writer)):
            task = asyncio.ensure_future(pipe)
            pipes.add(task)
            task.add_done_callback(pipes.discard)

    server = await asyncio.start_server(forward, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for task in list(pipes):
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)
        await server.wait_closed()


@pytest.fixture(params=["sqlite", "postgresql"])
async def relay(request: pytest.FixtureRequest, tmp_path: Path, limits: RelayLimits) -> AsyncIterator[Workers]:
    """Two workers on one store: an SQLite file, or a PostgreSQL database (``serve --workers 2 --store ...``)."""
    shared.create(tmp_path / "limits", WORKERS)
    key = secrets.token_bytes(32)
    stores: list[SqliteStore | PostgresStore]
    if request.param == "postgresql":
        url = request.getfixturevalue("postgres_url")
        stores = [await PostgresStore.open(url) for _ in range(WORKERS)]
    else:
        stores = [await SqliteStore.open(tmp_path / "events.sqlite") for _ in range(WORKERS)]
    buses = [LocalBus(tmp_path / "bus", f"w{i}") for i in range(WORKERS)]
    views = [shared.SharedLimits(tmp_path / "limits", i, WORKERS, key) for i in range(WORKERS)]
    async with (
        relays_as_workers(stores, buses, views=views, limits=limits) as joined,
        in_turn([server.port for server in joined.servers]) as port,
    ):
        yield Workers(joined.servers, port)


async def test_the_conformance_tests_here_cross_workers(relay: Workers) -> None:
    """The forwarder really hands consecutive connections to different workers."""
    from relay_helpers import client

    url = f"ws://127.0.0.1:{relay.port}"
    async with client(url), client(url):
        assert [len(server.clients) for server in relay.servers] == [1, 1]
