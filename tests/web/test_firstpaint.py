"""The start page's first paint (web/firstpaint.py): the channels the page carries as inert text before the
app's script, escaped, neutralised, without links, within its share of the page budget."""

from __future__ import annotations

from samizdat.core import kinds
from samizdat.core.display import fingerprint
from samizdat.core.event import sign_event
from samizdat.core.keys import SecretKey
from samizdat.web.firstpaint import FIRST_CHANNELS, FIRST_MARK, first_paint

PAGE = b'<html><body><div id="app">' + FIRST_MARK + b"</div><script>app()</script></body></html>"
KEY = SecretKey(bytes([7]) * 32)


def definition(n: int, name: str, place: str = "BY/Minsk/Frunzenski") -> dict[str, object]:
    tags = [["d", f"c{n}"], ["name", name], ["place", place]]
    return sign_event(KEY, kinds.CHANNEL, "", tags, created_at=1_700_000_000 + n).to_dict()


def test_names_are_inert_text_without_links() -> None:
    hostile = '<img src=x onerror="alert(1)">\u202eevil'
    page = first_paint(PAGE, [definition(1, hostile), definition(2, "Yard 7", "BY/Hrodna")]).decode()
    assert "<img" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;evil" in page  # escaped; the bidi override dropped
    assert "\u202e" not in page
    assert "<a" not in page
    assert "BY › Hrodna" in page
    assert page.index("Yard 7") < page.index("<script>")  # painted before the script arrives
    assert page.count("<!--FIRST-->") == 1
    assert page.count("<!--/FIRST-->") == 1


def test_the_first_paint_stays_small_and_is_left_out_when_there_is_nothing() -> None:
    many = [definition(n, "Ж" * 100, "/".join(["Place"] * 8)) for n in range(500)]
    page = first_paint(PAGE, many)
    assert page.count(b'class="channel"') <= FIRST_CHANNELS
    assert len(page) - len(PAGE) <= 12_000
    assert first_paint(PAGE, []) == PAGE
    assert first_paint(b"<html>no placeholder</html>", many) == b"<html>no placeholder</html>"


def test_two_keys_channels_named_alike_both_say_so_before_the_app_starts() -> None:
    """Red team round 4: a police-run copy named "MИHCK news" (Latin M, H, C) beside "Минск news" was painted as
    two plain names, with nothing to tell them apart, until the app's script arrived on a slow link."""
    police = SecretKey(bytes([8]) * 32)
    copy = sign_event(police, kinds.CHANNEL, "", [["d", "c1"], ["name", "MИHCK news"]], created_at=1_700_000_005)
    page = first_paint(PAGE, [definition(1, "Минск news"), copy.to_dict(), definition(2, "Yard 7")]).decode()
    cards = page.split("<li")[1:]
    assert [card.count("Another channel has this name") for card in cards] == [1, 1, 0]
    assert fingerprint(police.public_key_hex) in cards[1]
    assert fingerprint(KEY.public_key_hex) in cards[0]
    assert fingerprint(KEY.public_key_hex) not in cards[2]  # a name of its own needs no second look


def test_names_one_letter_or_a_filler_word_apart_say_so_before_the_app_starts() -> None:
    """As the app marks them (core/trust.py names_alike): a copy with a letter dropped, or the real name with
    "Новости:" before it, is not painted as a plain name of its own until the script arrives."""
    police = SecretKey(bytes([9]) * 32)
    dropped = sign_event(
        police, kinds.CHANNEL, "", [["d", "c1"], ["name", "Фрунзеский район"]], created_at=1_700_000_005
    )
    filler = sign_event(police, kinds.CHANNEL, "", [["d", "c2"], ["name", "Новости: Фрунзенский район"]],
                        created_at=1_700_000_006)  # fmt: skip
    events = [definition(1, "Фрунзенский район"), dropped.to_dict(), filler.to_dict(), definition(2, "Фрунзенская")]
    cards = first_paint(PAGE, events).decode().split("<li")[1:]
    assert [card.count("Another channel has this name") for card in cards] == [1, 1, 1, 0]
