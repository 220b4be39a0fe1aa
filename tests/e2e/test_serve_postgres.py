"""``samizdat serve`` with its events in PostgreSQL (``[store] url`` in config.toml, or ``--store``): the
commands and the relay use the database, an independent client (nostr-sdk) reads and writes through the relay,
the keys stay in the home, and the operator is told that encryption at rest does not apply."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from samizdat.core import kinds

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

WAIT = 30.0


def stored(url: str) -> dict[str, int]:
    """Events in the database, by kind."""
    with psycopg.connect(url) as conn:
        return {int(kind): int(n) for kind, n in conn.execute("SELECT kind, count(*) FROM events GROUP BY kind")}


@pytest.fixture
async def sdk() -> AsyncIterator[Any]:
    nostr_sdk = pytest.importorskip("nostr_sdk")
    client = nostr_sdk.Client()
    try:
        yield client
    finally:
        await client.shutdown()


@pytest.mark.interop
async def test_a_node_keeps_its_events_in_postgresql(
    cli: Cli, serve: Callable[..., ServeProcess], sdk: Any, postgres_url: str
) -> None:
    from nostr_sdk import Coordinate, EventBuilder, Filter, Keys, Kind, PublicKey, RelayUrl, ReqTarget

    await cli.aok("init")
    with (cli.home / "config.toml").open("a", encoding="utf-8") as config:
        config.write(f'\n[store]\nurl = "{postgres_url}"\n')
    channel = await cli.ajson("channel", "create", "district", "--name", "District news")
    post = (await cli.ajson("post", "district", "--type", "news", "Metro is closed"))["ids"][0]
    assert stored(postgres_url) == {kinds.CHANNEL: 1, kinds.POST: 1}  # the commands wrote to the database

    node = await asyncio.to_thread(serve, cli.home)
    assert "encryption at rest does not apply" in node.output()
    await sdk.add_relay(RelayUrl.parse(node.url))
    await sdk.connect()
    _, owner, identifier = channel["address"].split(":", 2)
    coordinate = Coordinate(Kind(kinds.CHANNEL), PublicKey.parse(owner), identifier)
    events = await sdk.fetch_events(
        ReqTarget.auto([Filter().kind(Kind(kinds.POST)).coordinate(coordinate)]), timedelta(seconds=WAIT)
    )
    assert [e.id().to_hex() for e in events] == [post]
    sent = await sdk.send_event(EventBuilder(Kind(1), "from an independent client").finalize(Keys.generate()))
    assert sent.failed == {}
    assert len(sent.success) == 1  # acknowledged: committed in PostgreSQL
    assert stored(postgres_url)[1] == 1


def test_serve_refuses_a_store_that_is_not_postgresql(cli: Cli) -> None:
    cli.ok("init")
    result = cli.fails("serve", "--port", "0", "--store", "mysql://db.example/samizdat")
    assert "--store must be a PostgreSQL URL" in result.err
