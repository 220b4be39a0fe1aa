"""Fuzz targets: every parser that takes bytes from the network or a file, each as ``target(data: bytes)``.

Theory of operation. A target hands ``data`` to one parser the way the node does (a WebSocket message, an HTTP
request, a TXT record, a file) and checks the contract every parser here promises:

1. it returns a value or raises the project's own error for bad input (:class:`RemoteProtocolError`, its
   :class:`BundleError`, or :class:`UsageError` for text a person pastes), never any other exception;
2. what it returns is well formed (every frame a relay sends back is JSON, a sighting's URL is ``ws://ip:port``);
3. a value that can be written back round-trips: writing it and parsing it again gives the same value (filters,
   events, NIP-19 codes), and a bundle reads the same however its bytes are chunked.

A broken contract raises (an AssertionError, or the unexpected exception itself): a crash for atheris
(``scripts/fuzz``, which saves the input in ``tests/fuzz/corpus/<target>/``), a failure for pytest (the
hypothesis tests in ``tests/fuzz/``, and the replay of that corpus). Time and memory are bounded by the runners:
libFuzzer's ``-timeout`` and ``-rss_limit_mb``, hypothesis' deadline and the replay's tracemalloc peak.

Targets build their fixtures once, at import (with one event loop for the asynchronous handlers), and never
touch the network; those that need files (bundle import, operator codes, the web app's assets) use private
temporary directories.
"""

from __future__ import annotations

import asyncio
import atexit
import ipaddress
import os
import tempfile
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import orjson
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from zeroconf import ServiceInfo

from samizdat.core import bech32, nip19
from samizdat.core.bundle import Damaged, PartSummary, RawEvent
from samizdat.core.bundle_reader import BundleReader
from samizdat.core.channel import parse_channel
from samizdat.core.event import Event, compute_id, parse_event, parse_event_json, sign_event
from samizdat.core.filters import Filter, FilterLimits, parse_filter
from samizdat.core.keys import SecretKey
from samizdat.core.negentropy import Negentropy, VectorStorage
from samizdat.core.posts import parse_label, parse_post
from samizdat.core.reachability import parse_report
from samizdat.core.relaylist import parse_relay_list
from samizdat.errors import BundleError, RemoteProtocolError, UsageError
from samizdat.mesh.discovery import SERVICE_TYPE, Sighting, parse_service
from samizdat.relay.connection import (
    CloseConnection,
    Count,
    NegRequest,
    RelayConnection,
    Send,
    StoreEvent,
    Subscribe,
    Unsubscribe,
)
from samizdat.relay.limits import RelayLimits
from samizdat.relay.negentropy import NegentropyService
from samizdat.relay.server import RelayServer
from samizdat.store.base import AddOutcome
from samizdat.store.bundles import import_bundles
from samizdat.store.memory import MemoryStore
from samizdat.web.app import SEED_MARK, WebApp
from samizdat.web.operator import OperatorEndpoint, new_token, same_origin

T = TypeVar("T")
Target = Callable[[bytes], None]

NOW = 1_700_000_000
KEY = SecretKey(bytes([7]) * 32)
OTHER = SecretKey(bytes([8]) * 32)
#: Limits small enough that inputs reach them (a fuzzer rarely writes 5000 tags), large enough for real messages.
LIMITS = RelayLimits(max_message_bytes=64 * 1024, max_subscriptions=4, max_filters=3, max_filter_values=8,
                     max_event_tags=16, max_content_length=512, events_burst=64, reqs_burst=16)  # fmt: skip
FILTER_LIMITS = FilterLimits(max_values=8, max_limit=100, default_limit=10, max_search_length=32)
REPLIES = frozenset({"OK", "NOTICE", "CLOSED", "NEG-ERR"})
MAX_LINES = 64  # messages per input, so one input stays cheap


def _json(data: bytes) -> object:
    """``data`` as JSON, or a marker no parser accepts when it is not JSON (the parsers take decoded values)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return _NOT_JSON


class _NotJson:
    pass


_NOT_JSON = _NotJson()


def _reply(frame: bytes) -> list[Any]:
    """A frame the relay sends: it must be a JSON array whose first element names what it is."""
    message = orjson.loads(frame)
    assert isinstance(message, list), frame
    assert message, frame
    assert isinstance(message[0], str), frame
    return message


_LOOP = asyncio.new_event_loop()  # one loop for every input: a new one each time would cost more than the parsing


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return _LOOP.run_until_complete(coro)


@atexit.register
def _close_loop() -> None:
    _LOOP.run_until_complete(_LOOP.shutdown_default_executor())
    _LOOP.close()


# -- relay messages (relay/connection.py) ------------------------------------------------------------------------


def relay_message(data: bytes) -> None:
    """Each line is one WebSocket message to one connection (bytes as a binary frame, else text, alternately)."""
    conn = RelayConnection(LIMITS, clock=lambda: NOW, negentropy=True)
    for number, line in enumerate(data.split(b"\n")[:MAX_LINES]):
        message: bytes | str = line
        if number % 2:
            try:
                message = line.decode()
            except UnicodeDecodeError:
                pass
        for action in conn.receive(message):
            if isinstance(action, Send):
                assert _reply(action.frame)[0] in REPLIES, action
            elif isinstance(action, StoreEvent):
                assert isinstance(action.event, Event)
                assert action.verified
                assert compute_id(action.event.pubkey, action.event.created_at, action.event.kind, action.event.tags,
                                  action.event.content) == action.event.id  # fmt: skip
            elif isinstance(action, Subscribe | Count):
                assert 1 <= len(action.filters) <= LIMITS.max_filters
                assert all(isinstance(f, Filter) for f in action.filters)
                assert isinstance(action, Count) or action.sub_id in conn.subscriptions
            elif isinstance(action, Unsubscribe):
                assert action.sub_id not in conn.subscriptions
            elif isinstance(action, NegRequest):
                assert len(action.sub_id) <= LIMITS.max_subid_length
            else:
                assert isinstance(action, CloseConnection), action
                assert action.code == 1007
        assert len(conn.subscriptions) <= LIMITS.max_subscriptions


# -- NIP-77 on the relay (relay/negentropy.py over a store) --------------------------------------------------------


def _events(count: int) -> list[Event]:
    return [sign_event(KEY, 1, f"post {i}", created_at=NOW - 1000 + i // 3) for i in range(count)]


EVENTS = _events(60)


def relay_nip77(data: bytes) -> None:
    """Each line is a WebSocket message; ``NEG-*`` ones go on to the relay's NIP-77 sessions over a store."""
    _run(_nip77(data))


async def _nip77(data: bytes) -> None:
    store = MemoryStore(clock=lambda: NOW)
    await store.add_many(EVENTS[:40])
    sent: list[bytes] = []

    def send(frame: bytes) -> bool:
        sent.append(frame)
        return True

    conn = RelayConnection(LIMITS, clock=lambda: NOW, negentropy=True)
    sessions = NegentropyService(max_records=50, max_sessions=2, frame_size_limit=4096, clock=lambda: 0.0)(send, store)
    for line in data.split(b"\n")[:MAX_LINES]:
        for action in conn.receive(line):
            if isinstance(action, NegRequest):
                await sessions.handle(action)
    for frame in sent:
        message = _reply(frame)
        assert message[0] in ("NEG-MSG", "NEG-ERR"), message
        if message[0] == "NEG-MSG":
            bytes.fromhex(message[2])


# -- Negentropy messages (core/negentropy.py) --------------------------------------------------------------------


def _storage(items: list[tuple[int, bytes]]) -> VectorStorage:
    storage = VectorStorage()
    for timestamp, item_id in items:
        storage.insert(timestamp, item_id)
    storage.seal()
    return storage


_ITEMS = [(NOW + i // 4, bytes([i]) * 32) for i in range(100)]
SERVER_STORAGE = _storage(_ITEMS[:80])
CLIENT_STORAGE = _storage(_ITEMS[20:])


def negentropy(data: bytes) -> None:
    """``data`` as a client's message to a server and as a server's reply to a client; a server's own reply is
    always one a client can read (a client that cannot read it would end the sync with an error)."""
    limit = 4096 if data[:1] and data[0] & 1 else 0
    server = Negentropy(SERVER_STORAGE, limit)
    try:
        reply = server.reconcile(data)
    except RemoteProtocolError:
        reply = None
    if reply is not None:
        assert reply[:1] == b"\x61", reply
        assert not limit or len(reply) <= limit, len(reply)
        reader = Negentropy(CLIENT_STORAGE)
        reader.initiate()
        reader.reconcile_client(reply)
    client = Negentropy(CLIENT_STORAGE, limit)
    client.initiate()
    try:
        answer, have, need = client.reconcile_client(data)
    except RemoteProtocolError:
        return
    assert answer is None or answer[:1] == b"\x61"
    assert all(len(item) == 32 for item in have + need)


# -- filters (core/filters.py) ------------------------------------------------------------------------------------


def filter_json(data: bytes) -> None:
    """A REQ filter; a parsed filter written back as JSON parses to the same filter."""
    try:
        parsed = parse_filter(_json(data), FILTER_LIMITS)
    except RemoteProtocolError:
        return
    assert parse_filter(orjson.loads(orjson.dumps(parsed.to_dict())), FILTER_LIMITS) == parsed
    assert parsed.limit is None or 0 <= parsed.limit <= FILTER_LIMITS.max_limit
    for event in EVENTS[:3]:
        parsed.matches(event)
    _ = parsed.is_empty_set


# -- events (core/event.py) ---------------------------------------------------------------------------------------


def event_json(data: bytes) -> None:
    """An event as JSON, verified and not; a parsed event written back as JSON parses to the same event."""
    try:
        verified: Event | None = parse_event_json(data)
    except RemoteProtocolError:
        verified = None
    try:
        event = parse_event_json(data, verify=False)
    except RemoteProtocolError:
        assert verified is None
        return
    assert verified is None or verified == event
    assert parse_event_json(event.to_json(), verify=False) == event
    if verified is not None:
        assert parse_event_json(event.to_json()) == event
    _ = (event.d_tag, event.expiration, event.is_expired(NOW))


def event_content(data: bytes) -> None:
    """``{"kind", "tags", "content"}`` as any author may sign it: the channel, post, label, reachability and
    relay-list parsers read it (they run on events whose signature was checked, so none is made here)."""
    raw = _json(data)
    if not isinstance(raw, dict):
        return
    fields = {"pubkey": KEY.public_key_hex, "created_at": NOW, "kind": 30078, "tags": [], "content": "", **raw}
    fields.update(id="0" * 64, sig="0" * 128)
    try:
        event = parse_event(fields, verify=False)
    except RemoteProtocolError:
        return
    for parser in (parse_channel, parse_post, parse_label, parse_report, parse_relay_list):
        try:
            parser(event)
        except RemoteProtocolError:
            pass


# -- NIP-19 (core/nip19.py, core/bech32.py) -----------------------------------------------------------------------


def _reencode(hrp: str, value: nip19.Entity) -> str:
    if isinstance(value, nip19.ProfilePointer):
        return nip19.nprofile_encode(value.pubkey, value.relays)
    if isinstance(value, nip19.EventPointer):
        return nip19.nevent_encode(value.id, value.relays, author=value.author, kind=value.kind)
    if isinstance(value, nip19.AddressPointer):
        return nip19.naddr_encode(value.kind, value.pubkey, value.identifier, value.relays)
    assert isinstance(value, str)
    return {"npub": nip19.npub_encode, "nsec": nip19.nsec_encode, "note": nip19.note_encode}[hrp](value)


def _cut(value: nip19.Entity) -> nip19.Entity:
    """What survives encoding: relay hints beyond :data:`nip19.MAX_RELAYS` are dropped."""
    if isinstance(value, nip19.ProfilePointer | nip19.EventPointer | nip19.AddressPointer):
        return type(value)(**{**_fields(value), "relays": value.relays[: nip19.MAX_RELAYS]})
    return value


def _fields(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


def nip19_text(data: bytes) -> None:
    """Text a person pastes or a peer sends: every decoder, with either error class; what decodes re-encodes to
    a code that decodes to the same value."""
    text = data.decode("utf-8", "replace")
    for error in (UsageError, RemoteProtocolError):
        try:
            bech32.decode(text, error=error)
        except error:
            pass
        try:
            nip19.parse_pubkey(text, error=error)
        except error:
            pass
        for decoder in (nip19.npub_decode, nip19.nsec_decode, nip19.note_decode, nip19.nprofile_decode,
                        nip19.nevent_decode, nip19.naddr_decode):  # fmt: skip
            try:
                decoder(text, error=error)
            except error:
                pass
        try:
            hrp, value = nip19.decode(text, error=error)
        except error:
            continue
        again = nip19.decode(_reencode(hrp, value))
        assert again == (hrp, _cut(value)), (again, value)


# -- bundles (core/bundle_reader.py, store/bundles.py) ------------------------------------------------------------


def _read_bundle(data: bytes, chunk: int) -> tuple[list[object], str | None, object]:
    """Items, the rejection (if any) and the summary of reading ``data`` in chunks of ``chunk`` bytes."""
    reader = BundleReader()
    items: list[object] = []
    try:
        for start in range(0, len(data), chunk):
            items += reader.feed(data[start : start + chunk])
        items += reader.close()
    except BundleError as exc:
        return items, str(exc), None
    return items, None, reader.summary()


def bundle(data: bytes) -> None:
    """One bundle part read whole and in small chunks (the first byte picks their size): the same items, the
    same rejection, the same summary; every record is an event or a RemoteProtocolError."""
    whole = _read_bundle(data, max(len(data), 1))
    chunked = _read_bundle(data, 1 + (data[-1] if data else 0) % 97)
    assert whole == chunked, (whole[1:], chunked[1:])
    items, error, summary = whole
    for item in items:
        assert isinstance(item, RawEvent | Damaged), item
        if isinstance(item, RawEvent):
            try:
                parse_event(item.value)
            except RemoteProtocolError:
                pass
    if isinstance(summary, PartSummary):
        assert summary.records >= summary.malformed >= 0
        assert not summary.complete or not summary.problems


_BUNDLE_DIR = tempfile.TemporaryDirectory(prefix="samizdat-fuzz-")


async def _ingest(events: list[Event]) -> list[AddOutcome]:
    assert all(isinstance(e, Event) for e in events)
    return [AddOutcome.STORED for _ in events]


def bundle_file(data: bytes) -> None:
    """``samizdat import`` of one file: never raises for a bad file; its report adds up."""
    path = Path(_BUNDLE_DIR.name) / f"in-{os.getpid()}.smz"
    path.write_bytes(data)
    report = _run(import_bundles([path], _ingest, batch_size=7))
    (part,) = report.files
    assert part.new == sum(part.outcomes.values())
    assert part.invalid >= 0
    assert isinstance(part.describe(), str)
    assert part.error is None or part.error


# -- mDNS announcements (mesh/discovery.py) ------------------------------------------------------------------------

#: This machine's interfaces, as :func:`samizdat.mesh.discovery.local_networks` gives them.
NETWORKS = [ipaddress.IPv4Interface(n) for n in ("127.0.0.1/8", "10.42.0.1/24", "192.168.1.5/24", "169.254.3.4/16")]
_PREFIXES = ("127.0.0.", "10.42.0.", "192.168.1.", "169.254.3.")


def _address(selector: int, host: int) -> str:
    if selector % 5 < 4:
        return f"{_PREFIXES[selector % 5]}{host}"
    return f"{host:03}.{selector}.0.1 "  # what zeroconf never gives, in case someone else does


def mdns_txt(data: bytes) -> None:
    """A resolved announcement: the SRV record's port (2 bytes), a count and that many addresses (2 bytes each:
    which of our networks, which host), then the TXT record's wire bytes, decoded by zeroconf as the node gets
    them. Whatever the values, a sighting is an instance id, a printable name and ``ws://`` one of those
    addresses on one of our networks, never this machine's own or loopback."""
    port = int.from_bytes(data[:2], "big")
    count = data[2] % 4 if len(data) > 2 else 0
    raw = data[3 : 3 + 2 * count]
    addresses = [_address(raw[i], raw[i + 1]) for i in range(0, len(raw) - 1, 2)]
    info = ServiceInfo(SERVICE_TYPE, f"peer.{SERVICE_TYPE}", properties=data[3 + 2 * count :])
    sighting = parse_service(info.properties, addresses, port, networks=NETWORKS)
    if sighting is None:
        return
    assert isinstance(sighting, Sighting)
    assert sighting.url in [f"ws://{a}:{port}" for a in addresses], (sighting, addresses)
    address = ipaddress.IPv4Address(sighting.url[5:].rsplit(":", 1)[0])
    assert not address.is_loopback
    assert any(address in n.network and address != n.ip for n in NETWORKS), address
    assert sighting.instance.isascii()
    assert sighting.instance.isalnum()
    assert len(sighting.instance) <= 64
    assert sighting.name == "" or sighting.name.isprintable()
    assert len(sighting.name) <= 60


# -- HTTP requests (relay/http.py, relay/server.py, web/app.py) ---------------------------------------------------


class _Store:
    async def stats(self) -> dict[str, int]:
        return {"events": 3}


class _Connection:
    remote_address = ("192.0.2.7", 40000)


_STATIC = tempfile.TemporaryDirectory(prefix="samizdat-fuzz-static-")
(Path(_STATIC.name) / "index.html").write_bytes(b"<!doctype html><title>x</title>" + SEED_MARK + b"<p>app</p>" * 50)
(Path(_STATIC.name) / "app.js").write_bytes(b"console.log('app');\n" * 50)
(Path(_STATIC.name) / "csp.json").write_bytes(b'{"script": "\'sha256-abc\'", "style": "\'sha256-def\'"}')


async def _seed() -> list[dict[str, Any]]:
    return [EVENTS[0].to_dict()]


WEB = WebApp(lambda: {"ok": True}, seed=_seed, directory=Path(_STATIC.name), clock=lambda: 0.0)
SERVER = RelayServer(_Store(), http_handler=WEB)  # type: ignore[arg-type]


def http_request(data: bytes) -> None:
    """Raw bytes on the relay's port: websockets parses the request line and headers; then the relay's
    ``process_request`` (NIP-11, the web app, the status page) answers it, or lets the WebSocket handshake go on."""
    protocol = ServerProtocol(max_size=LIMITS.max_message_bytes)
    protocol.receive_data(data)
    for request in protocol.events_received():
        if not isinstance(request, Request):
            continue
        response = _run(SERVER._process_request(_Connection(), request))  # type: ignore[arg-type]
        assert response is None or isinstance(response, Response), response
        if response is not None:
            assert 200 <= response.status_code < 600
            if request.method == "HEAD":  # the length a GET would get, and no body
                assert not response.body or response.status_code >= 400  # refusals still carry their sentence
            else:
                assert int(response.headers["Content-Length"]) == len(response.body)


# -- the operator's WebSocket (web/operator.py) -------------------------------------------------------------------

_HOME = tempfile.TemporaryDirectory(prefix="samizdat-fuzz-home-")
_TOKEN = new_token(Path(_HOME.name), now=NOW)


async def _publish(kind: int, content: str, tags: list[list[str]], created_at: int) -> Event:
    return sign_event(KEY, kind, content, tags, created_at=created_at)


OPERATOR = OperatorEndpoint(Path(_HOME.name), KEY.public_key_hex, _publish, clock=lambda: NOW)


def operator_request(data: bytes) -> None:
    """One message on ``/op`` after login (``{"id": n, "sign": {...}}``): an answer, never an exception; and
    the ``Origin``/``Host`` check on any two header values."""
    answer = _run(OPERATOR._request(data, _TOKEN, []))  # no wipe confirmation pending
    assert isinstance(answer, dict)
    orjson.dumps(answer)
    origin, _, host = data.decode("latin-1").partition("\n")
    assert isinstance(same_origin(origin, host), bool)


TARGETS: dict[str, Target] = {
    "relay_message": relay_message,
    "relay_nip77": relay_nip77,
    "negentropy": negentropy,
    "filter": filter_json,
    "event": event_json,
    "event_content": event_content,
    "nip19": nip19_text,
    "bundle": bundle,
    "bundle_file": bundle_file,
    "mdns_txt": mdns_txt,
    "http_request": http_request,
    "operator_request": operator_request,
}
