"""Hostile input over real sockets: each is refused with a clear reason, and nothing else is harmed.

After every kind of bad input: the same connection still works (where the protocol lets it survive), a fresh
client is still served, and the events stored before are all still there.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from relay_helpers import client, event_message, make_event, publish, query, recv_json, recv_until
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.relay.limits import RelayLimits

MAX_BYTES = 64 * 1024


@pytest.fixture
def limits() -> RelayLimits:
    return RelayLimits(
        max_message_bytes=MAX_BYTES, max_subscriptions=5, events_per_second=100, events_burst=30, reqs_burst=30
    )


@pytest.fixture
async def stored(url: str, key: SecretKey) -> list[Event]:
    events = [make_event(key, 1, f"before {i}") for i in range(3)]
    async with client(url) as ws:
        for ev in events:
            assert (await publish(ws, ev))[2] is True
    return events


@pytest.fixture
async def ws(url: str, stored: list[Event]) -> AsyncIterator[ClientConnection]:
    async with client(url) as connection:
        yield connection


async def still_works(url: str, key: SecretKey, stored: list[Event], ws: ClientConnection | None = None) -> None:
    """The connection (if given) and a fresh client are served, and ``stored`` are all still there."""
    connections = [ws] if ws is not None else []
    async with client(url) as fresh:
        for n, connection in enumerate([*connections, fresh]):
            ev = make_event(key, 1, f"still here {n}")
            assert await publish(connection, ev) == ["OK", ev.id, True, ""]
            got = await query(connection, "check", {"ids": [e.id for e in stored]})
            assert {e["id"] for e in got} == {e.id for e in stored}


async def notice(ws: ClientConnection, data: str | bytes, *, text: bool = True) -> str:
    await ws.send(data, text=text)
    verb, message = await recv_json(ws)
    assert verb == "NOTICE"
    assert isinstance(message, str)
    return message


@pytest.mark.parametrize(
    "data",
    ["", "{", "nonsense", "[]", "{}", '"EVENT"', "[1,2,3]", '["EVENT"', "\ufeff[]", '["EVENT",{}]x', "[NaN]"],
)
async def test_malformed_json_gets_notice(
    ws: ClientConnection, url: str, key: SecretKey, stored: list[Event], data: str
) -> None:
    assert (await notice(ws, data)).startswith("invalid:")
    await still_works(url, key, stored, ws)


async def test_deeply_nested_json(ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]) -> None:
    assert (await notice(ws, "[" * 20_000 + "]" * 20_000)).startswith("invalid: malformed JSON")
    deep_filter = '["REQ","s",' + '{"a":' * 5000 + "1" + "}" * 5000 + "]"
    assert (await notice(ws, deep_filter)).startswith("invalid: malformed JSON")
    await still_works(url, key, stored, ws)


async def test_unknown_message_types(ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]) -> None:
    for verb in ("AUTH", "PUBLISH", "event", "X" * 5000):
        assert (await notice(ws, orjson.dumps([verb, "x"]).decode())).startswith("invalid: unknown message type")
    await still_works(url, key, stored, ws)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"kind": "1"}, "invalid: kind must be an integer"),
        ({"kind": 70000}, "invalid: kind out of range (70000)"),
        ({"tags": {"t": "x"}}, "invalid: tags must be an array of arrays of strings"),
        ({"content": 5}, "invalid: content must be a string"),
        ({"pubkey": "zz" * 32}, "invalid: pubkey must be 64 lowercase hex characters"),
        ({"content": "altered"}, "invalid: event id does not match its content"),
        ({"sig": "ab" * 64}, "invalid: signature is wrong"),
        ({"created_at": -1}, "invalid: created_at out of range (-1)"),
        ({"created_at": 1.5}, "invalid: created_at must be an integer"),
        ({"created_at": 1_700_000_000.0}, "invalid: created_at must be an integer"),
        ({"created_at": "1700000000"}, "invalid: created_at must be an integer"),
    ],
)
async def test_bad_events_get_ok_false(
    ws: ClientConnection, url: str, key: SecretKey, stored: list[Event], change: dict[str, Any], reason: str
) -> None:
    raw = make_event(key, 1, "x").to_dict() | change
    assert await publish_raw(ws, raw) == ["OK", raw["id"], False, reason]
    await still_works(url, key, stored, ws)


async def publish_raw(ws: ClientConnection, raw: dict[str, Any]) -> Any:
    await ws.send(orjson.dumps(["EVENT", raw]).decode())
    return await recv_json(ws)


async def test_huge_integers(ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]) -> None:
    raw = make_event(key, 1, "x").to_dict()
    too_big_for_json = (
        orjson.dumps(["EVENT", raw | {"created_at": 0}]).decode().replace('"created_at":0', f'"created_at":{2**70}')
    )
    await ws.send(too_big_for_json)  # orjson reads integers beyond 64 bits as floats
    assert await recv_json(ws) == ["OK", raw["id"], False, "invalid: created_at must be an integer"]
    beyond_our_range = raw | {"created_at": 2**62}
    assert await publish_raw(ws, beyond_our_range) == [
        "OK",
        raw["id"],
        False,
        f"invalid: created_at out of range ({2**62})",
    ]
    await still_works(url, key, stored, ws)


async def test_unreadable_event_id_gets_notice(
    ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]
) -> None:
    raw = make_event(key, 1, "x").to_dict() | {"id": 42}
    assert (await notice(ws, orjson.dumps(["EVENT", raw]).decode())).startswith("invalid: event id")
    await still_works(url, key, stored, ws)


async def test_created_at_far_future(ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]) -> None:
    future = make_event(key, 1, "from the future", created_at=int(time.time()) + 3600)
    assert await publish(ws, future) == ["OK", future.id, False, "invalid: created_at too far in the future"]
    assert await query(ws, "f", {"ids": [future.id]}) == []
    await still_works(url, key, stored, ws)


async def test_oversized_message_closes_only_that_connection(
    ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]
) -> None:
    big = make_event(key, 1, "x" * (MAX_BYTES + 10))
    await ws.send(event_message(big))
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1009  # message too big
    await still_works(url, key, stored)
    async with client(url) as fresh:
        assert await query(fresh, "big", {"ids": [big.id]}) == []


async def test_content_just_under_the_limit_is_fine(
    ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]
) -> None:
    ev = make_event(key, 1, "y" * (MAX_BYTES - 1000))
    assert (await publish(ws, ev))[2] is True
    await still_works(url, key, stored, ws)


@pytest.mark.parametrize("payload", [b'["REQ","\xff",{}]', b"\xc3\x28", b"\xed\xa0\x80"])
async def test_invalid_utf8_text_frame_closes_that_connection(
    ws: ClientConnection, url: str, key: SecretKey, stored: list[Event], payload: bytes
) -> None:
    await ws.send(payload, text=True)  # a text frame whose bytes are not UTF-8
    with pytest.raises(ConnectionClosed) as info:
        await asyncio.wait_for(ws.recv(), 5)
    assert info.value.rcvd is not None
    assert info.value.rcvd.code == 1007
    await still_works(url, key, stored)


async def test_binary_frames_are_read_as_json(
    ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]
) -> None:
    await ws.send(b'["COUNT","b",{}]', text=False)
    assert (await recv_json(ws))[:2] == ["COUNT", "b"]
    assert (await notice(ws, b"\x00\x01\x02", text=False)).startswith("invalid:")
    await still_works(url, key, stored, ws)


async def test_too_many_subscriptions(ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]) -> None:
    for i in range(5):
        await ws.send(f'["REQ","s{i}",{{"kinds":[1]}}]')
        await recv_until(ws, "EOSE")
    await ws.send('["REQ","one-too-many",{"kinds":[1]}]')
    assert await recv_json(ws) == ["CLOSED", "one-too-many", "blocked: too many subscriptions (limit 5)"]
    await ws.send('["CLOSE","s0"]')
    # One slot is free again; the open ones still get live events.
    ev = make_event(key, 1, "live")
    await ws.send(event_message(ev))
    messages = await recv_until(ws, "OK")
    live = [m for m in messages if m[0] == "EVENT"]
    while len(live) < 4:
        live.append(await recv_json(ws))
    assert sorted(m[1] for m in live) == ["s1", "s2", "s3", "s4"]
    await still_works(url, key, stored, ws)


@pytest.mark.parametrize("filters", [[{"kinds": "1"}], [{"authors": ["nope"]}], [{"limit": -1}], [5], [], [{}] * 11])
async def test_bad_filters_are_closed(
    ws: ClientConnection, url: str, key: SecretKey, stored: list[Event], filters: list[Any]
) -> None:
    await ws.send(orjson.dumps(["REQ", "bad", *filters]).decode())
    verb, sub_id, reason = await recv_json(ws)
    assert (verb, sub_id) == ("CLOSED", "bad")
    assert reason.startswith("invalid:")
    await still_works(url, key, stored, ws)


async def test_event_flood_is_rate_limited(ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]) -> None:
    events = [make_event(key, 1, f"flood {i}") for i in range(200)]
    for ev in events:
        await ws.send(event_message(ev))
    answers: dict[str, list[Any]] = {}
    async with asyncio.timeout(20):
        while len(answers) < len(events):
            message = await recv_json(ws)
            answers[message[1]] = message
    limited = [m for m in answers.values() if m[2] is False]
    assert limited
    assert all(m[3].startswith("rate-limited:") for m in limited)
    assert 30 <= len(answers) - len(limited) < 200
    await asyncio.sleep(0.3)  # the bucket refills
    await still_works(url, key, stored, ws)


async def test_req_flood_is_rate_limited(ws: ClientConnection, url: str, key: SecretKey, stored: list[Event]) -> None:
    for i in range(60):
        await ws.send(f'["COUNT","q{i}",{{}}]')
    answers = [await recv_json(ws) for _ in range(60)]
    refused = [a for a in answers if a[0] == "CLOSED"]
    assert refused
    assert all(a[2].startswith("rate-limited:") for a in refused)
    await asyncio.sleep(0.3)
    await still_works(url, key, stored, ws)


async def test_garbage_http_and_half_handshakes(url: str, key: SecretKey, stored: list[Event], relay: Any) -> None:
    port = relay.port
    for junk in (b"\x16\x03\x01\x02\x00\x01\x00", b"POST / HTTP/1.1\r\nHost: x\r\n\r\n", b"GET / HTTP/1.1\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(junk)
            await writer.drain()
            writer.write_eof()
            await asyncio.wait_for(reader.read(), 10)
        finally:
            writer.close()
            await writer.wait_closed()
    await still_works(url, key, stored)
