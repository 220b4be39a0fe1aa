"""Telling the channel a reader means from one made to look like it: vouches, and channels that collide.

Theory of operation. A channel is its owner key: two channels with the same name and place are two channels.
What a reader can go by, strongest first:

1. whether they follow the channel (or own it), or a verifier they trust vouches for it (:func:`vouchers`:
   vouch labels, docs/protocol.md "Vouching for a channel", by the reader's verifiers, not withdrawn);
2. whether it *collides* with such a channel (:func:`collisions`): another owner key, and a name a reader could
   take for the trusted one's (:func:`samizdat.core.display.names_collide`: across scripts, look-alike letters,
   case, accents), or the same place with one name inside the other ("Frunzenski district" and "Frunzenski
   district news"), or a name *alike* whatever the place (:func:`names_alike`: a letter dropped, added, changed
   or two swapped in a long word, "Фрунзеский район"; in a short one two swapped or one added or dropped but the
   last, "Minks", "Гродо", or in the same place one changed, "Гомиль"; filler words added, "Новости: Фрунзенский
   район"; "р-н" for "район"), or the trusted one's description copied (the same spoken key, at least
   :data:`MIN_DESCRIBED` letters: a copy that renamed itself "Новости района" and left the place out). Faces
   mark a colliding channel that the reader does not follow or own "not the channel you follow" before anything
   else about it;
3. for a reader who trusts none of them yet (a new phone, a first visit to a hub), whether *another* channel
   it knows has a name a reader could take for this one's (:func:`lookalikes`: the same test against every
   channel). Nothing tells which of two such channels is the real one (every date and every post count is its
   signer's word), so faces mark both "another channel has this name" and list trusted channels first;
4. the owner key's fingerprint (:func:`samizdat.core.display.fingerprint`), a second signal only.

Pure: events in, answers out; ``web/src/trust.js`` is the browser's port (``tests/web/test_display_parity.py``,
and ``tests/web/test_lookalike_parity.py`` on the shared cases of ``web/test/lookalike_cases.json``).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable, Container, Iterable, Sequence

from samizdat.core import display, kinds
from samizdat.core.channel import Channel
from samizdat.core.event import Event
from samizdat.core.posts import parse_vouch
from samizdat.core.thread import MAX_FUTURE
from samizdat.errors import RemoteProtocolError

MIN_CONTAINED = 4  #: characters of the shorter spoken name at least, for "one name inside the other"
#: Letters and digits of a description's spoken key at least, for "the same description" (a one-line "News" or
#: "Minsk" is not a copy).
MIN_DESCRIBED = 24
#: Channels per name, place or description that :func:`lookalikes` compares with, at most: a flood of thousands
#: of channels named alike would otherwise cost each face time in the square of their number (10 s for 3,000).
LOOKALIKE_BUCKET = 16
#: Letters of a word's key at least for "one letter away" (:func:`names_alike`). Measured on the names of
#: Belarus's towns and Minsk's districts and metro stations, in Russian and Belarusian (bench/lookalike_near.py):
#: at 7 and more no two of different places are one letter apart before their last two letters; at 6 "Кричев"
#: and "Кличев" are, at 5 "Минск" and "Пинск" (and without the endings rule, "Фрунзенский" and "Фрунзенская").
MIN_NEAR = 7
#: Letters of a word's key at least for :func:`_near`'s narrower rule under :data:`MIN_NEAR` letters (red team round
#: 9): two neighbours swapped ("Minks" for "Minsk") or a letter added or dropped anywhere but last ("Гродо" for
#: "Гродно"; the last is a grammatical ending: "район", "района"), which no two of the 401 real names of
#: bench/lookalike_near.py are; and a letter changed ("Гомиль" for "Гомель") only in a one-word name of the same
#: place, as "Минск" and "Пинск" are two towns, and "Мира 5" and "Мина 5" two yards of one city.
MIN_SHORT = 4
#: Words a channel's name may add to another's without naming anything else: "Новости: Фрунзенский район" is
#: "Фрунзенский район". Compared by their spoken keys, so "Novosti" and "NEWS" too (``web/src/trust.js`` holds
#: the keys).
FILLERS = (
    "новости", "навіны", "news", "official", "официальный", "официальная", "афіцыйны", "афіцыйная", "канал",
    "channel", "info", "инфо", "online", "онлайн", "live",
)  # fmt: skip
#: Abbreviations read as the word they stand for (by their spoken keys: "р-н" and "r-n" are "район").
ABBREVIATIONS = {
    "р-н": "район", "г": "город", "ул": "улица", "вул": "вуліца", "пр-т": "проспект", "пр-кт": "проспект",
    "пл": "площадь", "мкр": "микрорайон",
}  # fmt: skip
_FILLER_KEYS = frozenset(display.spoken_key(word) for word in FILLERS)
_ABBREVIATION_KEYS = {display.spoken_key(short): display.spoken_key(word) for short, word in ABBREVIATIONS.items()}


def witnesses(
    events: Iterable[Event], verifiers: Iterable[str], now: int, *, max_future: int = MAX_FUTURE
) -> dict[str, list[Event]]:
    """Channel address -> the vouches among ``events`` (vouch labels and deletion requests, any order) that count
    for a reader trusting ``verifiers``: well-formed, signed by one of them, not withdrawn by a deletion request of
    its own signer, not dated more than ``max_future`` ahead and not expired."""
    trusted = frozenset(verifiers)
    events = list(events)
    withdrawn = {(e.pubkey, target) for e in events if e.kind == kinds.DELETION for target in e.tag_values("e")}
    found: dict[str, list[Event]] = {}
    for event in events:
        if event.kind != kinds.LABEL or event.pubkey not in trusted or (event.pubkey, event.id) in withdrawn:
            continue
        if event.created_at > now + max_future or event.is_expired(now):
            continue
        try:
            found.setdefault(parse_vouch(event).channel, []).append(event)
        except RemoteProtocolError:
            continue
    return found


def vouchers(
    events: Iterable[Event], verifiers: Iterable[str], now: int, *, max_future: int = MAX_FUTURE
) -> dict[str, frozenset[str]]:
    """Channel address -> the ``verifiers`` who vouch for it, from ``events``: the signers of its
    :func:`witnesses`."""
    found = witnesses(events, verifiers, now, max_future=max_future)
    return {address: frozenset(vouch.pubkey for vouch in vouches) for address, vouches in found.items()}


def _contained(a: str, b: str) -> bool:
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) >= MIN_CONTAINED and shorter in longer


#: A name's words in three readings (spoken, visual, visual in capitals): each its words' keys and its fillers'.
Words = tuple[tuple[tuple[str, ...], tuple[str, ...]], ...]


@functools.lru_cache(maxsize=4096)  # the same words come back in many names ("район", "новости")
def _token_keys(token: str) -> tuple[str, str, str]:
    return display.spoken_key(token), display.visual_key(token), display.visual_key(token.upper())


def name_words(name: str) -> Words:
    """``name``'s words (runs of letters, digits, "." and "-", so that "р-н" is one) in three readings: spoken
    (abbreviations read out), visual and visual in capitals as :func:`samizdat.core.display.name_keys`, each
    the sorted keys of its words but :data:`FILLERS` and the sorted keys of its fillers."""
    tokens, token = [], ""
    for ch in display.neutralize(name).lower() + " ":
        if unicodedata.category(ch)[0] in "LMN" or ch in ".-":
            token += ch
        elif token:
            tokens.append(token)
            token = ""
    readings: tuple[tuple[list[str], list[str]], ...] = (([], []), ([], []), ([], []))
    for token in tokens:
        spoken, *visual = _token_keys(token)
        keys = (_ABBREVIATION_KEYS.get(spoken, spoken), *visual)
        for (core, fillers), key in zip(readings, keys, strict=True):
            if key:
                (fillers if spoken in _FILLER_KEYS else core).append(key)
    return tuple((tuple(sorted(core)), tuple(sorted(fillers))) for core, fillers in readings)


def _near(a: str, b: str, *, changed: bool = False) -> bool:
    """One letter dropped, added, changed or two neighbours swapped, before the last two letters (the endings of
    "Фрунзенский" and the metro's "Фрунзенская" differ), in words of :data:`MIN_NEAR` letters or more, without
    digits (house numbers); in shorter words of :data:`MIN_SHORT` letters or more, :func:`_short_near`."""
    if a == b or min(len(a), len(b)) < MIN_SHORT or any(ch.isdecimal() for ch in a + b):
        return False
    if min(len(a), len(b)) < MIN_NEAR:
        return _short_near(a, b, changed=changed)
    if a[-2:] != b[-2:]:
        return False
    a, b = sorted((a[:-2], b[:-2]), key=len)
    i = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    if len(a) != len(b):
        return len(b) - len(a) == 1 and a[i:] == b[i + 1 :]
    return a[i + 1 :] == b[i + 1 :] or (a[i + 2 :] == b[i + 2 :] and a[i : i + 2] == b[i : i + 2][::-1])


def _short_near(a: str, b: str, *, changed: bool) -> bool:
    """Two different short words a reader takes for one: two neighbours swapped, a letter added or dropped but
    the last (:data:`MIN_SHORT`), or with ``changed`` (the same place) a letter changed."""
    a, b = sorted((a, b), key=len)
    if len(b) - len(a) == 1:
        return any(b[:i] + b[i + 1 :] == a for i in range(len(b) - 1))
    apart = [i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y]
    if len(a) != len(b) or not apart:
        return False
    if len(apart) == 1:
        return changed
    i, j = apart[0], apart[-1]
    return len(apart) == 2 and j == i + 1 and a[i] == b[j] and a[j] == b[i]


def _apart(a: tuple[str, ...], b: tuple[str, ...]) -> tuple[list[str], list[str]]:
    """The words of sorted ``a`` not in sorted ``b`` and those of ``b`` not in ``a``, as many times as they are
    more often in one (multisets: one walk of both, no counting)."""
    only_a: list[str] = []
    only_b: list[str] = []
    i = j = 0
    while i < len(a) and j < len(b):
        if a[i] == b[j]:
            i, j = i + 1, j + 1
        elif a[i] < b[j]:
            only_a.append(a[i])
            i += 1
        else:
            only_b.append(b[j])
            j += 1
    return only_a + list(a[i:]), only_b + list(b[j:])


def _alike(a: Words, b: Words, *, changed: bool = False, mixed: Callable[[], bool] = lambda: False) -> bool:
    """:func:`names_alike` on :func:`name_words`; ``changed``: the two are of the same place (a letter changed in
    a short one-word name counts: "Гомиль"; not in a street's, "Мира 5" and "Мина 5" are two yards of one city);
    ``mixed()`` (asked only when it matters): one of them mixes alphabets in a word ("Lidа news" with a Cyrillic
    а: a one-word name with other fillers counts, as no honest "Lida news" spells it so)."""
    for (core_a, fill_a), (core_b, fill_b) in zip(a, b, strict=True):
        if not core_a or len(core_a) != len(core_b):
            continue
        only_a, only_b = _apart(core_a, core_b)
        if not only_a and (len(core_a) > 1 or mixed()):
            return True
        if (
            len(only_a) == 1
            and (len(core_a) > 1 or fill_a == fill_b or mixed())
            and _near(only_a[0], only_b[0], changed=changed and len(core_a) == 1)
        ):
            return True
    return False


def names_alike(a: str, b: str) -> bool:
    """True when a reader could take ``a`` and ``b`` for the same name though their keys differ: with
    :data:`FILLERS` left out and abbreviations read out, the same words in any order, or all the same but one
    word, one letter away (:func:`_near`). Only names of two words or more (fillers left out) are alike with
    other fillers: a reader following "Минск" is not warned of every "Минск новости", unless one of the two
    mixes alphabets in a word (:func:`samizdat.core.display.mixed_script_words`)."""
    return _alike(
        name_words(a), name_words(b), mixed=lambda: bool(display.mixed_script_words(a) or display.mixed_script_words(b))
    )


def _rests(words: Words) -> list[tuple[str, str]]:
    """Each word of :data:`MIN_SHORT` letters or more of each reading, with the reading's other words (the
    "rest" that :func:`_signatures`'s one-letter-left-out strings begin with)."""
    return [
        (f"{k}~{' '.join(core[:j] + core[j + 1 :])}", word)
        for k, (core, _) in enumerate(words)
        for j, word in enumerate(core)
        if len(word) >= MIN_SHORT
    ]


def _signatures(words: Words, shared: Container[str]) -> set[str]:
    """Strings that two :func:`_alike` names share at least one of: the same words, or all but one word the same
    and that one's letters but one (every word of :data:`MIN_SHORT` letters, and each with one letter left out).
    The letters-but-one strings only of the rests in ``shared``: a rest no other owner key's name has finds that
    owner's channels alone, which nothing is told of (60-70 % fewer strings on a city's names:
    bench/lookalike_speed.py)."""
    out = {f"{k}={' '.join(core)}" for k, (core, _) in enumerate(words) if len(core) > 1}
    for rest, word in _rests(words):
        if rest in shared:
            out.update(f"{rest}~{word[:n]}{word[n + 1 :]}" for n in range(len(word) + 1))
    return out


def collisions(
    channels: Iterable[Channel], trusted: Sequence[Channel], *, bucket: int | None = None
) -> dict[str, tuple[str, ...]]:
    """Address of each of ``channels`` that collides with ``trusted`` ones -> their addresses: those with the
    same name first, then those of the same place with one name inside the other, then those with a name alike
    (:func:`names_alike`), then those whose description it copies, each in ``trusted`` order. A channel never
    collides with itself or with a channel of the same owner key. With ``bucket``, only the first ``bucket``
    trusted channels of each name, place, description and :func:`_signatures` string are compared with."""
    by_name: dict[str, list[int]] = {}
    by_place: dict[str, list[int]] = {}
    by_about: dict[str, list[int]] = {}
    by_sign: dict[str, list[int]] = {}
    # Keys are dear to compute (a few dozen µs) and the same texts come back (places, and every channel twice in
    # lookalikes): each text's once per call.
    keys_of: dict[str, frozenset[str]] = {}
    spoken_of: dict[str, str] = {}
    words_of: dict[str, Words] = {}
    signs_of: dict[str, set[str]] = {}
    mixed_of: dict[str, bool] = {}

    def name_keys(text: str) -> frozenset[str]:
        if text not in keys_of:
            keys_of[text] = display.name_keys(text)
        return keys_of[text]

    def spoken_name(text: str) -> str:
        """A name's spoken key, read off its :func:`name_keys` (``spoken:`` and the key, when it has one):
        the dearest of its keys, not computed twice."""
        return next((key[7:] for key in name_keys(text) if key.startswith("spoken:")), "")

    def spoken_key(text: str) -> str:
        if text not in spoken_of:
            spoken_of[text] = display.spoken_key(text)
        return spoken_of[text]

    def words(text: str) -> Words:
        if text not in words_of:
            words_of[text] = name_words(text)
        return words_of[text]

    def mixed(*texts: str) -> Callable[[], bool]:
        def ask() -> bool:
            for text in texts:
                if text not in mixed_of:
                    mixed_of[text] = bool(display.mixed_script_words(text))
            return any(mixed_of[text] for text in texts)

        return ask

    # The rests (_rests) that the names of two owner keys or more have: only they can find another key's channel.
    channels = list(channels)
    first_owner: dict[str, str] = {}
    shared: set[str] = set()
    for c in (*channels, *trusted):
        for rest, _ in _rests(words(c.name)):
            if first_owner.setdefault(rest, c.owner) != c.owner:
                shared.add(rest)

    def signs(text: str) -> set[str]:
        if text not in signs_of:
            signs_of[text] = _signatures(words(text), shared)
        return signs_of[text]

    spoken = [spoken_name(t.name) for t in trusted]

    def index(table: dict[str, list[int]], key: str, i: int) -> None:
        found = table.setdefault(key, [])
        if bucket is None or len(found) < bucket:
            found.append(i)

    for i, t in enumerate(trusted):
        for key in name_keys(t.name):
            index(by_name, key, i)
        for key in name_keys(t.place) if t.place else ():
            index(by_place, key, i)
        about = spoken_key(t.about)
        if len(about) >= MIN_DESCRIBED:
            index(by_about, about, i)
        for key in signs(t.name):
            index(by_sign, key, i)
    out: dict[str, tuple[str, ...]] = {}
    for channel in channels:
        same = {i for key in name_keys(channel.name) for i in by_name.get(key, ())}
        near: set[int] = set()
        if channel.place:
            own = spoken_name(channel.name)
            here = {i for key in name_keys(channel.place) for i in by_place.get(key, ())}
            near = {
                i
                for i in here - same
                if _contained(own, spoken[i])
                or _alike(
                    words(channel.name),
                    words(trusted[i].name),
                    changed=True,
                    mixed=mixed(channel.name, trusted[i].name),
                )
            }
        signed = {i for key in signs(channel.name) for i in by_sign.get(key, ())} - same - near
        alike = {
            i
            for i in signed
            if _alike(words(channel.name), words(trusted[i].name), mixed=mixed(channel.name, trusted[i].name))
        }
        copied = set(by_about.get(spoken_key(channel.about), ()) if by_about else ()) - same - near - alike
        order = [*sorted(same), *sorted(near), *sorted(alike), *sorted(copied)]
        found = [trusted[i].address for i in order if trusted[i].owner != channel.owner]
        if found:
            out[channel.address] = tuple(dict.fromkeys(found))
    return out


def likeness(a: Channel, b: Channel) -> str:
    """How two channels that :func:`collisions` pairs look alike, for faces to say what is true: ``"name"`` (the
    same name to a reader: :func:`samizdat.core.display.names_collide`), ``"alike"`` (names a letter or a filler
    word apart, or one inside the other in the same place) or ``"about"`` (only the description is the same)."""
    if display.names_collide(a.name, b.name):
        return "name"
    about = display.spoken_key(a.about)
    if not names_alike(a.name, b.name) and len(about) >= MIN_DESCRIBED and about == display.spoken_key(b.about):
        return "about"
    return "alike"


def lookalikes(channels: Sequence[Channel]) -> dict[str, tuple[str, ...]]:
    """Address of each of ``channels`` -> the addresses of the others (of other owner keys) it collides with,
    as :func:`collisions` judges against every one of them (the first :data:`LOOKALIKE_BUCKET` of each name,
    place and description): what a reader who trusts none of them yet is told."""
    return collisions(channels, channels, bucket=LOOKALIKE_BUCKET)
