"""Red team, round 4c: the node's own new event, held back from the LAN while one neighbour serves it first.

A real relay on a real SQLite store, with the devices on addresses of their own (relay_netns.py): what a device on
the Wi-Fi gets by every door while the event is held, and once a neighbour brought it back.
"""

from __future__ import annotations

import random

import orjson
from relay_helpers import event_message, make_event, recv_json, recv_until
from relay_netns import AddressLab, websockets_from
from test_redteam_sync import _sync
from websockets.asyncio.client import ClientConnection

from samizdat.core.keys import SecretKey
from samizdat.relay.embargo import Embargo
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore


async def live(ws: ClientConnection, sub_id: str) -> None:
    """A live subscription to everything new, open once the relay said EOSE."""
    await ws.send(orjson.dumps(["REQ", sub_id, {"limit": 0}]).decode())
    assert (await recv_json(ws))[0] == "EOSE"


async def _ids(ws: ClientConnection) -> set[str]:
    await ws.send(orjson.dumps(["REQ", "once", {"limit": 100}]).decode())
    return {m[2]["id"] for m in await recv_until(ws, "EOSE") if m[0] == "EVENT"}


async def _count(ws: ClientConnection) -> int:
    await ws.send(orjson.dumps(["COUNT", "c", {"kinds": [1]}]).decode())
    reply = await recv_json(ws)
    assert reply[:2] == ["COUNT", "c"], reply
    return int(reply[2]["count"])


async def test_a_held_event_reaches_one_neighbour_and_no_other_device_until_it_comes_back(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    stranger = make_event(SecretKey.generate(), 1, "someone else's post")
    await sqlite_store.add(stranger)
    server = RelayServer(sqlite_store, negentropy=NegentropyService())
    server.hold_own(Embargo(lambda e: e.pubkey == key.public_key_hex, hold=600, random=lambda: 0.5))
    await server.start(sock=lab.listener())
    try:
        async with websockets_from(lab, server.port) as open_:
            watcher, neighbour, device = [await open_(a) for a in lab.addresses[:3]]
            await live(watcher, "watch")
            await live(neighbour, "peer:1")  # a LAN neighbour's link: a stem candidate

            own = make_event(key, 1, "police at entrance 3")
            await server.ingest(own)
            # The one LAN neighbour linked here is the stem: it gets the event live, to serve it first ...
            assert (await recv_json(neighbour))[:3] == ["EVENT", "peer:1", own.to_dict()]
            # ... and every other device sees nothing of it: not live, not by REQ, COUNT or NIP-77.
            later = make_event(SecretKey.generate(), 1, "a later post of someone else")
            await server.ingest(later)
            assert (await recv_json(watcher))[2]["id"] == later.id, "the watcher got the held event live"
            assert own.id not in await _ids(device)
            assert await _count(device) == 2
            assert await _sync(device, "n1", {}) == {stranger.id, later.id}

            # The neighbour's other neighbours have it from it, and one pushes it back: it is out, served here too.
            await neighbour.send(event_message(own))
            assert (await recv_until(neighbour, "OK"))[-1][:3] == ["OK", own.id, True]
            assert (await recv_json(watcher))[2]["id"] == own.id
            assert own.id in await _ids(device)
            assert await _count(device) == 3
            assert await _sync(device, "n2", {}) == {stranger.id, later.id, own.id}
    finally:
        await server.stop()


async def test_a_held_event_is_served_to_everyone_when_its_hold_ends(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    """The neighbour picked to serve it first took it and never passed it on: the hold ends, and every device gets
    it from the node itself. Nothing is lost."""
    server = RelayServer(sqlite_store)
    embargo = Embargo(lambda e: e.pubkey == key.public_key_hex, hold=0.2, random=lambda: 0.0)  # held 0.05 s
    server.hold_own(embargo)
    await server.start(sock=lab.listener())
    try:
        async with websockets_from(lab, server.port) as open_:
            watcher, neighbour = [await open_(a) for a in lab.addresses[:2]]
            await live(watcher, "watch")
            await live(neighbour, "peer:1")  # a LAN neighbour's link: a stem candidate
            own = make_event(key, 1, "police at entrance 3")
            await server.ingest(own)
            assert embargo.holds(own.id)
            assert (await recv_json(neighbour))[2]["id"] == own.id  # the stem, which drops it
            assert (await recv_json(watcher))[2]["id"] == own.id  # not lost: served once the hold ended
            assert not embargo.holds(own.id)
    finally:
        await server.stop()


async def test_with_no_neighbour_the_event_is_not_held(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    """No neighbour to serve it first: holding it would hide nothing (the node is the only one that has it) and
    would keep a hub's alert from its phones for minutes, so every device gets it at once."""
    server = RelayServer(sqlite_store)
    embargo = Embargo(lambda e: e.pubkey == key.public_key_hex, hold=600, random=lambda: 0.5)
    server.hold_own(embargo)
    await server.start(sock=lab.listener())
    try:
        async with websockets_from(lab, server.port) as open_:
            watcher, device = [await open_(a) for a in lab.addresses[:2]]
            await live(watcher, "watch")
            own = make_event(key, 1, "police at entrance 3")
            await server.ingest(own)
            assert not embargo.holds(own.id)
            assert (await recv_json(watcher))[2]["id"] == own.id
            assert own.id in await _ids(device)
    finally:
        await server.stop()


async def test_a_device_naming_many_subscriptions_like_a_peer_is_one_candidate_among_the_neighbours(
    lab: AddressLab, sqlite_store: SqliteStore, key: SecretKey
) -> None:
    """Any device may name its subscriptions ``peer:...``. Each counted as a neighbour: one device with 40 of them
    was picked to serve nearly every own post first, i.e. got it straight from the author's node, alone, with
    every other device kept waiting. Now an address is one candidate, however many subscriptions it opens."""
    server = RelayServer(sqlite_store)
    server.hold_own(Embargo(lambda e: e.pubkey == key.public_key_hex, hold=600, random=random.Random(7).random))
    await server.start(sock=lab.listener())
    try:
        async with websockets_from(lab, server.port) as open_:
            neighbour, spy = [await open_(a) for a in lab.addresses[:2]]
            await neighbour.send(orjson.dumps(["REQ", "peer:1", {"limit": 0}]).decode())
            assert (await recv_json(neighbour))[0] == "EOSE"
            for n in range(40):
                wanted = {"authors": [key.public_key_hex], "limit": 0}  # the node's key is in its NIP-11 document
                await spy.send(orjson.dumps(["REQ", f"peer:{n}", wanted]).decode())
                reply = await recv_json(spy)
                assert reply[0] == "EOSE", reply
            posts = [make_event(key, 1, f"own post {n}") for n in range(16)]
            for post in posts:
                await server.ingest(post)
            # The 16 held posts went to one of the two devices each: the neighbour's share is a fair coin's.
            marker = make_event(SecretKey.generate(), 1, "a stranger's post, served to both at once")
            await server.ingest(marker)
            to_neighbour = set()
            for _ in range(len(posts) + 1):  # the held posts it was the stem of, then the marker
                message = await recv_json(neighbour)
                if message[2]["id"] == marker.id:
                    break
                to_neighbour.add(message[2]["id"])
            assert 4 <= len(to_neighbour) <= 12, len(to_neighbour)
    finally:
        await server.stop()
