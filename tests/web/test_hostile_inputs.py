"""Hostile inputs on the node's HTTP port and in bundle files (web/app.py, web/blossom.py, core/bundle_reader.py):
what a neighbour on the Wi-Fi, a page of another site or a file on a USB stick could do, each refused with what a
reader would notice (the page stays the app, the node keeps serving, a one-line reason, the good file still
imports).

Work that a hostile bundle makes the reader do is counted deterministically (bytes checked, bytes searched) rather
than timed."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import os
import shutil
import subprocess
import zlib
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from websockets.datastructures import Headers

from samizdat.config import Config
from samizdat.core import bundle_reader, kinds
from samizdat.core.bundle import (
    _BLOCK,
    _CRC,
    BLOCK_MAGIC,
    BundleHeader,
    BundleWriter,
    RawEvent,
    _crc,
    deflate_bound,
    encode_block,
    encode_header,
)
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError
from samizdat.node import Node
from samizdat.relay.server import RelayServer
from samizdat.store.base import AddOutcome
from samizdat.store.bundles import import_bundles
from samizdat.testing import blossom_auth, test_node
from samizdat.web.app import POSTS_MARK, POSTS_START, SEED_MARK, SEED_START, WebApp
from samizdat.web.firstpaint import FIRST_MARK
from samizdat.web.media import check_authorization
from samizdat.web.serving import relay_server

TIMEOUT = 10.0
MIB = 1024 * 1024


# -- helpers ---------------------------------------------------------------------------------------------------


async def raw_request(port: int, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` (a whole request, as bytes) to 127.0.0.1:``port``; the status, headers and body (bounded).
    A connection closed without an answer gives status 0."""
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(head)
            await writer.drain()
            answer = await reader.read(-1)
        except ConnectionResetError:
            answer = b""
        finally:
            writer.close()
    if not answer:
        return 0, {}, b""
    top, _, body = answer.partition(b"\r\n\r\n")
    status_line, *rest = top.decode("latin-1").split("\r\n")
    fields = {k.strip().lower(): v.strip() for k, _, v in (r.partition(":") for r in rest if r)}
    return int(status_line.split(" ")[1]), fields, body


def get(path: str, host: str, *extra: str) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: {host}", *extra, "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


@dataclass
class Served:
    node: Node
    server: RelayServer
    port: int


@contextlib.asynccontextmanager
async def serving(home: Path, config: Config | None = None) -> AsyncIterator[Served]:
    """The node's relay with everything ``serve`` puts on its port (web app, /op, Blossom), on 127.0.0.1."""
    async with test_node(home, config=config) as node:
        server = relay_server(node.ctx, peers=list, carry={})
        await server.start("127.0.0.1", 0)
        try:
            yield Served(node, server, server.port)
        finally:
            await server.stop()


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with serving(tmp_path / "node") as served:
        yield served


# -- the page: events are data, whatever they say ---------------------------------------------------------------


def block_of(body: bytes, start: bytes) -> bytes:
    """The text of the ``<script type="application/json">`` block that begins with ``start``, as the HTML parser
    ends it (at the first "</script")."""
    at = body.index(start) + len(start)
    return body[at : body.index(b"</script", at)]


@pytest.mark.parametrize(
    "content",
    [
        "<!--SEED--><meta http-equiv=refresh content=0;url=http://evil.example/>",  # the seed's mark, then markup
        "<!--<script>",  # "<!--" then "<script": the block's own "</script>" would no longer end it
        "</script><script>alert(1)</script>",
    ],
)
async def test_a_post_stays_data_in_the_page(tmp_path: Path, content: str) -> None:
    """A post of a followed channel (signed by a key with a role there: not the node's operator) that says
    ``<!--SEED-->`` or ``<!--<script>`` does not turn into markup on the node's page: the posts block and the seed
    both read back as the events they were made of, and nothing in them can change how the page is parsed."""
    (tmp_path / "index.html").write_bytes(  # the marks in the built page's order: posts before the seed
        b"<!doctype html><title>Samizdat</title><div id=app>" + FIRST_MARK + b"</div>" + POSTS_MARK
        + b"<script>app()</script>" + SEED_MARK + b"<script>more()</script>"
    )  # fmt: skip
    post = {"id": "1" * 64, "pubkey": "2" * 64, "created_at": 7, "kind": kinds.POST, "tags": [["t", content]],
            "content": content, "sig": "3" * 128}  # fmt: skip
    channel = {"id": "4" * 64, "pubkey": "2" * 64, "created_at": 6, "kind": kinds.CHANNEL,
               "tags": [["d", "x"], ["name", "Yard"]], "content": "", "sig": "3" * 128}  # fmt: skip

    async def posts() -> list[dict[str, Any]]:
        return [post]

    async def seed() -> list[dict[str, Any]]:
        return [channel]

    app = WebApp(dict, seed=seed, posts=posts, directory=tmp_path)
    answer = await app("/", Headers({"Host": "192.168.4.1:4848"}))
    assert answer is not None
    body = answer[2]
    carried = block_of(body, POSTS_START)
    assert json.loads(carried) == [post]  # what the app reads: the post, whole
    assert json.loads(block_of(body, SEED_START)) == [channel]
    assert b"<" not in carried  # no "<!--", "<script" or "</script" inside the block: the parser stays in it
    assert body.count(b"<script") == 4  # the page's own two scripts and the two data blocks, nothing more
    assert b"<meta" not in body


# -- /api/status: the node's key, not to a page that points its own name at this machine --------------------------


async def test_a_rebound_name_is_refused(served: Served, caplog: pytest.LogCaptureFixture) -> None:
    """A browser on the node's own machine opens a page of another site, which points its name at 127.0.0.1 (DNS
    rebinding) to read the app's pages and /api/status as its own origin: no answer to any, as where nothing
    listens; it learns neither the node's key, nor its channels, nor that anything runs here. The node's log says
    so once without the name, and with ``-v`` why, once per name (the sites the machine's browser visits are not
    the journal's: red team, round 14). Asked by an address (or localhost), the machine's own reader sees them."""
    port = served.port
    with caplog.at_level(logging.INFO, logger="samizdat.relay"):
        for path in ("/api/status", "/", "/status"):
            answer = await raw_request(port, get(path, f"evil.example:{port}", "Sec-Fetch-Site: same-origin"))
            assert answer == (0, {}, b""), path
        status, _, _ = await raw_request(port, get("/api/status", "[::1", "Sec-Fetch-Mode: cors"))  # not a host
        assert status == 0
    said = [r.getMessage() for r in caplog.records if "asked for" in r.getMessage() and "refused" in r.getMessage()]
    assert len(said) == 2  # once for each name, at -v
    kept = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert [line for line in kept if "refused without an answer" in line]  # and once, without it, at the default
    assert not [line for line in kept if "evil.example" in line or "::1" in line], kept
    assert "[relay] host_names" in said[0]
    for host in (f"127.0.0.1:{port}", f"localhost:{port}", "[::1]"):
        here = json.loads((await raw_request(port, get("/api/status", host)))[2])
        assert str(here["npub"]).startswith("npub1"), host
        assert here["channel_sources"] is not None


# -- Blossom: a Host that is not a host is one line, not a server error ------------------------------------------


@pytest.fixture
async def served_to_lan(tmp_path: Path) -> AsyncIterator[Served]:
    """:func:`served` behind a load balancer on 127.0.0.1 (``trusted_proxies``): a request that starts with
    :func:`from_neighbour` comes from a device on the hub's network, not from this machine."""
    async with serving(tmp_path / "node", Config(trusted_proxies=("127.0.0.1/32",))) as served:
        yield served


def from_neighbour(request: bytes) -> bytes:
    return b"PROXY TCP4 192.168.4.20 192.168.4.1 40000 4848\r\n" + request


async def test_a_malformed_host_is_a_one_line_refusal(served_to_lan: Served) -> None:
    """A signed list or delete request from the hub's network whose Host header is not a host name ("[::1",
    "[x]") gets a 400 with its reason, like any refusal (not a 500 "see server log"), and the node goes on
    answering. (From this machine such a Host is refused before, with a 403: it names no host of this machine.)"""
    key = SecretKey(bytes([9]) * 32)
    port = served_to_lan.port
    for host in ("[::1", "[x]", "a]b"):
        delete = blossom_auth(key, "delete", ["a" * 64])
        request = f"DELETE /{'a' * 64} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {delete}\r\nConnection: close\r\n\r\n"
        status, fields, _ = await raw_request(port, from_neighbour(request.encode()))
        assert status == 400, host
        assert "Host" in fields["x-reason"]
        listing = blossom_auth(key, "list")
        status, fields, _ = await raw_request(port, from_neighbour(get(f"/list/{key.public_key_hex}", host,
                                                                       f"Authorization: {listing}")))  # fmt: skip
        assert status == 400, host
    status, _, body = await raw_request(port, from_neighbour(get("/upload", "192.168.4.1:4848")))
    assert status == 200
    assert orjson.loads(body)["max_blob_bytes"] > 0


# -- bundles: a hostile file costs work in proportion to its size ------------------------------------------------


def header(version: int = 1) -> bytes:
    return encode_header(BundleHeader(1, 1, b"\x07" * 16, 0, None, None, version))


def block_head(index: int, content_len: int, payload_len: int, payload_crc: int, records: int = 1) -> bytes:
    head = _BLOCK.pack(BLOCK_MAGIC, index, records, content_len, payload_len, payload_crc)
    return head + _CRC.pack(_crc(head))


@contextmanager
def counted_crc() -> Iterator[list[int]]:
    """Count the bytes the bundle reader checks with CRC-32 (its work on payloads)."""
    checked = [0]
    original = bundle_reader._crc

    def counting(data: bytes | bytearray | memoryview) -> int:
        checked[0] += len(data)
        return original(data)

    bundle_reader._crc = counting  # type: ignore[assignment]
    try:
        yield checked
    finally:
        bundle_reader._crc = original  # type: ignore[assignment]


def good_bundle(path: Path, events: Sequence[Event]) -> Path:
    writer = BundleWriter(created_at=1_700_000_000, bundle_id=bytes(16), part=1)
    data = b"".join(writer.add(event) or b"" for event in events) + writer.finish()
    path.write_bytes(writer.header(total_parts=1) + data[64:])
    return path


@pytest.fixture
def events() -> list[Event]:
    key = SecretKey(bytes([11]) * 32)
    return [sign_event(key, 1, f"note {n}", [], created_at=1_700_000_000 + n) for n in range(5)]


async def imported(paths: Sequence[Path]) -> tuple[Any, list[Event]]:
    stored: list[Event] = []

    async def ingest(batch: list[Event]) -> list[AddOutcome]:
        stored.extend(batch)
        return [AddOutcome.STORED] * len(batch)

    report = await import_bundles(paths, ingest, clock=lambda: 1_700_000_100.0)
    return report, stored


async def test_blocks_inside_one_another_are_refused(tmp_path: Path, events: list[Event]) -> None:
    """A file of block headers placed 28 bytes apart, each declaring a megabyte of payload that fails its CRC, made
    every resync check a megabyte again (a 1.3 MB file kept the import busy for about 20 s of CPU): it is refused as
    too damaged after checking about its own size, and the good file after it imports whole."""
    fakes = b"".join(block_head(n, MIB, deflate_bound(MIB), 0xDEADBEEF) for n in range(300))
    hostile = tmp_path / "overlap.smz"
    hostile.write_bytes(header() + fakes + bytes(deflate_bound(MIB)))
    good = good_bundle(tmp_path / "good.smz", events)
    with counted_crc() as checked:
        report, stored = await imported([hostile, good])
    bad, fine = report.files
    assert bad.error is not None
    assert "too damaged" in bad.error
    assert checked[0] <= 3 * (hostile.stat().st_size + good.stat().st_size)
    assert fine.error is None
    assert fine.complete
    assert fine.new == len(events)
    assert sorted(e.id for e in stored) == sorted(e.id for e in events)


async def test_blocks_that_fail_after_inflating_count_towards_the_ratio(tmp_path: Path) -> None:
    """Blocks of a kilobyte that each inflate to a megabyte and then prove one byte too long were never counted
    against the 100:1 limit (10 MB of them cost about 20 s of CPU): the file is refused as a decompression bomb."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(b"\n" * (MIB + 1)) + compressor.flush()
    blocks = b"".join(block_head(n, MIB, len(payload), _crc(payload)) + payload for n in range(200))
    hostile = tmp_path / "inflate.smz"
    hostile.write_bytes(header() + blocks)
    report, stored = await imported([hostile])
    assert report.files[0].error is not None
    assert "decompression bomb" in report.files[0].error
    assert stored == []


WEB = Path(__file__).resolve().parents[2] / "web"


def browser_reads(path: Path) -> dict[str, Any]:
    """What the web app's reader (web/src/bundle.js, run by node) makes of ``path``: {records, error}."""
    done = subprocess.run(
        ["node", str(WEB / "test" / "bundle_check.mjs"), str(path)], capture_output=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr.decode()
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@pytest.mark.skipif(
    shutil.which("node") is None and os.environ.get("CI") != "true", reason="node runs the app's reader"
)
def test_the_browsers_reader_refuses_the_same_hostile_files(tmp_path: Path, events: list[Event]) -> None:
    """The web app opens bundle files a phone picks with a port of the same reader: blocks inside one another and
    blocks that fail after inflating are refused there too, with the same sentences, and a good file still reads."""
    overlap = tmp_path / "overlap.smz"
    fakes = b"".join(block_head(n, MIB, deflate_bound(MIB), 0xDEADBEEF) for n in range(300))
    overlap.write_bytes(header() + fakes + bytes(deflate_bound(MIB)))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    payload = compressor.compress(b"\n" * (MIB + 1)) + compressor.flush()
    inflate = tmp_path / "inflate.smz"
    inflate.write_bytes(
        header() + b"".join(block_head(n, MIB, len(payload), _crc(payload)) + payload for n in range(200))
    )

    assert "too damaged" in browser_reads(overlap)["error"]
    assert "decompression bomb" in browser_reads(inflate)["error"]
    assert browser_reads(good_bundle(tmp_path / "good.smz", events)) == {"records": len(events), "error": None}


class SearchCounter(bytearray):
    """A bytearray that counts the bytes its ``find`` looks through."""

    searched = 0

    def find(self, sub: Any, start: Any = None, end: Any = None) -> int:  # type: ignore[override]
        found = super().find(sub, start, end)
        begin = 0 if start is None else start
        SearchCounter.searched += (found + len(sub) if found >= 0 else len(self)) - begin
        return found


def test_many_damaged_spots_cost_a_search_of_the_file_once() -> None:
    """One block header declaring a megabyte keeps that megabyte in the buffer; thousands of damaged spots inside
    it had each search the whole buffer for a trailer (a 1.3 MB file: about 5 s of CPU). Each search now stops at
    the next magic: the bytes searched stay in proportion to the file."""
    big = block_head(0, MIB, deflate_bound(MIB), 0xDEADBEEF)
    junk = b"SMZB" + bytes(24)  # a block magic whose header CRC fails: one damaged spot each
    data = header() + big + junk * 5000 + bytes(deflate_bound(MIB))
    reader = bundle_reader.BundleReader()
    reader._buf = SearchCounter()
    SearchCounter.searched = 0
    for offset in range(0, len(data), 64 * 1024):
        reader.feed(data[offset : offset + 64 * 1024])
    reader.close()
    summary = reader.summary()
    assert not summary.complete
    assert len(summary.problems) > 0
    assert SearchCounter.searched <= 4 * len(data)


def test_block_headers_in_a_good_file_still_read() -> None:
    """The faster search finds what the old one found: a block after junk that holds "SMZ" but no magic."""
    key = SecretKey(bytes([12]) * 32)
    event = sign_event(key, 1, "after the junk", [], created_at=1_700_000_000)
    record = event.to_json() + b"\n"
    data = header() + b"SMZ" + b"SMZx" * 3 + b"SM" + encode_block(0, record, 1)
    items = bundle_reader.BundleReader().feed(data)
    found = [item for item in items if isinstance(item, RawEvent)]
    assert [item.value["id"] for item in found] == [event.id]


async def test_numbers_that_are_not_numbers_are_one_line_refusals(served: Served) -> None:
    """ "²" is a digit to ``str.isdigit`` but not a number to ``int``: as an upload's declared size (no
    authorization needed), a list's limit or an authorization's expiration it was a 500; now a 4xx with its
    reason, and the node goes on answering."""
    port = served.port
    key = SecretKey(bytes([9]) * 32)
    preflight = f"HEAD /upload HTTP/1.1\r\nHost: 127.0.0.1\r\nX-SHA-256: {'a' * 64}\r\nX-Content-Length: \xb2\r\n"
    status, fields, _ = await raw_request(port, (preflight + "Connection: close\r\n\r\n").encode("latin-1"))
    assert status == 411
    assert "X-Content-Length" in fields["x-reason"]
    listing = blossom_auth(key, "list")
    path = f"/list/{key.public_key_hex}?limit=%C2%B2"
    status, fields, _ = await raw_request(port, get(path, "127.0.0.1", f"Authorization: {listing}"))
    assert status == 400
    assert "limit" in fields["x-reason"]
    for expiration in ("\u00b2", "\u0663", "9" * 5000):
        event = sign_event(key, 24242, "list", [["t", "list"], ["expiration", expiration]], created_at=1_700_000_000)
        token = "Nostr " + base64.urlsafe_b64encode(event.to_json()).decode()
        status, fields, _ = await raw_request(port, get(f"/list/{key.public_key_hex}", "127.0.0.1",
                                                        f"Authorization: {token}"))  # fmt: skip
        assert status == 401
        assert "expiration" in fields["x-reason"]
    status, _, _ = await raw_request(port, get("/upload", "127.0.0.1"))
    assert status == 200


def test_a_preview_authorization_with_such_an_expiration_is_refused_with_a_sentence() -> None:
    """The photo preview's first message: the same "²" was a ValueError that dropped the connection unanswered."""
    key = SecretKey(bytes([9]) * 32)
    for expiration in ("\u00b2", "9" * 5000):
        event = sign_event(key, 24242, "preview", [["t", "preview"], ["expiration", expiration]], created_at=1_000)
        with pytest.raises(RemoteProtocolError, match="expired"):
            check_authorization(event.to_dict(), 1_000)


async def test_a_named_pipe_on_the_stick_is_refused_not_waited_for(tmp_path: Path, events: list[Event]) -> None:
    """A named pipe called ``news.smz`` (an ext4 stick can carry one) kept ``samizdat import`` waiting for ever in
    a thread nothing could interrupt; it is refused with a sentence, and the bundle beside it imports."""
    pipe = tmp_path / "news.smz"
    os.mkfifo(pipe)
    good = good_bundle(tmp_path / "good.smz", events)
    try:
        async with asyncio.timeout(TIMEOUT):
            report, stored = await imported([pipe, tmp_path, good])
    finally:  # a reader still waiting in open() (the old code) gets its end of file, so the test ends
        with contextlib.suppress(OSError):
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
    piped, directory, fine = report.files
    assert piped.error is not None
    assert "not a regular file" in piped.error
    assert directory.error is not None
    assert fine.new == len(events)
    assert len(stored) == len(events)
