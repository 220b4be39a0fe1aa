"""Red team, round 4b: a hub seized, or kept running as a trap, and the phones that used it.

A phone on a plain-HTTP hub asks the hub for its vault's share on every visit (services/phone_share.py). Before,
it sent the same random handle each time, in the clear: whoever ran the hub after seizing it, or read the Wi-Fi's
traffic, could tell the phone's visits apart from everyone else's by that number, and saw the share itself go by.
Now the phone asks blinded: every ask is a new random point, and the answer is not the share. The hub's disk,
after phones used it, holds neither the phones' keys nor anything they asked.

Chromium reaches the node as ``http://hub:PORT/`` (not a secure context, as on a LAN address), as in
test_hub_impostor.py. Needs Debian's chromium.
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import coincurve
import pytest
from web_helpers import Cli, chromium_resolving

from samizdat.core import nip19, nip44, private_list
from samizdat.core.keys import SecretKey
from samizdat.errors import RemoteProtocolError
from samizdat.services import phone_share

TIMEOUT_MS = 20_000


@pytest.fixture
def hub_browser() -> Iterator[Any]:
    with chromium_resolving("hub") as browser:
        yield browser


def visit(context: Any, url: str) -> tuple[str, list[str]]:
    """One visit to the Keys screen in a new tab: the npub it shows and the /api/ paths the phone asked for."""
    asked: list[str] = []
    page = context.new_page()
    page.on("request", lambda request: asked.append(request.url) if "/api/" in request.url else None)
    try:
        page.goto(url, timeout=TIMEOUT_MS)
        page.locator("header nav a", has_text="Keys").click()
        page.wait_for_selector("#lock-state", timeout=TIMEOUT_MS)
        if page.locator("#create-key").count():
            page.click("#create-key")
        npub = page.locator("#npub").inner_text(timeout=TIMEOUT_MS)
        return npub, [u.split("/api/", 1)[1] for u in asked]
    finally:
        page.close()


def kept_handle(context: Any, url: str) -> bytes:
    """The handle the browser keeps beside its sealed record."""
    page = context.new_page()
    try:
        page.goto(url, timeout=TIMEOUT_MS)
        hexed: str = page.evaluate(
            """() => new Promise((resolve) => {
                 const r = indexedDB.open('data');
                 r.onsuccess = () => {
                   const get = r.result.transaction('meta').objectStore('meta').get('v');
                   const hex = (b) => b.toString(16).padStart(2, '0');
                   get.onsuccess = () => resolve(Array.from(get.result.h, hex).join(''));
                 };
               })"""
        )
        return bytes.fromhex(hexed)
    finally:
        page.close()


def test_a_hub_kept_as_a_trap_cannot_tell_a_returning_phone_and_its_disk_keeps_nothing_of_it(
    tmp_path: Path, module_serve: Any, hub_browser: Any
) -> None:
    hub = Cli(tmp_path / "hub")
    hub.ok("init", "--no-passphrase")
    node = module_serve(hub.home)
    url = f"http://hub:{node.port}/"
    context = hub_browser.new_context()
    try:
        npub, first = visit(context, url)
        assert npub.startswith("npub1")
        again, second = visit(context, url)
        assert again == npub  # the real hub's share opened the phone's vault on its return
        asked_first = {p for p in first if p.startswith("share/")}
        asked_second = {p for p in second if p.startswith("share/")}
        assert asked_first
        assert asked_second
        # nothing the phone asked for on one visit comes back on the other: a hub that logs every request (or a
        # device reading the Wi-Fi) cannot link them
        assert not asked_first & asked_second
        handle = kept_handle(context, url)
    finally:
        context.close()
    node.stop()

    # The hub's disk, imaged after the phone's visits: no trace of the phone's key or of what it keeps or asked.
    pubkey_hex = nip19.npub_decode(npub)
    needles = {
        "the phone's key": [npub.encode(), pubkey_hex.encode(), bytes.fromhex(pubkey_hex)],
        "its handle": [handle, handle.hex().encode()],
        "what it asked": [p.split("/", 1)[1].encode() for p in asked_first | asked_second],
    }
    files = [p for p in hub.home.rglob("*") if p.is_file()]
    assert files
    for path in files:
        data = path.read_bytes()
        for what, forms in needles.items():
            assert not any(form in data for form in forms), f"{what} in {path}"


def test_what_goes_by_on_the_air_is_neither_the_share_nor_the_same_twice() -> None:
    """The blinded ask, as vault.js makes it: two asks for one handle share nothing, neither answer is what the
    phone keeps its record under, and only the phone (which holds r) turns an answer into k·P."""
    key = SecretKey(os.urandom(32))
    handle = os.urandom(32)
    counter = 0
    while True:  # try and increment, as vault.js's handlePoint
        x = hashlib.sha256(b"samizdat phone share 2\x00" + handle + bytes([counter])).digest()
        try:
            point = coincurve.PublicKey(b"\x02" + x)
            break
        except ValueError:
            counter += 1
    expected = point.multiply(phone_share.oprf_key(key)).format()
    seen = []
    for _ in range(2):
        r = int.from_bytes(os.urandom(32), "big") % (coincurve.utils.GROUP_ORDER_INT - 1) + 1
        asked = point.multiply(r.to_bytes(32, "big")).format()
        answered = phone_share.answer(key, asked)
        inverse = pow(r, -1, coincurve.utils.GROUP_ORDER_INT)
        assert coincurve.PublicKey(answered).multiply(inverse.to_bytes(32, "big")).format() == expected
        assert answered != expected
        seen += [asked, answered]
    assert len(set(seen)) == 4
    with pytest.raises(ValueError, match="not a point"):
        phone_share.answer(key, b"\x02" + bytes(32))


def test_asking_with_the_nodes_own_public_key_does_not_open_its_follows_backup() -> None:
    """Anyone on the hub's Wi-Fi may ask for a blinded answer with a point of their choosing. Asked with the node's
    own public key, an answer made with the node's secret key was the ECDH secret NIP-44 derives the key of the
    node's encrypted follows backup from (published on relays): the device read which channels the node follows.
    The answers are made with a scalar derived from the key, so nothing in them opens the backup."""
    key = SecretKey(os.urandom(32))
    backup = private_list.build_follows_backup(key, {"30333:" + "ab" * 32 + ":okrestina": []}, created_at=1)
    for parity in (b"\x02", b"\x03"):
        answered = phone_share.answer(key, parity + bytes.fromhex(key.public_key_hex))
        conversation = hmac.new(nip44.SALT, answered[1:], hashlib.sha256).digest()
        with pytest.raises(RemoteProtocolError):
            nip44.decrypt(backup.content, conversation)
