"""The operator's panic wipe of the node from the web app: the logged-in operator confirms in the page, the
node erases its key slots, stops and deletes its data directory (a real ``samizdat serve``, Debian's Chromium);
nobody else can, not with a POST, not without a code, not with a guessed or stale confirmation."""

from __future__ import annotations

import http.client
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import PHONE, Cli, ServeProcess
from websockets.exceptions import ConnectionClosed, InvalidMessage
from websockets.sync.client import connect
from websockets.typing import Origin

pytest.importorskip("playwright")
from playwright.sync_api import expect


@pytest.fixture
def node(tmp_path: Path) -> Iterator[tuple[Cli, ServeProcess]]:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    cli.ok("channel", "create", "yard", "--name", "Yard")
    serve = ServeProcess(cli.home, tmp_path / "serve.log")
    try:
        serve.wait_ready()
        yield cli, serve
    finally:
        serve.stop()


def exited(serve: ServeProcess, timeout: float = 30) -> int:
    try:
        return serve.process.wait(timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"serve did not stop within {timeout:.0f} s: {serve.output()}")


def test_the_operator_wipes_the_node_from_the_browser(node: tuple[Cli, ServeProcess], browser: Any) -> None:
    cli, serve = node
    login = cli.json("web", "login")
    context = browser.new_context(locale="en-US", **PHONE)
    context.set_default_timeout(20_000)
    try:
        page = context.new_page()
        page.goto(f"{serve.http_url}#op={login['token']}")
        expect(page.locator("#operator-status")).to_contain_text("Logged in as the node’s operator")
        page.click("#node-wipe")
        expect(page.locator("#node-wipe-text")).to_contain_text("Nobody can read any of it afterwards")
        page.click("#node-wipe-cancel")  # a change of mind costs nothing
        assert serve.process.poll() is None
        page.click("#node-wipe")
        page.click("#node-wipe-confirm")
        expect(page.locator("#node-wipe-note")).to_have_text(
            "The node was wiped: its keys are erased and its data directory deleted."
        )
    finally:
        context.close()
    assert exited(serve) == 0
    assert not cli.home.exists()
    assert "wiped: the key slots were erased" in serve.output()


def post(port: int, path: str) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, body=b"", headers={"Origin": f"http://127.0.0.1:{port}"})
        return connection.getresponse().status
    finally:
        connection.close()


def test_nobody_but_the_operator_on_this_connection_can_wipe(node: tuple[Cli, ServeProcess]) -> None:
    cli, serve = node
    origin = Origin(f"http://127.0.0.1:{serve.port}")

    assert post(serve.port, "/op") == 405  # no form, no fetch: the node takes no POST at all
    assert post(serve.port, "/op/wipe") == 405

    # Without a valid code the connection ends before any request is read.
    with connect(serve.url + "/op", origin=origin, open_timeout=10) as ws:
        ws.send(json.dumps({"token": "x" * 22}))
        assert json.loads(ws.recv(timeout=10))["ok"] is False
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)

    # Another site's page never gets to log in: on the node's machine it gets no answer at all.
    with pytest.raises(InvalidMessage):
        connect(serve.url + "/op", origin=Origin("http://evil.example"), open_timeout=10)

    # The operator: a guessed nonce, or one asked for on another connection, wipes nothing.
    token = cli.json("web", "login")["token"]
    with connect(serve.url + "/op", origin=origin, open_timeout=10) as first:
        first.send(json.dumps({"token": token}))
        answer = json.loads(first.recv(timeout=10))
        assert answer["ok"] is True
        first.send(json.dumps({"id": 1, "wipe": "guessed-nonce-000000"}))
        assert "nothing was wiped" in json.loads(first.recv(timeout=10))["error"]
        first.send(json.dumps({"id": 2, "wipe": "ask"}))
        nonce = json.loads(first.recv(timeout=10))["confirm"]
        with connect(serve.url + "/op", origin=origin, open_timeout=10) as second:
            second.send(json.dumps({"token": answer["session"]}))
            assert json.loads(second.recv(timeout=10))["ok"] is True
            second.send(json.dumps({"id": 1, "wipe": nonce}))
            assert "nothing was wiped" in json.loads(second.recv(timeout=10))["error"]
        first.send(json.dumps({"id": 3, "wipe": nonce[::-1]}))  # a wrong answer spends the nonce
        assert "nothing was wiped" in json.loads(first.recv(timeout=10))["error"]
        first.send(json.dumps({"id": 4, "wipe": nonce}))
        assert "nothing was wiped" in json.loads(first.recv(timeout=10))["error"]

    assert serve.process.poll() is None
    cli.ok("status")  # the key slots still open: nothing was erased
