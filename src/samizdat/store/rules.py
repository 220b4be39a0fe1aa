"""Pure helpers that every store shares, so that SQLite, memory and later backends read the rules the same way.

Nothing here does I/O. The store rules themselves are listed in :mod:`samizdat.store.base`; this module answers
the small questions those rules raise: which replacement slot an event occupies, which tags a ``#x`` filter can
address, what a NIP-09 deletion request names, and how a NIP-50 ``search`` string becomes words.

Search: the string is plain words. Whitespace separates terms; a ``key:value`` term is a NIP-50 extension and is
ignored (we support none); every other term is split into words the way SQLite's ``unicode61`` tokenizer does
(runs of letters and digits, case and diacritics folded), and all terms must appear (a term of several words,
such as ``e-mail``, must appear as that phrase). A string with nothing but extensions puts no condition on the
search; a string whose terms hold no words matches nothing. A search filter's ``limit`` keeps the matches that
were *stored* most recently (NIP-50 lets the relay define the best matches; this one needs no sort of every
match of a common word); they are then served newest first like any other result.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from samizdat.core.event import Event
from samizdat.core.kinds import CHANNEL, DELETION, POST, is_addressable, is_replaceable
from samizdat.core.posts import CORRECTION, RETRACTION, parse_post
from samizdat.errors import RemoteProtocolError
from samizdat.store.base import Withdrawn

_HEX = frozenset("0123456789abcdef")
_WORD = re.compile(r"[^\W_]+")
_EXTENSION = re.compile(r"^[a-z_]+:\S+$")
#: Tag names whose first values are searched along with ``content``.
SEARCHED_TAGS = frozenset({"title", "summary", "subject", "alt", "name", "description", "t"})
#: Kinds whose content is ciphertext (NIP-04 DMs, NIP-59 seals and gift wraps): not worth indexing.
UNSEARCHED_KINDS = frozenset({4, 13, 1059})
#: Kinds no deletion request deletes, by id or by address: a deletion request (NIP-09), and a channel's definition
#: (readers would lose who may post in the channel, and with it a recovery key's seizure claim: a seized owner key
#: could erase the claim that disowns it). ``samizdat delete`` and the web login refuse to sign such a request
#: (services/publishing.py check_deletion); every store ignores it whichever door it came through.
UNDELETABLE_KINDS = frozenset({DELETION, CHANNEL})
#: At most this many search terms are used; the rest are ignored (each one costs an index lookup).
MAX_SEARCH_TERMS = 16


def is_hex64(value: str) -> bool:
    return len(value) == 64 and _HEX.issuperset(value)


def slot_d(event: Event) -> str | None:
    """The replacement slot's ``d`` part: "" for replaceable kinds, the d tag for addressable, None otherwise."""
    if is_replaceable(event.kind):
        return ""
    if is_addressable(event.kind):
        return event.d_tag
    return None


def is_filter_tag(name: str) -> bool:
    """Whether a NIP-01 ``#x`` filter can name this tag: a single ASCII letter."""
    return len(name) == 1 and name.isascii() and name.isalpha()


def indexed_tags(event: Event) -> set[tuple[str, str]]:
    """(name, first value) of the tags a NIP-01 ``#x`` filter can match."""
    return {(t[0], t[1]) for t in event.tags if len(t) >= 2 and is_filter_tag(t[0])}


def searchable_text(event: Event) -> str:
    """The text the full-text index holds for ``event`` ("" when it is not indexed)."""
    if event.kind in UNSEARCHED_KINDS:
        return ""
    parts = [event.content]
    parts.extend(t[1] for t in event.tags if len(t) >= 2 and t[0] in SEARCHED_TAGS)
    return "\n".join(p for p in parts if p)


def words(text: str) -> list[str]:
    """Words as the ``unicode61 remove_diacritics 2`` tokenizer sees them: letters and digits, folded."""
    return _WORD.findall(_folded(text))


#: Folded characters of an event's text that the relay reads for its live search subscriptions (see live_words).
LIVE_TEXT_CHARS = 128 * 1024
_FOLD_CHUNK = 1024


def live_words(text: str, limit: int = LIVE_TEXT_CHARS) -> list[str]:
    """:func:`words` of the start of ``text`` that folds to at most about ``limit`` characters: all of any text an
    event may carry (64 KiB of content folds to about as much), but not of one made to grow when folded ("\ufdfa"
    becomes 18 characters, so 64,000 of them cost the event loop 170 ms per event for each live search). The
    store's own search reads the whole text; a live subscription may miss a word that only such a text's tail has.
    """
    if len(text) <= _FOLD_CHUNK:
        return words(text)
    parts, size = [], 0
    for start in range(0, len(text), _FOLD_CHUNK):
        part = _folded(text[start : start + _FOLD_CHUNK])  # folding works character by character
        parts.append(part)
        size += len(part)
        if size >= limit:
            break
    return _WORD.findall("".join(parts))


def _folded(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@dataclass(frozen=True, slots=True)
class Search:
    """A parsed ``search`` string: ``phrases`` that must all appear; ``None`` means no condition at all."""

    phrases: tuple[tuple[str, ...], ...] | None

    @property
    def matches_nothing(self) -> bool:
        return self.phrases == ()

    def fts_query(self) -> str:
        """An FTS5 MATCH expression: every phrase double-quoted, so no user input is ever FTS syntax."""
        return " ".join('"' + " ".join(p) + '"' for p in self.phrases or ())

    def matches(self, event: Event) -> bool:
        if self.phrases is None:
            return True
        text = words(searchable_text(event))
        if not text or not self.phrases:
            return False
        return all(_contains(text, list(p)) for p in self.phrases)


def _contains(text: list[str], phrase: list[str]) -> bool:
    n = len(phrase)
    return any(text[i : i + n] == phrase for i in range(len(text) - n + 1))


def parse_search(search: str | None) -> Search:
    if search is None:
        return Search(None)
    terms = [t for t in search.split() if not _EXTENSION.match(t)]
    if not terms:
        return Search(None)
    phrases = [tuple(w) for t in terms if (w := words(t))]
    return Search(tuple(phrases[:MAX_SEARCH_TERMS]))


def search_terms(search: str) -> tuple[str, ...]:
    """The terms of ``search`` that :func:`parse_search` keeps, as typed (not folded): for a store whose own
    text search splits and folds them (PostgreSQL)."""
    kept = [t for t in search.split() if not _EXTENSION.match(t) and words(t)]
    return tuple(kept[:MAX_SEARCH_TERMS])


@dataclass(frozen=True, slots=True)
class DeletionTargets:
    """What a kind-5 request names that its own author may delete: event ids and (kind, d) slots."""

    ids: tuple[str, ...]
    slots: tuple[tuple[int, str], ...]


def deletion_targets(event: Event) -> DeletionTargets:
    """The ``e`` ids and the ``a`` addresses of ``event``'s own pubkey; malformed values and addresses of
    :data:`UNDELETABLE_KINDS` are skipped (an ``e`` id of one is skipped by the store, which knows its kind)."""
    if event.kind != DELETION:
        return DeletionTargets((), ())
    ids = [v for v in event.tag_values("e") if is_hex64(v) and v != event.id]
    slots = []
    for value in event.tag_values("a"):
        parts = value.split(":", 2)
        if (
            len(parts) != 3
            or not (parts[0].isascii() and parts[0].isdigit())
            or len(parts[0]) > 5
            or parts[1] != event.pubkey
        ):
            continue
        kind = int(parts[0])
        if kind in UNDELETABLE_KINDS:
            continue
        if is_replaceable(kind):
            slots.append((kind, ""))
        elif is_addressable(kind):
            slots.append((kind, parts[2]))
    return DeletionTargets(tuple(dict.fromkeys(ids)), tuple(dict.fromkeys(slots)))


#: At most this many :class:`~samizdat.store.base.Withdrawn` records are kept per author: those whose amendment
#: reached the store last go first, not those dated first (the key's holder chooses dates and the order of its
#: deletions, but not what reached the node before the key was seized: a flood of 1,000 amendments made and
#: deleted after an arrest pushed out the admin's honest retraction; red team, round 15)...
WITHDRAWN_PER_AUTHOR = 1000
#: ... and none made (its deletion's arrival, by the node's clock) more than this many days ago: not the
#: amendment's date, so an honest retraction of an old fake, deleted by a seized key, is still offered to the
#: removal that follows (red team, round 15: it was dropped at the next purge).
WITHDRAWN_DAYS = 90


def withdrawn_record(event: Event, request: Event) -> Withdrawn | None:
    """The record a store keeps when the deletion ``request`` erases ``event``: only for a channel's amendment (a
    post of type retraction or correction naming the post it amends, the shape core/thread.py counts) of the
    request's own author; None for anything else."""
    if event.kind != POST or request.kind != DELETION or event.pubkey != request.pubkey:
        return None
    try:
        post = parse_post(event)
    except RemoteProtocolError:
        return None
    if post.post_type not in (CORRECTION, RETRACTION) or post.target is None:
        return None
    return Withdrawn(event.id, event.pubkey, post.post_type, post.target, post.channel, event.created_at,
                     request.id, request.created_at)  # fmt: skip


def withdrawn_cutoff(now: int) -> int:
    """Records made (``recorded_at``, the node's clock when the deletion arrived) before this are dropped
    (:data:`WITHDRAWN_DAYS`)."""
    return now - WITHDRAWN_DAYS * 86400


def newest_first(event: Event) -> tuple[int, str]:
    """Sort key of the NIP-01 query order: ``created_at`` descending, then id ascending."""
    return (-event.created_at, event.id)


def wins_over(new: Event, stored: Event) -> bool:
    """Whether ``new`` replaces ``stored`` in their slot: newer, or as new with a lower id."""
    return (new.created_at, stored.id) > (stored.created_at, new.id)
