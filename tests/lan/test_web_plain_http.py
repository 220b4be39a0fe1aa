"""What a phone on a hub's Wi-Fi sees over plain HTTP (docs/web.md, "HTTPS" and "Follow by link or QR code"):
the hub at a LAN address in a network namespace, Chromium in another (127.0.0.1 would count as a secure context
and hide this). The page is not a secure context, so there is no service worker, camera or Web Share: the app
offers a photo of a QR code instead of the camera, the photo opens the channel, and a bundle is saved as a
download."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from lan_netns import Lab

sys.path.insert(0, str(Path(__file__).parents[1] / "web"))
from web_helpers import CHROMIUM, CHROMIUM_ARGS, PHONE

from samizdat.core import nip19

pytest.importorskip("playwright")
from playwright.sync_api import expect, sync_playwright


def qr_photo(text: str, path: Path) -> None:
    segno = pytest.importorskip("segno")
    image = pytest.importorskip("PIL.Image")
    code = path.with_suffix(".code.png")
    segno.make(text, error="m").save(str(code), scale=6, border=4)
    with image.open(code) as qr:
        frame = image.new("L", (640, 480), 128)
        frame.paste(qr.convert("L"), ((640 - qr.width) // 2, (480 - qr.height) // 2))
    frame.save(path)


def test_a_phone_on_a_plain_http_hub(lab: Lab, tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed")
    lan = lab.lan()
    hub = lab.node(lan, "hub")
    phone = lab.node(lan, "phone", init=False)  # a machine with a browser and nothing else
    created = hub.json("channel", "create", "kastrycnicki", "--name", "Kastrycnicki district", "--place",
                       "BY/Minsk/Kastrycnicki")  # fmt: skip
    hub.post("kastrycnicki", "Tram 7 runs again")
    hub.start()
    _kind, pubkey, identifier = created["address"].split(":", 2)
    naddr = nip19.naddr_encode(30333, pubkey, identifier)
    photo = tmp_path / "qr.png"
    qr_photo(f"nostr:{naddr}", photo)
    wrapper = tmp_path / "chromium-in-phone"  # Chromium inside the phone's namespace (Playwright's pipe kept)
    wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {phone.ns} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    url = f"http://{hub.addr}:{hub.port}/"

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(wrapper), args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(locale="en-US", accept_downloads=True, **PHONE)
            context.set_default_timeout(30_000)
            page = context.new_page()
            page.goto(url)
            secure = "() => [window.isSecureContext, 'serviceWorker' in navigator, 'share' in navigator]"
            assert page.evaluate(secure) == [False, False, False]
            expect(page.locator("#qr-camera")).to_have_count(0)  # no camera API: a photo instead
            expect(page.locator("#qr-photo-button")).to_have_text("Take a photo of a QR code")
            page.set_input_files("#qr-photo", str(photo))
            expect(page.locator("h1")).to_have_text("Kastrycnicki district")
            expect(page.locator(".post", has_text="Tram 7 runs again")).to_be_visible()
            page.click("#follow")
            expect(page.locator("#follow")).to_have_text("Unfollow")
            page.click("nav a >> nth=2")
            with page.expect_download() as info:
                page.click("#bundle-export")
            saved = tmp_path / "posts.smz"
            info.value.save_as(saved)
            assert saved.read_bytes().startswith(b"SMZDBNDL")
        finally:
            browser.close()
