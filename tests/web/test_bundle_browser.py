"""Phone to phone, with files (docs/web.md, "Pass posts on"): the app saves the followed channels' posts as a
bundle file on one phone and another phone opens it with the network off and reads the channel; a bundle made by
``samizdat export`` (with one tampered event) opens in the browser, the tampered event counted and dropped; a
bundle made by the browser is taken by ``samizdat import``; a file that is not a bundle, or a decompression bomb,
is one sentence."""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web_helpers import PHONE, Cli

from samizdat.core.bundle import (
    BLOCK_MAGIC,
    BundleHeader,
    _crc,
    encode_block,
    encode_header,
    encode_trailer,
)

pytest.importorskip("playwright")
from playwright.sync_api import expect

POSTS = ["Water is back on Kalvaryjskaja", "Market gate closed", "Yard meeting at 7"]


@dataclass
class Hub:
    cli: Cli
    url: str
    address: str
    tmp: Path


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> Hub:
    tmp = tmp_path_factory.mktemp("bundles")
    cli = Cli(tmp / "home")
    cli.ok("init")
    address = cli.json("channel", "create", "frunzenski", "--name", "Frunzenski district", "--place",
                       "BY/Minsk/Frunzenski")["address"]  # fmt: skip
    for text in POSTS:
        cli.ok("post", "frunzenski", "--type", "news", text)
    node = module_serve(cli.home)
    return Hub(cli, node.http_url, address, tmp)


def visit_once(context: Any, hub: Hub) -> Any:
    """A phone that opened the app once (its service worker keeps the app), then lost the network."""
    page = context.new_page()
    page.goto(hub.url)
    page.wait_for_function("() => navigator.serviceWorker.controller !== null")
    page.evaluate("() => caches.keys()")  # the worker's install has finished once it controls the page
    context.set_offline(True)
    page.reload()
    expect(page.locator("#conn")).to_have_text("offline")
    return page


def import_file(page: Any, path: Path) -> str:
    page.click("nav a >> nth=2")  # the Node screen
    page.set_input_files("#bundle-file", str(path))
    result = page.locator("#bundle-result")
    expect(result).to_be_visible()
    return str(result.inner_text())


def test_export_on_one_phone_import_on_another_offline(hub: Hub, browser: Any, context: Any) -> None:
    sender = context.new_page()
    sender.goto(f"{hub.url}#/c/{hub.address}")
    expect(sender.locator(".post", has_text=POSTS[0])).to_be_visible()
    sender.click("#follow")
    expect(sender.locator("#follow")).to_have_text("Unfollow")
    sender.click("nav a >> nth=2")
    with sender.expect_download() as info:
        sender.click("#bundle-export")
    bundle = hub.tmp / "from-phone.smz"
    info.value.save_as(bundle)
    expect(sender.locator("#bundle-status")).to_contain_text("4 events")  # the channel and its three posts
    assert bundle.read_bytes().startswith(b"SMZDBNDL")

    other = browser.new_context(locale="en-US", **PHONE)
    other.set_default_timeout(20_000)
    try:
        page = visit_once(other, hub)
        assert "Imported 4 events; 0 invalid" in import_file(page, bundle)
        page.click("nav a >> nth=0")  # the channels, from this phone alone
        expect(page.locator(".tree a", has_text="Minsk").first).to_be_visible()
        page.goto(f"{hub.url}#/c/{hub.address}")  # a shared link, opened without the network
        for text in POSTS:
            expect(page.locator(".post", has_text=text)).to_be_visible()
        expect(page.locator("#conn")).to_have_text("offline")
    finally:
        other.close()

    # ... and the same file is taken by the command line of another node
    reader = Cli(hub.tmp / "reader-home")
    reader.ok("init")
    report = reader.json("import", str(bundle))
    assert report["new"] == 4, report
    assert report["invalid"] == 0, report


def test_a_cli_bundle_with_a_tampered_event_opens_in_the_browser(hub: Hub, context: Any) -> None:
    exported = hub.tmp / "from-cli.smz"
    hub.cli.ok("export", "--output", str(exported), "--channel", "frunzenski")
    tampered = hub.tmp / "tampered.smz"
    tampered.write_bytes(tamper(exported.read_bytes(), POSTS[1], "Market gate OPEN, come"))

    page = visit_once(context, hub)
    assert "Imported 4 events; 0 invalid" in import_file(page, exported)
    assert "Imported 3 events; 1 invalid" in import_file(page, tampered)


def tamper(bundle: bytes, old: str, new: str) -> bytes:
    """The bundle rewritten with one record's text changed (id and signature kept): its blocks re-encoded so that
    only the event itself is wrong, not the file."""
    records: list[bytes] = []
    at = 64
    while bundle[at : at + 4] == BLOCK_MAGIC:
        _magic, _index, _count, length, payload, _crc32 = struct.unpack(">4sIIIII", bundle[at : at + 24])
        content = zlib.decompress(bundle[at + 28 : at + 28 + payload], -15)
        assert len(content) == length
        records += [line + b"\n" for line in content.split(b"\n") if line]
        at += 28 + payload
    changed = [r.replace(json.dumps(old).encode(), json.dumps(new).encode()) for r in records]
    assert changed != records
    content = b"".join(changed)
    head = encode_header(BundleHeader(1, 1, bytes(16), 1_700_000_000, len(changed), len(content)))
    trailer = encode_trailer(1, len(changed), len(content), hashlib.sha256(content).digest())
    return head + encode_block(0, content, len(changed)) + trailer


def test_hostile_files_are_one_sentence(hub: Hub, context: Any) -> None:
    page = visit_once(context, hub)
    not_bundle = hub.tmp / "photo.smz"
    not_bundle.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(200))
    import_file(page, not_bundle)
    expect(page.locator("#bundle-error")).to_contain_text("this is not a Samizdat bundle")

    # a block that declares 64 MiB: refused before anything is inflated
    head = encode_header(BundleHeader(1, 1, bytes(16), 1_700_000_000, None, None))
    payload = zlib.compressobj(9, zlib.DEFLATED, -15)
    data = payload.compress(bytes(1024 * 1024)) + payload.flush()
    block = struct.pack(">4sIIIII", BLOCK_MAGIC, 0, 1, 64 * 1024 * 1024, len(data), _crc(data))
    bomb = hub.tmp / "bomb.smz"
    bomb.write_bytes(head + block + struct.pack(">I", _crc(block)) + data)
    import_file(page, bomb)
    expect(page.locator("#bundle-error")).to_contain_text("decompression bomb")

    truncated = hub.tmp / "truncated.smz"
    hub.cli.ok("export", "--output", str(truncated), "--channel", "frunzenski")
    truncated.write_bytes(truncated.read_bytes()[:-80])  # the trailer and part of the last block are missing
    assert "Imported 0 events" in import_file(page, truncated)
