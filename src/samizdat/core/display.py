"""What readers see of text from the network, and how they tell two channels apart.

Theory of operation. Display only: nothing here decides whether an event is valid (a name with a right-to-left
override is a valid name; it is shown without the override). Every face (the command line, the web app's
``web/src/display.js``, a port cross-checked by ``tests/web/test_display_parity.py``) shows text through these
rules:

* :func:`neutralize` drops the characters that can reorder or hide text: bidirectional embeddings, overrides,
  isolates and marks (U+202A-U+202E, U+2066-U+2069, U+200E/F, U+061C), zero-width and other invisible format
  characters, C0/C1 controls but tab and line feed, invisible "filler" letters. It keeps what real text needs: the
  zero-width joiner inside an emoji sequence (👩‍👩‍👧), joiners between letters of scripts that use them
  (Persian, Indic), variation selectors after anything but a Latin, Cyrillic or Greek letter, and the tag
  characters of a subdivision flag. An RTL override cannot turn a phone number around any more.
* :func:`isolate` wraps one field in FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE, so a right-to-left name
  cannot reorder the text around it; :func:`field` does so only when the field has right-to-left letters (what
  the command line prints). The web app isolates each field in its own element (``dir="auto"``) instead.
* :func:`url` writes out every character of a URL but printable ASCII (``\\u{200b}``): what is stored, seen.
* :func:`fingerprint` is the owner key as readers compare it: 20 decimal digits (66 bits of SHA-256 of the 32
  key bytes) in 5 groups of 4. Digits read the same in every language and on every phone, and can be read out
  over a call. A state can grind keys until a *few* groups match, so it is the second signal; the first is
  whether the reader follows the channel or a verifier they trust vouches for it.
* :func:`mixed_script_words`: words that mix Latin, Cyrillic and Greek letters ("Frunzenskі" with a Cyrillic
  і): look-alike words, flagged to the reader.
* :func:`name_keys`: keys under which two names count as the same: a *spoken* key (Cyrillic and Greek
  transliterated, Belarusian і and ў included, common romanisations folded: Фрунзенскі = Frunzenski =
  Frunzensky) and a *visual* key (look-alike letters folded: Cyrillic "Рахор" = Latin "Paxop"), both case- and
  diacritic-insensitive. :func:`names_collide` says whether two names share a key.

Everything works on code points with tables written out below; ``web/src/display.js`` has the same tables.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata

FSI, PDI = "\u2068", "\u2069"
ZWNJ, ZWJ = "\u200c", "\u200d"

FINGERPRINT_GROUPS = 5  #: groups of 4 digits: 5 x log2(10^4) = 66 bits
_GROUP_BYTES = 5  #: digest bytes behind each group (40 bits reduced mod 10^4: a negligible bias)

# -- neutralising ----------------------------------------------------------------------------------------------

#: Dropped wherever they are (inclusive ranges).
_DROP = (
    (0x0000, 0x0008), (0x000B, 0x001F), (0x007F, 0x009F),  # controls but tab and line feed (CR too)
    (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C),  # soft hyphen, grapheme joiner, Arabic letter mark
    (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180E, 0x180E),  # Hangul fillers, Khmer invisible vowels, MVS
    (0x200B, 0x200B), (0x200E, 0x200F), (0x202A, 0x202E),  # zero-width space, LRM/RLM, embeddings, overrides
    (0x2060, 0x2064), (0x2066, 0x206F),  # word joiner, invisible operators, isolates, deprecated format
    (0x3164, 0x3164), (0xFEFF, 0xFEFF), (0xFFA0, 0xFFA0), (0xFFF9, 0xFFFB),  # fillers, BOM, annotations
    (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE001F), (0xE0080, 0xE00FF),
)  # fmt: skip
#: Variation selectors: kept after anything but a Latin, Cyrillic or Greek letter (emoji, CJK, keycaps).
_SELECTORS = ((0x180B, 0x180D), (0x180F, 0x180F), (0xFE00, 0xFE0F), (0xE0100, 0xE01EF))
_TAGS = (0xE0020, 0xE007F)  #: tag characters: kept only in a flag's tag sequence after U+1F3F4
_BLACK_FLAG = 0x1F3F4
#: Code points that count as emoji around a zero-width joiner.
_EMOJI = (
    (0x00A9, 0x00A9), (0x00AE, 0x00AE), (0x203C, 0x203C), (0x2049, 0x2049), (0x2122, 0x2122),
    (0x2139, 0x2139), (0x2194, 0x21FF), (0x2300, 0x23FF), (0x24C2, 0x24C2), (0x25A0, 0x27BF),
    (0x2B00, 0x2BFF), (0x3030, 0x3030), (0x303D, 0x303D), (0x3297, 0x3297), (0x3299, 0x3299),
    (0xFE0F, 0xFE0F), (0x1F000, 0x1FAFF),
)  # fmt: skip
#: Right-to-left scripts (Hebrew, Arabic, Syriac, Thaana, NKo, ... and their presentation forms).
_RTL = ((0x0590, 0x08FF), (0xFB1D, 0xFDFF), (0xFE70, 0xFEFE), (0x10800, 0x10FFF), (0x1E800, 0x1EFFF))

LATIN, CYRILLIC, GREEK = "Latin", "Cyrillic", "Greek"
_SCRIPTS = (
    (LATIN, ((0x41, 0x5A), (0x61, 0x7A), (0xAA, 0xAA), (0xBA, 0xBA), (0xC0, 0xD6), (0xD8, 0xF6), (0xF8, 0x2AF),
             (0x1D00, 0x1D25), (0x1E00, 0x1EFF), (0x2C60, 0x2C7F), (0xA722, 0xA7FF), (0xAB30, 0xAB64),
             (0xFB00, 0xFB06), (0xFF21, 0xFF3A), (0xFF41, 0xFF5A))),
    (CYRILLIC, ((0x400, 0x52F), (0x1C80, 0x1C88), (0x1D2B, 0x1D2B), (0x2DE0, 0x2DFF), (0xA640, 0xA69F))),
    (GREEK, ((0x370, 0x3FF), (0x1D26, 0x1D2A), (0x1F00, 0x1FFF))),
)  # fmt: skip


def _within(cp: int, ranges: tuple[tuple[int, int], ...]) -> bool:
    return any(low <= cp <= high for low, high in ranges)


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch)[0] == "L"


def script_of(ch: str) -> str | None:
    """``Latin``, ``Cyrillic`` or ``Greek`` for a letter of those scripts; None for anything else."""
    if not _is_letter(ch):
        return None
    cp = ord(ch)
    for name, ranges in _SCRIPTS:
        if _within(cp, ranges):
            return name
    return None


def _joins_letters(ch: str | None) -> bool:
    """A letter or mark of a script whose spelling uses joiners (not ASCII, Latin, Cyrillic or Greek)."""
    return ch is not None and ord(ch) > 0x7F and unicodedata.category(ch)[0] in "LM" and script_of(ch) is None


def _is_emoji(ch: str | None) -> bool:
    return ch is not None and _within(ord(ch), _EMOJI)


def neutralize(text: str) -> str:
    """``text`` without the characters that reorder or hide it (see the module's docstring); line and paragraph
    separators become line feeds. Display only: never use it to decide validity."""
    out: list[str] = []
    in_flag = False  # inside the tag sequence of a subdivision flag
    for i, ch in enumerate(text):
        cp = ord(ch)
        prev = out[-1] if out else None  # the last character kept
        if _TAGS[0] <= cp <= _TAGS[1]:
            if in_flag:
                out.append(ch)
                in_flag = cp != 0xE007F  # CANCEL TAG ends the sequence
            continue
        in_flag = cp == _BLACK_FLAG
        if cp in (0x2028, 0x2029):
            out.append("\n")
        elif _within(cp, _DROP):
            continue
        elif ch in (ZWJ, ZWNJ):
            following = text[i + 1] if i + 1 < len(text) else None
            if (ch == ZWJ and _is_emoji(prev) and _is_emoji(following)) or (
                _joins_letters(prev) and _joins_letters(following)
            ):
                out.append(ch)
        elif _within(cp, _SELECTORS):
            if prev is not None and script_of(prev) is None:
                out.append(ch)
        else:
            out.append(ch)
    return "".join(out)


def has_rtl(text: str) -> bool:
    """True when ``text`` has a letter of a right-to-left script."""
    return any(_within(ord(ch), _RTL) for ch in text)


def isolate(text: str) -> str:
    """``text`` neutralised and isolated (FSI ... PDI): it cannot reorder what is shown around it."""
    return FSI + neutralize(text) + PDI


MAX_MARKS = 4  #: combining marks kept in a row (web/src/dom.js the same): no script's spelling stacks more


def calm(text: str) -> str:
    """``text`` with each run of more than :data:`MAX_MARKS` combining marks cut to its first ones: dozens on one
    letter (Zalgo text) are drawn as a column over the lines around it, covering a warning printed above a name
    (red team round 9, as web/src/dom.js since round 3)."""
    out: list[str] = []
    run = 0
    for ch in text:
        run = run + 1 if unicodedata.category(ch)[0] == "M" else 0
        if run <= MAX_MARKS:
            out.append(ch)
    return "".join(out)


def field(text: str) -> str:
    """One field as the command line prints it: neutralised, long runs of combining marks cut (:func:`calm`),
    and isolated when it has right-to-left letters (terminals without bidirectional support then see
    left-to-right text as it was)."""
    shown = calm(neutralize(text))
    return FSI + shown + PDI if has_rtl(shown) else shown


def url(text: str) -> str:
    """A URL from the network (a channel's mirrors and media servers) as the reader must compare it: printable
    ASCII as it is, every other character written out as ``\\u{202e}``. A hostname with a zero-width space, a
    bidirectional override or a Cyrillic letter ("wss://relay.samizdat\\u{200b}.org", "wss://rеlay...") is
    another server, and shows as one (a URL has no reason to hold anything else: internationalised hosts are
    written in punycode)."""
    return "".join(ch if "!" <= ch <= "~" else f"\\u{{{ord(ch):x}}}" for ch in text)


# -- fingerprints ----------------------------------------------------------------------------------------------


def fingerprint(pubkey: str) -> str:
    """The owner key ``pubkey`` (64 hex characters) as readers compare it: ``"0421 7730 1189 5066 2410"``.

    Group *i* is bytes ``5i .. 5i+4`` of SHA-256 of the 32 key bytes, read as a big-endian number, modulo 10,000,
    written with 4 digits. Raises ValueError for a key that is not 64 hex characters."""
    if len(pubkey) != 64:
        raise ValueError("a public key is 64 hex characters")
    digest = hashlib.sha256(bytes.fromhex(pubkey)).digest()
    groups = []
    for i in range(FINGERPRINT_GROUPS):
        chunk = digest[i * _GROUP_BYTES : (i + 1) * _GROUP_BYTES]
        groups.append(f"{int.from_bytes(chunk, 'big') % 10_000:04d}")
    return " ".join(groups)


# -- look-alike words and names --------------------------------------------------------------------------------


def _word_runs(text: str) -> list[str]:
    words: list[str] = []
    current: list[str] = []
    for ch in text:
        if unicodedata.category(ch)[0] in "LMN":
            current.append(ch)
        elif current:
            words.append("".join(current))
            current = []
    if current:
        words.append("".join(current))
    return words


def mixed_script_words(text: str) -> tuple[str, ...]:
    """The words of ``text`` (neutralised) that mix Latin, Cyrillic and Greek letters, each once, in order."""
    found: dict[str, None] = {}
    for word in _word_runs(neutralize(text)):
        if len({s for s in map(script_of, word) if s is not None}) > 1:
            found[word] = None
    return tuple(found)


#: Spoken key: Cyrillic and Greek letters (lower case, accents already removed) and Latin letters that do not
#: decompose, as plain Latin. Belarusian г is h, as in Hrodna; ў is u.
_SPOKEN = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "h", "д": "d", "е": "e", "ж": "z", "з": "z", "и": "i",
    "і": "i", "й": "i", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s",
    "т": "t", "у": "u", "ў": "u", "ф": "f", "х": "h", "ц": "c", "ч": "c", "ш": "s", "щ": "s", "ъ": "",
    "ы": "i", "ь": "", "э": "e", "ю": "iu", "я": "ia", "є": "ie", "ї": "i", "ђ": "d", "ј": "i",
    "љ": "l", "њ": "n", "ћ": "c", "џ": "d", "ѕ": "z",
    "α": "a", "β": "v", "γ": "h", "δ": "d", "ε": "e", "ζ": "z", "η": "i", "θ": "t", "ι": "i", "κ": "k",
    "λ": "l", "μ": "m", "ν": "n", "ξ": "ks", "ο": "o", "π": "p", "ρ": "r", "σ": "s", "ς": "s", "τ": "t",
    "υ": "i", "φ": "f", "χ": "h", "ψ": "ps", "ω": "o",
    "ł": "l", "đ": "d", "ø": "o", "æ": "ae", "œ": "oe", "ß": "ss", "ı": "i", "ħ": "h", "ŧ": "t", "þ": "t",
    "ð": "d", "ŋ": "n", "ƒ": "f",
}  # fmt: skip
#: Spoken key: letters read before their accents go (ё is "io", not е).
_SPOKEN_WHOLE = {"ё": "io"}
#: Spoken key: romanisations that differ only in spelling (zh/ž, kh/h, ts/c, šč/shch, y/j/i, w/v, g/h, ...).
_SPOKEN_FOLDS = (
    ("shch", "s"), ("sc", "s"), ("kh", "h"), ("zh", "z"), ("ch", "c"), ("sh", "s"), ("ts", "c"), ("tz", "c"),
    ("cz", "c"), ("sz", "s"), ("ck", "k"), ("ph", "f"), ("th", "t"), ("x", "ks"), ("w", "v"), ("g", "h"),
    ("y", "i"), ("j", "i"), ("q", "k"),
)  # fmt: skip
_I_BEFORE_VOWEL = re.compile(r"i(?=[aeiou])")
_REPEATS = re.compile(r"(.)\1+")
#: Visual key: capitals that look like a Latin letter only as capitals (before lower-casing).
_VISUAL_CAPITALS = {
    "А": "a", "В": "b", "Е": "e", "З": "3", "К": "k", "М": "m", "Н": "h", "О": "o", "Р": "p", "С": "c",
    "Т": "t", "У": "y", "Х": "x", "І": "i", "Ј": "j", "Ѕ": "s", "Ү": "y", "Һ": "h", "Ԛ": "q", "Ԝ": "w",
    "Α": "a", "Β": "b", "Ε": "e", "Ζ": "z", "Η": "h", "Ι": "i", "Κ": "k", "Μ": "m", "Ν": "n", "Ο": "o",
    "Ρ": "p", "Τ": "t", "Υ": "y", "Χ": "x",
}  # fmt: skip
#: Visual key: lower-case letters and digits that look alike.
_VISUAL = {
    "а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
    "ԁ": "d", "һ": "h", "ԛ": "q", "ԝ": "w", "ӏ": "i", "к": "k", "ү": "y", "з": "3", "г": "r",
    "α": "a", "ο": "o", "ρ": "p", "ν": "v", "ι": "i", "κ": "k", "τ": "t", "υ": "u", "χ": "x", "ε": "e",
    "0": "o", "1": "i", "l": "i", "ı": "i",
}  # fmt: skip
_VISUAL_FOLDS = (("rn", "m"), ("vv", "w"))


def _plain(text: str) -> str:
    """Neutralised, compatibility-decomposed (NFKD: fullwidth and mathematical letters become plain ones),
    without combining marks (accents)."""
    decomposed = unicodedata.normalize("NFKD", neutralize(text))
    return "".join(ch for ch in decomposed if unicodedata.category(ch)[0] != "M")


def _alnum(text: str) -> str:
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in "LN")


def spoken_key(text: str) -> str:
    """How ``text`` sounds, as plain Latin letters and digits: the same for a name in Cyrillic and its
    romanisations, whatever the case and accents. Letters of other scripts stay as they are (lower case)."""
    whole = "".join(_SPOKEN_WHOLE.get(ch, ch) for ch in unicodedata.normalize("NFC", neutralize(text)).lower())
    lowered = _plain(_plain(whole).lower())  # again: lower-casing can add marks (İ -> i + dot)
    key = _alnum("".join(_SPOKEN.get(ch, ch) for ch in lowered))
    for old, new in _SPOKEN_FOLDS:
        key = key.replace(old, new)
    return _REPEATS.sub(r"\1", _I_BEFORE_VOWEL.sub("", key))


def visual_key(text: str) -> str:
    """How ``text`` looks: look-alike letters of Latin, Cyrillic and Greek, and 0/o, 1/l/I, rn/m folded."""
    capitals = "".join(_VISUAL_CAPITALS.get(ch, ch) for ch in _plain(text))
    lowered = _plain(capitals.lower())
    key = _alnum("".join(_VISUAL.get(ch, ch) for ch in lowered))
    for old, new in _VISUAL_FOLDS:
        key = key.replace(old, new)
    return key


def name_keys(text: str) -> frozenset[str]:
    """The keys under which ``text`` counts as the same name as another (see :func:`names_collide`). A name
    without letters or digits (emoji only) is its neutralised text without spaces.

    The visual key is taken twice, of the name as written and of it in capitals: Cyrillic Н and Latin H look
    alike only as capitals, so "MИHCK" (Latin M, H, C) is "Минск" only once both are read in capitals."""
    readings = (("spoken", spoken_key(text)), ("visual", visual_key(text)), ("visual", visual_key(text.upper())))
    keys = {f"{kind}:{key}" for kind, key in readings if key}
    if not keys:
        bare = "".join(neutralize(text).lower().split())
        if bare:
            keys.add(f"text:{bare}")
    return frozenset(keys)


def names_collide(a: str, b: str) -> bool:
    """True when a reader could take ``a`` and ``b`` for the same name: across scripts, look-alike letters,
    case and accents."""
    return bool(name_keys(a) & name_keys(b))


class ShownFormatter(logging.Formatter):
    """Log lines neutralised (:func:`neutralize`): they quote a LAN neighbour's service name, a relay's words, a
    channel's address, and an escape sequence in them would rewrite the terminal of ``samizdat serve -v`` (its
    worker processes' too)."""

    def format(self, record: logging.LogRecord) -> str:
        return neutralize(super().format(record))
