"""The send path: every subscriber gets the bytes it got before, built once; an idle reader holds little."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
from pathlib import Path

import orjson
import pytest
from relay_helpers import RawClient, client, event_message, make_event, publish, recv_json, recv_until

from samizdat.core.keys import SecretKey
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.relay.wire import text_frame
from samizdat.testing import running_relay, wait_until


def read_exactly(raw: RawClient, size: int) -> bytes:
    """The next ``size`` bytes the relay sent to ``raw`` (blocking; the socket's timeout bounds each read)."""
    while len(raw.buffer) < size:
        chunk = raw.sock.recv(65536)
        if not chunk:
            raise ConnectionError("closed")
        raw.buffer += chunk
    data, raw.buffer = raw.buffer[:size], raw.buffer[size:]
    return data


async def subscribe_raw(relay: RelayServer, sub_id: str) -> RawClient:
    raw = await asyncio.to_thread(RawClient, relay.port, 1 << 20)
    raw.send_text(orjson.dumps(["REQ", sub_id, {"kinds": [1]}]).decode())
    eose = text_frame(orjson.dumps(["EOSE", sub_id]))
    assert await asyncio.to_thread(read_exactly, raw, len(eose)) == eose
    return raw


async def test_every_subscriber_gets_the_same_frame_and_compressed_ones_the_same_message(
    tmp_path: Path, key: SecretKey
) -> None:
    # compression=True: websockets clients negotiate permessage-deflate (framed per connection, as before), the
    # raw clients do not (one frame for all of them).
    async with running_relay(tmp_path, compression=True) as running:
        relay = running.server
        raws = [await subscribe_raw(relay, "feed") for _ in range(3)]
        other = await subscribe_raw(relay, "other id")
        try:
            async with client(running.url) as deflated, client(running.url) as publisher:
                await deflated.send('["REQ","feed",{"kinds":[1]}]')
                assert await recv_json(deflated) == ["EOSE", "feed"]
                event = make_event(key, 1, "Water is off in blocks 3 to 9 until 18:00. Вада.")
                assert (await publish(publisher, event))[2] is True

                expected = text_frame(b'["EVENT","feed",' + event.to_json() + b"]")
                got = [await asyncio.to_thread(read_exactly, raw, len(expected)) for raw in raws]
                assert got == [expected] * 3
                expected_other = text_frame(b'["EVENT","other id",' + event.to_json() + b"]")
                assert await asyncio.to_thread(read_exactly, other, len(expected_other)) == expected_other
                assert await recv_json(deflated) == ["EVENT", "feed", event.to_dict()]
        finally:
            for raw in (*raws, other):
                raw.close()


async def test_an_idle_subscriber_costs_one_task_and_no_handshake_headers(relay: RelayServer, url: str) -> None:
    before = len(asyncio.all_tasks())
    async with contextlib.AsyncExitStack() as stack:
        for _ in range(20):
            # No keep-alive task on the client side either: only the relay's tasks are counted.
            ws = await stack.enter_async_context(client(url, ping_interval=None))
            await ws.send('["REQ","s",{"kinds":[1]}]')
            assert await recv_json(ws) == ["EOSE", "s"]
        await wait_until(lambda: relay.subscription_count == 20)
        # websockets' handler of each connection (the reader loop) only: no writer or keep-alive task each.
        assert len(asyncio.all_tasks()) - before == 20
        for one in relay.clients:
            assert one.writer is None
            assert one.ws.request is not None
            assert not one.ws.request.headers


@pytest.mark.parametrize("compression", [False, True], ids=["shared frames", "deflate"])
async def test_a_reader_that_falls_behind_gets_everything_in_order(
    tmp_path: Path, key: SecretKey, compression: bool
) -> None:
    # While the reader's socket is full a writer task sends its queue with flow control (whole frames shared by
    # every connection; with permessage-deflate, frames made for this connection); once it reads again, every
    # event arrives, in order.
    limits = RelayLimits(send_buffer_bytes=8 * 1024 * 1024, events_per_second=10_000, events_burst=10_000)
    async with running_relay(tmp_path, compression=compression, limits=limits) as running:
        relay = running.server
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.connect(("127.0.0.1", running.port))
        sock.setblocking(False)
        async with client(running.url, sock=sock, max_queue=1) as lagging, client(running.url) as publisher:
            await lagging.send('["REQ","lag",{"kinds":[1]}]')
            assert await recv_json(lagging) == ["EOSE", "lag"]
            # A slow network: the relay's socket to this reader holds little, so its queue backs up soon.
            (lagging_side,) = [c for c in relay.clients if c.protocol.subscriptions == {"lag"}]
            lagging_side.ws.transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
            events = [make_event(key, 1, f"{i} {secrets.token_hex(2000)}") for i in range(300)]
            for event in events:
                await publisher.send(event_message(event))
            oks = [(await recv_until(publisher, "OK", timeout=20))[-1] for _ in events]
            assert all(ok[2] is True for ok in oks)
            await wait_until(lambda: any(c.writer is not None for c in relay.clients), timeout=20)
            got = [await recv_json(lagging, timeout=20) for _ in events]
            assert [m[2]["id"] for m in got] == [e.id for e in events]
            assert {m[1] for m in got} == {"lag"}
