"""The web app in a real browser (Debian's Chromium) against a real ``samizdat serve``: what a neighbour on the
hub's Wi-Fi sees and does. First visit, browse by place, follow, compose every post type with a key made
admin by the owner, corrections and retractions, the operator login, offline reload, hostile posts, languages.

Screenshots of the main screens are taken on the way; with ``SAMIZDAT_SCREENSHOTS=1`` they are saved in
docs/screenshots/ (the README shows them), else they are dropped and the work tree stays as it was.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from web_helpers import PHONE, SCREENSHOTS, SCREENSHOTS_WANTED, Cli, phone_page

from samizdat.core import kinds, nip19
from samizdat.core.channel import build_channel_event
from samizdat.core.display import fingerprint
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey

pytest.importorskip("playwright")
from playwright.sync_api import Error, expect
from websockets.sync.client import connect

UNREACHABLE = "ws://127.0.0.1:9"
HOSTILE = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script> javascript:alert(1)'


@dataclass
class Hub:
    cli: Cli
    url: str
    ws_url: str
    district: str  # channel addresses
    block: str
    ids: dict[str, str]  # post kind -> id
    phone_secret: str  # a key the owner made an admin of the district


def _one_id(result: Any) -> str:
    return str(result["ids"][0])


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory, module_serve: Any) -> Hub:
    cli = Cli(tmp_path_factory.mktemp("hub") / "home")
    cli.ok("init")
    phone = SecretKey.generate()
    district = cli.json("channel", "create", "frunzenski", "--name", "Frunzenski district", "--about",
                        "News for the district", "--place", "BY/Minsk/Frunzenski")["address"]  # fmt: skip
    block = cli.json("channel", "create", "block7", "--name", "Block 7 yard", "--place", "BY/Minsk/Frunzenski/Block 7")[
        "address"
    ]
    cli.json("channel", "create", "hrodna", "--name", "Hrodna city", "--place", "BY/Hrodna")
    cli.ok("channel", "admins", "frunzenski", "--add", nip19.npub_encode(phone.public_key_hex), "--role", "admin")
    cli.ok("relays", "--write", UNREACHABLE)  # a write relay that refuses connections: shown as not reachable
    node = module_serve(cli.home)
    ids = {
        "news": _one_id(
            cli.json("post", "frunzenski", "--type", "news", "Metro stations are closed", "--subject", "Metro")
        ),  # fmt: skip
        "alert": _one_id(
            cli.json(
                "post", "frunzenski", "--type", "alert", "Police vans", "--place", "Market gate", "--expires", "2h"
            )
        ),  # fmt: skip
        "help": _one_id(cli.json("post", "frunzenski", "--type", "help", "Need a driver", "--need", "transport")),
        "hostile": _one_id(cli.json("post", "frunzenski", "--type", "news", HOSTILE, "--subject", HOSTILE[:60])),
        "block": _one_id(cli.json("post", "block7", "--type", "safe-place", "Warm room", "--place", "Flat 12")),
    }
    cli.json("correct", ids["news"], "Only Pushkinskaya is closed")
    cli.json("retract", ids["alert"], "--reason", "Not confirmed by anyone")
    return Hub(cli, node.http_url, node.url, district, block, ids, phone.secret.hex())


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    with phone_page(browser, dismiss_dialogs=True) as page:
        yield page


def shot(page: Any, name: str) -> None:
    """Screenshot the top of the page; saved as docs/screenshots/<name>.png only with SAMIZDAT_SCREENSHOTS=1."""
    page.evaluate("() => window.scrollTo(0, 0)")
    page.evaluate("() => new Promise(requestAnimationFrame)")
    image = page.screenshot()
    if SCREENSHOTS_WANTED:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(image)


def find_post(page: Any, post_id: str) -> Any:
    """The post's card, scrolling down to it: only posts near the screen are in the page (a windowed list)."""
    post = page.locator(f'.post[data-id="{post_id}"]')
    for _ in range(100):
        if post.count():
            try:
                post.scroll_into_view_if_needed(timeout=3000)
                return post
            except Error as error:  # the list drew its window again meanwhile (new posts arrived): look again
                if "not attached" not in str(error) and "Timeout" not in str(error):
                    raise
                continue
        page.evaluate("window.scrollBy(0, 500)")
        page.evaluate("new Promise(requestAnimationFrame)")
    raise AssertionError(f"post {post_id} is not in the channel")


def open_channel(page: Any, hub: Hub, address: str) -> None:
    page.goto(f"{hub.url}#/c/{address}")
    expect(page.locator(".post").first).to_be_visible()


def test_first_visit_and_browse_by_place(hub: Hub, page: Any) -> None:
    page.goto(hub.url)
    expect(page.locator("h1")).to_have_text("Channels by place")
    expect(page.locator("#conn")).to_have_text("online")
    shot(page, "directory")
    page.locator(".tree a", has_text="Belarus › Minsk").click()
    expect(page.locator(".places a", has_text="Grodno")).to_have_count(0)
    page.locator(".places a", has_text="Frunzenski").click()
    expect(page.locator(".channel a", has_text="Frunzenski district")).to_be_visible()
    page.locator(".places a", has_text="Block 7").click()
    expect(page.locator(".channel a", has_text="Block 7 yard")).to_be_visible()
    page.goto(hub.url)
    page.fill("#search", "hrodna")
    expect(page.locator(".channel")).to_have_count(1)
    expect(page.locator(".channel")).to_contain_text("Hrodna city")


def test_each_post_type_shown_for_what_it_is(hub: Hub, page: Any) -> None:
    open_channel(page, hub, hub.district)
    help_post = find_post(page, hub.ids["help"])
    expect(help_post.locator(".type")).to_have_text("Help request")
    expect(help_post.locator(".status")).to_have_text("Open")
    expect(help_post).to_contain_text("transport")
    news = find_post(page, hub.ids["news"])
    expect(news).to_contain_text("Only Pushkinskaya is closed")  # the correction, shown with its original
    expect(news.locator(".corrected")).to_be_visible()
    news.locator(".history summary").click()
    expect(news.locator(".history")).to_contain_text("Metro stations are closed")
    # Retracted by its author: the node honoured the deletion request, the notice stays (never a silent gap).
    alert = find_post(page, hub.ids["alert"])
    expect(alert.locator(".notice")).to_contain_text("Retracted by the channel: Not confirmed by anyone")
    expect(alert).to_contain_text("the original is no longer on this node")
    shot(page, "channel")


def test_hostile_posts_are_inert_text(hub: Hub, page: Any) -> None:
    open_channel(page, hub, hub.district)
    post = find_post(page, hub.ids["hostile"])
    expect(post.locator(".text")).to_have_text(HOSTILE)
    expect(post.locator("h3")).to_have_text(HOSTILE[:60])
    assert post.locator("img, script, a[href^=javascript]").count() == 0
    assert page.evaluate("window.pwned") is None


def test_follow_and_unfollow(hub: Hub, page: Any) -> None:
    page.goto(f"{hub.url}#/c/{hub.block}")
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Unfollow")
    page.goto(hub.url)
    expect(page.locator(".followed .channel strong")).to_have_text(["Block 7 yard"])
    expect(page.locator(".followed .channel .place")).to_have_text(["Belarus › Minsk › Frunzenski › Block 7"])
    page.reload()  # kept in the browser
    expect(page.locator(".followed .channel")).to_have_count(1)
    page.goto(f"{hub.url}#/c/{hub.block}")
    page.click("#follow")
    expect(page.locator("#follow")).to_have_text("Follow")
    page.goto(hub.url)
    expect(page.locator(".followed")).to_have_count(0)


def import_key(page: Any, hub: Hub, secret: str) -> None:
    page.goto(f"{hub.url}#/keys")
    page.fill("#import-key", nip19.nsec_encode(secret))
    page.click("#import-button")
    expect(page.locator("#npub")).to_have_text(nip19.npub_encode(SecretKey.from_hex(secret).public_key_hex))


COMPOSE = [
    ("news", {"subject": "Water", "text": "Water is back on Kalvaryjskaja"}, "Water is back"),
    ("alert", {"text": "Checkpoint on the bridge", "location": "Bridge"}, "left"),
    ("help", {"text": "Bring a jack", "need": "car jack", "reach": "flat 4"}, "car jack"),
    ("safe-place", {"text": "Open doors", "location": "Library", "hours": "9-21"}, "Library"),
    ("contact", {"text": "On duty", "reach": "+375 29 000", "role": "medic"}, "Medic"),
    ("event", {"text": "Yard meeting", "location": "Yard 7", "start": "2030-05-01T18:00"}, "Yard 7"),
    ("appeal", {"text": "Help with fines", "purpose": "Fines", "give": "IBAN BY00 0000", "amount": "500",
                "currency": "eur"}, "500 EUR"),
]  # fmt: skip


LABELS = {"news": "News", "alert": "Alert", "help": "Help request", "safe-place": "Safe place", "contact": "Contact",
          "event": "Event", "appeal": "Appeal"}  # fmt: skip


def test_compose_every_post_type_with_a_phone_key(hub: Hub, page: Any) -> None:
    page.goto(f"{hub.url}#/c/{hub.district}")
    expect(page.locator("#follow")).to_be_visible()
    assert page.locator("#compose").count() == 0  # no key yet: no compose
    import_key(page, hub, hub.phone_secret)
    for post_type, values, shown in COMPOSE:
        page.goto(f"{hub.url}#/c/{hub.district}")
        page.click("#compose")
        page.select_option("select[name=type]", post_type)
        for name, value in values.items():
            field = page.locator(f"[name={name}]")
            if field.evaluate("e => e.tagName") == "SELECT":
                field.select_option(value)
            else:
                field.fill(value)
        if post_type == "appeal":
            shot(page, "compose")
        page.click("button[type=submit]")
        post = page.locator(".post", has_text=values["text"])
        # The feed folds a run of posts by one author ("+ 4 posts by the same author"); this key writes them all,
        # within a second or two, so which of them are folded depends on how equal times sort: open the folds.
        for _ in range(300):  # at most 60 s
            if post.count():
                break
            if page.locator("button.more").count():
                page.locator("button.more").first.click()
            page.wait_for_timeout(200)
        expect(post).to_contain_text(shown)
        expect(post.locator(".type")).to_have_text(LABELS[post_type])
    feed = hub.cli.json("feed", "frunzenski", "--limit", "50")
    texts = json.dumps(feed)
    for _, values, _ in COMPOSE:
        assert values["text"] in texts  # the node took them: signed in the browser, valid for the CLI too


def test_bad_input_is_one_line_and_loses_nothing(hub: Hub, page: Any) -> None:
    import_key(page, hub, hub.phone_secret)
    page.goto(f"{hub.url}#/compose/{hub.district}")
    page.select_option("select[name=type]", "alert")
    page.fill("[name=text]", "Something at the station")
    page.click("button[type=submit]")  # no location
    expect(page.locator(".message.error")).to_have_text("An alert needs a location.")
    expect(page.locator("[name=text]")).to_have_value("Something at the station")


def test_mistakes_are_explained_in_the_readers_language(hub: Hub, browser: Any) -> None:
    context = browser.new_context(locale="ru-RU", **PHONE)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        import_key(page, hub, hub.phone_secret)
        page.goto(f"{hub.url}#/compose/{hub.district}")
        page.select_option("select[name=type]", "event")
        page.fill("[name=location]", "Двор")
        page.fill("[name=text]", "Собрание")
        page.click("button[type=submit]")
        expect(page.locator(".message.error")).to_have_text("Событие: заполните поле «Начало».")
        expect(page.locator("[name=text]")).to_have_value("Собрание")
    finally:
        context.close()


def test_an_event_starting_in_the_past_is_published_only_when_confirmed(hub: Hub, browser: Any) -> None:
    context = browser.new_context(locale="en-US", **PHONE)
    context.set_default_timeout(20_000)
    page = context.new_page()
    asked: list[str] = []

    def answer(dialog: Any) -> None:  # the first time "no", then "yes"
        asked.append(dialog.message)
        dialog.accept() if len(asked) > 1 else dialog.dismiss()

    page.on("dialog", answer)
    text = "Yard meeting, a year ago by mistake"
    try:
        import_key(page, hub, hub.phone_secret)
        page.goto(f"{hub.url}#/compose/{hub.district}")
        page.select_option("select[name=type]", "event")
        page.fill("[name=location]", "Yard 7")
        page.fill("[name=start]", "2020-05-01T18:00")
        page.fill("[name=text]", text)
        page.click("button[type=submit]")
        expect(page.locator("button[type=submit]")).to_be_enabled()  # declined: back to the form, as typed
        expect(page.locator("[name=text]")).to_have_value(text)
        assert len(asked) == 1
        assert "starts in the past" in asked[0]
        assert text not in json.dumps(hub.cli.json("feed", "frunzenski", "--limit", "50"))  # nothing published
        page.click("button[type=submit]")
        expect(page.locator(".post", has_text=text)).to_be_visible()
        assert len(asked) == 2
    finally:
        context.close()


def test_an_admins_phone_amends_its_own_posts_never_the_owners(hub: Hub, page: Any) -> None:
    """An admin's key may not correct or retract the owner's posts (a seized admin key would withdraw the owner's
    alerts as "the channel"): the phone holding it offers Correct and Retract on its own post only."""
    import_key(page, hub, hub.phone_secret)
    page.goto(f"{hub.url}#/compose/{hub.district}")
    page.fill("[name=text]", "Water is back in block 3")
    page.click("button[type=submit]")
    mine = page.locator(".post", has_text="Water is back in block 3")
    expect(mine.locator(".actions")).to_contain_text("Correct")
    owners = find_post(page, hub.ids["help"])
    expect(owners.locator(".text")).to_have_text(re.compile("Need a driver|A neighbour drove them"))
    expect(owners.locator(".actions")).to_have_count(0)


def test_correct_and_retract_from_the_phone(hub: Hub, page: Any) -> None:
    login = hub.cli.json("web", "login")  # the owner, logged in from the phone: amends the owner's posts
    page.goto(f"{hub.url}#op={login['token']}")
    expect(page.locator("#operator-status")).to_be_visible()
    open_channel(page, hub, hub.district)
    find_post(page, hub.ids["help"]).locator("text=Correct").click()
    page.select_option("select[name=status]", "resolved")
    page.fill("[name=text]", "A neighbour drove them")
    page.click("button[type=submit]")
    expect(page.locator(".post").first).to_be_visible()
    help_post = find_post(page, hub.ids["help"])
    expect(help_post.locator(".status")).to_have_text("Resolved")
    expect(help_post.locator(".text")).to_have_text("A neighbour drove them")
    expect(help_post.locator(".corrected")).to_be_visible()
    find_post(page, hub.ids["news"]).locator("text=Retract").click()
    page.click("button[type=submit]")  # without a reason
    expect(page.locator(".message.error")).to_have_text("A retraction needs a reason.")
    page.fill("[name=text]", "Stations reopened at 14:00")
    page.click("button[type=submit]")
    expect(page.locator(".post").first).to_be_visible()
    news = find_post(page, hub.ids["news"])
    expect(news.locator(".notice")).to_contain_text("Retracted by the channel: Stations reopened at 14:00")
    expect(news.locator(".text")).not_to_be_visible()  # someone else's post: kept, behind "show anyway"
    news.locator("summary", has_text="Show the original anyway").click()
    expect(news.locator(".text")).to_have_text("Only Pushkinskaya is closed")
    shot(page, "retraction")
    feed = json.dumps(hub.cli.json("feed", "frunzenski", "--limit", "50"))
    assert "Stations reopened at 14:00" in feed
    assert "A neighbour drove them" in feed


def test_keys_show_import_export(hub: Hub, page: Any) -> None:
    page.goto(f"{hub.url}#/keys")
    page.click("#create-key")
    npub = page.locator("#npub").inner_text()
    assert npub.startswith("npub1")
    expect(page.locator("img.qr").first).to_be_visible()
    page.click("text=Show the secret key (export)")
    nsec = page.locator("#nsec").inner_text()
    assert nsec.startswith("nsec1")
    shot(page, "keys")
    page.reload()
    expect(page.locator("#npub")).to_have_text(npub)  # the key stays in this browser


def test_operator_login_posts_as_the_node(hub: Hub, page: Any) -> None:
    page.goto(f"{hub.url}#/keys")
    page.fill("#operator-token", "not-a-valid-code-at-all")
    page.click("#operator-login")
    expect(page.locator(".message.error")).to_have_text("The node refused this code.")
    login = hub.cli.json("web", "login")
    page.goto(f"{hub.url}#op={login['token']}")
    expect(page.locator("#operator-status")).to_contain_text("Logged in as the node’s operator")
    assert "#op=" not in page.url  # the code left the address bar
    page.goto(f"{hub.url}#/compose/{hub.block}")
    page.fill("[name=text]", "Lift repaired, by the operator")
    page.click("button[type=submit]")
    expect(page.locator(".post", has_text="Lift repaired, by the operator")).to_be_visible()
    hub.cli.ok("web", "logout")
    page.goto(f"{hub.url}#/compose/{hub.block}")
    page.fill("[name=text]", "After logout")
    page.click("button[type=submit]")
    expect(page.locator(".message.error")).to_contain_text("revoked")


def publish(hub: Hub, event: Event) -> None:
    with connect(hub.ws_url, open_timeout=10) as ws:
        ws.send(json.dumps(["EVENT", event.to_dict()]))
        reply = json.loads(ws.recv(timeout=10))
    assert reply[:3] == ["OK", event.id, True], reply


def test_labels_from_trusted_verifiers_are_badges(hub: Hub, page: Any) -> None:
    verifier, stranger = SecretKey.generate(), SecretKey.generate()
    author = hub.cli.json("keys", "show")["pubkey"]
    for key, value in ((verifier, "disputed"), (stranger, "false")):
        tags = [["L", "samizdat.verify"], ["l", value, "samizdat.verify"], ["e", hub.ids["help"], ""],
                ["p", author, ""], ["k", "2333"]]  # fmt: skip
        publish(hub, sign_event(key, kinds.LABEL, "Nobody on the ground saw it", tags, created_at=int(time.time())))
    open_channel(page, hub, hub.district)
    expect(find_post(page, hub.ids["help"]).locator(".badge")).to_have_count(0)  # nobody trusted yet
    page.goto(f"{hub.url}#/keys")
    page.fill("[name=verifier]", nip19.npub_encode(verifier.public_key_hex))
    page.click("text=Add")
    expect(page.locator(".verifiers li")).to_have_count(1)
    open_channel(page, hub, hub.district)
    badges = find_post(page, hub.ids["help"]).locator(".badge")
    expect(badges).to_have_text(["disputed by 1"])  # the stranger's "false" is not shown


def test_node_status_screen(hub: Hub, page: Any) -> None:
    from samizdat.core.reachability import build_report

    blocked = "wss://relay.blocked.example"
    for asn in ("AS6697", "AS25106", "AS42772"):  # three independent reports: the view may say "blocked"
        report = build_report(SecretKey.generate(), blocked, "tls.reset.sni", now=time.time(), country="BY", asn=asn)
        publish(hub, report)
    page.goto(f"{hub.url}#/status")
    # What the reader sees first: the screen, then the node's own answer (its count of events) in it. Bounds for a
    # loaded machine (expect's own default is 5 s).
    expect(page.get_by_role("heading", name="Node", exact=True)).to_be_visible(timeout=20_000)
    expect(page.locator("#stored")).to_have_text(re.compile(r"^[0-9]+$"), timeout=20_000)
    row = page.locator("tr", has_text=UNREACHABLE)
    expect(row.locator("td").nth(1)).to_have_text("no")  # reachable? no: it refused every delivery
    expect(page.locator("#cached")).to_contain_text("Saved for offline reading")
    expect(page.locator("#carry")).to_contain_text("256.0 MB")
    # The node answers /api/status from a copy up to 2 s old (web/app.py), and the previous test's page may just
    # have asked: then the reports appear at the screen's next refresh (every 10 s), as a reader would see them.
    report_row = page.locator("tr", has_text=blocked)
    expect(report_row.locator("td").nth(1)).to_have_text("BY", timeout=30_000)
    expect(report_row.locator("td").nth(3)).to_have_text("blocked")
    expect(report_row.locator("td").nth(4)).to_have_text("3")
    shot(page, "status")


def test_offline_reload_still_shows_cached_posts(hub: Hub, browser: Any) -> None:
    context = browser.new_context(locale="en-US", **PHONE)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        open_channel(page, hub, hub.block)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")  # the app is kept
        expect(page.locator(".post", has_text="Warm room")).to_be_visible()
        context.set_offline(True)
        page.reload()
        expect(page.locator("#conn")).to_have_text("offline")
        expect(page.locator(".post", has_text="Warm room")).to_be_visible()
        page.goto(hub.url)
        expect(page.locator(".tree a", has_text="Minsk").first).to_be_visible()  # the directory too
        shot(page, "offline")
    finally:
        context.close()


@pytest.mark.parametrize(
    ("locale", "heading", "switch_to", "switched"),
    [("be-BY", "Каналы па месцах", "ru", "Каналы по местам"), ("ru-RU", "Каналы по местам", "en", "Channels by place")],
)
def test_language_from_browser_and_switchable(hub: Hub, browser: Any, locale: str, heading: str, switch_to: str,
                                              switched: str) -> None:  # fmt: skip
    context = browser.new_context(locale=locale, **PHONE)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto(hub.url)
        expect(page.locator("h1")).to_have_text(heading)
        if locale.startswith("be"):
            open_channel(page, hub, hub.district)
            shot(page, "channel-be")
            page.goto(hub.url)
        page.select_option("#lang", switch_to)
        expect(page.locator("h1")).to_have_text(switched)
        page.reload()
        expect(page.locator("h1")).to_have_text(switched)
    finally:
        context.close()


def test_every_language_works_offline_after_one_visit(hub: Hub, browser: Any) -> None:
    """Only English is in the page; the service worker keeps the other languages' words, so a phone that went
    offline can still switch to Belarusian or Russian, even one it never used before."""
    context = browser.new_context(locale="en-US", **PHONE)
    context.set_default_timeout(20_000)
    page = context.new_page()
    try:
        page.goto(hub.url)
        expect(page.locator("h1")).to_have_text("Channels by place", timeout=20_000)
        page.wait_for_function("() => navigator.serviceWorker.controller !== null")  # the app is kept
        context.set_offline(True)
        page.reload()
        expect(page.locator("#conn")).to_have_text("offline", timeout=20_000)
        page.select_option("#lang", "be")
        expect(page.locator("h1")).to_have_text("Каналы па месцах")
        page.select_option("#lang", "ru")
        expect(page.locator("h1")).to_have_text("Каналы по местам")
        page.reload()
        expect(page.locator("h1")).to_have_text("Каналы по местам", timeout=20_000)
        expect(page.locator("#conn")).to_have_text("нет связи")
    finally:
        context.close()


def card(page: Any, address: str) -> Any:
    return page.locator(f'.channels:not(.followed) .channel[data-address="{address}"]')


def test_an_impostor_with_the_same_name_and_place_is_marked_first(hub: Hub, page: Any) -> None:
    """A channel is its key: another key's channel with the same name and place is marked "not the channel you
    follow" before anything else, with another fingerprint; so is one named with a Cyrillic і among Latin letters.
    An RTL override cannot turn a phone number around."""
    real = hub.cli.json("channel", "show", hub.district)  # the fingerprint the command line shows
    impostor, lookalike = SecretKey.generate(), SecretKey.generate()
    now = int(time.time())
    publish(hub, build_channel_event(impostor, "frunzenski", "Frunzenski district", created_at=now,
                                     about="News for the district", place="BY/Minsk/Frunzenski"))  # fmt: skip
    publish(hub, build_channel_event(lookalike, "frunzenski-news", "Frunzenskі district", created_at=now,
                                     about="Lawyer: +375 \u202e29 123 45 67", place="BY/Minsk/Frunzenski"))  # fmt: skip
    fake = f"{kinds.CHANNEL}:{impostor.public_key_hex}:frunzenski"
    mixed = f"{kinds.CHANNEL}:{lookalike.public_key_hex}:frunzenski-news"

    page.goto(f"{hub.url}#/place/BY/Minsk/Frunzenski")
    expect(card(page, fake)).to_be_visible()
    # Nothing followed yet: nothing tells the two apart, so both say another channel has the name.
    expect(card(page, fake).locator(".warning")).to_contain_text("Another channel has this name")
    page.goto(f"{hub.url}#/c/{hub.district}")
    page.click("#follow")
    page.goto(f"{hub.url}#/place/BY/Minsk/Frunzenski")
    genuine = card(page, hub.district)
    expect(genuine.locator(".mark.followed")).to_have_text("Followed")
    expect(genuine.locator(".fp .v")).to_have_text(real["fingerprint"])
    expect(genuine.locator(".warning")).to_have_count(0)
    for address, key in ((fake, impostor), (mixed, lookalike)):
        first = card(page, address).locator("a > *").first
        expect(first).to_have_class("warning collision")
        expect(first).to_contain_text("Not the channel you follow")
        expect(card(page, address).locator(".fp .v")).to_have_text(fingerprint(key.public_key_hex))
    assert fingerprint(impostor.public_key_hex) != real["fingerprint"]
    expect(card(page, mixed).locator(".mark.mixed")).to_contain_text("Frunzenskі")
    expect(card(page, mixed).locator(".about")).to_have_text("Lawyer: +375 29 123 45 67")
    shot(page, "impostor")

    page.goto(f"{hub.url}#/c/{fake}")
    head = page.locator(".channel-head > *")
    expect(head.first).to_contain_text("Not the channel you follow")
    expect(page.locator(".channel-head h1")).to_have_text("Frunzenski district")
    expect(page.locator(".channel-head .fp .v")).to_have_text(fingerprint(impostor.public_key_hex))
    page.select_option("#lang", "be")  # the same digits in every language; the warning in the reader's
    expect(head.first).to_contain_text("Гэта не той канал")
    expect(page.locator(".channel-head .fp .v")).to_have_text(fingerprint(impostor.public_key_hex))


def test_vouched_channels_are_marked_and_can_be_listed_alone(hub: Hub, page: Any) -> None:
    verifier, copycat = SecretKey.generate(), SecretKey.generate()
    owner = hub.cli.json("keys", "show")["pubkey"]
    now = int(time.time())
    vouch = sign_event(verifier, kinds.LABEL, "We met the admins", [
        ["L", "samizdat.verify"], ["l", "vouched", "samizdat.verify"], ["a", hub.district, ""], ["p", owner, ""],
        ["k", str(kinds.CHANNEL)]], created_at=now)  # fmt: skip
    publish(hub, vouch)
    publish(hub, build_channel_event(copycat, "frunzenski-district", "FRUNZENSKI DISTRICT", created_at=now))
    copy = f"{kinds.CHANNEL}:{copycat.public_key_hex}:frunzenski-district"
    page.goto(f"{hub.url}#/keys")
    page.fill("[name=verifier]", nip19.npub_encode(verifier.public_key_hex))
    page.click("text=Add")
    expect(page.locator(".verifiers li")).to_have_count(1)

    page.goto(hub.url)
    page.fill("#search", "frunzenski district")
    expect(card(page, hub.district).locator(".mark.vouched")).to_have_text("Vouched for by 1")
    expect(card(page, copy).locator("a > *").first).to_contain_text("Not the channel your verifiers vouch for")
    page.fill("#search", "")
    page.check("#vouched-only")
    expect(page.locator(".channels .channel strong")).to_have_text(["Frunzenski district"])
    page.reload()  # the choice is kept
    expect(page.locator("#vouched-only")).to_be_checked()
    expect(page.locator(".channels .channel")).to_have_count(1)

    publish(hub, sign_event(verifier, kinds.DELETION, "", [["e", vouch.id], ["k", str(kinds.LABEL)]], created_at=now))
    page.reload()  # withdrawn: the vouch no longer counts, even where this phone had kept it
    expect(page.locator(".empty")).to_have_text("No channel here is vouched for by the verifiers you trust.")


def test_screenshots_exist() -> None:
    """The README shows these; the tests above rewrite them with SAMIZDAT_SCREENSHOTS=1 (run in file order)."""
    for name in ("directory", "channel", "compose", "keys", "status"):
        assert (SCREENSHOTS / f"{name}.png").is_file(), name
