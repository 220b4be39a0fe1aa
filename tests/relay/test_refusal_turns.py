"""One turn of the event loop refuses at most ``REFUSALS_PER_TURN`` (64) connections at accept (``relay/accept.py``):
a device that reconnects as soon as it is refused was refused in runs of up to 1,024 in a row, about 40 ms in which
no other reader was answered. The rest wait in the kernel's queue and are refused in the next turns.

The device is a loopback alias that a patched ``peer_ip`` counts as another machine, as in ``test_accept.py``.
"""

from __future__ import annotations

import asyncio
import socket

import pytest
from relay_devices import devices_at

from samizdat.relay import accept
from samizdat.relay.door import OVER_ADDRESS, Door, RefusalLog
from samizdat.relay.limits import RelayLimits

DEVICE_ALIAS, DEVICE = "127.0.0.2", "203.0.113.7"
QUEUED = 200


@pytest.fixture(autouse=True)
def device(monkeypatch: pytest.MonkeyPatch) -> None:
    devices_at(monkeypatch, {DEVICE_ALIAS: DEVICE})


def refuse_this_turn(listener: socket.socket) -> None:
    """Call accept() as asyncio does, until it says there is nothing more for this turn."""
    for _ in range(QUEUED + 1):
        try:
            listener.accept()
        except BlockingIOError:
            return
        raise AssertionError("a connection of the device was admitted")


async def test_a_queue_of_refusals_is_refused_a_few_at_a_time_turn_by_turn() -> None:
    limits = RelayLimits()
    door = Door(limits, RefusalLog())
    door.per_ip[DEVICE] = limits.max_connections_per_ip  # the device holds its places: everything more is refused
    raw = socket.socket()
    raw.bind(("127.0.0.1", 0))
    raw.listen(accept.BACKLOG)
    raw.setblocking(False)
    port = raw.getsockname()[1]
    listener = accept.DoorSocket.take(raw, door)
    clients: list[socket.socket] = []
    try:
        for _ in range(QUEUED):  # each connect returns once the kernel has queued the connection
            client = socket.socket()
            clients.append(client)
            client.bind((DEVICE_ALIAS, 0))
            client.settimeout(10)
            client.connect(("127.0.0.1", port))

        refuse_this_turn(listener)
        assert door.refusals.totals[OVER_ADDRESS] == 64

        turns = 1
        while door.refusals.totals[OVER_ADDRESS] < QUEUED and turns < 50:
            await asyncio.sleep(0)  # the next turn of the loop
            refuse_this_turn(listener)
            turns += 1
        assert door.refusals.totals[OVER_ADDRESS] == QUEUED
        assert turns == -(-QUEUED // 64)  # 4 turns: none refused more than its share, none went without
        # Every one of them got the 503.
        for client in clients:
            assert client.recv(12) == b"HTTP/1.1 503"
    finally:
        for client in clients:
            client.close()
        listener.close()
        door.close()
