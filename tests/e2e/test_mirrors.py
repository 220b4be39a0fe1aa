"""Publishing to a channel's mirror relays, with nostr-sdk's ``LocalRelay`` (an independent implementation) as the
mirror: delivered at once when it is up; queued in the outbox when it is down, and delivered by ``samizdat serve``
once it is back, across a restart of the node.

Retry timing (``net/outbox.py``, ``node.py``): a failed try waits ``5 s * 2**attempts`` with jitter (x0.5 to x1)
before the next, and ``serve`` looks at the outbox every 5 s. The waits below are bounded well above that.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from samizdat.core import kinds
from samizdat.testing import open_database

if TYPE_CHECKING:
    from conftest import Cli, LocalRelayProcess, ServeProcess

pytestmark = pytest.mark.interop

DELIVERY_WAIT = 60.0  # seconds: a few retry periods, on a busy machine


async def fetch_from(url: str) -> dict[str, Any]:
    """Events on the relay at ``url``, fetched with nostr-sdk, by id."""
    from nostr_sdk import Client, Filter, Kind, RelayUrl, ReqTarget

    client = Client()
    try:
        await client.add_relay(RelayUrl.parse(url))
        await client.connect()
        query = Filter().kinds([Kind(kinds.POST), Kind(kinds.CHANNEL)])
        events = await client.fetch_events(ReqTarget.auto([query]), timedelta(seconds=15))
        return {e.id().to_hex(): e for e in events}
    finally:
        await client.shutdown()


def outbox(home: Path) -> list[tuple[str, str, str, int]]:
    """(event, relay, state, attempts) straight from the node's state file: cheap enough to poll."""
    db = open_database(home / "local.sqlite")
    try:
        return db.execute("SELECT event_id, relay, state, attempts FROM outbox ORDER BY created_at").fetchall()
    finally:
        db.close()


def create_with_mirror(cli: Cli, mirror: str) -> dict[str, Any]:
    cli.ok("init")
    return dict(cli.json("channel", "create", "district", "--name", "District", "--mirror", mirror))


async def test_a_post_reaches_the_mirror_at_once(cli: Cli, local_relay: LocalRelayProcess) -> None:
    channel = await asyncio.to_thread(create_with_mirror, cli, local_relay.url)
    assert channel["mirrors"] == [local_relay.url]
    assert (channel["delivered"], channel["pending"]) == (1, [])  # the definition is on the mirror too
    post = await cli.ajson("post", "district", "--type", "news", "Metro is closed")
    assert (post["delivered"], post["pending"]) == (1, [])

    on_mirror = await fetch_from(local_relay.url)
    (post_id,) = post["ids"]
    assert post_id in on_mirror
    assert channel["ids"][0] in on_mirror
    assert on_mirror[post_id].content() == "Metro is closed"

    status = await cli.ajson("status")
    assert status["outbox"] == {"pending": [], "failed": [], "lost": [], "accepted": 2, "superseded": 0}


async def test_the_outbox_delivers_once_the_mirror_is_back(
    cli: Cli, local_relay: LocalRelayProcess, serve: Callable[..., ServeProcess], wait_until: Callable[..., Any]
) -> None:
    await asyncio.to_thread(create_with_mirror, cli, local_relay.url)
    await asyncio.to_thread(local_relay.stop)  # the mirror is blocked, or down

    post = await cli.ajson("post", "district", "--type", "alert", "Police vans", "--place", "Market")
    (post_id,) = post["ids"]
    assert (post["delivered"], post["pending"]) == (0, [local_relay.url])  # published here, queued there
    text = await cli.aok("post", "district", "--type", "news", "Second post while the mirror is down")
    assert f"Queued for {local_relay.url}" in text.out
    second_id = text.out.split()[1]
    assert post_id in {item["id"] for item in await cli.ajson("feed", "district")}

    status = await cli.ajson("status")
    pending = {row["event"]: row for row in status["outbox"]["pending"]}
    assert set(pending) == {post_id, second_id}
    assert pending[post_id]["relay"] == local_relay.url
    assert pending[post_id]["attempts"] >= 1  # the second `post` may have retried it already: it was due
    assert pending[post_id]["last"].startswith("error:")
    assert status["outbox"]["failed"] == []

    # The node keeps trying while the mirror is down ...
    node = await asyncio.to_thread(serve, cli.home)
    await asyncio.to_thread(
        wait_until,
        lambda: all(attempts >= 2 for _, _, state, attempts in outbox(cli.home) if state == "pending"),
        DELIVERY_WAIT,
        "a retry by the node",
    )
    assert await asyncio.to_thread(node.stop) == 0
    # ... and what it has not delivered survives a restart of the node.
    status = await cli.ajson("status")
    assert {row["event"] for row in status["outbox"]["pending"]} == {post_id, second_id}
    assert all(row["attempts"] >= 2 for row in status["outbox"]["pending"])

    await asyncio.to_thread(local_relay.start)  # the mirror is back (same address, empty memory)
    await asyncio.to_thread(serve, cli.home)
    await asyncio.to_thread(
        wait_until,
        lambda: all(state == "accepted" for _, _, state, _ in outbox(cli.home)),
        DELIVERY_WAIT,
        "delivery to the mirror",
    )
    status = await cli.ajson("status")
    assert status["outbox"]["pending"] == []
    assert status["outbox"]["failed"] == []
    assert status["outbox"]["accepted"] == 3  # the definition (before the outage) and both posts
    on_mirror = await fetch_from(local_relay.url)
    assert {post_id, second_id}.issubset(on_mirror)
