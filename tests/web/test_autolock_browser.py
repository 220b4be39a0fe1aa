"""The phone grabbed from the hand: the web app, open and unlocked, locks itself (web/src/autolock.js), in a real
Chromium against a real ``samizdat serve``.

Before, once the PIN had opened the app, the data key and everything decrypted stayed in the page until it was
closed: a phone taken from a reader's hand, or picked up from a table, showed the channels followed, the posts and
the key, whatever time had passed. Now, with a PIN set, the app locks when out of sight longer than a setting ("at
once" and 15 s here), when left untouched longer than another (30 s here), or from the panic box: the screen,
the page and the page's memory (a heap snapshot) then hold no channel name, post or key, and the PIN opens it all
again where the reader was. The page goes out of sight as on a phone: another tab brought in front, or the window
minimized (``document.visibilityState`` turns "hidden", checked). Needs Debian's chromium.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web_helpers import CHROMIUM, CHROMIUM_ARGS, PHONE, Cli

from samizdat.core import nip19

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

PIN = "613904"
NAME = "Rowan Stairwell 5821"
PLACE = ("BY", "Minsk", "Kalinina Block 58")
POST = "The van parked by entrance 2 since noon is not the gas service, says Halina"
SLOW = 60_000  # scrypt (64 MiB) in the page, on a busy test machine


@dataclass
class Hub:
    url: str
    address: str


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> Hub:
    cli = Cli(tmp_path_factory.mktemp("hub") / "home")
    cli.ok("init")
    made = cli.json("channel", "create", "rowan5821", "--name", NAME, "--place", "/".join(PLACE))
    cli.json("post", "rowan5821", "--type", "news", POST)
    node = module_serve(cli.home)
    return Hub(node.http_url, made["address"])


@pytest.fixture
def page(tmp_path: Path) -> Iterator[Any]:
    """A tab of Debian's Chromium, started here and reached over the DevTools protocol as any tool would: a browser
    Playwright launches itself tells every page it has the focus, which keeps it "visible" whatever is in front, so
    nothing could go out of sight. Its own profile, in ``tmp_path``; a script error on the page fails the test."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/system-packages.sh web)")
    profile = tmp_path / "profile"
    args = [CHROMIUM, "--headless", *CHROMIUM_ARGS, "--remote-debugging-port=0", f"--user-data-dir={profile}",
            "--lang=en-US", "--window-size=390,844", "about:blank"]  # fmt: skip
    with (tmp_path / "chromium.log").open("wb") as log:
        chromium = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    try:
        port_file = profile / "DevToolsActivePort"  # Chromium writes its port and path there once listening
        deadline = time.monotonic() + 30
        lines: list[str] = []
        while len(lines) != 2 and chromium.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
            lines = port_file.read_text().split() if port_file.exists() else []
        assert len(lines) == 2, "Chromium did not open its DevTools port"
        endpoint = f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.connect_over_cdp(endpoint, no_defaults=True, timeout=20_000)
            context = browser.contexts[0]
            context.set_default_timeout(20_000)
            tab = context.pages[0] if context.pages else context.new_page()
            tab.set_viewport_size(PHONE["viewport"])
            errors: list[str] = []
            tab.on("pageerror", lambda exc: errors.append(str(exc)))
            tab.on("dialog", lambda dialog: dialog.accept())
            yield tab
            browser.close()
            assert not errors, errors
    finally:
        chromium.terminate()
        try:
            chromium.wait(timeout=10)
        except subprocess.TimeoutExpired:
            chromium.kill()
            chromium.wait(timeout=10)


def set_pin(page: Any) -> None:
    page.locator("header nav a", has_text="Keys").click()
    page.fill("#new-pin", PIN)
    page.fill("#new-pin-again", PIN)
    page.click("#new-pin-set")
    expect(page.locator("#lock-state")).to_contain_text("This app is locked", timeout=SLOW)


def make_key(page: Any) -> str:
    """A key made in Keys; its secret as hex."""
    page.locator("header nav a", has_text="Keys").click()
    page.click("#create-key")
    page.locator("summary", has_text="Show the secret key").click()
    return nip19.nsec_decode(page.locator("#nsec").inner_text())


def read_and_follow(page: Any) -> None:
    page.locator("header nav a", has_text="Channels").click()
    page.locator(".tree .districts a", has_text=PLACE[2]).click()
    page.locator(".channel strong", has_text=NAME).click()
    expect(page.locator(".post .text", has_text=POST)).to_be_visible()
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Unfollow")


def used_with_a_pin(page: Any, hub: Hub) -> str:
    """The app as a reader uses it: a PIN, a key, a channel read and followed. Returns the key's hex."""
    page.goto(hub.url)
    set_pin(page)
    secret = make_key(page)
    read_and_follow(page)
    return secret


def heap(page: Any) -> str:
    """The page's JavaScript heap as DevTools saves it (a garbage collection first), as text."""
    cdp = page.context.new_cdp_session(page)
    chunks: list[str] = []
    cdp.on("HeapProfiler.addHeapSnapshotChunk", lambda event: chunks.append(event["chunk"]))
    try:
        cdp.send("HeapProfiler.enable")
        cdp.send("HeapProfiler.collectGarbage")
        cdp.send("HeapProfiler.takeHeapSnapshot", {"reportProgress": False})
    finally:
        cdp.detach()
    snapshot = json.loads("".join(chunks))
    return "\n".join(snapshot["strings"])


def shown(page: Any) -> str:
    """What the page holds: its DOM as HTML, its title, and the text of anything drawn."""
    return "\n".join([page.content(), page.title(), page.locator("body").inner_text()])


@contextlib.contextmanager
def out_of_sight(page: Any) -> Iterator[None]:
    """Another tab in front, as when another app is opened or the screen goes off; the app's tab in front again at
    the end."""
    other = page.context.new_page()
    try:
        other.bring_to_front()
        yield
    finally:
        other.close()
        page.bring_to_front()


@contextlib.contextmanager
def minimized(page: Any) -> Iterator[None]:
    """The browser's window out of sight (another app in front), then back."""
    cdp = page.context.new_cdp_session(page)
    window = cdp.send("Browser.getWindowForTarget")["windowId"]
    try:
        cdp.send("Browser.setWindowBounds", {"windowId": window, "bounds": {"windowState": "minimized"}})
        yield
    finally:
        cdp.send("Browser.setWindowBounds", {"windowId": window, "bounds": {"windowState": "normal"}})
        cdp.detach()


def assert_nothing_left(page: Any, hub: Hub, secret: str) -> None:
    expect(page.locator("#pin")).to_be_attached(timeout=SLOW)
    held = shown(page)
    for label, value in {"channel name": NAME, "post": POST, "place": PLACE[2], "address": hub.address}.items():
        assert value not in held, f"the page still holds the {label}"
    memory = heap(page)
    for label, value in {"channel name": NAME, "post": POST, "key": secret}.items():
        assert value not in memory, f"the page's memory still holds the {label}"


def test_out_of_sight_the_app_locks_at_once_and_the_pin_opens_it_where_it_was(page: Any, hub: Hub) -> None:
    secret = used_with_a_pin(page, hub)
    # The check sees what it looks for: the open app holds the post and the key in its memory.
    memory = heap(page)
    assert POST in memory
    assert secret in memory
    page.locator("header nav a", has_text="Keys").click()
    page.select_option("#autolock-hidden", label="At once")
    page.locator("header nav a", has_text="Channels").click()
    page.locator(".followed .channel strong", has_text=NAME).click()
    expect(page.locator(".post .text", has_text=POST)).to_be_visible()

    with out_of_sight(page):
        assert page.evaluate("document.visibilityState") == "hidden"
        assert_nothing_left(page, hub, secret)
    assert page.evaluate("document.visibilityState") == "visible"
    expect(page.locator("#pin")).to_be_visible()
    assert NAME not in shown(page)
    # The back and forward buttons on the lock screen show nothing either.
    page.go_back()
    expect(page.locator("#pin")).to_be_visible()
    assert NAME not in shown(page)
    page.go_forward()
    expect(page.locator("#pin")).to_be_visible()

    page.fill("#pin", PIN)
    page.click("#unlock")
    expect(page.locator(".post .text", has_text=POST)).to_be_visible(timeout=SLOW)  # where the reader was
    expect(page.locator("#follow")).to_have_text("Unfollow")
    page.locator("header nav a", has_text="Keys").click()
    page.locator("summary", has_text="Show the secret key").click()
    assert nip19.nsec_decode(page.locator("#nsec").inner_text()) == secret
    expect(page.locator("#autolock-hidden option:checked")).to_have_text("At once")  # the setting was kept


def test_out_of_sight_a_short_while_it_stays_open_and_longer_it_locks(page: Any, hub: Hub) -> None:
    secret = used_with_a_pin(page, hub)
    page.locator("header nav a", has_text="Keys").click()
    page.select_option("#autolock-hidden", label="15 seconds")
    page.locator("header nav a", has_text="Channels").click()
    page.locator(".followed .channel strong", has_text=NAME).click()
    # Another app in front a moment, and back: the app as it was, no PIN asked.
    with minimized(page):
        assert page.evaluate("document.visibilityState") == "hidden"
    expect(page.locator(".post .text", has_text=POST)).to_be_visible()
    expect(page.locator("#pin")).to_have_count(0)
    # Longer than the delay: locked while out of sight, nothing left behind.
    with minimized(page):
        assert page.evaluate("document.visibilityState") == "hidden"
        assert_nothing_left(page, hub, secret)
    expect(page.locator("#pin")).to_be_visible()


def test_left_untouched_the_app_locks(page: Any, hub: Hub) -> None:
    secret = used_with_a_pin(page, hub)
    page.locator("header nav a", has_text="Keys").click()
    page.select_option("#autolock-idle", label="30 seconds")
    page.locator("header nav a", has_text="Channels").click()
    page.locator(".followed .channel strong", has_text=NAME).click()
    expect(page.locator(".post .text", has_text=POST)).to_be_visible()
    # Nobody touches the phone on the table: the lock screen comes by itself, with nothing behind it.
    assert_nothing_left(page, hub, secret)
    page.fill("#pin", PIN)
    page.click("#unlock")
    expect(page.locator(".post .text", has_text=POST)).to_be_visible(timeout=SLOW)


def test_the_panic_box_locks_without_erasing(page: Any, hub: Hub) -> None:
    secret = used_with_a_pin(page, hub)
    brand = page.locator("#brand")
    brand.hover()
    page.mouse.down()
    expect(page.locator("#panic")).to_be_visible(timeout=5_000)  # held 1.5 s
    page.mouse.up()
    page.click("#panic-lock")
    assert_nothing_left(page, hub, secret)
    page.fill("#pin", PIN)
    page.click("#unlock")
    expect(page.locator(".post .text", has_text=POST)).to_be_visible(timeout=SLOW)
    expect(page.locator("#follow")).to_have_text("Unfollow")


def test_without_a_pin_the_keys_screen_says_it_cannot_lock_itself(page: Any, hub: Hub) -> None:
    page.goto(hub.url)
    page.locator("header nav a", has_text="Keys").click()
    expect(page.locator("#autolock-none")).to_contain_text("cannot lock itself")
    expect(page.locator("#autolock-hidden")).to_have_count(0)
    with out_of_sight(page):
        assert page.evaluate("document.visibilityState") == "hidden"
    expect(page.locator("#autolock-none")).to_be_visible()  # nothing locked, nothing lost
