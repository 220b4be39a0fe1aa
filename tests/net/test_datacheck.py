"""netcheck's data step on loopback: a relay with enough data passes it, an almost empty one cannot tell, and a
forwarder that stops carrying bytes after the handshake (as Russia's TSPU does after about 16 KB) is caught,
downstream and upstream, and confirmed by microsocks as the control path. (The same censors made with nft in
network namespaces: tests/e2e/test_blocking.py.)"""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from net_helpers import Microsocks, Relay

from samizdat.core.event import sign_event
from samizdat.core.interference import DATA_ENOUGH
from samizdat.core.keys import SecretKey
from samizdat.net import netcheck
from samizdat.net.client import RelayClient
from samizdat.net.datacheck import transfer

EVENTS = 120  # of about 1.2 KB each: about 150 KB to send


async def seed(url: str, count: int = EVENTS) -> None:
    key = SecretKey.generate()
    events = [sign_event(key, 1, f"{i:04d} " + "x" * 1000, [], created_at=1_700_000_000 + i) for i in range(count)]
    async with await RelayClient.connect(url, timeout=10) as client:
        results = await client.publish_many(events, timeout=30)
    assert all(r.accepted for r in results), [r.message for r in results if not r.accepted][:3]


class Stalling:
    """A TCP forwarder that carries ``down`` bytes toward the client (``up`` toward the relay), then silently
    swallows everything that way, keeping the connection open: a censor's stall after the handshake."""

    def __init__(self, target_port: int, *, down: int | None = None, up: int | None = None) -> None:
        self.target_port, self.down, self.up = target_port, down, up
        self.server: asyncio.Server | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"ws://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"

    async def __aenter__(self) -> Stalling:
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, allowed: int | None) -> None:
            carried = 0
            with contextlib.suppress(OSError):
                while data := await src.read(4096):
                    if allowed is not None and carried + len(data) > allowed:
                        data = data[: max(0, allowed - carried)]
                    carried += len(data)
                    if data:
                        dst.write(data)
                        await dst.drain()

        tasks = [asyncio.ensure_future(pump(up_reader, writer, self.down)),
                 asyncio.ensure_future(pump(reader, up_writer, self.up))]  # fmt: skip
        self.tasks.update(tasks)
        try:
            await asyncio.gather(*tasks)
        finally:
            writer.close()
            up_writer.close()


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1].rstrip("/"))


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
    # microsocks connects to the forwarder's address too: the control path is stalled the same way. A relay that
    # stalls for everyone is failing, not blocked.
    assert checked.verdict.cls == "down"
