"""Every transport passes the same suite: a relay reached through it takes a post and gives it back. Real parts:
our relay, Debian's microsocks, a small real HTTP CONNECT proxy. Then failover between them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from net_helpers import ConnectProxy, Microsocks, Relay

from samizdat.core.event import sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.errors import BrokenTransport, UsageError
from samizdat.net import failover
from samizdat.net.client import RelayClient
from samizdat.net.transports import Direct, HttpConnect, Socks, failure_reason, parse_transport
from samizdat.store.local import LocalState
from samizdat.testing import free_port

WAIT = 10.0
KEY = SecretKey.from_hex("11" * 32)


@pytest.fixture
async def http_proxy() -> AsyncIterator[ConnectProxy]:
    proxy = await ConnectProxy().start()
    try:
        yield proxy
    finally:
        await proxy.stop()


@pytest.fixture(params=["direct", "socks5h", "socks5", "http"])
def transport_spec(request: pytest.FixtureRequest) -> str:
    if request.param == "direct":
        return "direct"
    if request.param == "http":
        return str(request.getfixturevalue("http_proxy").url)
    return str(request.getfixturevalue("microsocks").url(request.param))


async def test_a_post_goes_through_and_comes_back(samizdat_relay: Relay, transport_spec: str) -> None:
    transport = parse_transport(transport_spec)
    event = sign_event(KEY, kind=1, content=f"via {transport_spec}", created_at=int(time.time()))
    async with await RelayClient.connect(samizdat_relay.url, transport=transport, timeout=WAIT) as client:
        [result] = await client.publish_many([event])
        assert result.accepted
        assert await client.fetch([Filter(ids=frozenset({event.id}))]) == [event]


async def test_an_unreachable_target_is_a_broken_transport_saying_refused(transport_spec: str) -> None:
    url = f"ws://127.0.0.1:{free_port()}"  # nothing listens there
    with pytest.raises(BrokenTransport, match="cannot connect") as caught:
        await RelayClient.connect(url, transport=parse_transport(transport_spec), timeout=WAIT)
    assert failure_reason(caught.value) in ("refused", "unreachable", "error")


async def test_onion_addresses_are_refused_unless_the_proxy_resolves_names(microsocks: Microsocks) -> None:
    url = "ws://expyuzz4wqqyqhjn.onion"
    with pytest.raises(BrokenTransport, match="Tor onion address"):
        await RelayClient.connect(url, transport=Direct(), timeout=WAIT)
    with pytest.raises(BrokenTransport, match="Tor onion address"):
        await RelayClient.connect(url, transport=parse_transport(microsocks.url("socks5")), timeout=WAIT)
    # socks5h hands the name to the proxy (this one is no Tor, so it cannot resolve it: refused by the proxy).
    with pytest.raises(BrokenTransport, match="proxy"):
        await RelayClient.connect(url, transport=parse_transport(microsocks.url("socks5h")), timeout=WAIT)


def test_transport_strings() -> None:
    assert isinstance(parse_transport("direct"), Direct)
    tor = parse_transport("tor")
    assert isinstance(tor, Socks)
    assert tor.remote_dns
    assert tor.spec == "socks5h://127.0.0.1:9050"
    assert isinstance(parse_transport("http://user:pw@proxy:3128"), HttpConnect)
    assert not parse_transport("socks5://127.0.0.1:1080").remote_dns
    for bad in ("ftp://x", "socks5h://", "carrier pigeon", "http://proxy:99999"):
        with pytest.raises(UsageError):
            parse_transport(bad)


def test_routing_from_the_configuration() -> None:
    routing = failover.Routing.from_config(
        {
            "sync": {"fallback": ["tor", "http://10.0.0.1:3128"]},
            "relays": {"wss://special.example/": {"via": ["socks5h://127.0.0.1:1080"]}},
        },
        via=["socks5h://127.0.0.1:2080"],
    )
    assert routing.candidates("wss://any.example") == [
        "direct", "socks5h://127.0.0.1:2080", "tor", "http://10.0.0.1:3128"
    ]  # fmt: skip
    assert routing.candidates("wss://special.example") == ["socks5h://127.0.0.1:1080"]
    # --via RELAY=TRANSPORT: one relay's routes from the command line, before the file's.
    both = failover.Routing.from_config(
        {"relays": {"wss://special.example": {"via": ["direct"]}}},
        via=["wss://special.example=tor", "wss://other.example=http://10.0.0.1:3128"],
    )
    assert both.candidates("wss://special.example") == ["tor", "direct"]
    assert both.candidates("wss://other.example/") == ["http://10.0.0.1:3128"]
    assert both.candidates("wss://any.example") == ["direct"]
    # .onion: only routes whose proxy resolves names (direct never).
    onion = "ws://abcdefghijklmnop.onion"
    assert routing.candidates(onion) == ["socks5h://127.0.0.1:2080", "tor", "http://10.0.0.1:3128"]
    assert failover.Routing().candidates(onion) == ["tor"]
    only = failover.Routing.from_config({"sync": {"proxy": "socks5h://127.0.0.1:9050"}}, proxy="")
    assert only.candidates("wss://any.example") == ["socks5h://127.0.0.1:9050"]
    with pytest.raises(UsageError, match="config.toml: .*not a transport"):
        failover.Routing.from_config({"sync": {"fallback": ["smoke signals"]}})
    with pytest.raises(UsageError, match="sync.fallback must be a list"):
        failover.Routing.from_config({"sync": {"fallback": "tor"}})


async def test_failover_goes_around_a_blackholed_route_and_remembers_the_one_that_works(
    samizdat_relay: Relay, tmp_path: object, http_proxy: ConnectProxy
) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    hole = await ConnectProxy(silent=True).start()  # takes the connection, never answers: a blackhole
    memory = LocalState(tmp_path / "local.sqlite")
    try:
        routing = failover.Routing(per_relay={samizdat_relay.url: (hole.url, http_proxy.url)})
        client = await failover.connect(samizdat_relay.url, routing, memory, clock=time.time, timeout=WAIT,
                                        stagger=0.5)  # fmt: skip
        await client.close()
        assert http_proxy.tunnels == 1
        records = memory.routes(samizdat_relay.url, "none")
        assert records[http_proxy.url].last_ok is not None
        assert records[hole.url].failures == 1  # cancelled in the race, and remembered as not working
        # Next time the working route goes first: no wait on the blackhole.
        client = await failover.connect(samizdat_relay.url, routing, memory, clock=time.time, timeout=WAIT,
                                        stagger=30)  # fmt: skip
        await client.close()
        assert http_proxy.tunnels == 2
    finally:
        memory.close()
        await hole.stop()


async def test_when_no_route_works_the_error_names_each(http_proxy: ConnectProxy) -> None:
    url = f"ws://127.0.0.1:{free_port()}"
    routing = failover.Routing(fallback=(http_proxy.url,))
    with pytest.raises(BrokenTransport, match="cannot connect to .* by any route") as caught:
        await failover.connect(url, routing, None, clock=time.time, timeout=WAIT, stagger=0.2)
    assert "direct:" in str(caught.value)
    assert http_proxy.url in str(caught.value)
    await asyncio.sleep(0)
