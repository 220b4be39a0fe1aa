"""The relay over real sockets: a real SqliteStore in a temporary file, real websockets clients on loopback."""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from relay_helpers import client, event_message, make_event, publish, query, recv_json, recv_until
from websockets.exceptions import ConnectionClosed, InvalidStatus

from samizdat.core.event import Event
from samizdat.core.keys import SecretKey
from samizdat.errors import LocalProtocolError
from samizdat.relay.limits import RelayInfo, RelayLimits
from samizdat.relay.server import RelayServer
from samizdat.store.base import AddOutcome
from samizdat.testing import FakeClock, running_relay, wait_until


def http_get(port: int, path: str = "/", accept: str = "text/html") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


async def test_publish_query_and_live_fan_out(url: str, key: SecretKey) -> None:
    async with client(url) as reader, client(url) as writer:
        await reader.send('["REQ","live",{"kinds":[1],"#t":["minsk"]}]')
        assert await recv_json(reader) == ["EOSE", "live"]
        tagged = make_event(key, 1, "police at the square", [["t", "minsk"]])
        other = make_event(key, 1, "weather", [["t", "grodno"]])
        assert await publish(writer, tagged) == ["OK", tagged.id, True, ""]
        assert await publish(writer, other) == ["OK", other.id, True, ""]
        assert await recv_json(reader) == ["EVENT", "live", tagged.to_dict()]
        # Only the matching event came; the next message is the answer to a new request.
        await reader.send('["COUNT","c",{"kinds":[1]}]')
        assert await recv_json(reader) == ["COUNT", "c", {"count": 2}]
        stored = await query(writer, "q", {"authors": [key.public_key_hex]})
        assert {e["id"] for e in stored} == {tagged.id, other.id}
        assert await publish(writer, tagged) == ["OK", tagged.id, True, "duplicate: already have this event"]


async def test_stored_events_come_newest_first_then_eose(url: str, key: SecretKey) -> None:
    events = [make_event(key, 1, f"post {i}", created_at=1_700_000_000 + i) for i in range(30)]
    async with client(url) as ws:
        for ev in events:
            assert (await publish(ws, ev))[2] is True
        got = await query(ws, "s", {"kinds": [1], "limit": 10})
        assert [e["id"] for e in got] == [ev.id for ev in reversed(events)][:10]
        since = await query(ws, "t", {"kinds": [1], "since": 1_700_000_025})
        assert len(since) == 5


async def test_pipelined_events_each_get_exactly_one_ok(url: str, key: SecretKey) -> None:
    events = [make_event(key, 1, f"burst {i}") for i in range(300)]
    async with client(url) as ws:
        for ev in events:
            await ws.send(event_message(ev))
        oks: dict[str, list[Any]] = {}
        async with asyncio.timeout(20):
            while len(oks) < len(events):
                message = await recv_json(ws)
                assert message[0] == "OK"
                assert message[1] not in oks
                oks[message[1]] = message
        assert all(m[2] is True for m in oks.values())
        await ws.send('["COUNT","n",{}]')
        assert await recv_json(ws) == ["COUNT", "n", {"count": 300}]


async def test_reusing_a_sub_id_replaces_and_close_stops(url: str, key: SecretKey) -> None:
    async with client(url) as reader, client(url) as writer:
        await reader.send('["REQ","s",{"kinds":[1]}]')
        assert await recv_json(reader) == ["EOSE", "s"]
        await reader.send('["REQ","s",{"kinds":[7]}]')
        assert await recv_json(reader) == ["EOSE", "s"]
        note, reaction = make_event(key, 1, "note"), make_event(key, 7, "+")
        await publish(writer, note)
        await publish(writer, reaction)
        assert await recv_json(reader) == ["EVENT", "s", reaction.to_dict()]
        await reader.send('["CLOSE","s"]')
        await publish(writer, make_event(key, 7, "-"))
        await reader.send('["COUNT","after",{"kinds":[7]}]')
        assert await recv_json(reader) == ["COUNT", "after", {"count": 2}]  # no EVENT after CLOSE


async def test_replaceable_addressable_and_deletion(url: str, key: SecretKey) -> None:
    async with client(url) as ws:
        old = make_event(key, 0, '{"name":"old"}', created_at=1_700_000_000)
        new = make_event(key, 0, '{"name":"new"}', created_at=1_700_000_100)
        assert (await publish(ws, new))[2] is True
        answer = await publish(ws, old)
        assert answer[3].startswith("duplicate:")
        assert [e["id"] for e in await query(ws, "m", {"kinds": [0], "authors": [key.public_key_hex]})] == [new.id]

        a1 = make_event(key, 30333, "v1", [["d", "minsk"]], created_at=1_700_000_000)
        a2 = make_event(key, 30333, "v2", [["d", "minsk"]], created_at=1_700_000_001)
        b1 = make_event(key, 30333, "other", [["d", "brest"]], created_at=1_700_000_000)
        for ev in (a1, a2, b1):
            assert (await publish(ws, ev))[2] is True
        got = await query(ws, "a", {"kinds": [30333]})
        assert {e["id"] for e in got} == {a2.id, b1.id}

        note = make_event(key, 1, "mistake")
        await publish(ws, note)
        deletion = make_event(key, 5, "wrong", [["e", note.id]])
        assert (await publish(ws, deletion))[2] is True
        assert await query(ws, "d", {"ids": [note.id]}) == []
        assert [e["id"] for e in await query(ws, "k", {"kinds": [5]})] == [deletion.id]
        assert (await publish(ws, note))[2] is False  # deleted by its author: not stored again


async def test_expired_events_are_not_served(tmp_path: Path, key: SecretKey) -> None:
    clock = FakeClock(1_800_000_000)
    async with running_relay(tmp_path, clock=clock) as relay, client(relay.url) as ws:
        alert = make_event(key, 1, "police at X", [["expiration", str(1_800_000_060)]], created_at=1_800_000_000)
        stale = make_event(key, 1, "old alert", [["expiration", str(1_799_999_999)]], created_at=1_799_999_000)
        assert (await publish(ws, alert))[2] is True
        assert await publish(ws, stale) == ["OK", stale.id, False, "invalid: this event has expired"]
        assert [e["id"] for e in await query(ws, "a", {"kinds": [1]})] == [alert.id]
        clock.advance(61)
        assert await query(ws, "b", {"kinds": [1]}) == []
        await ws.send('["COUNT","c",{"kinds":[1]}]')
        assert await recv_json(ws) == ["COUNT", "c", {"count": 0}]


async def test_ephemeral_events_are_fanned_out_not_stored(url: str, key: SecretKey) -> None:
    async with client(url) as reader, client(url) as writer:
        await reader.send('["REQ","e",{"kinds":[20001]}]')
        assert await recv_json(reader) == ["EOSE", "e"]
        ping = make_event(key, 20001, "ping")
        assert (await publish(writer, ping))[2] is True
        assert await recv_json(reader) == ["EVENT", "e", ping.to_dict()]
        assert await query(writer, "q", {"kinds": [20001]}) == []


async def test_ingest_fans_out_and_calls_hook(tmp_path: Path, key: SecretKey) -> None:
    seen: list[Event] = []
    async with running_relay(tmp_path, on_event=seen.append) as relay:
        server = relay.server
        async with client(relay.url) as ws:
            await ws.send(orjson.dumps(["REQ", "mine", {"authors": [key.public_key_hex]}]).decode())
            assert await recv_json(ws) == ["EOSE", "mine"]
            local = make_event(key, 1, "from the node itself")
            assert await server.ingest(local) is AddOutcome.STORED
            assert await recv_json(ws) == ["EVENT", "mine", local.to_dict()]
            assert await server.ingest(local) is AddOutcome.DUPLICATE
            published = make_event(key, 1, "from a client")
            assert (await publish(ws, published))[2] is True
            assert await recv_json(ws) == ["EVENT", "mine", published.to_dict()]
        assert seen == [local, published]


async def test_search_is_passed_to_the_store(url: str, key: SecretKey) -> None:
    async with client(url) as ws:
        hit = make_event(key, 1, "water cut in Frunzenski district")
        miss = make_event(key, 1, "all quiet")
        await publish(ws, hit)
        await publish(ws, miss)
        got = await query(ws, "s", {"search": "frunzenski"})
        assert [e["id"] for e in got] == [hit.id]


async def test_nip11_status_page_and_http_handler(tmp_path: Path, key: SecretKey) -> None:
    calls: list[str] = []

    async def handler(path: str, headers: Any) -> tuple[int, str, bytes] | None:
        calls.append(path)
        if path.startswith("/app"):
            return 200, "text/plain; charset=utf-8", b"web app here"
        return None

    info = RelayInfo(name="Minsk <hub>", pubkey=key.public_key_hex, contact="mailto:ops@example.org")
    async with running_relay(
        tmp_path, info=info, http_handler=handler, limits=RelayLimits(max_subscriptions=7)
    ) as relay:
        server = relay.server
        await server.ingest(make_event(key, 1, "one"))
        status, headers, body = await asyncio.to_thread(http_get, server.port, "/", "application/nostr+json")
        assert status == 200
        assert headers["Content-Type"] == "application/nostr+json"
        assert headers["Access-Control-Allow-Origin"] == "*"
        doc = orjson.loads(body)
        assert doc["name"] == "Minsk <hub>"
        assert doc["pubkey"] == key.public_key_hex
        assert doc["supported_nips"] == [1, 9, 11, 40, 45, 50]
        assert doc["limitation"]["max_subscriptions"] == 7

        status, _, body = await asyncio.to_thread(http_get, server.port, "/app/feed?x=1")
        assert (status, body) == (200, b"web app here")
        status, headers, body = await asyncio.to_thread(http_get, server.port, "/")
        assert status == 200
        assert headers["Content-Type"].startswith("text/html")
        page = body.decode()
        assert "Minsk &lt;hub&gt;" in page
        assert "npub1" in page
        assert "<code>1</code>" in page  # one event stored
        status, _, _ = await asyncio.to_thread(http_get, server.port, "/nothing-here")
        assert status == 404
        assert calls == ["/app/feed?x=1", "/", "/nothing-here"]


async def test_connection_limit(tmp_path: Path) -> None:
    async with running_relay(tmp_path, limits=RelayLimits(max_connections=2)) as relay:
        server, url = relay.server, relay.url
        async with client(url) as first, client(url) as second:
            await first.send('["COUNT","a",{}]')
            await second.send('["COUNT","a",{}]')
            await recv_json(first)
            await recv_json(second)
            with pytest.raises(InvalidStatus) as info:
                async with client(url):
                    pass
            assert info.value.response.status_code == 503
        # Once they are gone, there is room again.
        await wait_until(lambda: not server.clients, what="both connections to go")
        async with client(url) as third:
            await third.send('["COUNT","a",{}]')
            assert (await recv_json(third))[0] == "COUNT"


async def test_stop_closes_connections_and_is_idempotent(sqlite_store: Any) -> None:
    server = RelayServer(sqlite_store)
    await server.start("127.0.0.1", 0)
    try:
        async with client(f"ws://127.0.0.1:{server.port}") as ws:
            await ws.send('["REQ","s",{}]')
            await recv_until(ws, "EOSE")
            await server.stop()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
        assert server.clients == set()
        assert server.subscription_count == 0
    finally:
        await server.stop()


async def test_port_before_start_is_an_error(sqlite_store: Any) -> None:
    with pytest.raises(LocalProtocolError, match="not started"):
        _ = RelayServer(sqlite_store).port


async def test_handler_headers_status_path_and_websocket_routes(tmp_path: Path) -> None:
    """The web app's hooks: its headers replace the defaults, /status stays the built-in page, and a WebSocket on
    a routed path goes to its own handler instead of the relay protocol."""
    seen: list[str] = []

    def handler(path: str, headers: Any) -> Any:
        if path == "/":
            return 200, "text/html", b"app", (("Cache-Control", "no-cache"), ("X-Frame-Options", "DENY"))
        return None

    async def op(ws: Any) -> None:
        seen.append(await ws.recv())
        await ws.send("signed")

    async with running_relay(tmp_path, http_handler=handler, ws_routes={"/op": op}) as relay:
        server = relay.server
        status, headers, body = await asyncio.to_thread(http_get, server.port, "/")
        assert (status, body) == (200, b"app")
        assert headers["Cache-Control"] == "no-cache"  # not the default no-store
        assert headers["X-Frame-Options"] == "DENY"
        assert headers["X-Content-Type-Options"] == "nosniff"
        status, _, body = await asyncio.to_thread(http_get, server.port, "/status")
        assert status == 200
        assert b"Events stored" in body
        async with client(f"ws://127.0.0.1:{server.port}/op") as ws:
            await ws.send("hello")
            assert await ws.recv() == "signed"
        assert seen == ["hello"]
        async with client(f"ws://127.0.0.1:{server.port}/") as ws:  # any other path is the relay
            await ws.send('["REQ","s",{"kinds":[1]}]')
            assert await recv_json(ws) == ["EOSE", "s"]
