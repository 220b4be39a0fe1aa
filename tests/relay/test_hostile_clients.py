"""Hostile clients on the relay's WebSocket port: what each one tries, and that the node keeps serving everyone else.

* A client that sends pings and never reads: ``websockets`` answers every ping with a pong written straight to the
  socket, past the relay's bounded queue, so the pongs piled up in the relay's memory without end (200 MB in a few
  seconds over loopback). It is dropped once its socket holds more than a bounded amount.
* Subscriptions with thousands of filter values: each value costs a few hundred bytes for as long as the
  subscription is open, and 50 subscriptions of 10 filters of 1,000 values held about 170 MB per connection. The
  values of a connection's open subscriptions, and of an address's, are bounded; past that a REQ gets ``CLOSED``.
* Long NIP-77 messages sent one after another: answering one of the largest size takes about 150 ms, and on the
  event loop a few such connections held every other client up for seconds. They are answered off the loop.
* A page of another site, opened in a browser on the node's own machine: NIP-11 lets every origin read the relay's
  document, and a request from this machine was shown the node's key, so any site could learn whose node runs
  there; pointing its own name at 127.0.0.1 (DNS rebinding) did the same for the status page. Only the machine's
  own readers (no other site's ``Origin``, a ``Host`` that names this machine) see the key now.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from relay_helpers import RawClient, client, make_event, publish, query, recv_json
from relay_netns import AddressLab, websockets_from
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidMessage

from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import Negentropy, encode_varint
from samizdat.relay.door import GuardedConnection
from samizdat.relay.limits import RelayInfo, RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import running_relay, wait_until


def _masked_ping(payload: bytes) -> bytes:
    """A client's ping frame (masked, as RFC 6455 requires of a client) with ``payload`` (at most 125 bytes)."""
    mask = os.urandom(4)
    return bytes((0x89, 0x80 | len(payload))) + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _flood(raw: RawClient, chunk: bytes, times: int) -> None:
    """Send ``chunk`` ``times`` over ``raw``, reading nothing, until the relay drops the connection."""
    raw.sock.settimeout(5)
    try:
        for _ in range(times):
            raw.sock.sendall(chunk)
    except OSError:  # dropped by the relay
        pass


def _values(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def _two_filters(prefix: str) -> list[dict[str, Any]]:
    """Two filters of 1,000 values each (the most one list may hold)."""
    return [{"#t": _values(prefix + "x", 1000)}, {"#t": _values(prefix + "y", 1000)}]


async def _subscribe(ws: ClientConnection, sub_id: str, *filters: dict[str, Any]) -> Any:
    """Send a REQ and return its first answer (EOSE on an empty store, or CLOSED)."""
    await ws.send(orjson.dumps(["REQ", sub_id, *filters]).decode())
    return await recv_json(ws)


@pytest.fixture
def pings_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lift the bound on pings per second, so that the bound on what a client leaves unread is what drops it."""
    monkeypatch.setattr(GuardedConnection, "control_frames_per_second", 10**9)


@pytest.mark.usefixtures("pings_allowed")
async def test_a_client_that_pings_and_never_reads_is_dropped(relay: RelayServer, url: str, key: SecretKey) -> None:
    raw = await asyncio.to_thread(RawClient, relay.port, 4096)
    await wait_until(lambda: len(relay.clients) == 1, what="the connection")
    chunk = _masked_ping(b"p" * 125) * 512  # 67 KB of pings, each answered with a pong of 127 bytes

    try:
        await asyncio.to_thread(_flood, raw, chunk, 256)  # 17 MB of pings at most; reading none of the pongs
        # The relay let go of the connection and of the pongs it could not deliver...
        await wait_until(lambda: not relay.clients, what="the flooding connection dropped")
        held = [c.ws.transport.get_write_buffer_size() for c in relay.clients if c.ws.transport is not None]
        assert sum(held) == 0
        assert relay.refusals.totals["sent while not reading our answers"] == 1
    finally:
        raw.sock.close()
    # ... and everyone else is served as before.
    async with client(url) as ws:
        event = make_event(key, 1, "still here")
        assert await publish(ws, event) == ["OK", event.id, True, ""]
        assert [e["id"] for e in await query(ws, "q", {"ids": [event.id]})] == [event.id]


@pytest.mark.parametrize("limits", [RelayLimits(max_subscription_values=2500)])
async def test_the_values_of_a_connections_subscriptions_are_bounded(url: str, key: SecretKey) -> None:
    async with client(url) as ws:
        assert await _subscribe(ws, "a", {"#t": _values("a", 1000)}, {"#t": _values("b", 1000)}) == ["EOSE", "a"]
        refused = await _subscribe(ws, "b", {"#t": _values("c", 1000)})
        assert refused == [
            "CLOSED",
            "b",
            "blocked: the open subscriptions would list too many values (limit 2500); close some",
        ]
        # Replacing a subscription gives its values back first; up to the limit is fine.
        assert await _subscribe(ws, "a", {"#t": _values("a", 1000)}, {"#t": _values("e", 500)}) == ["EOSE", "a"]
        assert await _subscribe(ws, "b", {"#t": _values("c", 1000)}) == ["EOSE", "b"]
        assert (await _subscribe(ws, "c", {"kinds": [1]}))[:2] == ["CLOSED", "c"]
        # The subscriptions that were taken work.
        event = make_event(key, 1, "tagged", [["t", "a7"]])
        assert await publish(ws, event) == ["OK", event.id, True, ""]
        assert await recv_json(ws) == ["EVENT", "a", event.to_dict()]
        # Closing one makes room again.
        await ws.send(orjson.dumps(["CLOSE", "a"]).decode())
        assert await _subscribe(ws, "c", {"#t": _values("d", 1000)}) == ["EOSE", "c"]


@pytest.fixture
async def lab_relay(lab: AddressLab, sqlite_store: SqliteStore) -> AsyncIterator[RelayServer]:
    limits = RelayLimits(max_subscription_values=2000, max_subscription_values_per_ip=3000, max_pending_counts_per_ip=4)
    server = RelayServer(sqlite_store, limits=limits)
    await server.start(sock=lab.listener())
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
async def open_ws(lab: AddressLab, lab_relay: RelayServer) -> AsyncIterator[Any]:
    """``await open_ws(source_address)``: a WebSocket to the relay from that address, closed in teardown."""
    async with websockets_from(lab, lab_relay.port) as open_:
        yield open_


async def test_the_connections_of_one_address_share_a_bound_on_subscription_values(
    lab: AddressLab, lab_relay: RelayServer, open_ws: Any
) -> None:
    first, second = await open_ws(lab.addresses[0]), await open_ws(lab.addresses[0])
    assert await _subscribe(first, "a", *_two_filters("a")) == ["EOSE", "a"]
    assert await _subscribe(second, "a", {"#t": _values("b", 1000)}) == ["EOSE", "a"]
    refused = await _subscribe(second, "b", {"#t": _values("c", 1000)})
    assert refused == [
        "CLOSED",
        "b",
        "blocked: the open subscriptions from this address list too many values (limit 3000)",
    ]
    # Another device is not held back by this one.
    other = await open_ws(lab.addresses[1])
    assert await _subscribe(other, "a", *_two_filters("a")) == ["EOSE", "a"]
    # The first connection going gives its values back.
    await first.close()
    await wait_until(lambda: len(lab_relay.clients) == 2, what="the first connection gone")
    assert await _subscribe(second, "b", {"#t": _values("c", 1000)}) == ["EOSE", "b"]


async def test_the_counts_one_address_has_waiting_are_bounded(
    lab: AddressLab, lab_relay: RelayServer, sqlite_store: SqliteStore, open_ws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each COUNT waits for the store until the test opens the gate (a store busy with an address's counts).
    gate = asyncio.Event()
    count = sqlite_store.count

    async def gated_count(filters: Any) -> int:
        await gate.wait()
        return await count(filters)

    monkeypatch.setattr(sqlite_store, "count", gated_count)
    answers: list[Any] = []

    async def read(ws: ClientConnection) -> None:
        with contextlib.suppress(ConnectionClosed):
            async for message in ws:
                answers.append(orjson.loads(message))

    connections = [await open_ws(lab.addresses[0]) for _ in range(2)] + [await open_ws(lab.addresses[1])]
    readers = [asyncio.create_task(read(ws)) for ws in connections]
    try:
        for n, ws in enumerate(connections[:2]):
            for i in range(3):  # within the limit of a connection (8), over that of the address (4) together
                await ws.send(orjson.dumps(["COUNT", f"c{n}{i}", {"#t": _values("v", 1000)}]).decode())

        def refused() -> list[Any]:
            return [a for a in answers if a[0] == "CLOSED"]

        await wait_until(lambda: len(refused()) == 2, what="two COUNTs refused")
        reason = "rate-limited: too many COUNTs at once from this address, wait for answers"
        assert all(a[2] == reason for a in refused())
        # Another device is not held back by this one's counts.
        await connections[2].send(orjson.dumps(["COUNT", "other", {"kinds": [1]}]).decode())
        gate.set()
        await wait_until(lambda: sum(a[0] == "COUNT" for a in answers) == 5, what="the waiting COUNTs answered")
        assert ["COUNT", "other", {"count": 0}] in answers
        # Once answered, the address may count again.
        await connections[0].send(orjson.dumps(["COUNT", "again", {"kinds": [1]}]).decode())
        await wait_until(lambda: ["COUNT", "again", {"count": 0}] in answers, what="the next COUNT answered")
        assert len(refused()) == 2
    finally:
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


async def test_a_long_negentropy_message_does_not_hold_up_other_clients(
    tmp_path: Path, key: SecretKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Answering a long message takes a while (150 ms for one of the largest size); here it takes until the test
    # says so, and the test says so only once another client has been served meanwhile.
    started, released = threading.Event(), threading.Event()
    waits: list[bool] = []
    reconcile = Negentropy.reconcile

    def slow_reconcile(self: Negentropy, message: bytes) -> bytes:
        if len(message) > 16 * 1024:
            started.set()
            waits.append(released.wait(10))
        return reconcile(self, message)

    monkeypatch.setattr(Negentropy, "reconcile", slow_reconcile)
    body = bytearray((0x61,))
    while len(body) < 64 * 1024:  # empty ranges, one after another: a message of a sync that is nearly done
        body += encode_varint(2) + encode_varint(0) + encode_varint(0)
    try:
        async with running_relay(tmp_path, negentropy=NegentropyService()) as running:
            url = f"ws://127.0.0.1:{running.port}"
            async with client(url) as syncer, client(url) as other:
                await syncer.send(orjson.dumps(["NEG-OPEN", "n", {"kinds": [30333]}, "61"]).decode())
                assert (await recv_json(syncer))[:2] == ["NEG-MSG", "n"]
                await syncer.send(orjson.dumps(["NEG-MSG", "n", body.hex()]).decode())
                assert await asyncio.to_thread(started.wait, 10)
                event = make_event(key, 1, "served meanwhile")
                assert await publish(other, event) == ["OK", event.id, True, ""]
                assert [e["id"] for e in await query(other, "q", {"ids": [event.id]})] == [event.id]
                released.set()
                assert (await recv_json(syncer))[:2] == ["NEG-MSG", "n"]
    finally:
        released.set()
    assert waits == [True]  # released by the test, after the other client was served: not by the timeout


async def _http(port: int, path: str, *headers: str) -> bytes:
    """A plain GET to 127.0.0.1:``port`` with ``headers`` (each "Name: value"); the whole answer."""
    async with asyncio.timeout(10):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(("\r\n".join([f"GET {path} HTTP/1.1", *headers, "Connection: close"]) + "\r\n\r\n").encode())
            await writer.drain()
            return await reader.read(-1)
        except ConnectionResetError:  # dropped without an answer
            return b""
        finally:
            writer.close()


async def test_another_sites_page_on_this_machine_is_refused(tmp_path: Path, key: SecretKey) -> None:
    """A browser on the node's machine opens a page of another site. Whatever it asks the node for (its NIP-11
    document, its status page, a WebSocket), across origins or by pointing its own name at 127.0.0.1 (DNS
    rebinding), the connection is closed without an answer, as on a port where nothing listens: a 403 the page
    cannot read still told it that something answers, and a 421 under its own name it can read. Asked by this
    machine's names, with no browser, from a page of this machine or from a bookmark, the node answers."""
    nip11 = "Accept: application/nostr+json"
    info = RelayInfo(name="hub", pubkey=key.public_key_hex, publish_pubkey=False)
    async with running_relay(tmp_path / "hidden", info=info) as relay:
        port = relay.server.port
        here = f"Host: 127.0.0.1:{port}"
        across = [  # what a page of another site sends from a browser on this machine
            (here, "Origin: https://evil.example"),
            (here, "Origin: null"),  # a file opened from the disk, a sandboxed frame
            (here, "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: no-cors", "Sec-Fetch-Dest: image"),  # an <img>
            (here, "Sec-Fetch-Site: cross-site", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document"),  # a link
        ]
        rebound = [  # DNS rebinding: the site's own name, pointed at 127.0.0.1, in a browser
            (f"Host: evil.example:{port}", "Sec-Fetch-Site: same-origin", "Sec-Fetch-Mode: cors"),
            (f"Host: evil.example:{port}", "User-Agent: Mozilla/5.0 (X11; Linux x86_64)"),
            (f"Host: evil.example:{port}", f"Origin: http://evil.example:{port}"),
        ]
        for headers in across + rebound:
            for path, *extra in (("/", nip11), ("/status",)):
                assert await _http(port, path, *headers, *extra) == b"", headers
        with pytest.raises((InvalidMessage, OSError)):
            await connect(f"ws://127.0.0.1:{port}", origin="https://evil.example", open_timeout=10)  # type: ignore[arg-type]
        opened = ("Sec-Fetch-Site: none", "Sec-Fetch-Mode: navigate", "Sec-Fetch-Dest: document")  # a bookmark
        for headers in [(here,), (here, f"Origin: http://127.0.0.1:{port}"), (f"Host: localhost:{port}",),
                        ("Host: samizdat",), (here, *opened)]:  # fmt: skip
            assert key.public_key_hex.encode() in await _http(port, "/", *headers, nip11), headers
            assert b"npub1" in await _http(port, "/status", *headers), headers
        async with connect(f"ws://127.0.0.1:{port}", origin=f"http://localhost:{port}") as ws:  # type: ignore[arg-type]
            await ws.send('["REQ","s",{"limit":1}]')
            assert '"EOSE"' in await ws.recv()


async def test_names_and_web_clients_the_operator_allows_are_answered_without_the_key(
    tmp_path: Path, key: SecretKey
) -> None:
    """``[relay] host_names`` (a reverse proxy's name) and ``allowed_origins`` (a web client the operator trusts)
    let such requests in, and so do a relay client that a proxy on this machine forwards by another name (TLS in
    front) and an onion service's name; they still do not see the node's key, which stays with this machine's own
    readers."""
    nip11 = "Accept: application/nostr+json"
    info = RelayInfo(name="hub", pubkey=key.public_key_hex, publish_pubkey=False)
    limits = RelayLimits(host_names=("relay.example.org",), allowed_origins=("https://client.example",))
    async with running_relay(tmp_path / "hidden", info=info, limits=limits) as relay:
        port = relay.server.port
        browser = "Sec-Fetch-Site: same-origin"
        for headers in [(f"Host: relay.example.org:{port}", browser), ("Host: relay.example.org", "Origin: https://any.example"),
                        (f"Host: 127.0.0.1:{port}", "Origin: https://client.example"), ("Host: other.example",),
                        ("Host: xyz2345.onion", browser)]:  # fmt: skip
            document = await _http(port, "/", *headers, nip11)
            assert b'"name":"hub"' in document, headers
            assert key.public_key_hex.encode() not in document, headers
        answer = await _http(port, "/", f"Host: 127.0.0.1:{port}", "Origin: https://other.example", nip11)
        assert answer == b""  # not allowed: no answer
    published = RelayInfo(name="hub", pubkey=key.public_key_hex, publish_pubkey=True)
    limits = RelayLimits(allowed_origins=("https://client.example",))
    async with running_relay(tmp_path / "published", info=published, limits=limits) as relay:
        port = relay.server.port
        document = await _http(port, "/", f"Host: 127.0.0.1:{port}", "Origin: https://client.example", nip11)
        assert key.public_key_hex.encode() in document  # [node] publish_key: no secret to keep


@pytest.mark.usefixtures("pings_allowed")
async def test_a_route_beside_the_relay_drops_a_client_that_pings_and_never_reads(tmp_path: Path) -> None:
    """The other WebSocket routes on the relay's port (the operator's /op, the photo preview) are bounded too: their
    own answers may be larger, but a client that sends pings and never reads the pongs is dropped all the same."""
    served: list[Any] = []

    async def route(ws: Any) -> None:  # a route that answers nothing and waits, as /op does for its next message
        served.append(ws)
        await ws.wait_closed()

    async with running_relay(tmp_path, ws_routes={"/quiet": route}) as relay:
        raw = await asyncio.to_thread(RawClient, relay.server.port, 4096, "/quiet")
        await wait_until(lambda: len(served) == 1, what="the route's connection")
        chunk = _masked_ping(b"p" * 125) * 512

        try:
            await asyncio.to_thread(_flood, raw, chunk, 512)  # 34 MB of pings at most
            await wait_until(lambda: served[0].transport.is_closing(), what="the flooding connection dropped")
            assert relay.server.refusals.totals["sent while not reading our answers"] == 1
        finally:
            raw.sock.close()


def _masked_pong() -> bytes:
    """A client's empty pong frame (masked): 6 bytes, which the relay parses and drops (unsolicited)."""
    return bytes((0x8A, 0x80)) + os.urandom(4)


async def test_a_flood_of_pongs_is_dropped(relay: RelayServer, url: str, key: SecretKey) -> None:
    """Empty unsolicited pongs (6 bytes each) cost the relay a parse each and counted against no bound: from four
    connections at a few MB/s they kept the event loop busy (a new client's handshake did not finish in 5 s). A
    connection that sends more pings and pongs in a second than a client ever needs is dropped."""
    raw = await asyncio.to_thread(RawClient, relay.port, 4096)
    await wait_until(lambda: len(relay.clients) == 1, what="the connection")
    chunk = b"".join(_masked_pong() for _ in range(1000))

    try:
        await asyncio.to_thread(_flood, raw, chunk, 200)  # 1.2 MB of pongs at most
        await wait_until(lambda: not relay.clients, what="the flooding connection dropped")
        assert relay.refusals.totals["sent pings or pongs too fast"] == 1
    finally:
        raw.sock.close()
    async with client(url) as ws:  # a client that pings as clients do is served
        await asyncio.wait_for(await ws.ping(), 5)
        event = make_event(key, 1, "still here")
        assert await publish(ws, event) == ["OK", event.id, True, ""]
