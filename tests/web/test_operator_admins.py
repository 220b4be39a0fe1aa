"""The owner removes an arrested admin through the operator login (``/op``, a real ``samizdat serve``, real
WebSockets), as ``samizdat channel admins --remove --since`` does: the same definition, the same ``since``, the
same kept amendments (docs/safety.md, "Red team, round 8: the turned admin"). Before, ``/op`` signed posts only,
and the web app could not remove an admin at all. A hostile browser on the hub's Wi-Fi gets one sentence for every
malformed request, and nothing changes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from test_start_page import store_flood
from web_helpers import PHONE, Cli, ServeProcess
from websockets.sync.client import ClientConnection, connect
from websockets.typing import Origin

from samizdat.core import kinds, nip19
from samizdat.core.channel import build_channel_event
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey

SAFE, TRAP = "Flat 3, Lenina 5", "Yard of Lenina 40"


def _post(key: SecretKey, address: str, post_type: str, text: str, at: int, *tags: list[str]) -> Event:
    return sign_event(key, kinds.POST, text, [["a", address, ""], ["type", post_type], *tags], created_at=at)


def store(home: Path, events: list[Event]) -> None:
    with ThreadPoolExecutor(1) as pool:  # a loop of its own (Playwright's sync API may run one in this thread)
        pool.submit(asyncio.run, store_flood(home, events)).result()


def turned_yard(home: Path) -> dict[str, Any]:
    """A node whose channel "Yard" has an admin (``turned``) and an editor; the editor's seized key posted a fake
    safe place, which the admin retracted while honest, and the admin posted a safe place of its own, then (after
    its arrest, ``arrest``) a post of the police's."""
    cli = Cli(home)
    cli.ok("init")
    turned, editor = SecretKey.generate(), SecretKey.generate()
    yard = cli.json("channel", "create", "yard", "--name", "Yard")["address"]
    cli.ok("channel", "admins", "yard", "--add", nip19.npub_encode(turned.public_key_hex), "--role", "admin")
    cli.ok("channel", "admins", "yard", "--add", nip19.npub_encode(editor.public_key_hex), "--role", "editor")
    now = int(time.time())
    arrest = now - 1800
    place = _post(turned, yard, "safe-place", "Tea and a charger", now - 7200, ["location", SAFE])
    fake = _post(editor, yard, "safe-place", "Doctors here", now - 7100, ["location", TRAP])
    withdrawn = _post(turned, yard, "retraction", "A police trap", now - 7000,
                      ["e", fake.id, "", "retraction", editor.public_key_hex])  # fmt: skip
    police = _post(turned, yard, "news", "Everyone to the square now", arrest + 60)
    # Another owner's channel this node carries: the operator may not touch it.
    stranger = SecretKey.generate()
    other = build_channel_event(stranger, "theirs", "Theirs", created_at=now - 9000,
                                admins={turned.public_key_hex: "admin"})  # fmt: skip
    store(home, [place, fake, withdrawn, police, other])
    return {"cli": cli, "yard": yard, "turned": turned, "editor": editor, "arrest": arrest, "place": place,
            "fake": fake, "police": police, "other": f"30333:{stranger.public_key_hex}:theirs"}  # fmt: skip


def statuses(cli: Cli, *ids: str) -> dict[str, str]:
    """What ``samizdat feed yard`` shows of these posts: their status, or "hidden"."""
    items = {item["id"]: item for item in cli.json("feed", "yard", "--limit", "200")}
    return {i: items[i]["status"] if i in items else "hidden" for i in ids}


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[dict[str, Any], ServeProcess]]:
    setup = turned_yard(tmp_path / "home")
    serve = ServeProcess(setup["cli"].home, tmp_path / "serve.log")
    try:
        serve.wait_ready()
        yield setup, serve
    finally:
        serve.stop()


@contextlib.contextmanager
def logged_in(serve: ServeProcess, cli: Cli) -> Iterator[ClientConnection]:
    token = cli.json("web", "login")["token"]
    with connect(serve.url + "/op", origin=Origin(f"http://127.0.0.1:{serve.port}"), open_timeout=10) as ws:
        ws.send(json.dumps({"token": token}))
        assert json.loads(ws.recv(timeout=10))["ok"] is True
        yield ws


def ask(ws: ClientConnection, request: object, request_id: int = 1) -> dict[str, Any]:
    ws.send(json.dumps({"id": request_id, "admins": request}) if not isinstance(request, str) else request)
    answer: dict[str, Any] = json.loads(ws.recv(timeout=60))
    return answer


def definition(cli: Cli) -> tuple[Any, Any]:
    shown = cli.json("channel", "show", "yard")
    return shown["admins"], shown.get("revoked")


@contextlib.contextmanager
def owner_phone(browser: Any, serve: ServeProcess, cli: Cli, channel: str) -> Iterator[tuple[Any, list[str]]]:
    """The owner's phone (a new Chromium context), logged in as the operator with a code of ``cli``'s node, on
    ``channel``'s page; every dialog is accepted and its message kept in the list yielded with the page."""
    from playwright.sync_api import expect

    token = cli.json("web", "login")["token"]
    context = browser.new_context(locale="en-US", timezone_id="UTC", **PHONE)
    context.set_default_timeout(30_000)
    asked: list[str] = []

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    try:
        page = context.new_page()
        page.on("dialog", answer)
        page.goto(f"{serve.http_url}#op={token}")
        expect(page.locator("#operator-status")).to_contain_text("Logged in as the node’s operator")
        page.goto(f"{serve.http_url}#/c/{channel}")
        yield page, asked
    finally:
        context.close()


def preview_removal(page: Any, key: str, since: int) -> Any:
    """Open the Admins box, start removing ``key`` since ``since`` and ask for the preview; the key's row."""
    page.locator("#admins summary").click()
    row = page.locator(f'#admins li[data-key="{key}"]')
    row.locator(".admin-remove").click()
    row.locator(".since-time").fill(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(since)))
    row.locator(".admin-remove-go").click()
    return row


def test_the_operator_removes_an_arrested_admin_and_keeps_its_retraction(
    node: tuple[dict[str, Any], ServeProcess],
) -> None:
    setup, serve = node
    cli, yard, turned = setup["cli"], setup["yard"], setup["turned"].public_key_hex
    fake, police = setup["fake"].id, setup["police"].id
    assert statuses(cli, fake, police) == {fake: "retracted", police: "valid"}
    with logged_in(serve, cli) as ws:
        listed = ask(ws, {"channel": yard})
        assert "admins" in listed, listed
        listed = listed["admins"]
        assert listed["admins"] == {turned: "admin", setup["editor"].public_key_hex: "editor"}
        assert listed["revoked"] == {}
        # The owner kept the honest retraction of another's post after a look (drop: nothing left out; round 12).
        answer = ask(
            ws, {"channel": yard, "remove": nip19.npub_encode(turned), "since": setup["arrest"], "drop": []}, 2
        )
        newcomer = SecretKey.generate().public_key_hex
        appointed = ask(ws, {"channel": yard, "add": newcomer, "role": "editor"}, 3)
    assert appointed["admins"]["admins"][newcomer] == "editor", appointed
    assert appointed["admins"]["kept"] == 0
    assert {a["npub"]: a["role"] for a in definition(cli)[0]}[nip19.npub_encode(newcomer)] == "editor"
    assert "error" not in answer, answer
    removed = answer["admins"]  # as the removal left it
    assert removed["kept"] == 1  # the honest admin's retraction of the fake, signed again by the owner
    assert turned not in removed["admins"]
    assert removed["revoked"] == {turned: setup["arrest"]}
    assert len(removed["ids"]) == 2
    # A reader's `samizdat feed`: the police's post from the arrest on no longer counts; the fake stays withdrawn.
    assert statuses(cli, fake, police) == {fake: "retracted", police: "hidden"}
    [item] = [i for i in cli.json("feed", "yard", "--limit", "200") if i["id"] == setup["place"].id]
    assert item["role"] == "former"
    assert item["fields"]["location"] == SAFE


def test_hostile_admin_requests_get_one_sentence_and_change_nothing(
    node: tuple[dict[str, Any], ServeProcess],
) -> None:
    setup, serve = node
    cli, yard, turned = setup["cli"], setup["yard"], nip19.npub_encode(setup["turned"].public_key_hex)
    owner = yard.split(":")[1]
    stranger = SecretKey.generate().public_key_hex
    now = int(time.time())
    before = definition(cli)
    cases: list[tuple[object, str]] = [
        ("[1, 2", "not JSON"),
        (json.dumps({"id": 1, "admins": "x" * 70_000}), "too large"),
        ([yard], "an admins request is an object"),
        ({"channel": yard, "remove": turned, "extra": 1}, "an admins request is an object"),
        ({"channel": 30333}, "channel must be a channel's address"),
        ({"channel": "yard"}, "channel must be a channel's address"),
        ({"channel": yard + "x" * 500}, "channel must be a channel's address"),
        ({"channel": yard, "remove": 12}, "remove must be a public key"),
        ({"channel": yard, "remove": ["a"]}, "remove must be a public key"),
        ({"channel": yard, "remove": "npub1" + "q" * 500}, "remove must be a public key"),
        ({"channel": yard, "remove": "f" * 64}, "not a valid public key"),
        ({"channel": yard, "remove": turned, "since": "yesterday"}, "since must be a unix time"),
        ({"channel": yard, "remove": turned, "since": True}, "since must be a unix time"),
        ({"channel": yard, "remove": turned, "since": 1.5}, "since must be a unix time"),
        ({"channel": yard, "remove": turned, "since": -5}, "since must be a unix time"),
        ({"channel": yard, "remove": turned, "since": 10**30}, "since must be a unix time"),
        ({"channel": yard, "remove": turned, "since": now + 86400 * 365}, "cannot start in the future"),
        ({"channel": yard, "remove": turned, "since": 1000}, "before 2020"),
        ({"channel": yard, "remove": turned, "add": turned}, "not both"),
        ({"channel": yard, "remove": turned, "role": "owner"}, "role is one of"),
        ({"channel": yard, "add": turned, "role": "owner"}, "role is one of"),
        ({"channel": yard, "add": stranger, "since": now}, "since goes only with a key to remove"),
        ({"channel": yard, "remove": owner}, "the owner cannot be removed"),
        ({"channel": yard, "add": owner}, "the owner is always an admin"),
        ({"channel": yard, "remove": stranger}, "not an admin of the channel"),
        ({"channel": setup["other"], "remove": turned}, "this node's key is not its owner"),
        ({"channel": setup["other"]}, "this node's key is not its owner"),
        ({"channel": f"30333:{stranger}:nowhere", "remove": turned}, "does not have channel"),
    ]
    with logged_in(serve, cli) as ws:
        for number, (request, error) in enumerate(cases, 1):
            answer = ask(ws, request, number)
            assert error in answer.get("error", ""), (request, answer)
            assert "\n" not in answer["error"]
            assert "admins" not in answer
        assert ask(ws, {"channel": yard}, 99)["admins"]["revoked"] == {}  # the connection still answers
    assert definition(cli) == before
    fake, police = setup["fake"].id, setup["police"].id
    assert statuses(cli, fake, police) == {fake: "retracted", police: "valid"}
