"""What ``samizdat channel admins --remove`` would keep, for the owner to choose (``--review``, ``--keep``,
``--keep-all``, ``--keep-none``, ``--drop``): the retractions and corrections the removed key made before
``--since`` that the removal signs again as the owner's (services/posts.py,
:func:`~samizdat.services.posts.review_removal`).

Those of another's post are the owner's choice (docs/safety.md, "Red team, round 12"): the police, holding an
arrested admin's key, can retract an editor's genuine warning and date it before the arrest, and the node keeps no
time of arrival to tell that from the admin's own. So nothing of others' posts is kept that the owner did not name
(red team, round 13): ``--keep`` takes the id of each amendment to keep, as ``--review`` printed it, never a post's
id, which would also keep an amendment of that post that reached the node after the review (the police can time
one for that window). Text from the network is printed neutralised and isolated.

An amendment the key itself withdrew (a NIP-09 deletion request of its own retraction or correction: the police,
holding the key, can delete the admin's honest retraction of a fake) is listed as "withdrawn by the key on <the
date its deletion gives>", and kept only when named with ``--keep`` (or ``--keep-all``), of its own posts too: the
store kept a record of it, not its content, so keeping it signs the owner's retraction of the post.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from samizdat.cli.render import when
from samizdat.core import nip19
from samizdat.core.display import field
from samizdat.core.event import Event
from samizdat.core.posts import RETRACTION
from samizdat.errors import UsageError
from samizdat.services.posts import Kept, NotReviewed

#: Characters of an id a review prints; ``--keep`` and ``--drop`` take any unambiguous prefix of 8 or more.
SHOWN_ID = 16
MIN_ID = 8
CHOICES = "--keep ID for each one to keep (repeatable), --keep-all or --keep-none"


def _type(event: Event) -> str:
    kind = next((t[1] for t in event.tags if len(t) > 1 and t[0] == "type"), "")
    return "retraction" if kind == RETRACTION else "correction"


def review_dict(kept: Sequence[Kept]) -> list[dict[str, Any]]:
    """The review for ``--json``: :meth:`Kept.to_dict`, with the author's npub and each amendment (``by``: its id,
    ``type`` and the date the key gave it)."""
    return [{**k.to_dict(), "author": nip19.npub_encode(k.target.pubkey),
             "by": [{"id": e.id, "type": _type(e), "created_at": e.created_at} for e in k.by]}
            for k in kept]  # fmt: skip


def review_text(items: list[dict[str, Any]]) -> str:
    """The review for a person: one paragraph per post kept amended, others' posts marked with the id of each
    amendment to name, then what to add."""
    if not items:
        return "Removing it keeps no retraction or correction: nothing to choose."
    lines = [f"Removing it would sign again, as yours, {len(items)} retraction(s) or correction(s) it made before "
             "--since, so that readers go on seeing these posts as they did:"]  # fmt: skip
    for item in items:
        what = "retracted" if item["action"] == "retracted" else f"corrected ({', '.join(item['fields'])})"
        if not item["by"]:
            what = "amended"
        whose = "its own post" if item["own"] else f"{item['role'] or 'a'} {item['author'][:16]}…'s post"
        lines.append(f"  {item['target'][:SHOWN_ID]}  {what} {whose}, dated {when(item['created_at'])}")
        lines.append(f"      post: {field(item['text'])}")
        if item["reason"]:
            lines.append(f"      reason given: {field(item['reason'])}")
        for gone in item["withdrawn"]:
            lines.append(f"      WITHDRAWN BY THE KEY on {when(gone['deleted_at'])} (a date the key chose): its "
                         f"{gone['type']} dated {when(gone['created_at'])}, " + _gone(gone["type"]))  # fmt: skip
        if item["own"] and item["by"]:
            lines.append(f"      kept unless you add --drop {item['target'][:SHOWN_ID]}")
        if not item["own"] and item["by"]:
            lines.append("      ANOTHER'S POST: keep it only if you know the admin did this before the key left them:")
            for by in item["by"]:
                lines.append(f"      --keep {by['id'][:SHOWN_ID]}  (its {by['type']} dated {when(by['created_at'])})")
        elif not item["own"]:
            lines.append("      ANOTHER'S POST.")
        if item["withdrawn"]:
            lines.append("      keep it only if you know the admin made it and did not withdraw it themselves:")
        for gone in item["withdrawn"]:
            lines.append(f"      --keep {gone['id'][:SHOWN_ID]}  (its withdrawn {gone['type']})")
    lines.append(f"Of others' posts, nothing is kept unless you add {CHOICES} (nor what the key withdrew); "
                 "leave out one of its own posts with --drop ID.")  # fmt: skip
    return "\n".join(lines)


def _gone(kind: str) -> str:
    if kind == RETRACTION:
        return "its reason not kept: kept, the channel retracts this post again"
    return "its text is gone: kept, the channel retracts this post (it cannot be corrected again)"


def _withdrawn(kept: Sequence[Kept]) -> list[str]:
    return [w.id for k in kept for w in k.withdrawn]


def _found(prefix: str, known: Sequence[str]) -> list[str]:
    return [i for i in known if i.startswith(prefix)] if len(prefix) >= MIN_ID else []


def resolve_drop(given: Sequence[str], kept: Sequence[Kept]) -> list[str]:
    """The full ids ``--drop`` names (a post's or one of the key's amendments', 8+ characters of it); UsageError
    for one that names none of ``kept`` or more than one."""
    known = sorted({k.target.id for k in kept} | {e.id for k in kept for e in k.by} | set(_withdrawn(kept)))
    out = []
    for text in given:
        found = _found(text.strip().lower(), known)
        if len(found) != 1:
            why = "names more than one" if found else "is not one of the posts or amendments --review lists"
            raise UsageError(f"--drop {text[:70]!r} {why}: give 8 or more characters of an id --review prints")
        out.append(found[0])
    return out


def resolve_keep(given: Sequence[str], kept: Sequence[Kept]) -> list[str]:
    """The full ids of the amendments of others' posts, and of those the key withdrew, ``--keep`` names (8+
    characters of one, as ``--review`` printed it); UsageError for a post's id, one of the key's own posts'
    amendments, or an id that names none of them (changed since the review: a new one is never kept unnamed) or
    more than one."""
    others = sorted({e.id for k in kept if not k.own for e in k.by} | set(_withdrawn(kept)))
    posts = sorted({k.target.id for k in kept})
    own = sorted({e.id for k in kept if k.own for e in k.by})
    out = []
    for text in given:
        prefix = text.strip().lower()
        found = _found(prefix, others)
        if len(found) == 1:
            out.append(found[0])
            continue
        if found:
            why = "names more than one: give more characters"
        elif _found(prefix, posts):
            why = ("is a post's id: name the key's retraction or correction of it that --review prints after --keep "
                   "(a post's id would also keep one that reached this node after you looked)")  # fmt: skip
        elif _found(prefix, own):
            why = "is an amendment of its own post: those are kept without --keep (leave one out with --drop)"
        else:
            why = ("is not one of the amendments of others' posts --review lists (if it was, it changed since: "
                   "run --review again)")  # fmt: skip
        raise UsageError(f"--keep {text[:70]!r} {why}")
    return out


def not_reviewed(exc: NotReviewed) -> UsageError:
    """The command line's sentence for a removal that would keep others' posts' amendments unseen."""
    return UsageError(
        f"removing this key would sign again, as yours, {len(exc.kept)} retraction(s) or correction(s) it made of "
        "others' posts or withdrew, dated before --since (whoever holds the key could have made them and dated "
        "them so, or deleted them): "
        f"see them with --review, then add {CHOICES}"
    )
