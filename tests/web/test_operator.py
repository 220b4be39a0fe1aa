"""Operator login: only someone holding a code printed by ``samizdat web login`` can act as the node's key, only
from the node's own page (Origin), not after ``samizdat web logout``, and a login link only once (the browser
gets a session code for it)."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Cli
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage

from samizdat.errors import RemoteProtocolError, UsageError
from samizdat.web.operator import (
    FAILURES_ALLOWED,
    NOT_VALID,
    TOKENS_FILE,
    USED,
    LoginLimiter,
    address_key,
    check_template,
    exchange_code,
    forget_tokens,
    link_spent,
    list_codes,
    new_token,
    revoke_code,
    same_origin,
    token_valid,
)


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
        ("http://localhost:4848", "localhost:4848", True),
        ("https://relay.example.org", "relay.example.org", True),  # a name the operator gave: [relay] host_names
        ("http://evil.example", "192.168.1.5:4848", False),
        ("http://evil.example:4848", "evil.example:4848", False),  # DNS rebinding: the site's name, our address
        ("https://hub.local", "hub.local", False),  # a LAN name the node was not given
        ("http://192.168.1.5:4849", "192.168.1.5:4848", False),
        ("null", "192.168.1.5:4848", False),
        (None, "192.168.1.5:4848", False),
        ("file://", "", False),
    ],
)
def test_same_origin(origin: str | None, host: str, ok: bool) -> None:
    assert same_origin(origin, host, names=("relay.example.org",)) is ok


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

    with pytest.raises(InvalidMessage):  # another site's page on this machine: closed without an answer
        await connect(node.url + "/op", origin="http://evil.example", open_timeout=10)  # type: ignore[arg-type]
    ws = await connect(node.url + "/op", origin=None, open_timeout=10)  # no browser at all
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


# -- codes: expiry, the old file format, listing and revoking one, rate limits ------------------------------------


def test_codes_expire_and_the_first_file_format_still_counts(tmp_path: Path) -> None:
    made = 1_800_000_000
    week = new_token(tmp_path, now=made, lifetime=7 * 86400)
    assert token_valid(tmp_path, week, now=made + 7 * 86400 - 1)
    assert not token_valid(tmp_path, week, now=made + 7 * 86400)
    default = new_token(tmp_path, now=made)
    assert token_valid(tmp_path, default, now=made + 29 * 86400)
    assert not token_valid(tmp_path, default, now=made + 30 * 86400)

    old_home = tmp_path / "old"
    old_home.mkdir()
    old = "an-old-code-made-before-expiry"
    (old_home / TOKENS_FILE).write_text(f"{hashlib.sha256(old.encode()).hexdigest()} {made}\n")  # hash created
    assert token_valid(old_home, old, now=made + 86400)
    assert not token_valid(old_home, old, now=made + 31 * 86400)  # the default lifetime from its creation
    [code] = list_codes(old_home)
    assert (code.created, code.last_used) == (made, 0)
    new_token(old_home, now=made + 86400)  # rewriting the file in the new format keeps the old code
    assert token_valid(old_home, old, now=made + 2 * 86400)
    with pytest.raises(UsageError, match="between one minute and a year"):
        new_token(tmp_path, lifetime=5)


def test_a_link_code_is_exchanged_once_for_a_session_code_under_the_same_id(tmp_path: Path) -> None:
    made = 1_800_000_000
    link = new_token(tmp_path, now=made, lifetime=86400)
    other = new_token(tmp_path, now=made)
    code = list_codes(tmp_path)[0]
    session = exchange_code(tmp_path, code.digest, made + 5)
    assert session is not None
    assert exchange_code(tmp_path, code.digest, made + 6) is None  # spent
    after = list_codes(tmp_path)[0]
    assert (after.id, after.created, after.expires, after.last_used) == (code.id, made, made + 86400, made)  # hour
    assert token_valid(tmp_path, session, now=made + 10)
    assert not token_valid(tmp_path, link, now=made + 10)
    assert link_spent(tmp_path, link)
    assert not link_spent(tmp_path, session)
    assert not link_spent(tmp_path, other)
    stored = (tmp_path / TOKENS_FILE).read_text()
    assert session not in stored
    assert link not in stored
    assert revoke_code(tmp_path, code.id).id == code.id  # the id the link was shown with ends the session
    assert not token_valid(tmp_path, session, now=made + 10)
    assert token_valid(tmp_path, other, now=made + 10)


def test_one_code_is_revoked_by_its_id(tmp_path: Path) -> None:
    first, second = new_token(tmp_path), new_token(tmp_path)
    codes = list_codes(tmp_path)
    assert len(codes) == 2
    first_id = codes[0].id
    with pytest.raises(UsageError, match="at least 4"):
        revoke_code(tmp_path, "ab")
    with pytest.raises(UsageError, match="no operator code"):
        revoke_code(tmp_path, "ffff" if not first_id.startswith("ffff") else "0000")
    assert revoke_code(tmp_path, first_id.upper()).id == first_id
    assert not token_valid(tmp_path, first)
    assert token_valid(tmp_path, second)
    assert os.stat(tmp_path / TOKENS_FILE).st_mode & 0o077 == 0


def test_the_login_limiter() -> None:
    limiter = LoginLimiter(per_minute=3, failures=2, window=600)
    assert [limiter.allow("10.0.0.5", 0) for _ in range(4)] == [True, True, True, False]
    assert limiter.allow("10.0.0.6", 0)  # another address is not held up
    assert limiter.allow("10.0.0.5", 61)  # a minute later
    limiter.failed("10.0.0.5", 61)
    limiter.failed("10.0.0.5", 62)
    assert not limiter.allow("10.0.0.5", 200)  # two wrong codes: no more tries for a while
    assert limiter.allow("10.0.0.5", 662)  # until they are ten minutes old
    assert address_key(("2001:db8::1", 1)) == address_key(("2001:db8::ffff:2", 1)) == "2001:db8::/64"
    assert address_key(("::ffff:10.0.0.5", 1)) == "10.0.0.5"
    small = LoginLimiter(tracked=2)
    for n in range(10):
        small.allow(f"10.0.1.{n}", 0)
    assert len(small._seen) == 2  # memory stays bounded


def test_codes_are_listed_and_revoked_from_the_command_line(tmp_path: Path) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    before = int(time.time())
    week = cli.json("web", "login", "--expires", "7d", "--no-qr")
    assert before + 7 * 86400 <= week["expires"] <= int(time.time()) + 7 * 86400 + 3600  # up to the next hour
    month = cli.json("web", "login", "--no-qr")
    listed = cli.json("web", "codes")
    assert [row["id"] for row in listed] == [week["id"], month["id"]]
    assert all(row["last_used"] is None and row["expired"] is False for row in listed)
    table = cli.ok("web", "codes").out
    assert "LAST USED" in table
    assert week["id"] in table
    assert "never" in table
    assert cli.json("web", "logout", week["id"]) == {"revoked": 1, "id": week["id"]}
    assert [row["id"] for row in cli.json("web", "codes")] == [month["id"]]
    assert "no operator code" in cli.fails("web", "logout", week["id"]).err
    assert "is not a duration" in cli.fails("web", "login", "--expires", "soon").err
    assert cli.json("web", "logout", "--all") == {"revoked": 1}
    assert "No operator codes" in cli.ok("web", "codes").out


async def test_wrong_codes_cannot_be_tried_at_speed(tmp_path: Path, module_serve: Any) -> None:
    """After a few wrong codes from one address, even the right code is not tried there for a while: the
    connection is closed with 1013 (try again later) and no answer, so a browser keeps its code."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    link = cli.json("web", "login")
    origin = f"http://127.0.0.1:{node.port}"
    ws, answer = await login(node.url, origin, link["token"])
    assert answer["ok"] is True
    await ws.close()
    assert cli.json("web", "codes")[0]["last_used"] is not None  # the login was noted
    for n in range(FAILURES_ALLOWED):
        ws, answer = await login(node.url, origin, f"wrong-code-number-{n:04}")
        assert answer == {"ok": False, "error": "this operator code is not valid (or was revoked)"}
        await ws.close()
    ws = await connect(node.url + "/op", origin=origin, open_timeout=10)  # type: ignore[arg-type]
    with contextlib.suppress(ConnectionClosed):  # closed at once, perhaps before this is sent
        await ws.send(json.dumps({"token": link["token"]}))
    with pytest.raises(ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 10)
    assert ws.close_code == 1013


async def test_a_login_link_logs_in_once(tmp_path: Path, module_serve: Any) -> None:
    """The link's code (left in the browser's history, perhaps pasted elsewhere) logs in once: the node answers
    with a session code, which the browser keeps; the link is then refused with a sentence saying why."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    link = cli.json("web", "login")
    origin = f"http://127.0.0.1:{node.port}"
    ws, answer = await login(node.url, origin, link["token"])
    assert answer["ok"] is True
    session = answer["session"]
    assert session != link["token"]
    await ws.close()
    ws, again = await login(node.url, origin, link["token"])
    assert again == {"ok": False, "error": USED}
    await ws.close()
    ws, answer = await login(node.url, origin, session)
    assert answer["ok"] is True
    assert "session" not in answer  # a session code is kept as it is
    await ws.close()
    [row] = cli.json("web", "codes")
    assert row["id"] == link["id"]
    assert row["last_used"] is not None
    cli.ok("web", "logout", link["id"])
    ws, answer = await login(node.url, origin, session)
    assert answer == {"ok": False, "error": NOT_VALID}
    await ws.close()


async def test_the_web_login_cannot_delete_a_channel(tmp_path: Path, module_serve: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    address = cli.json("channel", "create", "yard", "--name", "Yard")["address"]
    node = module_serve(cli.home)
    link = cli.json("web", "login")
    ws, answer = await login(node.url, f"http://127.0.0.1:{node.port}", link["token"])
    assert answer["ok"] is True
    async with ws:
        sign = {"kind": 5, "content": "", "tags": [["a", address], ["k", "30333"]], "created_at": int(time.time())}
        await ws.send(json.dumps({"id": 1, "sign": sign}))
        assert json.loads(await ws.recv()) == {"id": 1, "error": "a deletion request may not name a channel definition"}
    assert [row["address"] for row in cli.json("channel", "list")] == [address]
