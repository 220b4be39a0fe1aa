"""What a seized phone's browser keeps of the photos it showed (red team, round 2). The web app in a real Chromium
against a real ``samizdat serve``: a reader opens a channel whose post has a photo, the app is kept for offline
use (its service worker controls the page) and the photo is shown, full size and as a thumbnail. Then no file of
the browser's profile holds either image's bytes: not the HTTP cache (the node sends blobs ``no-store``) and not
the service worker's Cache Storage, which is not encrypted (a photo kept there was readable without the PIN, and
its SHA-256 names the post, hence the channel, on any relay that carries it)."""

from __future__ import annotations

import hashlib
import io
import time
from pathlib import Path
from typing import Any

import pytest
from web_helpers import Cli, persistent

import photo_samples as samples

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

NAME = "Birch Yard 5521"
PLACE = ("BY", "Minsk", "Birch Quarter 5521")
POST = "Vans at the birch yard gate, 21:10"


def open_channel(page: Any) -> Any:
    """Channels › the quarter › the channel, by tapping; the post's photo box once the full image is shown."""
    page.locator("header nav a", has_text="Channels").click()
    page.locator(".tree .districts a", has_text=PLACE[2]).click()
    page.locator(".channel strong", has_text=NAME).click()
    post = page.locator(".post", has_text=POST)
    expect(post).to_be_visible()
    box = post.locator(".photo")
    expect(box).to_have_attribute("data-state", "full")
    return box


def pieces(blob: bytes) -> list[bytes]:
    """Three 48-byte runs from inside an image: any copy of it, whole or cut into a cache's blocks, holds one."""
    return [blob[i : i + 48] for i in (len(blob) // 4, len(blob) // 2, 3 * len(blob) // 4)]


def test_a_photo_shown_in_the_app_leaves_no_copy_in_the_browsers_files(
    tmp_path: Path, module_serve: Any, playwright: Any
) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    cli.json("channel", "create", "birch5521", "--name", NAME, "--place", "/".join(PLACE))
    photo = tmp_path / "gate.jpg"
    photo.write_bytes(samples.loaded_jpeg(samples.phone_photo(1200, 900, seed=7), icc=False))
    post_id = cli.json("post", "birch5521", POST, "--photo", str(photo), "--alt", "The gate")["ids"][0]
    cli.ok("photo", "get", f"{post_id}:1", "-o", str(tmp_path / "full.webp"))
    cli.ok("photo", "get", f"{post_id}:1", "--thumb", "-o", str(tmp_path / "thumb.webp"))
    full, thumb = (tmp_path / "full.webp").read_bytes(), (tmp_path / "thumb.webp").read_bytes()
    node = module_serve(cli.home)

    profile = tmp_path / "profile"
    with persistent(playwright, profile) as context:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(node.http_url)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")  # the app kept for offline
        # Now that the service worker answers the page's requests, the photo as a reader sees it.
        page.reload()
        box = open_channel(page)
        # The thumbnail is asked for too, but shown only if it comes before the full image: wait for its answer.
        page.wait_for_function(
            "(hash) => performance.getEntriesByType('resource').some((e) => e.name.includes(hash) && e.responseEnd)",
            arg=hashlib.sha256(thumb).hexdigest(),
        )
        shown = box.evaluate("(b) => [...b.querySelectorAll('img')].map((i) => i.naturalWidth)")
        assert shown
        assert all(width > 0 for width in shown), shown

    found = []
    for path in sorted(profile.rglob("*")):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            for label, blob in (("photo", full), ("thumbnail", thumb)):
                if any(piece in data for piece in pieces(blob)):
                    found.append(f"{label} in {path.relative_to(profile)}")
    assert found == []


def test_the_scan_finds_an_image_the_page_keeps_in_cache_storage(
    tmp_path: Path, module_serve: Any, playwright: Any
) -> None:
    """The control: bytes a page puts in Cache Storage are found by the same scan, so its silence above means
    something."""
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    node = module_serve(cli.home)
    image = io.BytesIO()
    samples.phone_photo(300, 200, seed=3).save(image, "WEBP", quality=80)
    blob = image.getvalue()
    profile = tmp_path / "profile"
    with persistent(playwright, profile) as context:
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(node.http_url)
        # The app's service worker deletes every cache but its own when it activates: the control waits until the
        # worker controls the page (it claims the page after that deletion), or at most 20 s if none comes.
        page.evaluate(
            """async (bytes) => {
                if ('serviceWorker' in navigator) {
                    const controlled = new Promise((ok) => {
                        if (navigator.serviceWorker.controller) ok();
                        navigator.serviceWorker.addEventListener('controllerchange', ok, { once: true });
                    });
                    await Promise.race([controlled, new Promise((ok) => setTimeout(ok, 20000))]);
                }
                const cache = await caches.open('control');
                await cache.put('/control.webp', new Response(new Uint8Array(bytes), {
                    headers: { 'content-type': 'image/webp', 'content-length': String(bytes.length) } }));
            }""",
            list(blob),
        )
        # Chromium writes Cache Storage to disk in its own time: looked for while it runs, within 60 s (20 s were
        # not enough once, in a whole run on a busy machine), then once more after it closed.
        deadline = time.monotonic() + 60
        while not on_disk(profile, blob) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert on_disk(profile, blob)


def on_disk(profile: Path, blob: bytes) -> bool:
    """Whether a file of ``profile`` holds a piece of ``blob`` (a file the browser removes meanwhile holds none)."""
    for path in profile.rglob("*"):
        try:
            data = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
        except OSError:
            continue
        if any(piece in data for piece in pieces(blob)):
            return True
    return False
