"""``samizdat serve`` as a real process: NIP-11 and the status page on its port, channel posts readable by an
independent client (nostr-sdk), a post made with the CLI while it runs delivered live, and a clean SIGTERM."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import urllib.request
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import pytest

from samizdat.core import kinds
from samizdat.testing import wait_until

if TYPE_CHECKING:
    from conftest import Cli, ServeProcess

WAIT = 30.0  # seconds; every wait below is bounded by this or less


def http_get(url: str, accept: str) -> tuple[str, str]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=WAIT) as response:
        return response.headers.get("Content-Type", ""), response.read().decode()


def new_channel(cli: Cli) -> dict[str, Any]:
    cli.ok("init")
    return dict(cli.json("channel", "create", "district", "--name", "District news"))


def test_serves_nip11_and_a_status_page(cli: Cli, serve: Callable[..., ServeProcess]) -> None:
    new_channel(cli)
    cli.ok("post", "district", "--type", "news", "Hello")
    keys = cli.json("keys", "show")
    node = serve(cli.home)

    content_type, body = http_get(node.http_url, "application/nostr+json")
    assert content_type.startswith("application/nostr+json")
    info = json.loads(body)
    assert info["pubkey"] == keys["pubkey"]  # the operator is this node's identity
    assert info["name"] == "samizdat node"  # from config.toml
    assert {1, 11}.issubset(info["supported_nips"])
    assert info["limitation"]["max_message_length"] > 0

    content_type, page = http_get(node.http_url + "status", "text/html")  # "/" is the web app
    assert content_type.startswith("text/html")
    assert keys["npub"] in page
    assert re.search(r"Events stored</th><td><code>2<", page), page  # the channel and the post

    status = cli.json("status")
    assert status["serving"] == node.url


@pytest.fixture
async def sdk() -> AsyncIterator[Any]:
    nostr_sdk = pytest.importorskip("nostr_sdk")
    client = nostr_sdk.Client()
    try:
        yield client
    finally:
        await client.shutdown()


async def connect_sdk(client: Any, url: str) -> None:
    from nostr_sdk import RelayUrl

    await client.add_relay(RelayUrl.parse(url))
    await client.connect()


def channel_filter(address: str) -> Any:
    from nostr_sdk import Coordinate, Filter, Kind, PublicKey

    _, owner, identifier = address.split(":", 2)
    coordinate = Coordinate(Kind(kinds.CHANNEL), PublicKey.parse(owner), identifier)
    return Filter().kind(Kind(kinds.POST)).coordinate(coordinate)  # kind 2333 with "#a": [address]


@pytest.mark.interop
async def test_an_independent_client_reads_the_channel(cli: Cli, serve: Callable[..., ServeProcess], sdk: Any) -> None:
    from nostr_sdk import Filter, Kind, ReqTarget

    channel = await asyncio.to_thread(new_channel, cli)
    news = (await cli.ajson("post", "district", "--type", "news", "Metro is closed"))["ids"][0]
    alert = (await cli.ajson("post", "district", "--type", "alert", "Police vans", "--place", "Market"))["ids"][0]
    await cli.aok("post", "district", "--type", "news", "Elsewhere")  # a third post, to check the filter
    other = await cli.ajson("channel", "create", "other", "--name", "Another channel")
    await cli.aok("post", "other", "--type", "news", "Not in district")
    node = await asyncio.to_thread(serve, cli.home)
    await connect_sdk(sdk, node.url)

    events = await sdk.fetch_events(ReqTarget.auto([channel_filter(channel["address"])]), timedelta(seconds=WAIT))
    got = {e.id().to_hex(): e for e in events}
    assert len(got) == 3
    assert {news, alert}.issubset(got)
    assert got[news].content() == "Metro is closed"
    for event in got.values():
        assert event.verify()  # the SDK checks our signatures too
        assert event.kind().as_u16() == kinds.POST
    assert all(other["address"] not in e.as_json() for e in got.values())

    definitions = await sdk.fetch_events(
        ReqTarget.auto([Filter().kind(Kind(kinds.CHANNEL)).identifier("district")]), timedelta(seconds=WAIT)
    )
    (definition,) = list(definitions)
    assert definition.id().to_hex() == channel["ids"][0]


def subscriptions_on(node: ServeProcess) -> int:
    _, page = http_get(node.http_url + "status", "text/html")
    match = re.search(r"Subscriptions</th><td><code>(\d+)<", page)
    assert match, page
    return int(match.group(1))


@pytest.mark.interop
async def test_a_post_made_while_serving_is_delivered_live(
    cli: Cli, serve: Callable[..., ServeProcess], sdk: Any
) -> None:
    from nostr_sdk import ReqExitPolicy, ReqTarget

    channel = await asyncio.to_thread(new_channel, cli)
    node = await asyncio.to_thread(serve, cli.home)
    await connect_sdk(sdk, node.url)
    stream = await sdk.stream_events(
        ReqTarget.auto([channel_filter(channel["address"])]),
        timeout=timedelta(seconds=WAIT * 3),
        policy=ReqExitPolicy.WAIT_FOR_EVENTS_AFTER_EOSE(1),
    )
    await wait_until(  # until the subscription is live on the node
        lambda: asyncio.to_thread(subscriptions_on, node),
        timeout=WAIT,
        what="the SDK's subscription on the node",
        interval=0.2,
    )

    # The CLI writes to the store and hands the event to the running node, which fans it out.
    posted = (await cli.ajson("post", "district", "--type", "alert", "Police vans", "--place", "Market"))["ids"][0]
    # By the time the command has exited, the node has answered OK, so the event is on its way: 5 s is ample.
    item = await asyncio.wait_for(stream.next(), 5)
    assert item is not None, "the stream ended without the post"
    assert item.error is None
    assert item.event is not None
    assert item.event.id().to_hex() == posted


def test_sigterm_stops_the_node_and_removes_serve_json(cli: Cli, serve: Callable[..., ServeProcess]) -> None:
    cli.ok("init")
    node = serve(cli.home)
    assert node.serve_file.exists()
    node.process.send_signal(signal.SIGTERM)
    try:
        code = node.process.wait(WAIT)
    except subprocess.TimeoutExpired:
        pytest.fail("samizdat serve did not stop on SIGTERM")
    assert code == 0, node.output()
    assert not node.serve_file.exists()
    assert "stopped" in node.output()
    assert "Traceback" not in node.output()
    assert cli.json("status")["serving"] is None
    # The node's data is intact: it starts again on the same home.
    again = serve(cli.home)
    assert again.port > 0
