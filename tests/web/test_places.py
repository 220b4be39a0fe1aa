"""Places people recognise, in a real browser against a real ``samizdat serve``: a district found by typing its
name in Latin, Belarusian or Russian letters from a be, ru or en screen; places shown in the reader's language
(the gazetteer, and a channel's own ``place-name`` tags); "near you" chosen once, kept on the phone, shown first
after a reload and never sent; and the start screen's promise: a district's channel two taps from opening the
app, a followed channel's newest post one tap."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from web_helpers import PHONE, Cli

pytest.importorskip("playwright")
from playwright.sync_api import expect


@dataclass
class Hub:
    cli: Cli
    url: str
    frunzenski: str  # channel addresses
    kastrychnitski: str


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> Hub:
    cli = Cli(tmp_path_factory.mktemp("places") / "home")
    cli.ok("init")
    frunzenski = cli.json("channel", "create", "frunzenski", "--name", "Frunzenski news", "--about", "Yard news",
                          "--place", "BY/Minsk/Frunzenski")["address"]  # fmt: skip
    # Written with another spelling of the district: the gazetteer takes it for the same place.
    kastrychnitski = cli.json("channel", "create", "kastrychnitski", "--name", "Yard 12", "--place",
                              "BY/Minsk/Oktyabrsky")["address"]  # fmt: skip
    cli.json("channel", "create", "barysaw", "--name", "Barysaw help", "--place", "BY/Minsk-Region/Barysaw")
    cli.json("channel", "create", "block", "--name", "Block 7 yard", "--place", "BY/Minsk/Frunzenski/Block 7",
             "--place-name", "BY/Minsk/Frunzenski/Block 7=be:Двор 7", "--place-name",
             "BY/Minsk/Frunzenski/Block 7=ru:Двор 7")  # fmt: skip
    cli.json("post", "frunzenski", "--type", "news", "Older post", "--subject", "Old")
    cli.json("post", "frunzenski", "--type", "news", "Water is back", "--subject", "Newest")
    node = module_serve(cli.home)
    return Hub(cli, node.http_url, frunzenski, kastrychnitski)


@pytest.fixture
def new_page(browser: Any) -> Iterator[Any]:
    contexts: list[Any] = []
    errors: list[str] = []

    def make(locale: str) -> Any:
        context = browser.new_context(locale=locale, **PHONE)
        context.set_default_timeout(20_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, errors


def search(page: Any, text: str) -> None:
    page.fill("#search", text)


SPELLINGS = {
    "Frunzenski news": ["Frunzenski", "Фрунзенскі", "Фрунзенский", "frunzenskiy"],
    "Yard 12": ["Kastrycnicki", "Kastryčnicki", "Кастрычніцкі", "Октябрьский"],
}
PLACES = {
    "be-BY": "Беларусь › Мінск › Фрунзенскі",
    "ru-RU": "Беларусь › Минск › Фрунзенский",
    "en-US": "Belarus › Minsk › Frunzenski",
}


@pytest.mark.parametrize("locale", ["be-BY", "ru-RU", "en-US"])
def test_a_district_is_found_in_every_script_and_shown_in_the_readers_language(
    hub: Hub, new_page: Any, locale: str
) -> None:
    page = new_page(locale)
    page.goto(hub.url)
    frunzenski = page.locator(f'.tree a:has-text("{PLACES[locale].split(" › ")[2]}")')
    expect(frunzenski).to_be_visible()  # the gazetteer arrived: the tree speaks the reader's language
    for name, spellings in SPELLINGS.items():
        for spelling in spellings:
            search(page, spelling)
            expect(page.locator(".channel strong", has_text=name).first).to_be_visible()
            expect(page.locator(".channel strong", has_text="Barysaw help")).to_have_count(0)
    search(page, "Фрунзенский")
    card = page.locator(".channel", has_text="Frunzenski news")
    expect(card.locator(".place")).to_have_text(PLACES[locale])


def test_minsk_the_city_and_minsk_region_are_two_places(hub: Hub, new_page: Any) -> None:
    page = new_page("be-BY")
    page.goto(hub.url)
    expect(page.locator(".tree")).to_contain_text("Мінская вобласць")
    search(page, "Минск")
    expect(page.locator(".places.found a")).to_have_text(["Беларусь › Мінск", "Беларусь › Мінская вобласць"])
    search(page, "Минская область")
    expect(page.locator(".channel strong")).to_have_text(["Barysaw help"])
    page.locator("#search").fill("")
    page.locator(".tree a", has_text="Мінская вобласць").click()
    expect(page.locator("h1")).to_have_text("Мінская вобласць")
    page.locator(".places a", has_text="Барысаў").click()
    expect(page.locator(".channel strong")).to_have_text(["Barysaw help"])


def test_a_channels_own_place_names_are_shown(hub: Hub, new_page: Any) -> None:
    page = new_page("be-BY")
    page.goto(hub.url)
    search(page, "Двор 7")
    expect(page.locator(".channel .place")).to_have_text(["Беларусь › Мінск › Фрунзенскі › Двор 7"])


def test_two_taps_to_a_districts_channel_the_other_spelling_included(hub: Hub, new_page: Any) -> None:
    page = new_page("ru-RU")
    page.goto(hub.url)
    page.locator(".tree a", has_text="Октябрьский").click()  # 1: the district, from the start screen
    expect(page.locator("h1")).to_have_text("Октябрьский")
    page.locator(".channel a", has_text="Yard 12").click()  # 2: its channel
    expect(page.locator("h1")).to_have_text("Yard 12")


def test_a_place_typed_before_the_gazetteer_came_is_offered_once_it_comes(hub: Hub, new_page: Any) -> None:
    """The start screen is drawn anew whenever channels or the gazetteer come: what the reader typed in "Near you"
    was emptied then, and on a slow link a district typed early was never offered."""
    page = new_page("en-US")
    held: list[Any] = []
    released = False

    def hold(route: Any) -> None:  # the page's fetch, and the service worker's copy for offline use
        if released:
            route.continue_()
        else:
            held.append(route)

    page.context.route("**/gazetteer-by.json*", hold)  # it waits until the reader typed
    page.goto(hub.url)
    near = page.locator("section.near")
    near.locator("#near-search").fill("Фрунз")
    for _ in range(100):  # bounded: 10 s
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the app never asked for its gazetteer"
    expect(near.locator(".place-choice")).to_have_count(0)
    released = True
    for route in held:
        route.continue_()
    expect(near.locator(".place-choice", has_text="Frunzenski")).to_be_visible()
    expect(near.locator("#near-search")).to_have_value("Фрунз")
    expect(near.locator("#near-search")).to_be_focused()


def test_near_you_is_chosen_once_kept_after_reload_and_never_sent(hub: Hub, new_page: Any) -> None:
    page = new_page("en-US")
    sent: list[str] = []
    page.on("request", lambda request: sent.append(request.url + (request.post_data or "")))
    page.on("websocket", lambda ws: ws.on("framesent", lambda payload: sent.append(str(payload))))
    page.goto(hub.url)
    expect(page.locator(".tree a").first).to_be_visible()  # the places have come (typed before, no choice shows)
    near = page.locator("section.near")
    near.locator("#near-search").fill("Фрунз")
    near.locator(".place-choice", has_text="Frunzenski").click()
    expect(near.locator("h2")).to_have_text("Near you: Frunzenski")
    # One tap from opening the app: the district's channels are right there.
    expect(near.locator(".channel strong")).to_have_text(["Block 7 yard", "Frunzenski news"])
    page.reload()
    expect(page.locator("section.near h2")).to_have_text("Near you: Frunzenski")
    expect(page.locator("section.near .channel strong")).to_have_text(["Block 7 yard", "Frunzenski news"])
    stored = page.evaluate("() => JSON.stringify(Object.entries(localStorage))")
    assert "Frunzenski" not in stored  # kept in the app's encrypted settings, not in the clear
    assert not [s for s in sent if "Frunzenski" in s or "Фрунз" in s], "the chosen place left the phone"
    page.locator("section.near #near-change").click()
    page.locator("section.near #near-clear").click()
    expect(page.locator("section.near #near-search")).to_be_visible()
    expect(page.locator("section.near .channel")).to_have_count(0)


def test_one_tap_from_opening_to_a_followed_channels_newest_post(hub: Hub, new_page: Any) -> None:
    page = new_page("en-US")
    page.goto(f"{hub.url}#/c/{hub.frunzenski}")
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Unfollow")
    newest = hub.cli.json("feed", "frunzenski", "--limit", "1")[0]["text"]
    page.goto(hub.url)
    page.locator(".followed .channel a").click()  # the one tap
    expect(page.locator(".post").first).to_contain_text(newest)
