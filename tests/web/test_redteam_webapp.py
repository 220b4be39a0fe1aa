"""Red team, the reader's phone and the web app, in a real Chromium against a real ``samizdat serve``.

A device on a hub's plain-http Wi-Fi reads every frame (an open network, or a WPA2 password every neighbour
knows). The operator login sent its code as the first frame on ``/op`` and got the session code back in the
clear: whoever recorded one login could log in as the node for a month, post in its channels and wipe it. Here the
eavesdropper records every frame of a login by link, a login again after a reload and a photo preview, and tries
each thing it saw (the frames replayed as they were, and every string in them given as a code).

A publisher's channel name made of letters each carrying dozens of combining marks (Zalgo text) drew a column of
marks over the "Not the channel you follow" warning and over the owner-key digits of the channels around it."""

from __future__ import annotations

import io
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from web_helpers import Cli, publish

from samizdat.core import kinds
from samizdat.core.channel import build_channel_event
from samizdat.core.keys import SecretKey

pytest.importorskip("playwright")
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import expect
from websockets.sync.client import connect


def _photo() -> bytes:
    """A small PNG for the compose screen to ask the node's preview about."""
    image = Image.new("RGB", (64, 48), (40, 90, 160))
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


_SOURCES = iter(range(2, 250))


def _logs_in(port: int, frames: list[str]) -> bool:
    """Whether sending ``frames`` in order on a new ``/op`` connection (from the node's own page's origin, as a
    page the eavesdropper serves at the hub's address would) gets ``{"ok": true}``. Each try comes from an address
    of its own (127.0.0.N), so that the node's limit on wrong codes is not what refuses it: the node must answer
    ``{"ok": false}``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(10)
        sock.bind((f"127.0.0.{next(_SOURCES)}", 0))
        sock.connect(("127.0.0.1", port))
        origin = f"http://127.0.0.1:{port}"
        with connect(f"ws://127.0.0.1:{port}/op", sock=sock, origin=origin, open_timeout=10) as ws:  # type: ignore[arg-type]
            for frame in frames:
                ws.send(frame)
            while True:
                answer = json.loads(ws.recv(timeout=10))
                if "challenge" not in answer:
                    assert "ok" in answer, answer  # an answer, not a limit
                    return answer["ok"] is True
    finally:
        sock.close()


def test_an_eavesdropper_on_the_wifi_cannot_log_in_as_the_operator(
    tmp_path: Path, module_serve: Any, context: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    block = cli.json("channel", "create", "block7", "--name", "Block 7 yard")["address"]
    node = module_serve(cli.home)
    link = cli.json("web", "login")["token"]
    sent: list[list[str]] = []  # what the phone sent on /op and /media/preview, in order, per connection
    seen: list[str] = []  # every frame either way

    def record(ws: Any) -> None:
        if "/op" not in ws.url and "/media/preview" not in ws.url:
            return
        mine: list[str] = []
        sent.append(mine)

        def out(payload: Any) -> None:
            if isinstance(payload, str):
                mine.append(payload)
                seen.append(payload)

        ws.on("framesent", out)
        ws.on("framereceived", lambda payload: seen.append(payload) if isinstance(payload, str) else None)

    page = context.new_page()
    page.on("websocket", record)
    page.goto(f"{node.http_url}#op={link}")
    expect(page.locator("#operator-status")).to_contain_text("Logged in as the node’s operator")
    page.goto(f"{node.http_url}#/keys")
    expect(page.locator("#operator-status")).to_contain_text("Logged in as the node’s operator")
    page.reload()  # the app starts again on this screen and logs in with the session code it keeps
    expect(page.locator("#operator-status")).to_contain_text("Logged in as the node’s operator")
    page.goto(f"{node.http_url}#/compose/{block}")
    page.locator("input[type=file]").set_input_files({"name": "p.png", "mimeType": "image/png", "buffer": _photo()})
    expect(page.locator(".photo-preview")).to_be_visible()  # the node's preview answered the operator
    page.fill("[name=text]", "Lift repaired, by the operator")
    page.click("button[type=submit]")
    expect(page.locator(".post", has_text="Lift repaired, by the operator")).to_be_visible()
    assert len(sent) >= 3  # two logins at /op and one at /media/preview were recorded

    assert not any(link in frame for frame in seen)  # the link's code never went over the network
    for frames in sent:  # the login replayed as it was
        assert not _logs_in(node.port, frames[:2]), frames[:2]
    for value in {s for frame in seen for s in _strings(json.loads(frame)) if len(s) >= 16}:
        assert not _logs_in(node.port, [json.dumps({"token": value})]), value


def _black_pixels(png: bytes) -> int:
    """Pixels of the app's ink colour or darker: the warning itself is red on pink, so any is drawn over it."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    data = image.tobytes()
    return sum(1 for i in range(0, len(data), 3) if max(data[i : i + 3]) < 90)


def _shot(warning: Any) -> bytes:
    """The warning's screenshot, taken again if the list was drawn anew under it (the app redraws it as channels
    arrive, and the element it found is gone): at most 5 tries."""
    for _ in range(4):
        try:
            return bytes(warning.screenshot())
        except PlaywrightError as exc:
            if "not attached" not in str(exc):
                raise
            time.sleep(0.2)
    return bytes(warning.screenshot())


def test_a_name_of_stacked_marks_cannot_draw_over_the_impostor_warning(
    tmp_path: Path, module_serve: Any, context: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    real, plain, zalgo = SecretKey.generate(), SecretKey.generate(), SecretKey.generate()
    now = int(time.time())
    marks = "\u0300\u0301\u0302\u0303\u0304\u0305\u0306\u0307\u0308"  # above the letter, one on another
    publish(node.url, [
        build_channel_event(real, "frunzenski", "Frunzenski", created_at=now - 60),
        build_channel_event(plain, "frunzenski", "Frunzenski", created_at=now - 50),
        build_channel_event(zalgo, "frunzenski", "Frunzensk" + "i" + marks * 10, created_at=now - 40),
    ])  # fmt: skip
    page = context.new_page()
    page.goto(f"{node.http_url}#/c/{kinds.CHANNEL}:{real.public_key_hex}:frunzenski")
    page.click("text=Follow")
    expect(page.locator("text=Unfollow")).to_be_visible()

    page.goto(node.http_url)
    cards = page.locator(".channel.warned")
    expect(cards).to_have_count(2)  # both impostors carry the warning
    warnings = [cards.nth(i).locator(".warning.collision") for i in range(2)]
    for warning in warnings:
        assert _black_pixels(_shot(warning)) == 0  # nothing drawn over it: as readable as the plain one's
    for key in (plain, zalgo):  # and at the top of the channel's own page
        page.goto(f"{node.http_url}#/c/{kinds.CHANNEL}:{key.public_key_hex}:frunzenski")
        warning = page.locator(".warning.collision").first
        expect(warning).to_contain_text("Not the channel you follow")
        assert _black_pixels(_shot(warning)) == 0
