"""Red team, round 2: a device on a hub's Wi-Fi that denies readers without sending events.

A device on the Wi-Fi can give itself as many addresses as the network has free. With 64 connections from each
of 158 addresses it held all 10,000 of a real ``samizdat serve``'s places, idle and answering pings, and every
phone that came afterwards got ``503``. A newcomer now takes a place from the address holding the most.
"""

from __future__ import annotations

import orjson
import pytest
from relay_helpers import event_message, make_event, recv_until
from relay_netns import AddressLab, websockets_from
from websockets.exceptions import InvalidStatus

from samizdat.core.keys import SecretKey
from samizdat.relay.limits import RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import wait_until

PER_ADDRESS = 8
ATTACKER_ADDRESSES = 3


async def test_a_device_with_many_addresses_cannot_keep_a_reader_out(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    post = make_event(key, 1, "the square at six")
    await sqlite_store.add_many([post])
    limits = RelayLimits(max_connections=PER_ADDRESS * ATTACKER_ADDRESSES, max_connections_per_ip=PER_ADDRESS)
    server = RelayServer(sqlite_store, limits=limits)
    await server.start(sock=lab.listener())
    try:
        async with websockets_from(lab, server.port) as open_:
            attacker = lab.addresses[:ATTACKER_ADDRESSES]
            held = [await open_(address) for address in attacker for _ in range(PER_ADDRESS)]
            assert server.door.open == limits.max_connections  # every place is the attacker's

            reader = await open_(lab.addresses[-1])
            await reader.send(orjson.dumps(["REQ", "r", {"kinds": [1]}]).decode())
            answer = await recv_until(reader, "EOSE")
            assert [m[2]["content"] for m in answer if m[0] == "EVENT"] == ["the square at six"]

            # The place came from the attacker: one of its connections was closed, and it cannot take it back.
            def closed() -> int:
                return sum(1 for ws in held if ws.protocol.close_code is not None or ws.transport.is_closing())

            await wait_until(lambda: closed() == 1, timeout=5)
            with pytest.raises(InvalidStatus) as refused:
                await open_(attacker[0])
            assert refused.value.response.status_code == 503
            assert server.door.open == limits.max_connections

            # The reader's connection stays up and keeps working.
            await reader.send(event_message(make_event(key, 1, "bring water")))
            ok = await recv_until(reader, "OK")
            assert ok[-1][2] is True
    finally:
        await server.stop()
