"""netcheck's data step on loopback: a relay with enough data passes it, an almost empty one cannot tell, and a
forwarder that stops carrying bytes after the handshake (as Russia's TSPU does after about 16 KB) is caught,
downstream and upstream, and confirmed by microsocks as the control path. (The same censors made with nft in
network namespaces: tests/e2e/test_blocking.py.)"""

from __future__ import annotations

import pytest
from net_helpers import Microsocks, Relay, Stalling, port_of, seed

from samizdat.core.interference import DATA_ENOUGH
from samizdat.net import netcheck
from samizdat.net.client import RelayClient
from samizdat.net.datacheck import transfer


async def test_a_relay_with_enough_data_passes_the_data_step(relay: Relay) -> None:
    """Against ours and the independent nostr-sdk relay: the broad REQ fetches enough, the id REQs go up."""
    await seed(relay.url)
    async with await RelayClient.connect(relay.url, timeout=10) as client:
        data = await transfer(client, limit=15, idle=5)
    assert data.outcome == "ok", data
    assert data.down >= DATA_ENOUGH
    assert data.up >= DATA_ENOUGH
    assert data.rate is not None
    result = await netcheck.measure(relay.url, netcheck.Options(step_timeout=5))
    assert result.verdict.cls == "ok"
    assert result.to_dict()["steps"]["data"]["outcome"] == "ok"


async def test_an_almost_empty_relay_cannot_tell(samizdat_relay: Relay) -> None:
    await seed(samizdat_relay.url, 3)
    result = await netcheck.measure(samizdat_relay.url, netcheck.Options(step_timeout=5))
    assert result.measurement.data.outcome == "short"
    assert result.verdict.cls == "ok"
    assert "not enough data to tell" in result.verdict.reason


@pytest.mark.parametrize(("direction", "answer_came"), [("down", False), ("up", True)])
async def test_a_connection_that_stalls_after_16_kb(
    samizdat_relay: Relay, microsocks: Microsocks, direction: str, answer_came: bool
) -> None:
    await seed(samizdat_relay.url)
    limits = {direction: 16_000}
    async with Stalling(port_of(samizdat_relay.url), **limits) as censor:
        url = censor.url
        alone = await netcheck.measure(url, netcheck.Options(step_timeout=2))
        # The control path reaches the same relay through microsocks, around the forwarder.
        controlled = netcheck.Options(control_proxy=microsocks.url(), step_timeout=2)
        checked = await netcheck.measure(url, controlled)
    assert alone.verdict.cls == "data.stall"
    assert not alone.verdict.confirmed
    assert alone.measurement.websocket.ok  # the handshake went through: the old netcheck said "ok"
    # Downstream: stopped inside the answer; upstream: the answer came whole, what was sent got no answer.
    assert (alone.measurement.data.down >= DATA_ENOUGH) is answer_came
    assert alone.measurement.data.up < DATA_ENOUGH
    # microsocks connects to the forwarder's address too: the control path is stalled the same way. The relay may
    # be failing for everyone, or this network may stall the way to the proxy too: unconfirmed, never "down".
    assert (checked.verdict.cls, checked.verdict.confirmed) == ("data.stall", False)
