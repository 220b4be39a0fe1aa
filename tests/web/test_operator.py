"""Operator login: only someone holding a code printed by ``samizdat web login`` can act as the node's key, only
from the node's own page (Origin), and not after ``samizdat web logout``."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Cli
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from samizdat.errors import RemoteProtocolError
from samizdat.web.operator import TOKENS_FILE, check_template, forget_tokens, new_token, same_origin, token_valid


def test_codes_are_stored_hashed_and_can_be_revoked(tmp_path: Path) -> None:
    first, second = new_token(tmp_path), new_token(tmp_path)
    stored = (tmp_path / TOKENS_FILE).read_text()
    assert first not in stored
    assert second not in stored
    assert os.stat(tmp_path / TOKENS_FILE).st_mode & 0o077 == 0
    assert token_valid(tmp_path, first)
    assert token_valid(tmp_path, second)
    assert not token_valid(tmp_path, first[:-1] + ("A" if first[-1] != "A" else "B"))
    assert not token_valid(tmp_path, "")
    assert forget_tokens(tmp_path) == 2
    assert not token_valid(tmp_path, first)
    assert forget_tokens(tmp_path) == 0


@pytest.mark.parametrize(
    ("origin", "host", "ok"),
    [
        ("http://192.168.1.5:4848", "192.168.1.5:4848", True),
        ("https://hub.local", "hub.local", True),
        ("http://evil.example", "192.168.1.5:4848", False),
        ("http://192.168.1.5:4849", "192.168.1.5:4848", False),
        ("null", "192.168.1.5:4848", False),
        (None, "192.168.1.5:4848", False),
        ("file://", "", False),
    ],
)
def test_same_origin(origin: str | None, host: str, ok: bool) -> None:
    assert same_origin(origin, host) is ok


@pytest.mark.parametrize(
    "template",
    [
        None,
        {"kind": 0, "content": "", "tags": [], "created_at": 1},  # a profile: not through the web login
        {"kind": 30333, "content": "", "tags": [], "created_at": 1},  # channel definitions: CLI only
        {"kind": 2333, "content": 5, "tags": [], "created_at": 1},
        {"kind": 2333, "content": "", "tags": [["a", 1]], "created_at": 1},
        {"kind": 2333, "content": "", "tags": [], "created_at": True},
    ],
)
def test_signing_requests_are_checked(template: Any) -> None:
    with pytest.raises(RemoteProtocolError):
        check_template(template)


async def login(url: str, origin: str | None, token: str) -> tuple[Any, dict[str, Any]]:
    ws = await connect(url + "/op", origin=origin, open_timeout=10)  # type: ignore[arg-type]
    await ws.send(json.dumps({"token": token}))
    return ws, json.loads(await ws.recv())


async def test_operator_endpoint(tmp_path: Path, module_serve: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    address = cli.json("channel", "create", "yard", "--name", "Yard")["address"]
    node = module_serve(cli.home)
    link = cli.json("web", "login")
    assert link["url"].endswith(f"/#op={link['token']}")
    origin = f"http://127.0.0.1:{node.port}"

    for bad_origin in ("http://evil.example", None):  # another site's page, or no browser at all
        ws = await connect(node.url + "/op", origin=bad_origin, open_timeout=10)  # type: ignore[arg-type]
        with pytest.raises(ConnectionClosed):
            await ws.recv()  # closed before a code can even be tried
        assert ws.close_code == 1008

    ws, answer = await login(node.url, origin, "x" * 22)
    assert answer["ok"] is False
    with pytest.raises(ConnectionClosed):
        await ws.recv()

    ws, answer = await login(node.url, origin, link["token"])
    assert answer["ok"] is True
    async with ws:
        tags = [["a", address, ""], ["type", "news"]]
        await ws.send(json.dumps({"id": 1, "sign": {"kind": 2333, "content": "From the phone", "tags": tags,
                                                    "created_at": int(time.time())}}))  # fmt: skip
        reply = json.loads(await ws.recv())
        assert reply["id"] == 1
        assert reply["event"]["pubkey"] == answer["pubkey"]
        await ws.send(json.dumps({"id": 2, "sign": {"kind": 2333, "content": "", "tags": tags, "created_at": 1}}))
        assert json.loads(await ws.recv()) == {"id": 2, "error": "a news post needs text"}
        await ws.send("not json")
        assert "error" in json.loads(await ws.recv())
        cli.ok("web", "logout")
        await ws.send(json.dumps({"id": 3, "sign": {"kind": 2333, "content": "late", "tags": tags, "created_at": 1}}))
        assert json.loads(await ws.recv()) == {"id": 3, "error": "this operator code was revoked"}
    feed = json.dumps(cli.json("feed", "yard"))
    assert "From the phone" in feed
    assert "late" not in feed


async def test_operator_refuses_a_post_where_the_node_may_not_post(tmp_path: Path, module_serve: Any) -> None:
    """The web login signs under the same role check as `samizdat post`: a channel the node follows but does not
    administer (here: a stranger's, synced in from a bundle) gets the same refusal, and nothing is stored."""
    stranger = Cli(tmp_path / "stranger")
    stranger.ok("init")
    theirs = stranger.json("channel", "create", "market", "--name", "Market square")
    stranger.ok("post", "market", "Their own post")
    bundle = tmp_path / "market.smz"
    stranger.ok("export", "--channel", "market", "-o", str(bundle))

    cli = Cli(tmp_path / "home")
    cli.ok("init")
    cli.ok("follow", theirs["naddr"])
    cli.ok("import", str(bundle))
    refused = cli.fails("post", "market", "Posted by a node that is no admin here")
    assert refused.code == 1
    cli_error = refused.err.strip()
    assert cli_error.startswith("error: this key is not the owner, an admin or an editor")

    node = module_serve(cli.home)
    link = cli.json("web", "login")
    ws, answer = await login(node.url, f"http://127.0.0.1:{node.port}", link["token"])
    assert answer["ok"] is True
    async with ws:
        tags = [["a", theirs["address"], ""], ["type", "news"]]
        await ws.send(json.dumps({"id": 7, "sign": {"kind": 2333, "content": "Posted from a phone", "tags": tags,
                                                    "created_at": int(time.time())}}))  # fmt: skip
        reply = json.loads(await ws.recv())
    assert reply == {"id": 7, "error": cli_error.removeprefix("error: ")}
    texts = [item["text"] for item in cli.json("feed", "market", "--all")]
    assert texts == ["Their own post"]
