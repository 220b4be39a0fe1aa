"""Web app speed in Debian's Chromium against a real ``samizdat serve``; prints the figures and writes the
``## Web app`` section of ``docs/benchmarks.md`` (the rest of the file is left as it is).

1. First load on loopback: a fresh browser profile (no cache, no service worker) opens ``/`` until the directory
   lists the channels; median of several runs, with the page's own navigation timings.
2. Slow 3G: the same with Chromium's network emulation set to DevTools' "Slow 3G" preset (CDP
   ``Network.emulateNetworkConditions``: 2,000 ms latency, 400 kbit/s down and up; DevTools computes these as
   400 ms x 5 and 500 kbit/s x 0.8). "Listed" is when the page's own list of channels (web/firstpaint.py) or
   the app's is on screen; "drawn" when the app's start screen can be tapped.
   Also measured: a repeat visit on Slow 3G (the service worker serves the app; IndexedDB the saved channels).
3. A channel with 10,000 posts: time until all are folded into the feed, then a scripted scroll through the
   whole list (requestAnimationFrame, 120 px per frame): frame times, long tasks (> 50 ms) and the largest
   number of post elements in the page at any moment (only what is visible is rendered).
4. The reader's phone (issue 14): a channel of 50 posts opened by link on a first visit over Slow 3G, until its
   posts are shown (drawn by the page's second script from the posts the page carries, docs/web.md); the code
   loaded before the first screen (index.html) gzipped, the part of it before a channel opened by link is shown,
   and the data this node's page carries apart; the parts loaded on use
   (extras.js, screens.js, the gazetteer, the words of Belarusian and Russian) apart; Lighthouse's scores (phone
   profile) for the start page and a channel page; taps from opening the app to a followed channel's newest post
   and to a channel of a district the reader never opened, each path walked in the browser and its taps counted.

Usage: ``.venv/bin/python bench/web.py [--runs 5] [--posts 10000] [--no-write] [--no-lighthouse]``
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "web"))
sys.path.insert(0, str(ROOT / "bench"))

from playwright.sync_api import sync_playwright  # noqa: E402
from report import cpu_name  # noqa: E402
from web_helpers import PHONE, Cli, ServeProcess, launch  # noqa: E402

from samizdat.core import channel as ch  # noqa: E402
from samizdat.core import posts as po  # noqa: E402
from samizdat.core.keys import SecretKey  # noqa: E402
from samizdat.web.app import STATIC  # noqa: E402

# Loaded on use, after the first screen (screens.js: the screens not needed on the first one); the words of
# Belarusian and Russian only by their readers (i18n.js).
LAZY = ("extras.js", "screens.js", "gazetteer-by.json", "lang-be.json", "lang-ru.json")
SLOW_3G = {"offline": False, "latency": 2000, "downloadThroughput": 50_000, "uploadThroughput": 50_000}

SCROLL = """async () => {
  const frames = [];
  const longTasks = [];
  const observer = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push(e.duration);
  });
  try { observer.observe({ type: 'longtask', buffered: false }); } catch (e) {}
  let maxNodes = 0;
  const end = document.documentElement.scrollHeight - innerHeight;
  let last = performance.now();
  await new Promise((resolve) => {
    const step = (t) => {
      frames.push(t - last); last = t;
      maxNodes = Math.max(maxNodes, document.querySelectorAll('.post').length);
      if (scrollY >= end - 1 || frames.length > 20000) return resolve();
      scrollBy(0, 120);
      requestAnimationFrame(step);
    };
    requestAnimationFrame(step);
  });
  observer.disconnect();
  frames.shift();
  return { frames, longTasks, maxNodes, height: document.documentElement.scrollHeight };
}"""


def make_node(home: Path, posts: int) -> tuple[Cli, str, str, str]:
    """A node with a few channels by place and one channel of ``posts`` posts (signed here, stored directly)."""
    import asyncio

    from samizdat.store.sqlite import SqliteStore

    cli = Cli(home)
    cli.ok("init", "--no-passphrase")  # plain: the posts below are signed with its key and stored directly
    for i, place in enumerate(["BY/Minsk/Frunzenski", "BY/Minsk/Frunzenski/Block 7", "BY/Hrodna", "BY/Brest"]):
        cli.ok("channel", "create", f"c{i}", "--name", f"Channel {place}", "--place", place)
    key = SecretKey.from_hex((home / "identity.key").read_text().strip())
    now = int(time.time())
    definition = ch.build_channel_event(key, "big", "Ten thousand posts", created_at=now - 100_000, place="BY/Minsk")
    channel = ch.parse_channel(definition)
    types: list[tuple[str, dict[str, Any]]] = [
        ("news", {}),
        ("help", {"need": "water"}),
        ("safe-place", {"location": "Flat 3"}),
        ("contact", {"role": "medic", "reach": "+375"}),
        ("appeal", {"purpose": "fines", "give": ("IBAN",)}),
    ]
    events = [definition]
    for i in range(posts):
        post_type, fields = types[i % len(types)]
        text = f"Post {i}: " + "news from the district " * (1 + i % 7)
        events.append(po.build_post(key, channel, post_type, text, created_at=now - 90_000 + i, **fields))

    async def store() -> None:
        db = await SqliteStore.open(home / "events.sqlite")
        try:
            for start in range(0, len(events), 2000):
                await db.add_many(events[start : start + 2000])
        finally:
            await db.close()

    fifty = ch.build_channel_event(key, "fifty", "Fifty posts", created_at=now - 100_000, place="BY/Minsk/Savetski")
    small = ch.parse_channel(fifty)
    events.append(fifty)
    for i in range(50):
        events.append(po.build_post(key, small, "news", f"Yard news {i}: " + "the water is back on " * (1 + i % 5),
                                    created_at=now - 50_000 + i))  # fmt: skip

    asyncio.run(store())
    return cli, channel.address, definition.id, small.address


def first_load(browser: Any, url: str, network: dict[str, Any] | None, repeat: bool = False) -> dict[str, float]:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        if repeat:  # a first visit installs the service worker and saves the directory
            page.goto(url)
            page.wait_for_selector(".tree a")
            page.wait_for_function("() => navigator.serviceWorker.controller !== null")
            page.wait_for_timeout(300)  # the directory batch is written to IndexedDB after 100 ms
            page.goto("about:blank")
        if network is not None:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.emulateNetworkConditions", network)
        start = time.perf_counter()
        page.goto(url, wait_until="commit")
        page.wait_for_selector(".first li, .tree a", timeout=60_000)  # the page's own list, or the app's
        listed = time.perf_counter() - start
        page.wait_for_selector(".tree a", timeout=60_000)
        shell = time.perf_counter() - start  # the app drawn: channels and places can be tapped
        nav = page.evaluate(
            "(() => { const n = performance.getEntriesByType('navigation')[0];"
            " return {dcl: n.domContentLoadedEventEnd, load: n.loadEventEnd}; })()"
        )
        return {"shell": shell, "listed": listed, "dcl": nav["dcl"] / 1000, "load": nav["load"] / 1000}
    finally:
        context.close()


def scroll(browser: Any, url: str, address: str, posts: int) -> dict[str, Any]:
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        start = time.perf_counter()
        page.goto(f"{url}#/c/{address}")
        page.wait_for_function(
            f"() => document.querySelector('.count')?.textContent === '{posts} posts'", timeout=120_000
        )
        loaded = time.perf_counter() - start
        page.wait_for_timeout(500)
        result: dict[str, Any] = page.evaluate(SCROLL)
        result["loaded"] = loaded
        return result
    finally:
        context.close()


def channel_first_visit(browser: Any, url: str, address: str, network: dict[str, Any]) -> float:
    """Seconds from opening a link to a channel of 50 posts (a fresh profile, Slow 3G) until they are shown."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        cdp = context.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", network)
        start = time.perf_counter()
        page.goto(f"{url}#/c/{address}", wait_until="commit")
        page.wait_for_function(
            "() => document.querySelector('.count')?.textContent === '50 posts' && document.querySelector('.post')",
            timeout=60_000,
        )
        return time.perf_counter() - start
    finally:
        context.close()


def taps(browser: Any, url: str, followed: str) -> dict[str, int]:
    """Walk two paths as a reader would and count the taps: opening the app to a followed channel's newest post,
    and to the channel of a district never opened before (through the start screen's tree)."""
    context = browser.new_context(**PHONE)
    page = context.new_page()
    try:
        page.goto(f"{url}#/c/{followed}")
        page.click("#follow")
        page.wait_for_selector("#follow.secondary")
        counted = {}
        page.goto(url)
        n = 0
        page.locator(".followed .channel a").first.click()
        n += 1
        page.wait_for_selector(".post")
        counted["newest"] = n
        page.goto(url)
        n = 0
        page.locator(".tree .districts a", has_text="Savetski").click()
        n += 1
        page.locator(".channel a", has_text="Fifty posts").click()
        n += 1
        page.wait_for_selector(".post")
        counted["district"] = n
        return counted
    finally:
        context.close()


def lighthouse_scores(url: str, out: Path) -> dict[str, float]:
    """Lighthouse's category scores (0-100, phone profile) for ``url``, or {} without web/node_modules."""
    import json

    binary = ROOT / "web" / "node_modules" / ".bin" / "lighthouse"
    if not binary.exists():
        return {}
    flags = "--headless=new --no-sandbox --disable-gpu --disable-background-networking --disable-sync --no-first-run"
    done = subprocess.run(
        [str(binary), url, "--output=json", f"--output-path={out}", f"--chrome-flags={flags}", "--quiet",
         "--only-categories=performance,accessibility,best-practices"],
        env={**os.environ, "CHROME_PATH": "/usr/bin/chromium"}, capture_output=True, timeout=300, check=False,
    )  # fmt: skip
    if done.returncode:
        return {}
    report = json.loads(out.read_text())
    return {k: round(v["score"] * 100) for k, v in report["categories"].items()}


def machine() -> str:
    cpu = cpu_name()
    chromium = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True, check=False)
    return f"{cpu}, {os.cpu_count()} cores, Linux {platform.release()}, {chromium.stdout.strip()}"


def fetch_page(url: str) -> bytes:
    """The page as the node sends it (with the channels and posts it carries), uncompressed."""
    request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body: bytes = response.read()
        return body


def posts_bytes(page: bytes) -> int:
    start = page.find(b'<script type="application/json" id="posts">')
    return 0 if start < 0 else page.index(b"</script>", start) - start


def write_section(text: str, path: Path) -> None:
    current = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"\n## Web app\n.*?(?=\n## (?!#)|\Z)", re.S)
    section = "\n## Web app\n\n" + text.strip() + "\n"
    current = pattern.sub(lambda _: section, current) if pattern.search(current) else current.rstrip() + "\n" + section
    path.write_text(current)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--no-lighthouse", action="store_true")
    args = parser.parse_args()
    assets = [p for p in STATIC.glob("*") if p.suffix in (".js", ".css", ".html")]
    if not assets:
        sys.exit("the web app is not built: run scripts/bootstrap.sh")
    import gzip

    size = sum(len(gzip.compress(p.read_bytes(), 9)) for p in assets)
    static_page = (STATIC / "index.html").read_bytes()
    page_size = len(gzip.compress(static_page, 9))
    # What a channel opened by link needs before it is shown: the page up to its second script (first.js), which
    # draws the channel from the posts the page carries; the app's own script follows (docs/web.md).
    second = static_page.index(b"</script>", static_page.index(b"</script>") + 1) + len(b"</script>")
    link_code = len(gzip.compress(static_page[:second], 9))
    lazy = {p.name: len(gzip.compress(p.read_bytes(), 9)) for p in sorted(STATIC.glob("*")) if p.name in LAZY}
    with tempfile.TemporaryDirectory() as tmp:
        cli, address, _, fifty = make_node(Path(tmp) / "home", args.posts)
        node = ServeProcess(cli.home, Path(tmp) / "serve.log")
        node.wait_ready()
        try:
            with sync_playwright() as playwright:
                browser = launch(playwright)
                try:
                    served = fetch_page(node.http_url)
                    loads = [os.getloadavg()[0]]
                    loopback = [first_load(browser, node.http_url, None) for _ in range(args.runs)]
                    slow = [first_load(browser, node.http_url, SLOW_3G) for _ in range(max(2, args.runs // 2))]
                    slow_repeat = [first_load(browser, node.http_url, SLOW_3G, True) for _ in range(2)]
                    scrolled = scroll(browser, node.http_url, address, args.posts)
                    channel50 = [
                        channel_first_visit(browser, node.http_url, fifty, SLOW_3G) for _ in range(max(2, args.runs))
                    ]
                    tapped = taps(browser, node.http_url, fifty)
                    loads.append(os.getloadavg()[0])
                finally:
                    browser.close()
            scores = (
                {}
                if args.no_lighthouse
                else {
                    "start": lighthouse_scores(node.http_url, Path(tmp) / "start.json"),
                    "channel": lighthouse_scores(f"{node.http_url}#/c/{fifty}", Path(tmp) / "channel.json"),
                }
            )
        finally:
            node.stop()

    def med(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    frames = scrolled["frames"]
    frames_sorted = sorted(frames)
    p95 = frames_sorted[int(len(frames_sorted) * 0.95)] if frames_sorted else 0.0
    long_frames = sum(1 for f in frames if f > 50)
    lines = [
        "Measured by `bench/web.py` in Debian's Chromium (headless, Playwright) against a real `samizdat serve` on "
        "loopback, phone viewport 390x844.",
        "",
        f"- date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- command: `.venv/bin/python bench/web.py --runs {args.runs} --posts {args.posts}`",
        f"- machine: {machine()}",
        f"- size: all JavaScript and CSS {size / 1024:.1f} KB gzipped (limit 200 KB); the page a reader needs "
        f"(index.html, app inline, English) {page_size / 1024:.1f} KB; keys, signing and QR codes (extras.js) and "
        "the screens not needed on the first one (screens.js) load on first use, the words of Belarusian and "
        "Russian (lang-*.json) for their readers",
        "",
        "| measure | result | target | met |",
        "|---|---|---|---|",
        f"| first load, loopback, until channels listed (median of {len(loopback)}) | {med(loopback, 'listed'):.2f} s "
        f"| ≤ 1 s | {'yes' if med(loopback, 'listed') <= 1 else 'no'} |",
        f"| first load, Slow 3G, channels listed (median of {len(slow)}) | {med(slow, 'listed'):.2f} s "
        f"| ≤ 2.4 s | {'yes' if med(slow, 'listed') <= 2.4 else 'no'} |",
        f"| first load, Slow 3G, app drawn: places and channels can be tapped (median of {len(slow)}) | "
        f"{med(slow, 'shell'):.2f} s | – | – |",
        f"| repeat visit, Slow 3G, channels listed (service worker + IndexedDB) | {med(slow_repeat, 'listed'):.2f} s "
        f"| – | – |",
        f"| channel of {args.posts:,} posts: until all are in the feed | {scrolled['loaded']:.2f} s | – | – |",
        f"| scrolling {args.posts:,} posts: frames, median / p95 / max | {statistics.median(frames):.1f} / {p95:.1f} / "
        f"{max(frames):.1f} ms | smooth | {'yes' if p95 <= 50 else 'no'} |",
        f"| scrolling: frames over 50 ms; long tasks | {long_frames} of {len(frames)}; "
        f"{len(scrolled['longTasks'])} | – | – |",
        f"| post elements in the page at most (of {args.posts:,}) | {scrolled['maxNodes']} | only the visible | "
        f"{'yes' if scrolled['maxNodes'] < 60 else 'no'} |",
        f"| first visit by link, Slow 3G, a channel of 50 posts shown (median of {len(channel50)}) | "
        f"{statistics.median(channel50):.2f} s | ≤ 3 s | {'yes' if statistics.median(channel50) <= 3 else 'no'} |",
        f"| code before the first screen (index.html, gzipped) | {page_size / 1024:.1f} KB | ≤ 60 KB | "
        f"{'yes' if page_size <= 60 * 1024 else 'no'} |",
        f"| code before a channel opened by link is shown (style, early.js, first.js; gzipped) | "
        f"{link_code / 1024:.1f} KB | – | – |",
        f"| data in this node's page (channels and posts it carries; gzipped, apart from the code) | "
        f"{(len(gzip.compress(served, 9)) - page_size) / 1024:.1f} KB ({len(served) / 1000:.0f} KB of page in all, "
        f"posts {posts_bytes(served) / 1000:.0f} KB of JSON) | page ≤ 500 KB | "
        f"{'yes' if len(served) <= 500_000 else 'no'} |",
        "| parts loaded on use (gzipped) | "
        + ", ".join(f"{name} {n / 1024:.1f} KB" for name, n in lazy.items())
        + " | counted apart | – |",
        *[
            f"| Lighthouse, {page} page, phone profile: {name} | {scores[page][key]} | ≥ {goal} | "
            f"{'yes' if scores[page][key] >= goal else 'no'} |"
            for page in scores
            for key, name, goal in (
                ("performance", "performance", 90),
                ("accessibility", "accessibility", 95),
                ("best-practices", "best practices", 95),
            )  # fmt: skip
            if key in scores[page]
        ],
        f"| taps from opening the app to a followed channel's newest post | {tapped['newest']} | 1 | "
        f"{'yes' if tapped['newest'] <= 1 else 'no'} |",
        f"| taps from opening the app to a channel of a district not opened before | {tapped['district']} | ≤ 2 | "
        f"{'yes' if tapped['district'] <= 2 else 'no'} |",
        "",
        "Slow 3G is DevTools' preset as CDP `Network.emulateNetworkConditions`: 2,000 ms latency per request, "
        "50,000 bytes/s (400 kbit/s) down and up (DevTools derives them as 400 ms x 5 and 500 kbit/s x 0.8). One "
        "latency is unavoidable, so the page is built for one request: the app is inline in index.html (its CSP "
        "allows exactly that script and style by hash) and the page carries the newest channel definitions, so the "
        "directory is listed before the relay's WebSocket has answered. The page also paints those channels' names and "
        'places as plain HTML ahead of the app\'s script (web/firstpaint.py): "listed" is when that list (or the '
        'app\'s) is on screen, "drawn" when the app has replaced it and can be tapped. The repeat visit (phones '
        "coming back to a hub) starts from the service worker and the directory saved in IndexedDB.",
        "",
        "A channel opened by link: the link's channel is in the address's fragment, which the browser never sends, so "
        "the page carries the newest posts (50 at most) of the node's own and followed channels, 64 KB of JSON at "
        "most; its second script (first.js, after those posts and before the app) verifies the linked channel's "
        "posts, folds them by the thread rules and draws them before the app has arrived; the app takes over with the "
        "same posts and merges the relay's. The relay's WebSocket is opened from the page's head (early.js). "
        f"Runs (s): {', '.join(f'{v:.2f}' for v in channel50)}. Load average (1 min) at the start and the end of "
        f"the browser runs: {loads[0]:.1f}, {loads[1]:.1f}.",
        "",
        "Loopback runs (listed / DOMContentLoaded / load, s): "
        + ", ".join(f"{r['listed']:.2f}/{r['dcl']:.2f}/{r['load']:.2f}" for r in loopback),
        "Slow 3G runs (listed / drawn, s): " + ", ".join(f"{r['listed']:.2f}/{r['shell']:.2f}" for r in slow),
        "Slow 3G repeat visits (listed / drawn, s): "
        + ", ".join(f"{r['listed']:.2f}/{r['shell']:.2f}" for r in slow_repeat),
        f"Scroll: {len(frames)} frames over a list {scrolled['height']:,} px tall; long task durations (ms): "
        + (", ".join(f"{d:.0f}" for d in scrolled["longTasks"][:20]) or "none"),
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section(text, ROOT / "docs" / "benchmarks.md")


if __name__ == "__main__":
    main()
