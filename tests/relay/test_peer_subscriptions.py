"""A ``peer:`` subscription is not sent what its own connection publishes; everyone else still gets it."""

from __future__ import annotations

import asyncio

import orjson
from relay_helpers import make_event, publish, recv_until
from websockets.asyncio.client import ClientConnection, connect

from samizdat.core.keys import SecretKey


async def events_seen(ws: ClientConnection, count: int) -> set[tuple[str, str]]:
    """(subscription, event id) of the next ``count`` EVENT messages (other messages skipped)."""
    seen: set[tuple[str, str]] = set()
    async with asyncio.timeout(5):
        while len(seen) < count:
            message = orjson.loads(await ws.recv())
            if message[0] == "EVENT":
                seen.add((message[1], message[2]["id"]))
    return seen


async def test_peer_subscription_gets_no_echo_but_others_do(url: str, key: SecretKey) -> None:
    async with connect(url) as link, connect(url) as reader:
        for ws, sub_id in ((link, "peer:1"), (link, "plain"), (reader, "peer:2")):
            await ws.send(orjson.dumps(["REQ", sub_id, {"limit": 0}]).decode())
            await recv_until(ws, "EOSE")

        pushed = make_event(key, content="pushed by the link")
        await link.send(orjson.dumps(["EVENT", pushed.to_dict()]).decode())
        assert await events_seen(reader, 1) == {("peer:2", pushed.id)}

        marker = make_event(key, content="from the reader")
        assert (await publish(reader, marker))[2] is True
        seen = await events_seen(link, 3)
        assert seen == {("plain", pushed.id), ("plain", marker.id), ("peer:1", marker.id)}
