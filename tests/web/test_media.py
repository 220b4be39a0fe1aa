"""The photo preview route (``/media/preview``) against a real ``samizdat serve``: only the node's own page, only
keys with a role in a channel the node carries (or the operator), bounded requests, faces blurred in the answer;
and the operator login's upload authorizations (signed, never published)."""

from __future__ import annotations

import io
import json
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from web_helpers import Cli
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage

from samizdat.core import nip19
from samizdat.core.event import parse_event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError
from samizdat.web.media import MAX_IMAGE_BYTES, PREVIEW_PATH, check_authorization, frame, regions_of, unframe


def preview_auth(key: SecretKey, *, verb: str = "preview", expires: int = 300) -> dict[str, Any]:
    now = int(time.time())
    tags = [["t", verb], ["expiration", str(now + expires)]]
    return sign_event(key, 24242, "Preview a photo", tags, created_at=now).to_dict()


def webp(pixels: np.ndarray[Any, Any]) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "WEBP", quality=80)
    return out.getvalue()


def test_requests_are_framed_and_checked() -> None:
    head, body = unframe(frame({"id": 3, "regions": [[0.1, 0.2, 0.3, 0.4]]}, b"IMAGE"))
    assert head == {"id": 3, "regions": [[0.1, 0.2, 0.3, 0.4]]}
    assert body == b"IMAGE"
    assert regions_of([[0, 0, 2, -1]]) == [(0.0, 0.0, 1.0, 0.0)]  # clamped to the picture
    for bad in (b"\x00\x00", struct.pack(">I", 10**6) + b"{}", struct.pack(">I", 2) + b"[]"):
        with pytest.raises(RemoteProtocolError):
            unframe(bad)
    for regions in ([[0, 0, 1]], [["a", 0, 0, 0]], [[True, 0, 0, 0]], [[0, 0, 1, 1]] * 65, "all"):
        with pytest.raises(RemoteProtocolError):
            regions_of(regions)
    key = SecretKey.generate()
    assert check_authorization(preview_auth(key), time.time()) == key.public_key_hex
    for bad_auth, reason in (
        (preview_auth(key, verb="upload"), "not for a preview"),
        (preview_auth(key, expires=-10), "expired"),
        ({**preview_auth(key), "sig": "0" * 128}, "signature"),
    ):
        with pytest.raises(RemoteProtocolError, match=reason):
            check_authorization(bad_auth, time.time())


async def preview(url: str, origin: str, first: dict[str, Any]) -> tuple[Any, dict[str, Any]]:
    ws = await connect(url + PREVIEW_PATH, origin=origin, open_timeout=10, max_size=2**20)  # type: ignore[arg-type]
    await ws.send(json.dumps(first))
    return ws, json.loads(await ws.recv())


async def test_the_preview_route(tmp_path: Path, module_serve: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    admin, stranger = SecretKey.generate(), SecretKey.generate()
    cli.json("channel", "create", "yard", "--name", "Yard")
    cli.ok("channel", "admins", "yard", "--add", nip19.npub_encode(admin.public_key_hex), "--role", "editor")
    node = module_serve(cli.home)
    origin = f"http://127.0.0.1:{node.port}"

    with pytest.raises(InvalidMessage):  # another site's page on this machine: closed without an answer
        await connect(node.url + PREVIEW_PATH, origin="http://evil.example", open_timeout=10)  # type: ignore[arg-type]
    ws = await connect(node.url + PREVIEW_PATH, origin=None, open_timeout=10)  # no page at all
    with pytest.raises(ConnectionClosed):
        await ws.recv()  # closed before anything is read
    assert ws.close_code == 1008

    ws, answer = await preview(node.url, origin, {"auth": preview_auth(stranger)})
    assert answer == {"ok": False, "error": "this key may not post in any channel this node carries, "
                                            "so it may not send photos here"}  # fmt: skip
    with pytest.raises(ConnectionClosed):
        await ws.recv()

    from skimage import data

    face = np.asarray(data.astronaut())
    ws, answer = await preview(node.url, origin, {"auth": preview_auth(admin)})
    assert answer == {"ok": True}
    async with ws:
        await ws.send(frame({"id": 1, "regions": [[0.0, 0.8, 0.2, 0.2]]}, webp(face)))
        head, body = unframe(await ws.recv())
        assert head["id"] == 1
        assert len(head["faces"]) >= 1
        blurred = np.asarray(Image.open(io.BytesIO(body)).convert("L"), dtype=float)
        corner = blurred[int(0.82 * 512) : 510, 2 : int(0.18 * 512)]
        original = np.asarray(Image.fromarray(face).convert("L"), dtype=float)[
            int(0.82 * 512) : 510, 2 : int(0.18 * 512)
        ]
        assert np.var(np.diff(corner, axis=1)) < 0.2 * np.var(np.diff(original, axis=1))  # the region asked for
        await ws.send(frame({"id": 2}, b"<html>not an image</html>"))
        head, body = unframe(await ws.recv())
        assert head["id"] == 2
        assert head["error"]
        assert body == b""
        await ws.send(frame({"id": 3}, b"\xff" * (MAX_IMAGE_BYTES + 1)))
        assert "larger than" in unframe(await ws.recv())[0]["error"]
        await ws.send("text")
        assert unframe(await ws.recv())[0]["error"] == "a preview request is a binary message"

    link = cli.json("web", "login")
    ws, answer = await preview(node.url, origin, {"token": link["token"]})
    assert answer["ok"] is False  # a login link's code logs in once, at /op, and nowhere else
    assert "log in again" in answer["error"]
    await ws.close()
    op = await connect(node.url + "/op", origin=origin, open_timeout=10)  # type: ignore[arg-type]
    async with op:
        await op.send(json.dumps({"token": link["token"]}))
        session = json.loads(await op.recv())["session"]
    ws, answer = await preview(node.url, origin, {"token": session})
    assert answer == {"ok": True}  # the operator's session works
    await ws.close()


async def test_the_operator_login_signs_upload_authorizations_only(tmp_path: Path, module_serve: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    link = cli.json("web", "login")
    origin = f"http://127.0.0.1:{node.port}"
    ws = await connect(node.url + "/op", origin=origin, open_timeout=10)  # type: ignore[arg-type]
    async with ws:
        await ws.send(json.dumps({"token": link["token"]}))
        pubkey = json.loads(await ws.recv())["pubkey"]
        now = int(time.time())
        tags = [["t", "upload"], ["x", "ab" * 32], ["expiration", str(now + 300)]]
        await ws.send(json.dumps({"id": 1, "authorize": {"content": "Upload", "tags": tags, "created_at": now}}))
        event = parse_event(json.loads(await ws.recv())["event"])
        assert (event.kind, event.pubkey, [list(t) for t in event.tags]) == (24242, pubkey, tags)
        for bad in (
            [["t", "delete"], ["expiration", str(now + 300)]],
            [["t", "upload"], ["expiration", str(now + 9999)]],
            [["t", "upload"], ["p", "ab" * 32], ["expiration", str(now + 300)]],
        ):
            await ws.send(json.dumps({"id": 2, "authorize": {"content": "", "tags": bad, "created_at": now}}))
            assert "error" in json.loads(await ws.recv())
    with_relay = await connect(node.url, open_timeout=10)
    async with with_relay:
        await with_relay.send(json.dumps(["REQ", "a", {"kinds": [24242]}]))
        assert json.loads(await with_relay.recv())[0] == "EOSE"  # signed for the phone, never stored or published
