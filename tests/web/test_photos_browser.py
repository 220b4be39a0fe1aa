"""Photos in the web app, in Debian's Chromium against a real ``samizdat serve`` (issue 13): the browser path
strips metadata and the node's preview blurs faces; blobs never run as script on the app's origin; readers see
the blurhash first, and with data saver no full image before a tap; alerts listed by distance.

Image bytes a reader loads are answered by Playwright's router where the test must hold or count them; uploads
and the stored blobs go to the real node.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import piexif
import pytest
from PIL import Image
from web_helpers import Cli, phone_page

from samizdat.core import kinds, nip19
from samizdat.core.channel import parse_channel
from samizdat.core.event import Event, parse_event, sign_event
from samizdat.core.imeta import PhotoRef, imeta_tag, photo_refs
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_post
from samizdat.services.photos import find_faces, prepare_photo
from samizdat.store.blobs import DIRECTORY as BLOBS
from samizdat.store.blobs import BlobStore
from samizdat.testing import node_keys

pytest.importorskip("playwright")
from playwright.sync_api import expect
from websockets.sync.client import connect

YARD_GEOHASH = "u9edfb"  # the channel's place
PLACES = {"far": "u9ed5p", "near": "u9edfc", "middle": "u9edf0"}  # alerts, by how far they are from the yard


@dataclass
class Hub:
    cli: Cli
    url: str
    ws_url: str
    address: str
    phone: SecretKey  # an admin of the channel, kept in the test's browser
    channel: Any  # the parsed definition


def _query(ws_url: str, filters: dict[str, Any]) -> list[dict[str, Any]]:
    with connect(ws_url, open_timeout=10) as ws:
        ws.send(json.dumps(["REQ", "q", filters]))
        out = []
        for _ in range(1000):
            message = json.loads(ws.recv(timeout=10))
            if message[0] != "EVENT":
                return out
            out.append(message[2])
    raise AssertionError("the relay did not end the query")


def publish(hub: Hub, event: Event) -> None:
    with connect(hub.ws_url, open_timeout=10) as ws:
        ws.send(json.dumps(["EVENT", event.to_dict()]))
        reply = json.loads(ws.recv(timeout=10))
    assert reply[:3] == ["OK", event.id, True], reply


def jpeg_with_gps(pixels: np.ndarray[Any, Any]) -> bytes:
    """A camera-like JPEG: GPS position, camera serial number, a comment in the EXIF."""
    exif = {
        "0th": {piexif.ImageIFD.Make: b"PhoneMaker", piexif.ImageIFD.Model: b"Model X", piexif.ImageIFD.Orientation: 1},
        "Exif": {piexif.ExifIFD.BodySerialNumber: b"SERIAL-4242", piexif.ExifIFD.UserComment: b"ASCII\0\0\0SECRETNOTE"},
        "GPS": {
            piexif.GPSIFD.GPSLatitudeRef: b"N",
            piexif.GPSIFD.GPSLatitude: ((53, 1), (54, 1), (1234, 100)),
            piexif.GPSIFD.GPSLongitudeRef: b"E",
            piexif.GPSIFD.GPSLongitude: ((27, 1), (33, 1), (5678, 100)),
        },
    }
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=90, exif=piexif.dump(exif))
    return out.getvalue()


def astronaut() -> np.ndarray[Any, Any]:
    from skimage import data

    return np.asarray(data.astronaut())


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> Hub:
    home = tmp_path_factory.mktemp("photos") / "home"
    cli = Cli(home)
    cli.ok("init")
    phone = SecretKey.generate()
    address = cli.json("channel", "create", "yard", "--name", "Yard 7", "--place", "BY/Minsk/Yard 7",
                       "--geohash", YARD_GEOHASH)["address"]  # fmt: skip
    cli.ok("channel", "admins", "yard", "--add", nip19.npub_encode(phone.public_key_hex), "--role", "admin")
    node = module_serve(home)
    hub = Hub(cli, node.http_url.rstrip("/"), node.url, address, phone, None)
    owner, identifier = address.split(":")[1:]
    found = _query(node.url, {"kinds": [kinds.CHANNEL], "authors": [owner], "#d": [identifier]})
    hub.channel = parse_channel(max((parse_event(e) for e in found), key=lambda e: e.created_at))
    return hub


@pytest.fixture
def page(browser: Any, hub: Hub) -> Iterator[Any]:
    # Image requests go straight to the page (the test's router sees them); the media cache is left to the
    # service worker's own use.
    with phone_page(browser, timeout=30_000, service_workers="block") as page:
        yield page


def with_phone_key(page: Any, hub: Hub) -> None:
    page.goto(f"{hub.url}#/keys")
    page.fill("#import-key", nip19.nsec_encode(hub.phone.secret.hex()))
    page.click("#import-button")
    expect(page.locator("#npub")).to_have_text(nip19.npub_encode(hub.phone.public_key_hex))


def pick_photo(page: Any, hub: Hub, name: str, data: bytes) -> Any:
    """Open the compose screen and pick one photo; the photo's item once the node's preview came back."""
    page.goto(f"{hub.url}#/c/{hub.address}")
    page.click("#compose")
    page.set_input_files("#photo-input", files=[{"name": name, "mimeType": "image/jpeg", "buffer": data}])
    item = page.locator(".photo-item")
    expect(item).to_have_class("photo-item ready", timeout=60_000)
    return item


def canvas_pixels(item: Any) -> np.ndarray[Any, Any]:
    url = item.locator("canvas.photo-preview").evaluate("c => c.toDataURL('image/png')")
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("L"), dtype=float)


def detail(gray: np.ndarray[Any, Any], box: tuple[float, float, float, float]) -> float:
    """How much fine detail a region has: the variance of differences between neighbouring pixels."""
    height, width = gray.shape
    x, y, w, h = box
    part = gray[int(y * height) : int((y + h) * height), int(x * width) : int((x + w) * width)]
    return float(np.var(np.diff(part, axis=1)))


def test_the_preview_comes_back_with_the_face_blurred(hub: Hub, page: Any) -> None:
    pixels = astronaut()
    faces = find_faces(Image.fromarray(pixels))
    assert faces, "the detector finds the astronaut's face in the original"
    with_phone_key(page, hub)
    item = pick_photo(page, hub, "astronaut.jpg", jpeg_with_gps(pixels))
    assert int(item.get_attribute("data-faces")) >= 1
    shown = canvas_pixels(item)
    original = np.asarray(Image.fromarray(pixels).convert("L"), dtype=float)
    assert shown.shape == original.shape  # 512 px: not scaled
    for face in faces:
        assert detail(shown, face) < 0.2 * detail(original, face), "the face region is blurred in the preview"
    elsewhere = (0.0, 0.75, 0.3, 0.25)  # the lower left corner: no face, kept sharp
    assert detail(shown, elsewhere) > 0.4 * detail(original, elsewhere)


def test_a_photo_posted_from_the_browser_keeps_no_metadata(hub: Hub, page: Any) -> None:
    rng = np.random.default_rng(7)
    pixels = (rng.random((900, 1200, 3)) * 40 + np.linspace(60, 200, 1200)[None, :, None]).astype(np.uint8)
    with_phone_key(page, hub)
    item = pick_photo(page, hub, "street.jpg", jpeg_with_gps(pixels))
    item.locator(".photo-alt").fill("Vans at the corner")
    page.fill("textarea[name=text]", "Vans at the corner of the yard")
    page.click("button[type=submit]")
    expect(page.locator(".post", has_text="Vans at the corner of the yard").locator(".photo")).to_have_count(1)
    posts = _query(hub.ws_url, {"kinds": [kinds.POST], "#a": [hub.address]})
    post = next(parse_event(e) for e in posts if e["content"] == "Vans at the corner of the yard")
    (ref,) = photo_refs(post)
    assert ref.alt == "Vans at the corner"
    assert (ref.width, ref.height) == (1200, 900)
    assert ref.blurhash
    assert ref.thumb_sha256
    for sha in (ref.sha256, ref.thumb_sha256):
        blob = page.request.get(f"{hub.url}/{sha}.webp")
        assert blob.status == 200, blob.text()
        data = blob.body()
        assert hashlib.sha256(data).hexdigest() == sha
        for secret in (b"Exif", b"GPS", b"SERIAL-4242", b"SECRETNOTE", b"PhoneMaker", b"XMP", b"ICCP"):
            assert secret not in data, secret
        image = Image.open(io.BytesIO(data))
        assert image.format == "WEBP"
        assert not {"exif", "xmp", "icc_profile"} & set(image.info)
    assert ref.size <= 200_000


def test_html_posted_as_an_image_is_refused(hub: Hub, page: Any) -> None:
    body = b"<!doctype html><script>top.pwned=1</script>"
    sha = hashlib.sha256(body).hexdigest()
    auth = sign_event(hub.phone, 24242, "Upload", [["t", "upload"], ["x", sha],
                      ["expiration", str(int(time.time()) + 300)]], created_at=int(time.time()))  # fmt: skip
    header = "Nostr " + base64.b64encode(json.dumps(auth.to_dict()).encode()).decode()
    answer = page.request.put(f"{hub.url}/upload", data=body,
                              headers={"Authorization": header, "Content-Type": "image/webp"})  # fmt: skip
    assert 400 <= answer.status < 500
    assert answer.headers.get("x-reason")
    assert page.request.get(f"{hub.url}/{sha}").status == 404


def test_a_stored_blob_never_runs_as_script_on_the_apps_origin(hub: Hub, page: Any, tmp_path: Path) -> None:
    # Bytes that set a flag whether read as HTML or as JavaScript, put into the node's store past every check
    # (as a bug or a future format might): the node's headers alone must keep them inert.
    payload = b"/*<html><script>top.pwned=1</script>*/ top.pwned = 2;"
    sha = hashlib.sha256(payload).hexdigest()
    keys = node_keys(hub.cli.home)
    store = BlobStore(hub.cli.home / BLOBS, keys.blobs if keys else None)
    try:
        store.put(sha, payload, "image/webp", thumb=False, now=int(time.time()))
    finally:
        store.close()
    page.goto(hub.url)
    expect(page.locator("#conn")).to_have_text("online")
    for path in (f"/{sha}", f"/{sha}.webp"):
        page.evaluate(
            """(src) => new Promise((done) => {
                const s = document.createElement('script'); s.src = src; s.onload = s.onerror = done;
                document.head.appendChild(s);
                const f = document.createElement('iframe'); f.src = src; f.onload = f.onerror = done;
                document.body.appendChild(f);
            })""",
            path,
        )
        page.wait_for_timeout(200)  # let a script that would run, run (nothing is polled on)
        assert page.evaluate("() => window.pwned") is None
    opened = page.context.new_page()
    opened.goto(f"{hub.url}/{sha}.webp")
    assert opened.evaluate("() => window.pwned") is None
    opened.close()


# -- reading -----------------------------------------------------------------------------------------------------


def photo_post(hub: Hub, text: str, pixels: np.ndarray[Any, Any], alt: str) -> tuple[Event, dict[str, bytes]]:
    """A post with one photo made by the CLI's pipeline, published; its blobs by URL path (not uploaded: the test's
    router answers for them)."""
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "PNG")
    made = prepare_photo(out.getvalue(), blur_faces=False)
    full, thumb = hashlib.sha256(made.full).hexdigest(), hashlib.sha256(made.thumb).hexdigest()
    ref = PhotoRef(sha256=full, url=f"{full}.webp", mime="image/webp", width=made.width, height=made.height,
                   blurhash=made.blurhash, alt=alt, size=len(made.full), thumb_sha256=thumb,
                   thumb_url=f"{thumb}.webp")  # fmt: skip
    now = int(time.time())
    base = build_post(hub.phone, hub.channel, "news", text, created_at=now)
    event = sign_event(hub.phone, base.kind, base.content, [*base.tags, imeta_tag(ref)], created_at=now)
    publish(hub, event)
    return event, {f"/{full}.webp": made.full, f"/{thumb}.webp": made.thumb}


class Blobs:
    """Playwright's router in front of the node's blobs: counts requests, answers from memory, or holds them."""

    def __init__(self, page: Any, blobs: dict[str, bytes], *, hold: bool = False) -> None:
        self.blobs, self.hold, self.held, self.asked = blobs, hold, [], []
        page.route("**/*.webp", self.handle)

    def handle(self, route: Any) -> None:
        path = "/" + route.request.url.split("/", 3)[3]
        self.asked.append(path)
        if self.hold:
            self.held.append((route, path))
        else:
            self.answer(route, path)

    def answer(self, route: Any, path: str) -> None:
        if path in self.blobs:
            route.fulfill(status=200, body=self.blobs[path], content_type="image/webp")
        else:
            route.fulfill(status=404, body=b"")

    def release(self) -> None:
        self.hold = False
        for route, path in self.held:
            self.answer(route, path)
        self.held.clear()


def gradient(seed: int) -> np.ndarray[Any, Any]:
    rng = np.random.default_rng(seed)
    base = np.linspace(0, 255, 640)[None, :, None] * np.array([1.0, 0.6, 0.3])[None, None, :]
    return (np.repeat(base, 480, axis=0) * 0.8 + rng.random((480, 640, 3)) * 50).astype(np.uint8)


def test_the_blurhash_shows_before_any_image_arrives(hub: Hub, page: Any) -> None:
    event, blobs = photo_post(hub, "Queue at the pharmacy", gradient(1), "A queue of people")
    router = Blobs(page, blobs, hold=True)
    page.goto(f"{hub.url}#/c/{hub.address}")
    post = page.locator(f'.post[data-id="{event.id}"]')
    box = post.locator(".photo")
    expect(box.locator("canvas.blurhash")).to_be_visible()
    expect(box).to_have_attribute("data-state", "blurhash")
    assert box.locator("img").count() == 0  # no image yet: every image request is held
    # The blurhash is the picture's colours: darker on the left, brighter on the right, as the photo.
    left, right = box.locator("canvas.blurhash").evaluate(
        """(c) => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
                    const row = Math.floor(c.height / 2) * c.width;
                    const at = (x) => d[(row + x) * 4] + d[(row + x) * 4 + 1] + d[(row + x) * 4 + 2];
                    return [at(1), at(c.width - 2)]; }"""
    )
    assert right > left + 60
    router.release()
    expect(box).to_have_attribute("data-state", "full")
    img = box.locator("img.photo-full")
    assert img.get_attribute("alt") == "A queue of people"
    assert img.evaluate("i => i.naturalWidth") == 640


def test_data_saver_loads_full_images_only_on_a_tap(hub: Hub, page: Any) -> None:
    event, blobs = photo_post(hub, "Flooded underpass", gradient(2), "Water up to the knees")
    full, thumb = list(blobs)
    router = Blobs(page, blobs)
    page.goto(f"{hub.url}#/status")
    page.check("#data-saver")
    page.goto(f"{hub.url}#/c/{hub.address}")
    box = page.locator(f'.post[data-id="{event.id}"] .photo')
    expect(box).to_have_attribute("data-state", "thumb")
    expect(box.locator(".photo-hint")).to_contain_text("Tap to load")
    assert thumb in router.asked
    assert full not in router.asked
    box.click()
    expect(box).to_have_attribute("data-state", "full")
    assert full in router.asked
    page.goto(f"{hub.url}#/status")
    page.uncheck("#data-saver")


def test_alerts_are_listed_by_distance_from_the_place_picked(hub: Hub, page: Any) -> None:
    now = int(time.time())
    for i, (name, geohash) in enumerate(PLACES.items()):
        alert = build_post(hub.phone, hub.channel, "alert", f"Alert {name}", created_at=now - i,
                           location=f"Corner {name}", geohash=geohash)  # fmt: skip
        publish(hub, alert)
    page.goto(f"{hub.url}#/c/{hub.address}")
    page.click("#nearby")
    rows = page.locator("ol.nearby > li")
    expect(rows).to_have_count(3)
    texts = [rows.nth(i).locator(".text").inner_text() for i in range(3)]
    assert texts == ["Alert near", "Alert middle", "Alert far"]  # from the channel's own place first
    kms = [float(rows.nth(i).get_attribute("data-km")) for i in range(3)]
    assert kms == sorted(kms)
    page.fill("#nearby-geohash", PLACES["far"])
    page.press("#nearby-geohash", "Enter")
    expect(rows.first.locator(".text")).to_have_text("Alert far")
