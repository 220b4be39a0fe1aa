"""A device that takes a plain-HTTP hub's address gets nothing the reader's browser kept for the hub.

A hub on a building's Wi-Fi is ``http://192.168.x.y:4848/``: no certificate vouches for it, so any device that
answers at its address (a rogue access point with the same Wi-Fi name, a neighbour answering ARP for it) owns
the page's origin and everything the browser kept there. The impostor here does what a real one would: it runs
the genuine app (a samizdat node of its own, on the hub's port). Before, that app opened the reader's vault and
showed the reader's key. Now the vault's record is sealed under a share only the real hub gives: the impostor's
app opens nothing, the kept data stays as it was, and the real hub opens it again.

Chromium reaches the node as ``http://hub:PORT/`` (its resolver maps ``hub`` to 127.0.0.1): a name that is not
``localhost``, so the page is not a secure context, as on a LAN address. Needs Debian's chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Cli, chromium_resolving

TIMEOUT_MS = 20_000


@pytest.fixture
def hub_browser() -> Iterator[Any]:
    with chromium_resolving("hub") as browser:
        yield browser


def keys_screen(page: Any, url: str) -> None:
    page.goto(url, timeout=TIMEOUT_MS)
    page.locator("header nav a", has_text="Keys").click()
    page.wait_for_selector("#lock-state", timeout=TIMEOUT_MS)


def kept_record(page: Any) -> str:
    """The fields of the vault's own record as the browser keeps it ("" when there is none)."""
    fields: str = page.evaluate(
        """() => new Promise((resolve) => {
             const r = indexedDB.open('data');
             r.onsuccess = () => {
               const db = r.result;
               if (!db.objectStoreNames.contains('meta')) return resolve('');
               const get = db.transaction('meta').objectStore('meta').get('v');
               get.onsuccess = () => resolve(Object.keys(get.result || {}).sort().join(','));
             };
           })"""
    )
    return fields


def test_an_impostor_at_the_hubs_address_opens_nothing_the_reader_kept(
    tmp_path: Path, module_serve: Any, hub_browser: Any
) -> None:
    from playwright.sync_api import expect

    real = Cli(tmp_path / "hub")
    real.ok("init", "--no-passphrase")
    node = module_serve(real.home)
    port = node.port
    url = f"http://hub:{port}/"
    page = hub_browser.new_context().new_page()
    try:
        keys_screen(page, url)
        assert page.evaluate("window.isSecureContext") is False  # as on a hub's LAN address
        page.click("#create-key")
        npub = page.locator("#npub").inner_text()
        assert npub.startswith("npub1")
        expect(page.locator("#hub-sealed")).to_be_visible()
        node.stop()

        impostor = Cli(tmp_path / "impostor")  # the genuine app, served by another node at the hub's address
        impostor.ok("init", "--no-passphrase")
        fake = module_serve(impostor.home, "--port", str(port))
        keys_screen(page, url)
        expect(page.locator("#hub-closed")).to_be_visible()
        expect(page.locator("#create-key")).to_be_visible()  # the reader's key is not there
        assert npub not in page.content()
        assert kept_record(page) == "h,sealed"  # the sealed record, left as it was for the real hub
        fake.stop()

        module_serve(real.home, "--port", str(port))  # the real hub is back
        keys_screen(page, url)
        expect(page.locator("#npub")).to_have_text(npub, timeout=TIMEOUT_MS)
        expect(page.locator("#hub-closed")).to_have_count(0)
    finally:
        page.close()


def test_without_the_hubs_share_nothing_is_kept_in_the_clear(
    tmp_path: Path, module_serve: Any, hub_browser: Any
) -> None:
    """Someone between the phone and the hub drops only the share's request (or the network fails just then): the
    app works for the visit and keeps nothing, rather than a vault whose key lies in the clear for any later
    impostor to read; Keys says so."""
    from playwright.sync_api import expect

    cli = Cli(tmp_path / "hub")
    cli.ok("init", "--no-passphrase")
    node = module_serve(cli.home)
    context = hub_browser.new_context()
    context.route("**/api/share/**", lambda route: route.abort())
    page = context.new_page()
    try:
        keys_screen(page, f"http://hub:{node.port}/")
        page.click("#create-key")
        expect(page.locator("#npub")).to_contain_text("npub1")
        expect(page.locator("#hub-no-share")).to_be_visible()
        assert kept_record(page) == ""  # nothing written
    finally:
        context.close()


def test_the_share_is_the_hubs_alone_and_answers_only_a_well_formed_handle(tmp_path: Path, module_serve: Any) -> None:
    import urllib.error
    import urllib.request

    def share(node: Any, handle: str) -> tuple[int, bytes, str]:
        try:
            with urllib.request.urlopen(f"{node.http_url}api/share/{handle}", timeout=10) as answer:
                return answer.status, answer.read(), answer.headers.get("Cache-Control", "")
        except urllib.error.HTTPError as error:
            return error.code, b"", ""

    one, two = Cli(tmp_path / "one"), Cli(tmp_path / "two")
    one.ok("init", "--no-passphrase")
    two.ok("init", "--no-passphrase")
    first, second = module_serve(one.home), module_serve(two.home)
    handle = "00112233445566778899aabbccddeeff"
    status, body, cache = share(first, handle)
    assert status == 200
    assert cache == "no-store"
    assert share(first, handle)[1] == body  # the same every time
    assert share(second, handle)[1] != body  # another node's key gives another share
    assert share(first, "ff" + handle[2:])[1] != body
    for bad in ("0011", handle.upper(), handle + "00", "../status"):
        assert share(first, bad)[0] == 404, bad
