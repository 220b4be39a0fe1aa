"""What ``samizdat channel admins --remove`` would keep, for the owner to choose (``--review``, ``--drop``,
``--keep-all``): the retractions and corrections the removed key made before ``--since`` that the removal signs
again as the owner's (services/posts.py, :func:`~samizdat.services.posts.review_removal`).

Those of another's post are the owner's choice (docs/safety.md, "Red team, round 12"): the police, holding an
arrested admin's key, can retract an editor's genuine warning and date it before the arrest, and the node keeps no
time of arrival to tell that from the admin's own. Text from the network is printed neutralised and isolated.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from samizdat.cli.render import when
from samizdat.core import nip19
from samizdat.core.display import field
from samizdat.errors import UsageError
from samizdat.services.posts import Kept, NotReviewed

#: Characters of an id a review prints; ``--drop`` takes any unambiguous prefix of 8 or more.
SHOWN_ID = 16
MIN_ID = 8


def review_dict(kept: Sequence[Kept]) -> list[dict[str, Any]]:
    """The review for ``--json``: :meth:`Kept.to_dict`, with the author's npub."""
    return [{**k.to_dict(), "author": nip19.npub_encode(k.target.pubkey)} for k in kept]


def review_text(items: list[dict[str, Any]]) -> str:
    """The review for a person: one paragraph per post kept amended, others' posts marked, then what to add."""
    if not items:
        return "Removing it keeps no retraction or correction: nothing to choose."
    lines = [f"Removing it would sign again, as yours, {len(items)} retraction(s) or correction(s) it made before "
             "--since, so that readers go on seeing these posts as they did:"]  # fmt: skip
    for item in items:
        what = "retracted" if item["action"] == "retracted" else f"corrected ({', '.join(item['fields'])})"
        whose = "its own post" if item["own"] else f"{item['role'] or 'a'} {item['author'][:16]}…'s post"
        lines.append(f"  {item['target'][:SHOWN_ID]}  {what} {whose}, dated {when(item['created_at'])}")
        lines.append(f"      post: {field(item['text'])}")
        if item["reason"]:
            lines.append(f"      reason given: {field(item['reason'])}")
        if not item["own"]:
            lines.append("      ANOTHER'S POST: keep it only if you know the admin did this before the key left them")
    lines.append("Keep them all: add --keep-all; leave one out: add --drop ID (repeatable).")
    return "\n".join(lines)


def resolve_drop(given: Sequence[str], kept: Sequence[Kept]) -> list[str]:
    """The full ids ``--drop`` names (a post's or one of the key's amendments', 8+ characters of it); UsageError
    for one that names none of ``kept`` or more than one."""
    known = {k.target.id for k in kept} | {e.id for k in kept for e in k.by}
    out = []
    for text in given:
        prefix = text.strip().lower()
        found = [i for i in known if i.startswith(prefix)] if len(prefix) >= MIN_ID else []
        if len(found) != 1:
            why = "names more than one" if found else "is not one of the posts or amendments --review lists"
            raise UsageError(f"--drop {text[:70]!r} {why}: give 8 or more characters of an id --review prints")
        out.append(found[0])
    return out


def not_reviewed(exc: NotReviewed) -> UsageError:
    """The command line's sentence for a removal that would keep others' posts' amendments unseen."""
    return UsageError(
        f"removing this key would sign again, as yours, {len(exc.kept)} retraction(s) or correction(s) it made of "
        "others' posts, dated before --since (whoever holds the key could have made them and dated them so): "
        "see them with --review, then add --keep-all or --drop ID"
    )
