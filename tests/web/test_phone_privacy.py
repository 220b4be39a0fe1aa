"""A seized phone gives nothing away (issue 12, the phone): the web app in a real Chromium against a real
``samizdat serve``. After using the app with a PIN (a key made, a channel followed and read), no file of the
browser's profile holds the channel's name, place, relay, address or posts, the key in any encoding; yet the PIN
opens all of it again, offline too. A duress PIN shows a first visit, with the data gone; the panic action clears
everything in one step; links leave no channel or login code in the address bar or the tab's history, and a
login link works once; a disguised node names itself "Weather" in the tab, the manifest and the browser's
history."""

from __future__ import annotations

import base64
import contextlib
import json
import re
import sqlite3
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from web_helpers import PHONE, Cli, launch, persistent

from samizdat.config import DISGUISES, load_config
from samizdat.core import nip19
from samizdat.errors import UsageError
from samizdat.web.app import DISGUISES as FACES

sync_api = pytest.importorskip("playwright.sync_api")
expect = sync_api.expect

PIN = "482915"
DURESS = "115599"
NAME = "Lilac Courtyard 4417"
PLACE = ("BY", "Minsk", "Zaslauje Quarter 93")
MIRROR = "wss://lilac-mirror-4417.invalid"
POST = "Water returns to blocks 3 to 9 at 18:40, says the plumber Anatol"
SLOW = 60_000  # scrypt (64 MiB) in the page, on a busy test machine


@dataclass
class Hub:
    cli: Cli
    url: str
    address: str
    naddr: str
    owner: str


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> Hub:
    cli = Cli(tmp_path_factory.mktemp("hub") / "home")
    cli.ok("init")
    made = cli.json("channel", "create", "lilac4417", "--name", NAME, "--about", "Our yard", "--place", "/".join(PLACE),
                    "--mirror", MIRROR)  # fmt: skip
    cli.json("channel", "create", "other", "--name", "Another yard", "--place", "BY/Hrodna")
    cli.json("post", "lilac4417", "--type", "news", POST)
    node = module_serve(cli.home)
    owner = made["address"].split(":")[1]
    return Hub(cli, node.http_url, made["address"], made["naddr"], owner)


@contextlib.contextmanager
def fresh(playwright: Any) -> Iterator[Any]:
    browser = launch(playwright)
    context = browser.new_context(locale="en-US", **PHONE)
    context.set_default_timeout(20_000)
    try:
        yield context
    finally:
        context.close()
        browser.close()


def first_page(context: Any) -> Any:
    page = context.pages[0] if context.pages else context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    return page


def open_channel_by_place(page: Any) -> None:
    """Channels › the quarter (under Minsk on the start screen) › the channel, by tapping: nothing typed, no link
    from outside."""
    page.locator("header nav a", has_text="Channels").click()
    page.locator(".tree .districts a", has_text=PLACE[2]).click()
    page.locator(".channel strong", has_text=NAME).click()
    expect(page.locator(".post .text", has_text=POST)).to_be_visible()


def set_pin(page: Any, pin: str = PIN) -> None:
    page.locator("header nav a", has_text="Keys").click()
    page.fill("#new-pin", pin)
    page.fill("#new-pin-again", pin)
    page.click("#new-pin-set")
    expect(page.locator("#lock-state")).to_contain_text("This app is locked", timeout=SLOW)


def unlock(page: Any, pin: str) -> None:
    page.fill("#pin", pin)
    page.click("#unlock")


def make_key(page: Any) -> tuple[str, str]:
    """Create a key in the Keys screen; its npub and nsec as the app shows them."""
    page.locator("header nav a", has_text="Keys").click()
    page.click("#create-key")
    npub = page.locator("#npub").inner_text()
    page.locator("summary", has_text="Show the secret key").click()
    nsec = page.locator("#nsec").inner_text()
    return npub, nsec


# -- reading a profile directory as an examiner would -------------------------------------------------------------


def profile_files(profile: Path) -> list[tuple[Path, bytes]]:
    """Every file of the profile, and what any gzip stream inside it holds (an HTTP cache entry keeps a body as
    it came, compressed)."""
    out = []
    for path in sorted(profile.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        data = path.read_bytes()
        out.append((path, data))
        start = data.find(b"\x1f\x8b\x08")
        while start != -1:
            with contextlib.suppress(zlib.error):
                out.append((path, zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[start:], 50_000_000)))
            start = data.find(b"\x1f\x8b\x08", start + 1)
    return out


def needles(value: str) -> set[bytes]:
    """The ways a value could be written: UTF-8 and UTF-16 (Chromium's local storage), any case; a hex key also
    as its raw bytes and in base64."""
    found = {value.encode(), value.lower().encode(), value.upper().encode(), value.encode("utf-16-le")}
    if re.fullmatch(r"[0-9a-f]{64}", value):
        raw = bytes.fromhex(value)
        found |= {raw, base64.b64encode(raw), base64.urlsafe_b64encode(raw).rstrip(b"=")}
    return found


def leaks(files: list[tuple[Path, bytes]], secrets: dict[str, str]) -> list[str]:
    found = []
    for label, value in secrets.items():
        for path, data in files:
            lowered = data.lower()
            if any(needle in data or needle.lower() in lowered for needle in needles(value)):
                found.append(f"{label} in {path}")
    return found


# -- the tests ----------------------------------------------------------------------------------------------------


def test_a_profile_used_with_a_pin_holds_nothing_readable(hub: Hub, playwright: Any, tmp_path: Path) -> None:
    profile = tmp_path / "profile"
    with persistent(playwright, profile, timeout=20_000) as context:
        page = first_page(context)
        page.goto(hub.url)
        expect(page.locator(".tree a", has_text="Minsk").first).to_be_visible()
        set_pin(page)
        npub, nsec = make_key(page)
        open_channel_by_place(page)
        page.click("#follow")
        expect(page.locator("#follow")).to_have_text("Unfollow")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")  # the app kept for offline
        # Controls: what a page writes in the clear to IndexedDB and local storage is found by the scan below.
        page.evaluate("""() => new Promise((resolve) => {
            localStorage.setItem('control', 'ctl-5f0c2a9e81d7b346');
            const r = indexedDB.open('control', 1);
            r.onupgradeneeded = () => r.result.createObjectStore('s');
            r.onsuccess = () => {
                const tx = r.result.transaction('s', 'readwrite');
                tx.objectStore('s').put('ctl-9b27e4d05a6c13f8', 'k');
                tx.oncomplete = () => resolve();
            };
        })""")
    secret_hex, pubkey_hex = nip19.nsec_decode(nsec), nip19.npub_decode(npub)
    files = profile_files(profile)
    assert leaks(files, {"control": "ctl-5f0c2a9e81d7b346"}), "the scan does not see local storage"
    assert leaks(files, {"control": "ctl-9b27e4d05a6c13f8"}), "the scan does not see IndexedDB"
    secrets = {
        "channel name": NAME, "place": PLACE[2], "relay": MIRROR, "post": POST, "channel address": hub.address,
        "channel id": "lilac4417", "naddr": hub.naddr, "owner key": hub.owner, "npub": npub, "pubkey": pubkey_hex,
        "nsec": nsec, "secret key": secret_hex, "PIN": PIN,
    }  # fmt: skip
    assert leaks(files, secrets) == []

    # The same profile, opened again: the lock screen, then everything as it was, offline too.
    with persistent(playwright, profile, timeout=20_000) as context:
        page = first_page(context)
        page.goto(hub.url)
        expect(page.locator("#pin")).to_be_visible()
        expect(page.locator(".channels")).to_have_count(0)  # nothing shown before the PIN
        unlock(page, "000000")
        expect(page.locator(".message.error")).to_have_text("Wrong PIN or passphrase.", timeout=SLOW)
        unlock(page, PIN)
        expect(page.locator(".followed .channel strong")).to_have_text([NAME], timeout=SLOW)
        page.locator("header nav a", has_text="Keys").click()
        expect(page.locator("#npub")).to_have_text(npub)
        open_channel_by_place(page)
        context.set_offline(True)
        page.reload()  # the app from the service worker, the posts from the encrypted store
        unlock(page, PIN)
        expect(page.locator("#conn")).to_have_text("offline", timeout=SLOW)
        expect(page.locator(".post .text", has_text=POST)).to_be_visible()


USED = "() => JSON.parse(localStorage.getItem('data-use') || '{\"bytes\": 0}').bytes"  # datause.js's count
STORED = """() => new Promise((resolve) => {
    const r = indexedDB.open('data');
    r.onsuccess = () => {
        const tx = r.result.transaction(['meta', 'records']);
        const meta = tx.objectStore('meta').get('v');
        const keys = tx.objectStore('records').getAllKeys();
        tx.oncomplete = () => {
            resolve({ salt: Array.from(meta.result.salt).join(','), records: keys.result });
            r.result.close();
        };
    };
})"""


def test_the_duress_pin_erases_everything_and_shows_a_first_visit(hub: Hub, playwright: Any) -> None:
    with fresh(playwright) as context:
        first = first_page(context)
        first.goto(hub.url)
        expect(first.locator("#conn")).to_have_text("online")
        # Settled: the places are named from the gazetteer, which is fetched after the first screen is drawn
        # (until then they read as the channels wrote them, "BY › Hrodna").
        expect(first.locator("main")).to_contain_text("Belarus › Grodno", timeout=SLOW)
        first_visit = first.locator("main").text_content()
        first.locator("header nav a", has_text="Keys").click()
        expect(first.locator("#create-key")).to_be_visible()
        first_keys = first.locator("main").text_content()

    with fresh(playwright) as context:
        page = first_page(context)
        page.goto(hub.url)
        set_pin(page)
        page.locator("summary", has_text="Duress PIN").click()
        page.fill("#duress-pin", PIN)
        page.fill("#duress-pin-again", PIN)
        page.click("#duress-pin-set")
        expect(page.locator(".duress .message.error")).to_have_text("The duress PIN must differ from your PIN.",
                                                                    timeout=SLOW)  # fmt: skip
        page.fill("#duress-pin", DURESS)
        page.fill("#duress-pin-again", DURESS)
        page.click("#duress-pin-set")
        expect(page.locator("#lock-note")).to_have_text("Duress PIN set.", timeout=SLOW)
        make_key(page)
        open_channel_by_place(page)
        page.click("#follow")
        expect(page.locator("#follow")).to_have_text("Unfollow")
        page.select_option("#lang", "en")  # kept in local storage
        before = page.evaluate(STORED)
        used_before = page.evaluate(USED)

        page.reload()
        expect(page.locator("#pin")).to_be_visible()
        unlock(page, DURESS)
        expect(page.locator("#conn")).to_have_text("online", timeout=SLOW)
        expect(page.locator(".followed")).to_have_count(0)
        expect(page.locator("main")).to_have_text(first_visit)  # once the relay has listed the channels
        assert page.url == hub.url
        page.locator("header nav a", has_text="Keys").click()
        expect(page.locator("#create-key")).to_be_visible()
        expect(page.locator("main")).to_have_text(first_keys)  # no key, no PIN, no operator
        # Nothing from before is left in local storage: at most the count of data used since (numbers only, as on a
        # first visit), which does not carry on the count from before.
        assert set(page.evaluate("() => Object.keys(localStorage)")) <= {"data-use"}
        assert page.evaluate(USED) < used_before
        after = page.evaluate(STORED)  # a new store: another salt, none of the old records
        assert after["salt"] != before["salt"]
        assert not set(after["records"]) & set(before["records"])
        assert len(before["records"]) > 1
        page.reload()  # and it stays a fresh app: no lock screen
        expect(page.locator("#conn")).to_have_text("online")
        expect(page.locator("#pin")).to_have_count(0)


def long_press(page: Any, selector: str) -> None:
    box = page.locator(selector).bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    expect(page.locator("#panic")).to_be_visible(timeout=10_000)
    page.mouse.up()


STORAGE = """async () => ({
    databases: (await indexedDB.databases()).map((d) => d.name),
    local: localStorage.length,
    session: sessionStorage.length,
    caches: await caches.keys(),
    workers: (await navigator.serviceWorker.getRegistrations()).length,
})"""


def test_the_panic_action_clears_everything_in_one_step(hub: Hub, playwright: Any) -> None:
    with fresh(playwright) as context:
        page = first_page(context)
        page.goto(hub.url)
        make_key(page)
        open_channel_by_place(page)
        page.click("#follow")
        expect(page.locator("#follow")).to_have_text("Unfollow")
        page.select_option("#lang", "en")
        page.evaluate("() => sessionStorage.setItem('x', '1')")
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")
        before = page.evaluate(STORAGE)
        assert before["databases"]
        assert before["caches"]
        assert before["local"]
        assert before["session"]
        assert before["workers"] == 1

        page.click("#brand")  # a tap is only the way home
        expect(page.locator("#panic")).to_have_count(0)
        long_press(page, "#brand")
        page.click("#panic-cancel")
        expect(page.locator("#panic")).to_have_count(0)
        assert page.evaluate(STORAGE)["databases"] == before["databases"]

        # The page the app reloads is held back here, so that what is left can be looked at before a fresh app
        # starts keeping things again.
        after = "<!doctype html><title>after</title>"
        page.route(hub.url, lambda route: route.fulfill(body=after, content_type="text/html"))
        long_press(page, "#brand")
        page.click("#panic-erase")
        expect(page).to_have_title("after")
        assert page.evaluate(STORAGE) == {"databases": [], "local": 0, "session": 0, "caches": [], "workers": 0}
        page.unroute(hub.url)
        page.goto(hub.url)
        expect(page.locator("#conn")).to_have_text("online")
        expect(page.locator(".followed")).to_have_count(0)
        page.locator("header nav a", has_text="Keys").click()
        expect(page.locator("#create-key")).to_be_visible()


def history_entries(context: Any, page: Any) -> list[dict[str, Any]]:
    """The tab's back/forward list, as the browser keeps it."""
    cdp = context.new_cdp_session(page)
    try:
        return list(cdp.send("Page.getNavigationHistory")["entries"])
    finally:
        cdp.detach()


def test_links_leave_no_channel_or_code_in_the_address_or_history(hub: Hub, playwright: Any) -> None:
    with fresh(playwright) as context:
        page = first_page(context)
        page.goto(hub.url)
        expect(page.locator("#conn")).to_have_text("online")
        page.goto(f"{hub.url}#{hub.naddr}")  # a shared channel link
        expect(page.locator("h1")).to_have_text(NAME)
        assert page.url == hub.url
        page.click("#follow")
        expect(page.locator("#follow")).to_have_text("Unfollow")
        page.goto(f"{hub.url}#/c/{hub.address}")  # the earlier form of a channel link
        expect(page.locator("h1")).to_have_text(NAME)
        assert page.url == hub.url
        page.locator("header nav a", has_text="Channels").click()
        page.locator(".tree a.group", has_text="Minsk").click()
        assert page.url == hub.url
        page.locator(".places a", has_text=PLACE[2]).click()
        assert page.url == hub.url
        page.go_back()  # back works, from the app's own state
        expect(page.locator("h1")).to_have_text(PLACE[1])
        page.reload()  # so does a reload
        expect(page.locator("h1")).to_have_text(PLACE[1])

        login = hub.cli.json("web", "login")
        page.goto(f"{hub.url}#op={login['token']}")
        expect(page.locator("#operator-status")).to_contain_text("Logged in as the node’s operator")
        assert page.url == hub.url
        entries = history_entries(context, page)
        assert len(entries) >= 5
        for entry in entries:
            shown = entry["url"] + " " + entry["title"]
            for secret in (hub.naddr, hub.address, "lilac4417", hub.owner, login["token"], NAME, PLACE[2], "#"):
                assert secret not in shown, entry

    with fresh(playwright) as context:  # the same link on another phone: spent
        page = first_page(context)
        page.goto(f"{hub.url}#op={login['token']}")
        expect(page.locator("#operator-error")).to_contain_text("already used")
        expect(page.locator("#operator-status")).to_have_count(0)
        assert page.url == hub.url


def test_a_disguised_node_says_weather(tmp_path: Path, module_serve: Any, playwright: Any) -> None:
    cli = Cli(tmp_path / "home")
    cli.ok("init")
    config = cli.home / "config.toml"
    text = config.read_text()
    assert 'disguise = ""' in text
    config.write_text(text.replace('disguise = ""', 'disguise = "radio"'))
    assert "web.disguise must be one of weather, notes, calculator" in cli.fails("channel", "list").err
    config.write_text(text.replace('disguise = ""', 'disguise = "weather"'))
    cli.json("channel", "create", "yard", "--name", NAME, "--place", "/".join(PLACE))
    node = module_serve(cli.home)
    profile = tmp_path / "profile"
    with persistent(playwright, profile, timeout=20_000) as context:
        page = first_page(context)
        page.goto(node.http_url)
        expect(page.locator("#brand")).to_have_text("Weather")
        expect(page).to_have_title("Weather")
        page.locator(".tree a.group", has_text="Minsk").click()
        expect(page).to_have_title("Weather")
        manifest = json.loads(page.request.get(node.http_url + "manifest.webmanifest").text())
        assert (manifest["name"], manifest["short_name"]) == ("Weather", "Weather")
        icon = page.request.get(node.http_url + "icon.svg").text()
        assert icon == FACES["weather"].icon
        assert "Samizdat" not in page.request.get(node.http_url).text().split("</head>")[0]
    with sqlite3.connect(profile / "Default" / "History") as db:
        visits = db.execute("SELECT url, title FROM urls").fetchall()
    assert visits
    assert all("samizdat" not in f"{url} {title}".lower() for url, title in visits), visits


def test_the_disguises_and_the_config_agree(tmp_path: Path) -> None:
    assert set(DISGUISES) == set(FACES)
    (tmp_path / "config.toml").write_text('[web]\ndisguise = "notes"\n')
    assert load_config(tmp_path).disguise == "notes"
    (tmp_path / "config.toml").write_text("[web]\ndisguise = 3\n")
    with pytest.raises(UsageError, match="web.disguise"):
        load_config(tmp_path)
