"""Photos in the web app, in Debian's Chromium against a real ``samizdat serve``; prints the figures and writes the
``## Web app: photos`` section of ``docs/benchmarks.md`` (the rest of the file is left as it is).

1. The browser path for a 12-megapixel phone JPEG (4000 x 3000, with GPS EXIF) on a phone-sized page: from
   picking the file to the node's face-blurred preview on screen (decode with orientation, canvas re-encode to
   WebP within 200 KB, the preview round trip), then Publish until the post is shown (final encode, 320 px
   thumbnail, blurhash, two BUD-02 uploads, signing, publishing). Also with Chromium's CPU slowed 4x
   (``Emulation.setCPUThrottlingRate``), nearer a mid-range phone.
2. A channel of 20 photo posts on DevTools' "Slow 3G" (CDP ``Network.emulateNetworkConditions``, as bench/web.py):
   time until the posts' text and the blurhashes on screen are drawn, and the bytes transferred before any tap
   (HTTP bodies and headers as Chromium counts them, plus WebSocket frames) once the visible thumbnails have
   arrived.

Usage: ``.venv/bin/python bench/web_photos.py [--runs 3] [--no-write]``
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "web"))
sys.path.insert(0, str(ROOT / "bench"))

import numpy as np  # noqa: E402
import piexif  # noqa: E402
from PIL import Image  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from report import write_section  # noqa: E402
from web_helpers import PHONE, Cli, ServeProcess, launch  # noqa: E402

from samizdat.core import channel as ch  # noqa: E402
from samizdat.core import nip19  # noqa: E402
from samizdat.core.event import sign_event  # noqa: E402
from samizdat.core.imeta import PhotoRef, imeta_tag  # noqa: E402
from samizdat.core.keys import SecretKey  # noqa: E402
from samizdat.core.posts import build_post  # noqa: E402
from samizdat.services.photos import prepare_photo  # noqa: E402
from samizdat.store.blobs import DIRECTORY as BLOBS  # noqa: E402
from samizdat.store.blobs import BlobStore  # noqa: E402
from samizdat.web.app import STATIC  # noqa: E402
from web import SLOW_3G, machine  # noqa: E402

TITLE = "## Web app: photos"

POSTS = 20
TIMING = """() => {
  const marks = (window.benchMarks = {});
  document.addEventListener('change', () => { marks.change ??= performance.now(); }, true);
  document.addEventListener('submit', () => { marks.submit ??= performance.now(); }, true);
  new MutationObserver(() => {
    if (!marks.ready && document.querySelector('.photo-item.ready')) marks.ready = performance.now();
    if (marks.submit && !marks.posted && document.querySelector('.post .photo')) marks.posted = performance.now();
  }).observe(document.body, { subtree: true, childList: true, attributes: true });
}"""
SECTION = "Web app: photos"


def phone_jpeg(width: int = 4000, height: int = 3000) -> bytes:
    """A 12-megapixel camera JPEG: smooth light and fine noise (so it compresses like a photo), with GPS EXIF."""
    rng = np.random.default_rng(12)
    x = np.linspace(0, 1, width, dtype=np.float32)[None, :, None]
    y = np.linspace(0, 1, height, dtype=np.float32)[:, None, None]
    base = 40 + 160 * (0.6 * x + 0.4 * y) * np.array([1.0, 0.85, 0.7], dtype=np.float32)
    noise = rng.normal(0, 12, (height, width, 1)).astype(np.float32)
    pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
    exif = piexif.dump(
        {"GPS": {piexif.GPSIFD.GPSLatitudeRef: b"N", piexif.GPSIFD.GPSLatitude: ((53, 1), (54, 1), (0, 1))}}
    )
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=88, exif=exif)
    return out.getvalue()


def make_node(home: Path) -> tuple[Cli, str, SecretKey, str]:
    """A plain node owning channel "yard" (the phone key an admin) with POSTS photo posts, their blobs stored, and
    channel "plain" with POSTS posts of the same text and no photo (the page as it was before photos)."""
    cli = Cli(home)
    cli.ok("init", "--no-passphrase")
    phone = SecretKey.generate()
    key = SecretKey.from_hex((home / "identity.key").read_text().strip())
    now = int(time.time())
    definition = ch.build_channel_event(key, "yard", "Yard 7", created_at=now - 10_000, place="BY/Minsk/Yard 7",
                                        admins={phone.public_key_hex: "admin"})  # fmt: skip
    channel = ch.parse_channel(definition)
    plain_definition = ch.build_channel_event(key, "plain", "Yard 7, text only", created_at=now - 10_000,
                                              admins={phone.public_key_hex: "admin"})  # fmt: skip
    plain = ch.parse_channel(plain_definition)
    store = BlobStore(home / BLOBS, None)
    events = [definition, plain_definition]
    rng = np.random.default_rng(3)
    try:
        for i in range(POSTS):
            tint = rng.random(3) * 0.8 + 0.2
            base = np.linspace(30, 220, 1600)[None, :, None] * tint[None, None, :]
            pixels = np.clip(np.repeat(base, 1200, axis=0) + rng.normal(0, 10, (1200, 1600, 1)), 0, 255).astype(
                np.uint8
            )
            png = io.BytesIO()
            Image.fromarray(pixels).save(png, "PNG")
            made = prepare_photo(png.getvalue(), blur_faces=False)
            full, thumb = hashlib.sha256(made.full).hexdigest(), hashlib.sha256(made.thumb).hexdigest()
            store.put(full, made.full, "image/webp", thumb=False, now=now)
            store.put(thumb, made.thumb, "image/webp", thumb=True, now=now)
            ref = PhotoRef(full, f"{full}.webp", "image/webp", made.width, made.height, made.blurhash,
                           f"Photo {i} of the yard", len(made.full), thumb, f"{thumb}.webp")  # fmt: skip
            post = build_post(phone, channel, "news", f"Post {i}: what the yard saw today", created_at=now - 5000 + i)
            tags = [*post.tags, imeta_tag(ref)]
            events.append(sign_event(phone, post.kind, post.content, tags, created_at=post.created_at))
            events.append(build_post(phone, plain, "news", post.content, created_at=post.created_at))
    finally:
        store.close()

    async def put() -> None:
        from samizdat.store.sqlite import SqliteStore

        db = await SqliteStore.open(home / "events.sqlite")
        try:
            await db.add_many(events)
        finally:
            await db.close()

    asyncio.run(put())
    return cli, channel.address, phone, plain.address


def compose_path(browser: Any, url: str, address: str, phone: SecretKey, jpeg: bytes, cpu: float) -> dict[str, float]:
    context = browser.new_context(**PHONE)
    context.set_default_timeout(120_000)
    page = context.new_page()
    try:
        page.goto(f"{url}#/keys")
        page.fill("#import-key", nip19.nsec_encode(phone.secret.hex()))
        page.click("#import-button")
        page.wait_for_selector("#npub")
        page.goto(f"{url}#/c/{address}")
        page.click("#compose")
        page.fill("textarea[name=text]", f"Benchmark photo {time.time()}")
        cdp = context.new_cdp_session(page)  # kept: the throttling lasts as long as its session
        cdp.send("Emulation.setCPUThrottlingRate", {"rate": cpu})
        # Timed in the page, from the input's change event (Playwright's own transfer of the 4 MB file is not part
        # of it) to the moment the preview (then the post with its photo) is in the page.
        page.evaluate(TIMING)
        page.set_input_files("#photo-input", files=[{"name": "phone.jpg", "mimeType": "image/jpeg", "buffer": jpeg}])
        page.wait_for_selector(".photo-item.ready")
        page.click("button[type=submit]")
        page.wait_for_selector(".post .photo")
        marks = page.evaluate("() => window.benchMarks")
        previewed = (marks["ready"] - marks["change"]) / 1000
        published = (marks["posted"] - marks["submit"]) / 1000
        return {"preview": previewed, "publish": published, "total": previewed + published}
    finally:
        context.close()


def slow_channel(browser: Any, url: str, address: str, *, repeat: bool = False) -> dict[str, Any]:
    """A first visit (the service worker left out: on a first visit it fetches the app shell again in the
    background, about the page's size, which is not what the channel page costs), or with ``repeat`` a second
    one (the app from the service worker, the posts from this phone's cache)."""
    context = browser.new_context(service_workers="allow" if repeat else "block", **PHONE)
    page = context.new_page()
    try:
        if repeat:
            page.goto(f"{url}#/c/{address}")
            page.wait_for_function("() => navigator.serviceWorker.controller !== null", timeout=60_000)
            page.wait_for_selector(".post .photo canvas.blurhash")
            page.wait_for_timeout(500)  # the posts are written to IndexedDB in batches
            page.goto("about:blank")
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
        http: dict[str, float] = {}
        ws = [0]
        images: list[str] = []
        cdp.on("Network.loadingFinished", lambda e: http.__setitem__(e["requestId"], e["encodedDataLength"]))
        cdp.on("Network.webSocketFrameReceived", lambda e: ws.__setitem__(0, ws[0] + len(e["response"]["payloadData"])))
        cdp.on("Network.webSocketFrameSent", lambda e: ws.__setitem__(0, ws[0] + len(e["response"]["payloadData"])))
        cdp.on(
            "Network.requestWillBeSent",
            lambda e: images.append(e["request"]["url"]) if ".webp" in e["request"]["url"] else None,
        )
        start = time.perf_counter()
        page.goto(f"{url}#/c/{address}", wait_until="commit")
        page.wait_for_function(
            f"""() => parseInt(document.querySelector('.count')?.textContent) >= {POSTS}
                && [...document.querySelectorAll('.post')].filter((p) => p.getBoundingClientRect().top < innerHeight)
                   .every((p) => !p.querySelector('.photo') || p.querySelector('.photo canvas.blurhash'))""",
            timeout=120_000,
        )
        shown = time.perf_counter() - start
        saving = page.evaluate(
            "() => ({type: navigator.connection?.effectiveType, save: navigator.connection?.saveData})"
        )
        # Wait (bounded) until the photos on screen have their thumbnails, then count what was transferred.
        page.wait_for_function(
            """() => [...document.querySelectorAll('.photo')].filter((p) => p.getBoundingClientRect().top < innerHeight)
                     .every((p) => p.dataset.state !== 'blurhash')""",
            timeout=120_000,
        )
        settled = time.perf_counter() - start
        page.wait_for_timeout(3000)  # anything still on its way (a 2 s latency per request)
        full = page.evaluate("() => document.querySelectorAll('.photo[data-state=full]').length")
        return {"shown": shown, "thumbs": settled, "http": sum(http.values()), "ws": ws[0],
                "images": len(images), "full": full, "connection": saving}  # fmt: skip
    finally:
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    if not (STATIC / "index.html").exists():
        sys.exit("the web app is not built: run scripts/bootstrap.sh")
    jpeg = phone_jpeg()
    with tempfile.TemporaryDirectory() as tmp:
        cli, address, phone, plain = make_node(Path(tmp) / "home")
        node = ServeProcess(cli.home, Path(tmp) / "serve.log")
        node.wait_ready()
        url = node.http_url.rstrip("/")
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    fast = [compose_path(browser, url, address, phone, jpeg, 1) for _ in range(args.runs)]
                    slow_cpu = [
                        compose_path(browser, url, address, phone, jpeg, 4) for _ in range(max(1, args.runs // 2))
                    ]
                    loads = [os.getloadavg()[0]]
                    channel = [slow_channel(browser, url, address) for _ in range(args.runs)]
                    text_only = [slow_channel(browser, url, plain) for _ in range(args.runs)]
                    repeat = [slow_channel(browser, url, address, repeat=True) for _ in range(args.runs)]
                    loads.append(os.getloadavg()[0])
                finally:
                    browser.close()
        finally:
            node.stop()

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return float(statistics.median(r[key] for r in rows))

    before_tap = [r["http"] + r["ws"] for r in channel]
    lines = [
        "Measured by `bench/web_photos.py` in Debian's Chromium (headless, Playwright) against a real `samizdat serve` "
        "on loopback, phone viewport 390x844.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `.venv/bin/python bench/web_photos.py --runs {args.runs}`",
        f"- machine: {machine()}",
        f"- input: a 4000 x 3000 JPEG of {len(jpeg) / 1e6:.1f} MB with GPS EXIF; the channel: {POSTS} news posts with "
        "one 1600 x 1200 photo each (full WebP, 320 px thumbnail, blurhash)",
        "",
        "| measure | result | target | met |",
        "|---|---|---|---|",
        f"| 12 MP JPEG, browser path: pick → face-blurred preview shown (median of {len(fast)}) | "
        f"{med(fast, 'preview'):.2f} s | – | – |",
        f"| 12 MP JPEG, browser path: Publish → post shown (two uploads) | {med(fast, 'publish'):.2f} s | – | – |",
        f"| 12 MP JPEG, browser path in all | {med(fast, 'total'):.2f} s | ≤ 3 s | "
        f"{'yes' if med(fast, 'total') <= 3 else 'no'} |",
        f"| the same with the CPU slowed 4x (median of {len(slow_cpu)}) | {med(slow_cpu, 'total'):.2f} s "
        f"(preview {med(slow_cpu, 'preview'):.2f} s) | – | – |",
        f"| {POSTS} photo posts, Slow 3G: text and blurhashes on screen (median of {len(channel)}) | "
        f"{med(channel, 'shown'):.2f} s | ≤ 3 s | {'yes' if med(channel, 'shown') <= 3 else 'no'} |",
        f"| the same channel without photos (text only, the page before photos) | {med(text_only, 'shown'):.2f} s "
        "| as before | – |",
        f"| 20 photo posts, Slow 3G, repeat visit (app and posts kept on the phone) | {med(repeat, 'shown'):.2f} s "
        f"| ≤ 3 s | {'yes' if med(repeat, 'shown') <= 3 else 'no'} |",
        f"| 20 photo posts, Slow 3G, first visit: thumbnails on screen | {med(channel, 'thumbs'):.2f} s | – | – |",
        f"| bytes transferred before any tap (HTTP + WebSocket, median) | "
        f"{statistics.median(before_tap) / 1000:.0f} KB | ≤ 300 KB | "
        f"{'yes' if statistics.median(before_tap) <= 300_000 else 'no'} |",
        "",
        "The Slow 3G browser reports `navigator.connection` as "
        f"{channel[0]['connection']}; image requests before any tap: "
        + ", ".join(f"{r['images']} (full images shown: {r['full']})" for r in channel)
        + " (thumbnails of the posts near the screen; a full image only on a tap when the link is slow or data saver "
        "is on). Runs (shown / thumbnails / KB): "
        + ", ".join(f"{r['shown']:.2f}/{r['thumbs']:.2f}/{(r['http'] + r['ws']) / 1000:.0f}" for r in channel)
        + ". Browser path runs (preview / publish, s): "
        + ", ".join(f"{r['preview']:.2f}/{r['publish']:.2f}" for r in fast)
        + f". Load average (1 min) at the start and the end of the Slow 3G runs: {loads[0]:.1f}, {loads[1]:.1f}.",
        "",
        "A first visit by link is shown from the page itself: it carries the newest posts of the node's own and "
        "followed channels with their imeta tags, and its second script (web/src/first.js) verifies them and draws "
        'the text and the blurhashes before the app has arrived (docs/web.md, "A channel opened by link").',
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(ROOT / "docs" / "benchmarks.md", TITLE, [TITLE, "", *text.strip().splitlines()])


if __name__ == "__main__":
    main()
