"""What readers see of text from the network: no override can turn a phone number around, no invisible character
hides in a name, each field is isolated, emoji stay whole; the owner key's fingerprint; look-alike words; names a
reader could take for one another across scripts."""

from __future__ import annotations

import hashlib
import re

import pytest

from samizdat.core.display import (
    FSI,
    PDI,
    field,
    fingerprint,
    isolate,
    mixed_script_words,
    name_keys,
    names_collide,
    neutralize,
    spoken_key,
)

FAMILY = "👩\u200d👩\u200d👧"
SCOTLAND = "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f"


@pytest.mark.parametrize(
    ("shown", "expected"),
    [
        ("+375 \u202e29 123 45 67", "+375 29 123 45 67"),  # an RTL override would show the number reversed
        ("\u202bembedded\u202c \u2067isolated\u2069 \u200fmarked\u200e\u061c", "embedded isolated marked"),
        ("Frun\u200bzen\u2060ski\ufeff\u00ad", "Frunzenski"),  # zero-width space, word joiner, BOM, soft hyphen
        ("a\u200db a\u200cb", "ab ab"),  # joiners between Latin letters hide nothing worth keeping
        (FAMILY, FAMILY),  # the joiner inside an emoji sequence stays
        ("❤\ufe0f\u200d🔥 1\ufe0f\u20e3", "❤\ufe0f\u200d🔥 1\ufe0f\u20e3"),  # emoji and keycap selectors stay
        ("e\ufe0f", "e"),  # a variation selector after a Latin letter is only a hiding place
        ("می\u200cخواهم", "می\u200cخواهم"),  # Persian spelling needs its non-joiner
        (SCOTLAND, SCOTLAND),  # a subdivision flag's tag characters stay
        ("x\U000e0067\U000e0062y", "xy"),  # tag characters anywhere else are invisible text
        ("\u3164\u3164name\u115f", "name"),  # invisible filler letters
        ("bell\x07 esc\x1b[31m del\x7f c1\x85", "bell esc[31m del c1"),
        ("tab\tand\nlines\r\n", "tab\tand\nlines\n"),
        ("line\u2028paragraph\u2029end", "line\nparagraph\nend"),
        ("Фрунзенскі שלום مرحبا", "Фрунзенскі שלום مرحبا"),  # text of any script stays as it is
    ],
)
def test_neutralize_drops_what_reorders_or_hides_text(shown: str, expected: str) -> None:
    assert neutralize(shown) == expected
    assert neutralize(neutralize(shown)) == neutralize(shown)


def test_each_field_is_isolated() -> None:
    assert isolate("abc\u202e") == f"{FSI}abc{PDI}"
    assert field("Frunzenski \u202edistrict") == "Frunzenski district"  # left-to-right: printed as it is
    assert field("Block 7 \u05d0") == f"{FSI}Block 7 \u05d0{PDI}"  # right-to-left letters: isolated
    assert field("\u2067\u05d0") == f"{FSI}\u05d0{PDI}"  # the sender's own isolate cannot stay open


def test_fingerprint_is_66_bits_of_the_key_as_five_groups_of_four_digits() -> None:
    key = "7e7e9c42a91bfc56b9d2f4b0a8c7a4c4dc5e9d3b2f1a0c9e8d7c6b5a4f3e2d1c"
    digest = hashlib.sha256(bytes.fromhex(key)).digest()
    expected = " ".join(f"{int.from_bytes(digest[i : i + 5], 'big') % 10_000:04d}" for i in range(0, 25, 5))
    assert fingerprint(key) == expected
    assert re.fullmatch(r"\d{4}( \d{4}){4}", expected)
    others = {fingerprint(hashlib.sha256(bytes([i])).hexdigest()) for i in range(200)}
    assert len(others) == 200  # different keys, different fingerprints
    assert fingerprint(key.upper()) == expected
    with pytest.raises(ValueError, match="64 hex"):
        fingerprint("abc")


def test_words_mixing_alphabets_are_found() -> None:
    assert mixed_script_words("Frunzenskі district") == ("Frunzenskі",)  # a Cyrillic і among Latin letters
    assert mixed_script_words("Рaxop, Рaxop and Μinsk") == ("Рaxop", "Μinsk")  # Cyrillic Р, Greek Μ; each once
    assert mixed_script_words("Фрунзенскі раён, BY/Minsk, iPhone-ы, Wi-Fi") == ()  # each word of one alphabet
    assert mixed_script_words("Fr\u200bунзе") == ("Frунзе",)  # an invisible character does not split a word


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Frunzenski", "Фрунзенскі"),  # Belarusian і
        ("Frunzensky district", "Фрунзенский district"),  # Russian -ий
        ("Frunzienski", "Фрунзенскі"),  # Belarusian romanisation of е
        ("Hrodna", "Гродна"),  # Belarusian г is h
        ("Homiel", "Гомель"),
        ("Gomel", "Гомель"),
        ("Uzda", "Ўзда"),  # ў
        ("Shchuchyn", "Шчучын"),
        ("Ščučyn", "Shchuchyn"),
        ("Žodzina", "Жодзіна"),
        ("Łahojsk", "Лагойск"),
        ("MIŃSK", "minsk"),  # case and accents
        ("Ｍｉｎｓｋ", "Minsk"),  # fullwidth letters
        ("Paxop", "Рахор"),  # Cyrillic letters that look Latin
        ("ΡΑΧΟΡ", "PAXOP"),  # Greek capitals that look Latin
        ("0ld town", "Old town"),  # zero for O
        ("modern", "rnodern"),  # rn for m
        ("Frunzenski\u202e", "Frunzen\u200bski"),  # invisible characters change nothing
        ("🔥🔥", "🔥 🔥"),  # names without letters
    ],
)
def test_names_that_a_reader_could_take_for_one_another_collide(a: str, b: str) -> None:
    assert names_collide(a, b)
    assert names_collide(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [("Minsk", "Pinsk"), ("Frunzenski", "Kastrychnitski"), ("Block 7", "Block 8"), ("🔥", "💧"), ("Hrodna", "Hrodno")],
)
def test_different_names_do_not_collide(a: str, b: str) -> None:
    assert not names_collide(a, b)


def test_spoken_key_is_plain_latin() -> None:
    assert spoken_key("Фрунзенскі раён") == spoken_key("Frunzenski rajon") == "frunzenskiraon"
    assert name_keys("") == frozenset()
