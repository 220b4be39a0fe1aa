"""Blossom over real HTTP on a relay's port (web/blossom.py through relay/bodies.py): uploads with kind-24242
authorization, hostile uploads refused with X-Reason and a 4xx while the node keeps running and keeps its data,
blobs served back byte for byte with their own sandboxing headers, list and delete with authorization."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest

from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.node import Node
from samizdat.relay.limits import RelayLimits
from samizdat.services import blobs, posts
from samizdat.testing import blossom_auth, clean_photo, running_relay, test_node
from samizdat.web.blossom import BlossomEndpoint

TIMEOUT = 10.0


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


async def request(port: int, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
                  *, length: bool = True) -> Answer:  # fmt: skip
    """One HTTP/1.1 request to 127.0.0.1:``port``, the whole answer read (bounded in time)."""
    async with asyncio.timeout(TIMEOUT):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            lines = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Connection: close"]
            lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
            if length and (body or method == "PUT"):
                lines.append(f"Content-Length: {len(body)}")
            writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            status_line, *rest = head.decode("latin-1").split("\r\n")
            fields = {k.strip().lower(): v.strip() for k, _, v in (r.partition(":") for r in rest if r)}
            size = int(fields.get("content-length", "0"))
            data = await reader.readexactly(size) if method != "HEAD" else await reader.read()
            return Answer(int(status_line.split(" ")[1]), fields, data)
        finally:
            writer.close()


@dataclass
class Served:
    node: Node
    port: int
    editor: SecretKey
    stranger: SecretKey


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[Served]:
    async with test_node(tmp_path / "node") as node:
        ctx = node.ctx
        editor, stranger = SecretKey(bytes([5]) * 32), SecretKey(bytes([6]) * 32)
        channel, _ = await posts.create_channel(ctx, "photos", "Photos")
        await posts.change_admins(ctx, channel.address, add=[editor.public_key_hex], role="editor", remove=[],
                                  since=None)  # fmt: skip
        handler = BlossomEndpoint(ctx)
        limits = RelayLimits(allowed_origins=("https://app.example",))  # a web client on this machine (preflight)
        async with running_relay(tmp_path, request_handler=handler, max_body=blobs.MAX_BLOB_BYTES,
                                 limits=limits) as relay:  # fmt: skip
            yield Served(node, relay.port, editor, stranger)


def auth(key: SecretKey, verb: str, data: bytes | None = None, **options: int) -> dict[str, str]:
    hashes = [hashlib.sha256(data).hexdigest()] if data is not None else []
    return {"Authorization": blossom_auth(key, verb, hashes, **options)}


async def upload(served: Served, data: bytes, key: SecretKey | None = None, content_type: str = "image/webp",
                 headers: dict[str, str] | None = None) -> Answer:  # fmt: skip
    given = {"Content-Type": content_type, **auth(key or served.editor, "upload", data), **(headers or {})}
    return await request(served.port, "PUT", "/upload", data, given)


async def test_an_upload_is_served_back_with_the_same_bytes_and_safe_headers(served: Served) -> None:
    data = clean_photo(320, 200, seed=3)
    sha256 = hashlib.sha256(data).hexdigest()
    created = await upload(served, data)
    assert created.status == 201, created.headers.get("x-reason")
    descriptor = orjson.loads(created.body)
    assert descriptor["sha256"] == sha256
    assert descriptor["size"] == len(data)
    assert descriptor["type"] == "image/webp"
    assert descriptor["url"] == f"http://127.0.0.1:{served.port}/{sha256}.webp"
    assert created.headers["access-control-allow-origin"] == "*"
    again = await upload(served, data)
    assert again.status == 200  # already stored: BUD-02's 200 with the same descriptor

    got = await request(served.port, "GET", f"/{sha256}.webp")
    assert got.status == 200
    assert got.body == data
    assert got.headers["content-type"] == "image/webp"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert got.headers["content-security-policy"] == "sandbox; default-src 'none'"
    assert got.headers["access-control-allow-origin"] == "*"
    bare = await request(served.port, "GET", f"/{sha256}")
    assert bare.body == data
    assert bare.headers["content-type"] == "image/webp"
    head = await request(served.port, "HEAD", f"/{sha256}")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-length"] == str(len(data))
    missing = await request(served.port, "HEAD", f"/{'0' * 64}")
    assert missing.status == 404
    assert missing.body == b""
    preflight = await request(served.port, "OPTIONS", "/upload", headers={"Origin": "https://app.example"})
    assert preflight.status == 204
    assert "PUT" in preflight.headers["access-control-allow-methods"]


async def test_a_jpeg_is_served_as_a_jpeg_whatever_extension_is_asked(served: Served) -> None:
    data = clean_photo(fmt="JPEG", seed=8)
    sha256 = hashlib.sha256(data).hexdigest()
    assert (await upload(served, data, content_type="image/jpeg")).status == 201
    got = await request(served.port, "GET", f"/{sha256}.html")
    assert got.status == 200
    assert got.headers["content-type"] == "image/jpeg"


def _expired(key: SecretKey, data: bytes) -> dict[str, str]:
    return auth(key, "upload", data, expiration=int(time.time()) - 5, created_at=int(time.time()) - 60)


def _wrong_hash(key: SecretKey, data: bytes) -> dict[str, str]:
    return {"Authorization": blossom_auth(key, "upload", [hashlib.sha256(b"another photo").hexdigest()])}


def _not_nostr(key: SecretKey, data: bytes) -> dict[str, str]:
    return {"Authorization": "Bearer " + base64.b64encode(b"x").decode()}


def _wrong_kind(key: SecretKey, data: bytes) -> dict[str, str]:
    return {"Authorization": blossom_auth(key, "upload", [hashlib.sha256(data).hexdigest()], kind=1)}


def _forged(key: SecretKey, data: bytes) -> dict[str, str]:
    tags = [["t", "upload"], ["expiration", str(int(time.time()) + 60)], ["x", hashlib.sha256(data).hexdigest()]]
    event = sign_event(key, 24242, "upload", tags, created_at=int(time.time()))
    raw = orjson.loads(event.to_json())
    raw["sig"] = ("0" if raw["sig"][0] != "0" else "1") + raw["sig"][1:]
    return {"Authorization": "Nostr " + base64.urlsafe_b64encode(orjson.dumps(raw)).decode()}


REFUSED_AUTH = {
    "no authorization": (lambda key, data: {}, 401, "Authorization"),
    "expired authorization": (_expired, 401, "expired"),
    "wrong verb": (lambda key, data: auth(key, "delete", data), 401, "not upload"),
    "hash not the authorized one": (_wrong_hash, 403, "another blob"),
    "not a Nostr authorization": (_not_nostr, 401, "Nostr <base64 event>"),
    "wrong kind": (_wrong_kind, 401, "kind 1"),
    "forged signature": (_forged, 401, "not a valid signed event"),
}


@pytest.mark.parametrize("case", sorted(REFUSED_AUTH))
async def test_uploads_without_a_valid_authorization_are_refused(served: Served, case: str) -> None:
    make, status, reason = REFUSED_AUTH[case]
    data = clean_photo(seed=11)
    answer = await request(served.port, "PUT", "/upload", data,
                           {"Content-Type": "image/webp", **make(served.editor, data)})  # fmt: skip
    assert answer.status == status, answer.headers.get("x-reason")
    assert reason in answer.headers["x-reason"]
    assert not blobs.has_blob(served.node.ctx, hashlib.sha256(data).hexdigest())


async def test_a_stranger_may_not_upload_but_the_operator_may(served: Served) -> None:
    data = clean_photo(seed=12)
    refused = await upload(served, data, served.stranger)
    assert refused.status == 403
    assert "may not upload" in refused.headers["x-reason"]
    assert (await upload(served, data, served.node.ctx.key)).status == 201


async def test_hostile_uploads_are_refused_and_the_node_keeps_running_with_its_data(served: Served) -> None:
    kept = clean_photo(seed=13)
    assert (await upload(served, kept)).status == 201
    polyglot = clean_photo(fmt="JPEG") + b"<html><script>alert(document.domain)</script></html>"
    truncated = clean_photo(300, 200, fmt="JPEG")[:-200]
    for data, content_type, status, reason in [
        (polyglot, "image/jpeg", 415, "polyglot"),
        (truncated, "image/jpeg", 415, "truncated"),
        (clean_photo(fmt="PNG"), "image/jpeg", 415, "declared image/jpeg but is image/png"),
        (b"<svg onload=alert(1)></svg>", "image/svg+xml", 415, "only JPEG, PNG and WebP"),
    ]:
        answer = await upload(served, data, content_type=content_type)
        assert answer.status == status, answer.headers.get("x-reason")
        assert reason in answer.headers["x-reason"]
    mismatch = await upload(served, kept, headers={"X-SHA-256": "0" * 64})
    assert mismatch.status == 409
    too_big = await request(served.port, "PUT", "/upload", b"\xff" * (blobs.MAX_BLOB_BYTES + 1),
                            {"Content-Type": "image/jpeg"})  # fmt: skip
    assert too_big.status == 413
    assert "larger than" in too_big.headers["x-reason"]
    chunked = await request(served.port, "PUT", "/upload", b"5\r\nhello\r\n0\r\n\r\n",
                            {"Transfer-Encoding": "chunked"}, length=False)  # fmt: skip
    assert chunked.status == 411
    got = await request(served.port, "GET", f"/{hashlib.sha256(kept).hexdigest()}")
    assert got.status == 200
    assert got.body == kept
    assert [e.sha256 for e in blobs.blob_store(served.node.ctx).entries()] == [hashlib.sha256(kept).hexdigest()]


async def test_preflight_list_and_delete(served: Served) -> None:
    data, other = clean_photo(seed=14), clean_photo(seed=15)
    sha256 = hashlib.sha256(data).hexdigest()
    preflight = {"X-SHA-256": sha256, "X-Content-Length": str(len(data)), "X-Content-Type": "image/webp"}
    ok = await request(served.port, "HEAD", "/upload", headers={**preflight, **auth(served.editor, "upload", data)})
    assert ok.status == 200
    big = {**preflight, "X-Content-Length": str(blobs.MAX_BLOB_BYTES + 1), **auth(served.editor, "upload", data)}
    assert (await request(served.port, "HEAD", "/upload", headers=big)).status == 413
    stranger = await request(served.port, "HEAD", "/upload",
                             headers={**preflight, **auth(served.stranger, "upload", data)})  # fmt: skip
    assert stranger.status == 403
    limits = orjson.loads((await request(served.port, "GET", "/upload")).body)
    assert limits["max_blob_bytes"] == blobs.MAX_BLOB_BYTES
    assert "image/webp" in limits["types"]

    assert (await upload(served, data)).status == 201
    assert (await upload(served, other, served.node.ctx.key)).status == 201
    editor = served.editor.public_key_hex
    unauthorized = await request(served.port, "GET", f"/list/{editor}")
    assert unauthorized.status == 401
    listed = await request(served.port, "GET", f"/list/{editor}", headers=auth(served.editor, "list"))
    assert [d["sha256"] for d in orjson.loads(listed.body)] == [sha256]
    nosy = await request(served.port, "GET", f"/list/{editor}", headers=auth(served.stranger, "list"))
    assert nosy.status == 403

    not_theirs = await request(served.port, "DELETE", f"/{sha256}", headers=auth(served.stranger, "delete", data))
    assert not_theirs.status == 403
    assert (await request(served.port, "GET", f"/{sha256}")).status == 200
    deleted = await request(served.port, "DELETE", f"/{sha256}", headers=auth(served.editor, "delete", data))
    assert deleted.status == 200
    assert (await request(served.port, "GET", f"/{sha256}")).status == 404
    assert (await request(served.port, "GET", f"/{hashlib.sha256(other).hexdigest()}")).status == 200


async def test_a_websocket_and_the_relays_own_pages_still_work_beside_blossom(served: Served) -> None:
    status = await request(served.port, "GET", "/status")
    assert status.status == 200
    assert b"Samizdat relay" in status.body
    nip11 = await request(served.port, "GET", "/", headers={"Accept": "application/nostr+json"})
    assert nip11.status == 200
    assert orjson.loads(nip11.body)["name"]
    post = await request(served.port, "POST", "/status", b"x")
    assert post.status == 405


async def test_uploads_past_the_memory_budget_wait_for_another_time(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samizdat.relay import bodies

    monkeypatch.setattr(bodies, "MAX_BODIES_BYTES", 1000)
    busy = await upload(served, clean_photo(200, 150, seed=16, noise=True))
    assert busy.status == 503
    assert "Too many uploads at once" in busy.headers["x-reason"]
    monkeypatch.undo()
    assert (await upload(served, clean_photo(200, 150, seed=16, noise=True))).status == 201  # the budget came back


async def test_one_address_cannot_hold_every_upload_slot_with_bodies_it_never_sends(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samizdat.relay import bodies, door

    monkeypatch.setattr(door, "peer_ip", lambda peername: "203.0.113.7")  # as if from one address on the Wi-Fi
    held = []
    try:
        for _ in range(bodies.MAX_BODIES_PER_ADDRESS):  # headers promising 2 MB, then nothing
            reader, writer = await asyncio.open_connection("127.0.0.1", served.port)
            writer.write(b"PUT /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 2000000\r\n\r\n")
            await writer.drain()
            held.append(writer)
        for _ in range(50):  # once the relay has read those headers
            refused = await upload(served, clean_photo(seed=17))
            if refused.status == 429:
                break
            await asyncio.sleep(0.1)
        assert refused.status == 429
        assert "from this address" in refused.headers["x-reason"]
    finally:
        for writer in held:
            writer.close()
    for _ in range(50):  # the slots come back when those connections go
        answer = await upload(served, clean_photo(seed=17))
        if answer.status != 429:
            break
        await asyncio.sleep(0.1)
    assert answer.status == 201


async def test_uploads_are_rate_limited_per_key(tmp_path: Path) -> None:
    from samizdat.web.blossom import Limits

    async with test_node(tmp_path / "node") as node:
        endpoint = BlossomEndpoint(node.ctx, limits=Limits(key_burst=2, key_rate=1e-6))
        async with running_relay(tmp_path, request_handler=endpoint, max_body=blobs.MAX_BLOB_BYTES) as relay:
            served = Served(node, relay.port, node.ctx.key, SecretKey(bytes([6]) * 32))
            statuses = [(await upload(served, clean_photo(seed=50 + i))).status for i in range(3)]
            assert statuses == [201, 201, 429]
            refused = await upload(served, clean_photo(seed=60))
            assert "too many requests from this key" in refused.headers["x-reason"]


async def test_the_table_of_addresses_stays_bounded_under_many_addresses(tmp_path: Path) -> None:
    from websockets.datastructures import Headers

    from samizdat.relay.bodies import HttpRequest

    now = [0.0]
    async with test_node(tmp_path / "node") as node:
        endpoint = BlossomEndpoint(node.ctx, clock=lambda: now[0])
        for i in range(25_000):  # one request each from many addresses (IPv6 makes them cheap), a second apart
            now[0] += 1.0
            endpoint._rate_address(HttpRequest("GET", "/x", Headers(), b"", f"2001:db8::{i:x}", False))
        assert len(endpoint._ips) <= 10_002


async def test_one_address_asking_for_photos_without_end_is_slowed_and_others_are_served(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from samizdat.relay import door
    from samizdat.web.blossom import Limits

    async with test_node(tmp_path / "node") as node:
        endpoint = BlossomEndpoint(node.ctx, limits=Limits(get_burst=5, get_rate=1e-6))
        async with running_relay(tmp_path, request_handler=endpoint, max_body=blobs.MAX_BLOB_BYTES) as relay:
            served = Served(node, relay.port, node.ctx.key, SecretKey(bytes([6]) * 32))
            data = clean_photo(seed=70)
            assert (await upload(served, data)).status == 201
            path = f"/{hashlib.sha256(data).hexdigest()}"
            monkeypatch.setattr(door, "peer_ip", lambda peername: "203.0.113.9")  # one address on the Wi-Fi
            answers = [await request(served.port, "GET", path) for _ in range(6)]
            assert [a.status for a in answers] == [200] * 5 + [429]  # the address's reads ran out
            assert answers[0].body == data
            assert "too many photo requests from this address" in answers[-1].headers["x-reason"]
            monkeypatch.setattr(door, "peer_ip", lambda peername: "203.0.113.10")  # a neighbour is served as before
            got = await request(served.port, "GET", path)
            assert (got.status, got.body) == (200, data)


async def test_a_channels_editor_cannot_fill_the_disk_with_photos(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = clean_photo(seed=80, noise=True), clean_photo(seed=81, noise=True)
    monkeypatch.setattr(blobs, "UPLOADER_BYTES", len(first) + len(second) // 2)  # room for one photo, not two
    assert (await upload(served, first)).status == 201
    full = await upload(served, second)
    assert full.status == 413
    assert "delete some first" in full.headers["x-reason"]
    sha256 = hashlib.sha256(second).hexdigest()
    preflight = {"X-SHA-256": sha256, "X-Content-Length": str(len(second)), **auth(served.editor, "upload", second)}
    assert (await request(served.port, "HEAD", "/upload", headers=preflight)).status == 413  # said before sending
    assert (await upload(served, second, served.node.ctx.key)).status == 201  # the operator sizes the disk
    gone = await request(served.port, "DELETE", f"/{hashlib.sha256(first).hexdigest()}",
                         headers=auth(served.editor, "delete", first))  # fmt: skip
    assert gone.status == 200
    third = clean_photo(seed=82, noise=True)
    assert (await upload(served, third)).status == 201  # room again after a deletion (BUD-12)
