"""What the command line says of a channel to tell it from look-alikes (docs/protocol.md, "Security and privacy
considerations"): the warning said before its name when another key named a channel like one the reader follows
or their verifiers vouch for (``warning_line``), or, for a reader who trusts neither, when another channel has
its name (``twin_line``); its fingerprint and marks. Used by ``channel show|list``, ``follow`` and ``feed``."""

from __future__ import annotations

from typing import Any

from samizdat.core import nip19
from samizdat.core.display import field
from samizdat.core.trust import likeness
from samizdat.errors import UsageError
from samizdat.services import channels
from samizdat.services.context import Context


def trust_dict(entry: channels.Entry, named: dict[str, channels.Entry]) -> dict[str, Any]:
    """What tells this channel from look-alikes: ``named`` has the entries of the channels it collides with."""

    def others(addresses: tuple[str, ...]) -> list[dict[str, Any]]:
        out = []
        for address in addresses:
            other = named.get(address)
            found = other.channel if other else None
            out.append({
                "address": address, "name": found.name if found else None,
                "fingerprint": other.fingerprint if other else "", "relation": other.relation if other else "",
                "likeness": likeness(entry.channel, found) if entry.channel and found else "alike",
                "vouched_by": [nip19.npub_encode(k) for k in other.vouched_by] if other else [],
            })  # fmt: skip
        return out

    return {
        "fingerprint": entry.fingerprint,
        "relation": entry.relation,
        "vouched_by": [nip19.npub_encode(k) for k in entry.vouched_by],
        "warned": entry.warned,
        "collides_with": others(entry.collides_with),
        "twinned": entry.twinned,
        "lookalikes": others(entry.lookalikes),
        "mixed_scripts": list(entry.mixed_scripts),
    }


def warning_line(d: dict[str, Any]) -> str:
    """The first thing said of a channel that collides with one the reader follows, owns or has vouched for."""
    others = d["collides_with"]
    trusted = [o for o in others if o["relation"] in ("own", "followed")]
    what = "YOU FOLLOW" if trusted else "YOUR VERIFIERS VOUCH FOR"
    shown = (trusted or others)[0]
    like = f"{field(shown['name'])} ({shown['fingerprint']})" if shown["name"] else shown["address"]
    if not trusted and d["vouched_by"]:
        # Vouched for itself: verifiers the reader trusts vouch for two channels named alike, and "not the
        # channel your verifiers vouch for" would be said of both; one of them was fooled, or its key is not its own.
        by = ", ".join(shown.get("vouched_by") or ["another of them"])
        return (
            f"!! YOUR VERIFIERS DISAGREE: {', '.join(d['vouched_by'])} vouch for this channel, {by} for {like}, "
            "another key's channel named like it. Ask the channel's people, in person, which key is theirs"
        )
    return f"!! NOT THE CHANNEL {what}: another key, made to look like {like}"


#: What is true of the first look-alike, by its :func:`samizdat.core.trust.likeness`.
_TWIN = {
    "name": "ANOTHER CHANNEL HAS THIS NAME",
    "alike": "ANOTHER CHANNEL HAS A NAME LIKE THIS ONE (a letter or a word apart)",
    "about": "ANOTHER CHANNEL HAS THIS DESCRIPTION",
}


def twin_line(d: dict[str, Any]) -> str:
    """The first thing said of a channel the reader does not trust when another channel has a name like it:
    nothing here tells which is real, so both are marked (docs/protocol.md, "Security and privacy considerations")."""
    shown = d["lookalikes"][0]
    like = f"{field(shown['name'])} ({shown['fingerprint']})" if shown["name"] else shown["address"]
    more = len(d["lookalikes"]) - 1
    also = f" and {more} more" if more else ""
    return (
        f"!! {_TWIN[shown.get('likeness', 'alike')]}: {like}{also}, another key. Ask someone you trust for the real "
        "one's fingerprint before you believe either"
    )


def first_lines(d: dict[str, Any]) -> list[str]:
    """What is said of a channel before its name: that it is not the one the reader follows, or has a twin."""
    if d.get("warned"):
        return [warning_line(d)]
    return [twin_line(d)] if d.get("twinned") else []


def marks(d: dict[str, Any]) -> list[str]:
    lines = []
    relation = {"own": "Yours", "followed": "You follow it", "carried": "You do not follow it"}[d["relation"]]
    if d["vouched_by"]:
        count = len(d["vouched_by"])
        relation += f"; vouched for by {count} verifier{'s' if count > 1 else ''} you trust: " + ", ".join(
            d["vouched_by"]
        )
    lines.append(relation)
    if d["mixed_scripts"]:
        lines.append("Mixed alphabets (look-alike letters) in: " + ", ".join(field(w) for w in d["mixed_scripts"]))
    return lines


async def lookalike_state(ctx: Context, target: str) -> dict[str, Any] | None:
    """The channel ``target`` names, with what tells it from look-alikes as things stand now (before a follow:
    once followed it is trusted, and warned of no more); None for a verifier or a channel this node lacks."""
    try:
        found = await channels.resolve(ctx, target)
    except UsageError:
        return None  # a verifier's npub, or a channel not here: the command itself says what is wrong
    entry = await channels.entry(ctx, found)
    near = {*entry.collides_with, *entry.lookalikes}
    named = {e.address: e for e in await channels.directory(ctx) if e.address in near}
    return {"name": found.name, **trust_dict(entry, named)}
