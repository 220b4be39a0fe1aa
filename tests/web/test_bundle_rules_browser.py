"""A phone passes on what a node would (red-team finding): an alert past its expiration and a post its author
deleted are left out of the phone's bundle, as ``samizdat export`` leaves them out, instead of travelling on from
phone to phone in every file it shares. Real parts: a served node, Chromium, bundle files."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from web_helpers import Cli

from samizdat.core import kinds
from samizdat.core.bundle import BundleHeader, RawEvent, encode_block, encode_header, encode_trailer
from samizdat.core.bundle_reader import BundleReader
from samizdat.core.channel import build_channel_event, parse_channel
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post

pytest.importorskip("playwright")
from playwright.sync_api import expect

KEY = SecretKey(bytes([42]) * 32)


def bundle_of(events: list[Event]) -> bytes:
    records = [orjson.dumps(e.to_dict()) + b"\n" for e in events]
    content = b"".join(records)
    head = encode_header(BundleHeader(1, 1, bytes(16), int(time.time()), len(records), len(content)))
    trailer = encode_trailer(1, len(records), len(content), hashlib.sha256(content).digest())
    return head + encode_block(0, content, len(records)) + trailer


def ids_in(bundle: bytes) -> set[str]:
    reader = BundleReader()
    items = reader.feed(bundle) + reader.close()
    return {str(item.value["id"]) for item in items if isinstance(item, RawEvent)}


def test_a_phone_does_not_pass_on_expired_or_deleted_posts(tmp_path: Path, module_serve: Any, context: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    hub = module_serve(cli.home)
    now = int(time.time())
    definition = build_channel_event(KEY, "yard", "Yard news", created_at=now - 7200, place="BY/Minsk")
    channel = parse_channel(definition)
    kept = build_post(KEY, channel, "news", "Water is back on Kalvaryjskaja", created_at=now - 3600)
    expired = build_post(KEY, channel, "alert", "Police vans at the market", created_at=now - 3600,
                         location="Market", expiration=now - 600)  # fmt: skip
    deleted = build_post(KEY, channel, "news", "Meeting at the flat of Ivan, Lenina 5", created_at=now - 3000)
    deletion = sign_event(KEY, kinds.DELETION, "", [["e", deleted.id], ["k", "2333"]], created_at=now - 2000)
    received = tmp_path / "received.smz"
    received.write_bytes(bundle_of([definition, kept, expired, deleted, deletion]))

    page = context.new_page()
    page.goto(hub.http_url)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.click("nav a >> nth=2")  # the Node screen
    page.set_input_files("#bundle-file", str(received))
    expect(page.locator("#bundle-result")).to_be_visible()
    page.goto(f"{hub.http_url}#/c/{channel.address}")
    expect(page.locator(".post", has_text="Water is back")).to_be_visible()
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Unfollow")
    page.click("nav a >> nth=2")
    with page.expect_download() as info:
        page.click("#bundle-export")
    passed_on = tmp_path / "passed-on.smz"
    info.value.save_as(passed_on)

    ids = ids_in(passed_on.read_bytes())
    assert {definition.id, kept.id, deletion.id} <= ids
    assert expired.id not in ids, "an alert past its expiration travels on"
    assert deleted.id not in ids, "a post its author deleted travels on, with its text"
