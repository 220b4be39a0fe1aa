"""What a reader notices on a phone, in a real browser against a real ``samizdat serve``: each of the visible
defects of issue 14 (a page wider than the phone, broken table words, wrong plurals, a doubled label, "refute"
for "retract", a geohash field, long posts, a hand-added peer under LAN, quotes and dates, the owner's labels),
and the app accessible and light: a name for every control, sizes from the phone's font size, dark mode, a
small old browser at 320 px, and the mobile data it used, with a cap."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from web_helpers import PHONE, Cli

from samizdat.core import nip19
from samizdat.core.keys import SecretKey

pytest.importorskip("playwright")
from playwright.sync_api import expect

LONG = "The water pipe on Kalvaryjskaja is broken. " * 40  # 1,720 characters


@dataclass
class Hub:
    cli: Cli
    url: str
    yard: str  # channel addresses
    single: str
    ids: dict[str, str]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> Hub:
    cli = Cli(tmp_path_factory.mktemp("screens") / "home")
    cli.ok("init")
    yard = cli.json("channel", "create", "yard", "--name", "Yard 7", "--place", "BY/Minsk/Frunzenski")["address"]
    single = cli.json("channel", "create", "single", "--name", "One post", "--place", "BY/Hrodna")["address"]
    ids = {
        "alert": cli.json("post", "yard", "--type", "alert", "Vans", "--place", "Gate", "--expires", "2h")["ids"][0],
        "long": cli.json("post", "yard", "--type", "news", LONG, "--subject", "Pipe")["ids"][0],
        "labelled": cli.json("post", "yard", "--type", "news", "Shop open", "--subject", "Shop")["ids"][0],
        "single": cli.json("post", "single", "--type", "news", "Only one")["ids"][0],
    }
    cli.ok("label", ids["labelled"], "confirmed", "--reason", "I saw it")  # the owner's own label
    cli.ok("peers", "add", "ws://127.0.0.1:9")  # a peer added by hand, on loopback: not "nearby"
    node = module_serve(cli.home)
    return Hub(cli, node.http_url, yard, single, ids)


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    contexts: list[Any] = []
    errors: list[str] = []

    def make(locale: str = "en-US", **options: Any) -> Any:
        context = browser.new_context(locale=locale, **{**PHONE, **options})
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("dialog", lambda dialog: dialog.accept())
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, errors


def page_width(page: Any) -> int:
    return int(page.evaluate("() => document.documentElement.scrollWidth"))


def post(page: Any, post_id: str) -> Any:
    return page.locator(f'.post[data-id="{post_id}"]')


def test_the_keys_page_fits_a_390_px_screen_after_operator_login(hub: Hub, new_page: Any) -> None:
    page = new_page()
    cdp = page.context.new_cdp_session(page)
    cdp.send("Page.enable")
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 20}})  # a reader who enlarged the phone's font
    login = hub.cli.json("web", "login")
    page.goto(f"{hub.url}#op={login['token']}")
    expect(page.locator("#operator-status")).to_contain_text("npub1")
    page.fill("#import-key", nip19.nsec_encode(SecretKey.generate().secret.hex()))
    page.click("#import-button")
    expect(page.locator("#npub")).to_contain_text("npub1")
    page.fill("[name=verifier]", nip19.npub_encode(SecretKey.generate().public_key_hex))
    page.locator("[name=verifier]").press("Enter")
    expect(page.locator(".verifiers li")).to_have_count(1)
    assert page_width(page) <= 390


def test_the_node_screen_speaks_the_readers_language_and_fits(hub: Hub, new_page: Any) -> None:
    page = new_page("ru-RU")
    page.goto(f"{hub.url}#/status")
    added = page.locator("h2", has_text="Узлы, добавленные вручную")
    expect(added).to_be_visible()
    table = page.locator(".table-wrap", has=page.locator("td", has_text="ws://127.0.0.1:9"))
    expect(table.locator("td").nth(1)).to_have_text("вручную")
    expect(page.locator("td", has_text=re.compile(r"^(manual|live|backoff|connecting)$"))).to_have_count(0)
    # The hand-added loopback peer is not under "nearby (LAN)".
    lan = page.locator("h2", has_text="Узлы рядом (LAN)")
    expect(lan).to_be_visible()
    assert "127.0.0.1:9" not in lan.evaluate("h => h.nextElementSibling.textContent")
    # No word of a table is split across lines: each header and word cell is at least as wide as its longest word.
    broken = page.evaluate("""() => [...document.querySelectorAll('th, td:not(.url)')].filter((cell) => {
        const range = document.createRange();
        return cell.textContent.split(/\\s+/).filter(Boolean).some((word) => {
          const probe = document.createElement('span');
          probe.textContent = word;
          probe.style.whiteSpace = 'nowrap';
          cell.appendChild(probe);
          const wide = probe.getBoundingClientRect().width > cell.clientWidth + 1;
          probe.remove();
          return wide && getComputedStyle(cell).overflowWrap !== 'normal';
        });
      }).map((c) => c.textContent)""")
    assert broken == []
    assert page_width(page) <= 390
    expect(page.locator("#cached")).not_to_contain_text("событий.")  # "1 событий" was the old plural


@pytest.mark.parametrize(("locale", "count"), [("en-US", "1 post"), ("ru-RU", "1 пост"), ("be-BY", "1 пост")])
def test_plurals_follow_the_language(hub: Hub, new_page: Any, locale: str, count: str) -> None:
    page = new_page(locale)
    page.goto(f"{hub.url}#/c/{hub.single}")
    expect(page.locator("h2.count")).to_have_text(count)


def test_time_left_is_said_once_and_dates_and_quotes_follow_the_language(hub: Hub, new_page: Any) -> None:
    page = new_page("ru-RU")
    page.goto(f"{hub.url}#/c/{hub.yard}")
    alert = post(page, hub.ids["alert"])
    expect(alert.locator(".time-left .k")).to_have_text("Осталось")
    expect(alert.locator(".time-left .v")).to_have_text(re.compile(r"^\d+ ч \d+ мин$"))
    expect(alert.locator(".meta")).to_contain_text(re.compile(r"\d\d\.\d\d\.\d{4}"))
    quotes = page.evaluate(
        "() => { const q = document.createElement('q'); document.body.append(q); return getComputedStyle(q).quotes; }"
    )
    assert "«" in quotes


@pytest.mark.parametrize(
    ("locale", "retract", "retracted"),
    [("ru-RU", "Отозвать", "Отозвано каналом:"), ("be-BY", "Адклікаць", "Адклікана каналам:"),
     ("en-US", "Retract", "Retracted by the channel:")],
)  # fmt: skip
def test_retract_is_retract_in_every_language(
    hub: Hub, new_page: Any, locale: str, retract: str, retracted: str
) -> None:
    page = new_page(locale)
    login = hub.cli.json("web", "login")
    page.goto(f"{hub.url}#op={login['token']}")
    expect(page.locator("#operator-status")).to_be_visible()
    page.goto(f"{hub.url}#/c/{hub.single}")
    button = post(page, hub.ids["single"]).locator(".actions a").nth(1)
    expect(button).to_have_text(retract)
    button.click()
    expect(page.locator("h1")).to_have_text(re.compile(retract.split()[0]))
    if locale == "en-US":  # retract it once, in English, and see the notice in the other words
        page.fill("[name=text]", "Posted by mistake")
        page.click("button[type=submit]")
        expect(post(page, hub.ids["single"]).locator(".notice")).to_contain_text(retracted)


def test_compose_has_no_geohash_field(hub: Hub, new_page: Any) -> None:
    page = new_page("ru-RU")
    login = hub.cli.json("web", "login")
    page.goto(f"{hub.url}#op={login['token']}")
    expect(page.locator("#operator-status")).to_be_visible()
    page.goto(f"{hub.url}#/compose/{hub.yard}")
    page.select_option("select[name=type]", "alert")
    expect(page.locator(".in-geohash .hint")).to_have_text("Пост будет отнесён к району канала.")
    assert page.locator("input[name=geohash]").get_attribute("type") == "hidden"
    expect(page.locator("main")).not_to_contain_text("еохеш")


def test_a_long_post_is_folded_behind_read_more(hub: Hub, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{hub.url}#/c/{hub.yard}")
    long = post(page, hub.ids["long"])
    text = long.locator(".text")
    folded = text.evaluate("e => e.getBoundingClientRect().height")
    more = long.locator("button.more")
    expect(more).to_have_text("Read more")
    more.click()
    expect(more).to_have_attribute("aria-expanded", "true")
    expect(more).to_have_text("Show less")
    assert text.evaluate("e => e.getBoundingClientRect().height") > folded * 2
    # The list made room: no other post overlaps the unfolded one.
    overlaps = long.evaluate("""(mine) => {
        const box = mine.getBoundingClientRect();
        return [...document.querySelectorAll('.post')].filter((p) => p !== mine).map((p) => p.getBoundingClientRect())
          .filter((r) => r.bottom > box.top + 1 && r.top < box.bottom - 1).length;
      }""")
    assert overlaps == 0


def test_the_channel_owners_labels_are_no_verifiers_badge(hub: Hub, new_page: Any) -> None:
    """Only verifiers the reader follows give badges: an impostor would "confirm" his own posts
    (tests/web/test_redteam_labels_browser.py)."""
    page = new_page()
    page.goto(f"{hub.url}#/c/{hub.yard}")
    expect(post(page, hub.ids["labelled"])).to_be_visible()
    expect(post(page, hub.ids["labelled"]).locator(".badge")).to_have_count(0)


NAMELESS = """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href]')]
  .filter((el) => el.getClientRects().length)
  .filter((el) => !(el.getAttribute('aria-label') || el.getAttribute('aria-labelledby')
    || (el.labels && el.labels.length) || el.textContent.trim() || el.getAttribute('title')))
  .map((el) => el.outerHTML.slice(0, 120))"""


def test_every_control_has_a_name_for_screen_readers(hub: Hub, new_page: Any) -> None:
    page = new_page()
    login = hub.cli.json("web", "login")
    page.goto(f"{hub.url}#op={login['token']}")
    expect(page.locator("#operator-status")).to_be_visible()
    for route in ["", f"#/c/{hub.yard}", f"#/compose/{hub.yard}", "#/keys", "#/status"]:
        page.goto(f"{hub.url}{route}")
        page.locator("main").wait_for()
        page.wait_for_function("() => !document.querySelector('main .loading, p.boot')")
        assert page.evaluate(NAMELESS) == [], route


def test_sizes_follow_the_phones_font_size_and_dark_mode_the_system(hub: Hub, new_page: Any) -> None:
    page = new_page(color_scheme="dark")
    cdp = page.context.new_cdp_session(page)
    cdp.send("Page.enable")
    cdp.send("Page.setFontSizes", {"fontSizes": {"standard": 24}})
    page.goto(hub.url)
    expect(page.locator(".tree")).to_be_visible()
    assert page.evaluate("() => getComputedStyle(document.body).fontSize") == "24px"
    assert page.evaluate("() => parseFloat(getComputedStyle(document.querySelector('h1')).fontSize)") > 24
    background = page.evaluate("() => getComputedStyle(document.body).backgroundColor")
    red, green, blue = (int(v) for v in re.findall(r"\d+", background)[:3])
    assert max(red, green, blue) < 60, background  # dark paper
    ink = page.evaluate("() => getComputedStyle(document.body).color")
    assert min(int(v) for v in re.findall(r"\d+", ink)[:3]) > 180, ink  # light ink


OLD_BROWSER = """
delete Navigator.prototype.serviceWorker;
delete window.BarcodeDetector;
delete Navigator.prototype.share;
delete Navigator.prototype.canShare;
delete window.CompressionStream;
delete window.DecompressionStream;
"""


def test_a_small_old_browser_degrades_and_never_breaks(hub: Hub, new_page: Any) -> None:
    page = new_page(viewport={"width": 320, "height": 568})
    page.add_init_script(OLD_BROWSER)
    page.goto(hub.url)
    assert page.evaluate("() => 'serviceWorker' in navigator || 'CompressionStream' in window") is False
    expect(page.locator(".tree")).to_contain_text("Minsk")
    page.fill("#search", "Фрунзенский")
    expect(page.locator(".channel strong")).to_have_text(["Yard 7"])
    assert page_width(page) <= 320
    page.locator(".channel a").click()
    expect(page.locator(".post").first).to_be_visible()
    page.locator("details.share summary").click()
    expect(page.locator(".share code")).to_contain_text("naddr1")
    assert page_width(page) <= 320
    for route in ["#/keys", "#/status"]:
        page.goto(f"{hub.url}{route}")
        page.locator("main h1").wait_for()
        assert page_width(page) <= 320, route


def test_the_app_counts_its_mobile_data_and_stops_at_the_cap(hub: Hub, new_page: Any) -> None:
    page = new_page()
    page.goto(f"{hub.url}#/status")
    used = page.locator("#data-used")
    expect(used).to_have_text(re.compile(r"Mobile data used by this app this month: \d+\.\d\d MB\."))
    assert float(re.findall(r"\d+\.\d+", used.inner_text())[0]) > 0
    # Over the cap: no connection is made, what the phone saved is shown.
    sockets: list[str] = []
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.evaluate("""() => localStorage.setItem('data-use', JSON.stringify(
        { month: new Date().toISOString().slice(0, 7), bytes: 6e6, cap: 5 }))""")
    page.goto(hub.url)
    expect(page.locator("#conn")).to_have_text("offline")
    expect(page.locator(".tree")).to_contain_text("Minsk")  # the page's own channel list still shows
    page.goto(f"{hub.url}#/status")
    expect(page.locator(".data-use .warning")).to_contain_text("The cap is reached")
    assert sockets == []
    page.select_option("#data-cap", "0")
    page.goto(hub.url)
    expect(page.locator("#conn")).to_have_text("online")
