"""Follow by link or QR code (docs/web.md, "Follow by link or QR code"): a shared ``#naddr1…`` link opens the
channel with its Follow button and leaves "/" in the address bar; relays named in the link are used only after
the reader agrees; ``nostr:naddr1…`` pasted on the start screen; a QR code from a photo where the browser has no
camera API, and from the camera itself (Chromium's fake camera playing a video made from a QR code image)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web_helpers import CHROMIUM, CHROMIUM_ARGS, PHONE, Cli, phone_page

from samizdat.core import nip19

pytest.importorskip("playwright")
from playwright.sync_api import expect

HINT = "ws://127.0.0.1:9/"  # a relay named in the link (never reached: the reader is asked first)
NO_CAMERA = "delete Navigator.prototype.mediaDevices; delete window.BarcodeDetector;"


@dataclass
class Hub:
    url: str
    naddr: str
    tmp: Path


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> Hub:
    tmp = tmp_path_factory.mktemp("links")
    cli = Cli(tmp / "home")
    cli.ok("init")
    created = cli.json("channel", "create", "kastrycnicki", "--name", "Kastrycnicki district", "--place",
                       "BY/Minsk/Kastrycnicki")  # fmt: skip
    cli.ok("post", "kastrycnicki", "--type", "news", "Tram 7 runs again")
    _kind, pubkey, identifier = created["address"].split(":", 2)
    naddr = nip19.naddr_encode(30333, pubkey, identifier, [HINT])
    node = module_serve(cli.home)
    return Hub(node.http_url, naddr, tmp)


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with phone_page(browser) as page:
        yield page


def qr_image(text: str, path: Path, size: tuple[int, int] = (640, 480)) -> Any:
    """A photo-like image of a QR code of ``text``: white paper in the middle of a grey frame."""
    segno = pytest.importorskip("segno")
    image_module = pytest.importorskip("PIL.Image")
    code = path.with_suffix(".code.png")
    segno.make(text, error="m").save(str(code), scale=6, border=4)
    with image_module.open(code) as qr:
        qr_rgb = qr.convert("L")
        frame = image_module.new("L", size, 128)
        frame.paste(qr_rgb, ((size[0] - qr_rgb.width) // 2, (size[1] - qr_rgb.height) // 2))
    frame.save(path)
    return frame


def test_a_shared_link_opens_the_channel_and_leaves_no_trace_in_the_address(hub: Hub, page: Any) -> None:
    page.goto(f"{hub.url}#{hub.naddr}")
    expect(page.locator("h1")).to_have_text("Kastrycnicki district")
    expect(page.locator(".post", has_text="Tram 7 runs again")).to_be_visible()
    expect(page.locator("#follow")).to_have_text("Follow")
    assert page.url == hub.url  # the address bar says "/" only
    assert hub.naddr not in page.evaluate("() => JSON.stringify(history.state)")

    dialog = page.locator("#link-relays")  # the relay in the link: asked first
    expect(dialog).to_contain_text(HINT)
    page.click("#link-relays-no")
    expect(dialog).to_have_count(0)
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Unfollow")

    page.goto(f"{hub.url}#nostr:{hub.naddr}")  # the same link again: asked again (the reader said no)
    expect(dialog).to_contain_text(HINT)
    page.click("#link-relays-yes")
    expect(dialog).to_have_count(0)
    page.goto(f"{hub.url}#{hub.naddr}")  # agreed once: not asked again
    expect(page.locator("h1")).to_have_text("Kastrycnicki district")
    expect(page.locator("#follow")).to_have_text("Unfollow")
    expect(dialog).to_have_count(0)


def test_a_pasted_naddr_opens_the_channel(hub: Hub, page: Any) -> None:
    page.goto(hub.url)
    page.fill("#link-input", f"  nostr:{hub.naddr} ")
    page.click("#link-open")
    expect(page.locator("h1")).to_have_text("Kastrycnicki district")
    page.go_back()  # a channel opened from the start screen is a step back from it
    page.fill("#link-input", "npub1notachannel")
    page.click("#link-open")
    expect(page.locator("#link-status")).to_have_text("That is not a link to a channel.")


def test_a_qr_code_from_a_photo_without_a_camera_api(hub: Hub, browser: Any) -> None:
    context = browser.new_context(locale="en-US", **PHONE)
    context.set_default_timeout(20_000)
    context.add_init_script(NO_CAMERA)  # as on a plain-http hub, where browsers give no camera
    try:
        page = context.new_page()
        page.goto(hub.url)
        expect(page.locator("#qr-camera")).to_have_count(0)
        expect(page.locator("#qr-photo-button")).to_have_text("Take a photo of a QR code")
        photo = hub.tmp / "photo.png"
        qr_image(f"nostr:{hub.naddr}", photo)
        page.set_input_files("#qr-photo", str(photo))
        expect(page.locator("h1")).to_have_text("Kastrycnicki district")

        page.goto(hub.url)
        blank = hub.tmp / "blank.png"
        pytest.importorskip("PIL.Image").new("L", (640, 480), 255).save(blank)  # a photo of a white wall
        page.set_input_files("#qr-photo", str(blank))
        expect(page.locator("#link-status")).to_have_text("No channel’s QR code was found in the picture.")
    finally:
        context.close()


def write_y4m(image: Any, path: Path, frames: int = 5) -> None:
    """A grey-scale video (YUV4MPEG2, 4:2:0) showing ``image``, for Chromium's fake camera."""
    width, height = image.size
    luma = image.convert("L").tobytes()
    chroma = bytes([128]) * ((width // 2) * (height // 2))
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            out.write(b"FRAME\n" + luma + chroma + chroma)


def test_a_qr_code_from_the_camera(hub: Hub, browser: Any) -> None:
    video = hub.tmp / "qr.y4m"
    write_y4m(qr_image(hub.url + "#" + hub.naddr, hub.tmp / "frame.png"), video)
    args = ["--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
            f"--use-file-for-fake-video-capture={video}"]  # fmt: skip
    camera = browser.browser_type.launch(executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, *args])
    try:
        context = camera.new_context(locale="en-US", permissions=["camera"], **PHONE)
        context.set_default_timeout(20_000)
        page = context.new_page()
        page.goto(hub.url)
        page.click("#qr-camera")
        expect(page.locator("h1")).to_have_text("Kastrycnicki district")
        expect(page.locator("#follow")).to_have_text("Follow")
        assert page.url == hub.url
        assert page.evaluate("() => document.querySelectorAll('video').length") == 0  # the camera is closed
    finally:
        camera.close()
