"""An independent implementation (nostr-sdk, Rust) publishes to and queries our relay.

Covers tags and filters, replaceable (kind 0, 10002) and addressable (kind 30333 with ``d``) events, NIP-09
deletion, NIP-45 COUNT, live subscriptions, and a refusal (``OK false``) that the SDK reports as a failure.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest

nostr_sdk = pytest.importorskip("nostr_sdk")

from nostr_sdk import (  # noqa: E402
    Client,
    Coordinate,
    EventBuilder,
    Filter,
    Keys,
    Kind,
    RelayUrl,
    ReqExitPolicy,
    ReqTarget,
    Tag,
    Timestamp,
)

from samizdat.relay.server import RelayServer  # noqa: E402
from samizdat.testing import wait_until  # noqa: E402

pytestmark = pytest.mark.interop

TIMEOUT = timedelta(seconds=5)
BASE = int(time.time()) - 1000


@pytest.fixture
async def sdk(relay: RelayServer) -> AsyncIterator[tuple[Client, Any]]:
    url = RelayUrl.parse(f"ws://127.0.0.1:{relay.port}")
    sdk_client = Client()
    await sdk_client.add_relay(url)
    await sdk_client.connect()
    try:
        yield sdk_client, url
    finally:
        await sdk_client.shutdown()


def build(kind: int, content: str, tags: list[Any] = (), created_at: int | None = None) -> EventBuilder:  # type: ignore[assignment]
    builder = EventBuilder(Kind(kind), content).tags(list(tags))
    if created_at is not None:
        builder = builder.custom_created_at(Timestamp.from_secs(created_at))
    return builder


async def send(client: Client, keys: Keys, builder: EventBuilder) -> Any:
    event = builder.finalize(keys)
    output = await client.send_event(event)
    assert output.failed == {}, output.failed
    assert len(output.success) == 1
    return event


async def fetch(client: Client, *filters: Filter) -> list[Any]:
    return list(await client.fetch_events(ReqTarget.auto(list(filters)), TIMEOUT))


def ids(events: list[Any]) -> set[str]:
    return {e.id().to_hex() for e in events}


async def test_tags_and_filters(sdk: tuple[Client, Any]) -> None:
    client, _ = sdk
    alice, bob = Keys.generate(), Keys.generate()
    a1 = await send(client, alice, build(1, "police at the square", [Tag.hashtag("minsk")], BASE + 1))
    a2 = await send(client, alice, build(1, "all clear", [Tag.hashtag("minsk")], BASE + 2))
    b1 = await send(client, bob, build(1, "need a lawyer", [Tag.public_key(alice.public_key())], BASE + 3))
    b2 = await send(client, bob, build(7, "+", [Tag.event(a1.id())], BASE + 4))

    assert ids(await fetch(client, Filter().author(alice.public_key()))) == ids([a1, a2])
    assert ids(await fetch(client, Filter().hashtag("minsk"))) == ids([a1, a2])
    assert ids(await fetch(client, Filter().pubkey(alice.public_key()))) == ids([b1])
    assert ids(await fetch(client, Filter().event(a1.id()).kind(Kind(7)))) == ids([b2])
    assert ids(await fetch(client, Filter().kinds([Kind(1)]).since(Timestamp.from_secs(BASE + 2)))) == ids([a2, b1])
    assert ids(await fetch(client, Filter().kind(Kind(1)).until(Timestamp.from_secs(BASE + 1)))) == ids([a1])
    assert ids(await fetch(client, Filter().id(b1.id()))) == ids([b1])
    newest = await fetch(client, Filter().kind(Kind(1)).limit(1))
    assert ids(newest) == ids([b1])
    # Several filters in one REQ are OR'd.
    either = await fetch(client, Filter().author(bob.public_key()).kind(Kind(7)), Filter().hashtag("minsk"))
    assert ids(either) == ids([a1, a2, b2])
    # What the SDK got back is byte-for-byte what was signed.
    (got,) = await fetch(client, Filter().id(a1.id()))
    assert got.as_json() == a1.as_json()


async def test_replaceable_kinds_keep_the_newest(sdk: tuple[Client, Any]) -> None:
    client, _ = sdk
    keys = Keys.generate()
    await send(client, keys, build(0, '{"name":"v1"}', [], BASE + 1))
    newest = await send(client, keys, build(0, '{"name":"v2"}', [], BASE + 2))
    late_old = build(0, '{"name":"v0"}', [], BASE).finalize(keys)
    refused = await client.send_event(late_old)
    assert refused.success == []  # an older version than the stored one
    assert list(refused.failed.values())[0].startswith("duplicate:")
    got = await fetch(client, Filter().author(keys.public_key()).kind(Kind(0)))
    assert ids(got) == ids([newest])

    await send(client, keys, build(10002, "", [Tag.parse(["r", "wss://a.example"])], BASE + 1))
    relays = await send(client, keys, build(10002, "", [Tag.parse(["r", "wss://b.example"])], BASE + 5))
    assert ids(await fetch(client, Filter().author(keys.public_key()).kind(Kind(10002)))) == ids([relays])


async def test_addressable_events_by_d_tag(sdk: tuple[Client, Any]) -> None:
    client, _ = sdk
    owner = Keys.generate()
    await send(client, owner, build(30333, "Minsk v1", [Tag.identifier("minsk")], BASE + 1))
    minsk = await send(client, owner, build(30333, "Minsk v2", [Tag.identifier("minsk")], BASE + 2))
    brest = await send(client, owner, build(30333, "Brest", [Tag.identifier("brest")], BASE + 1))
    everything = await fetch(client, Filter().author(owner.public_key()).kind(Kind(30333)))
    assert ids(everything) == ids([minsk, brest])
    one = await fetch(client, Filter().kind(Kind(30333)).identifier("minsk"))
    assert ids(one) == ids([minsk])
    coordinate = Coordinate(Kind(30333), owner.public_key(), "brest")
    assert ids(await fetch(client, Filter().coordinate(coordinate))) == set()  # nothing *refers* to it yet
    comment = await send(client, owner, build(1, "see the channel", [Tag.coordinate(coordinate)], BASE + 3))
    assert ids(await fetch(client, Filter().coordinate(coordinate))) == ids([comment])


async def test_deletion_request(sdk: tuple[Client, Any]) -> None:
    client, url = sdk
    author, stranger = Keys.generate(), Keys.generate()
    post = await send(client, author, build(1, "a mistake", [], BASE + 1))
    keep = await send(client, author, build(1, "correct", [], BASE + 2))
    # Someone else's deletion request deletes nothing.
    await send(client, stranger, build(5, "spam", [Tag.event(post.id())], BASE + 3))
    assert ids(await fetch(client, Filter().id(post.id()))) == ids([post])
    deletion = await send(client, author, build(5, "retracted", [Tag.event(post.id())], BASE + 4))
    assert ids(await fetch(client, Filter().author(author.public_key()).kind(Kind(1)))) == ids([keep])
    assert ids(await fetch(client, Filter().kind(Kind(5)).author(author.public_key()))) == ids([deletion])
    again = await client.send_event(post)
    assert again.success == []
    assert again.failed[url].startswith("blocked:")
    assert ids(await fetch(client, Filter().id(post.id()))) == set()


async def test_count(sdk: tuple[Client, Any]) -> None:
    client, url = sdk
    keys = Keys.generate()
    for i in range(7):
        await send(client, keys, build(1, f"note {i}", [Tag.hashtag("count")], BASE + i))
    relay = await client.relay(url)
    assert await relay.count_events(Filter().hashtag("count"), TIMEOUT) == 7
    assert await relay.count_events(Filter().hashtag("count").since(Timestamp.from_secs(BASE + 5)), TIMEOUT) == 2


async def test_live_stream_gets_new_events(sdk: tuple[Client, Any], relay: RelayServer) -> None:
    client, _ = sdk
    keys = Keys.generate()
    stream = await client.stream_events(
        ReqTarget.auto([Filter().author(keys.public_key())]),
        timeout=TIMEOUT,
        policy=ReqExitPolicy.WAIT_FOR_EVENTS_AFTER_EOSE(1),
    )
    publisher = Client()
    await publisher.add_relay(RelayUrl.parse(f"ws://127.0.0.1:{relay.port}"))
    await publisher.connect()
    try:
        await wait_until(lambda: relay.subscription_count, what="the SDK's subscription to be live on our side")
        sent = await send(publisher, keys, build(1, "live!", [], None))
        item = await stream.next()
        assert item is not None
        assert item.error is None
        assert item.event is not None
        assert item.event.id().to_hex() == sent.id().to_hex()
    finally:
        await publisher.shutdown()


async def test_refusal_is_reported_to_the_sdk(sdk: tuple[Client, Any]) -> None:
    client, url = sdk
    keys = Keys.generate()
    future = build(1, "from the future", [], int(time.time()) + 7200).finalize(keys)
    output = await client.send_event(future)
    assert output.success == []
    assert "invalid: created_at too far in the future" in output.failed[url]
