"""Telling the channel a reader means from one made to look like it: vouches, and channels that collide.

Theory of operation. A channel is its owner key: two channels with the same name and place are two channels.
What a reader can go by, strongest first:

1. whether they follow the channel (or own it), or a verifier they trust vouches for it (:func:`vouchers`:
   vouch labels, docs/protocol.md "Vouching for a channel", by the reader's verifiers, not withdrawn);
2. whether it *collides* with such a channel (:func:`collisions`): another owner key, and a name a reader could
   take for the trusted one's (:func:`samizdat.core.display.names_collide`: across scripts, look-alike letters,
   case, accents), or the same place with one name inside the other ("Frunzenski district" and "Frunzenski
   district news"), or the trusted one's description copied (the same spoken key, at least
   :data:`MIN_DESCRIBED` letters: a copy that renamed itself "Новости района" and left the place out). Faces
   mark a colliding channel that the reader does not follow or own "not the channel you follow" before anything
   else about it;
3. for a reader who trusts none of them yet (a new phone, a first visit to a hub), whether *another* channel
   it knows has a name a reader could take for this one's (:func:`lookalikes`: the same test against every
   channel). Nothing tells which of two such channels is the real one (every date and every post count is its
   signer's word), so faces mark both "another channel has this name" and list trusted channels first;
4. the owner key's fingerprint (:func:`samizdat.core.display.fingerprint`), a second signal only.

Pure: events in, answers out; ``web/src/trust.js`` is the browser's port
(``tests/web/test_display_parity.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


def vouchers(
    events: Iterable[Event], verifiers: Iterable[str], now: int, *, max_future: int = MAX_FUTURE
) -> dict[str, frozenset[str]]:
    """Channel address -> the ``verifiers`` who vouch for it, from ``events`` (vouch labels and deletion
    requests, any order). A vouch counts when it is well-formed, signed by one of ``verifiers``, not withdrawn
    by a deletion request of its own signer, not dated more than ``max_future`` ahead and not expired."""
    trusted = frozenset(verifiers)
    events = list(events)
    withdrawn = {(e.pubkey, target) for e in events if e.kind == kinds.DELETION for target in e.tag_values("e")}
    found: dict[str, set[str]] = {}
    for event in events:
        if event.kind != kinds.LABEL or event.pubkey not in trusted or (event.pubkey, event.id) in withdrawn:
            continue
        if event.created_at > now + max_future or event.is_expired(now):
            continue
        try:
            vouch = parse_vouch(event)
        except RemoteProtocolError:
            continue
        found.setdefault(vouch.channel, set()).add(vouch.verifier)
    return {address: frozenset(keys) for address, keys in found.items()}


def _contained(a: str, b: str) -> bool:
    shorter, longer = sorted((a, b), key=len)
    return len(shorter) >= MIN_CONTAINED and shorter in longer


def collisions(
    channels: Iterable[Channel], trusted: Sequence[Channel], *, bucket: int | None = None
) -> dict[str, tuple[str, ...]]:
    """Address of each of ``channels`` that collides with ``trusted`` ones -> their addresses: those with the
    same name first, then those of the same place with one name inside the other, then those whose description
    it copies, each in ``trusted`` order. A channel never collides with itself or with a channel of the same
    owner key. With ``bucket``, only the first ``bucket`` trusted channels of each name, place and description
    are compared with."""
    by_name: dict[str, list[int]] = {}
    by_place: dict[str, list[int]] = {}
    by_about: dict[str, list[int]] = {}
    # Keys are dear to compute (a few dozen µs) and the same texts come back (places, and every channel twice in
    # lookalikes): each text's once per call.
    keys_of: dict[str, frozenset[str]] = {}
    spoken_of: dict[str, str] = {}

    def name_keys(text: str) -> frozenset[str]:
        if text not in keys_of:
            keys_of[text] = display.name_keys(text)
        return keys_of[text]

    def spoken_key(text: str) -> str:
        if text not in spoken_of:
            spoken_of[text] = display.spoken_key(text)
        return spoken_of[text]

    spoken = [spoken_key(t.name) for t in trusted]

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
    out: dict[str, tuple[str, ...]] = {}
    for channel in channels:
        same = {i for key in name_keys(channel.name) for i in by_name.get(key, ())}
        near: set[int] = set()
        if channel.place:
            own = spoken_key(channel.name)
            here = {i for key in name_keys(channel.place) for i in by_place.get(key, ())}
            near = {i for i in here - same if _contained(own, spoken[i])}
        copied = set(by_about.get(spoken_key(channel.about), ()) if by_about else ()) - same - near
        order = [*sorted(same), *sorted(near), *sorted(copied)]
        found = [trusted[i].address for i in order if trusted[i].owner != channel.owner]
        if found:
            out[channel.address] = tuple(dict.fromkeys(found))
    return out


def lookalikes(channels: Sequence[Channel]) -> dict[str, tuple[str, ...]]:
    """Address of each of ``channels`` -> the addresses of the others (of other owner keys) it collides with,
    as :func:`collisions` judges against every one of them (the first :data:`LOOKALIKE_BUCKET` of each name,
    place and description): what a reader who trusts none of them yet is told."""
    return collisions(channels, channels, bucket=LOOKALIKE_BUCKET)
