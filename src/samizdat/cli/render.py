"""How the command line shows things to a person: feed items, times, counts. JSON output keeps the field names
scripts read (``npub``, ``naddr``, ``ids``); the text is for people: local times, no Unix seconds, human field
names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from samizdat.core import kinds, nip19
from samizdat.core.channel import FORMER
from samizdat.core.display import field
from samizdat.core.imeta import photo_refs
from samizdat.core.posts import PostFields
from samizdat.core.thread import REMOVED_CORRECTION
from samizdat.services.feed import FeedItem

SHORT_ID = 12  #: hex characters of a post id shown in text; any unambiguous prefix of 8 or more is accepted back

#: Feed field names as a reader says them (the JSON keeps the wire names).
FIELD_NAMES = {"location": "place", "expiration": "expires", "give": "fund", "start": "starts", "end": "ends",
               "need": "needs", "reach": "reach", "hours": "hours", "role": "role", "purpose": "for",
               "target": "target", "status": "status", "geohash": "geohash"}  # fmt: skip
TIME_FIELDS = ("expiration", "start", "end")


def when(ts: float | None) -> str:
    """A local date and time to the minute, or "never". A time past the calendar's end (a post's ``start`` may be
    any 12 digits: 999999999999 is the year 33658) is said to be so: it made the whole ``samizdat feed`` fail."""
    if ts is None:
        return "never"
    try:
        return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")
    except (OverflowError, OSError, ValueError):
        return "after the year 9999" if ts > 0 else "before the year 1"


def ago(stamp: float | None, now: float) -> str:
    if stamp is None:
        return "never"
    seconds = max(0, int(now - stamp))
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit} ago"
    return f"{seconds} s ago"


def plural(count: int, one: str, many: str | None = None) -> str:
    """``1 round trip``, ``2 round trips``."""
    return f"{count} {one if count == 1 else (many or one + 's')}"


def _fields(fields: PostFields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted(fields.given()):
        value = getattr(fields, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def post_json(item: FeedItem) -> dict[str, Any]:
    base = {"channel": item.channel.address, "channel_name": item.channel.name, "created_at": item.created_at}
    if item.orphan_retraction is not None:
        retraction = item.orphan_retraction
        return {
            **base,
            "id": retraction.target,
            "nevent": nip19.nevent_encode(retraction.target) if retraction.target else None,
            "type": None,
            "status": "retracted",
            "text": None,
            "retraction": {"id": retraction.id, "reason": retraction.text, "by": nip19.npub_encode(retraction.author)},
        }
    view = item.view
    assert view is not None
    post = view.verdict.post
    # A forged or revoked post has no parsed post (its shape is not even checked): show its event's id and signer.
    event_id = post.id if post else item.original.id if item.original else None
    author = post.author if post else item.original.pubkey if item.original else None
    data: dict[str, Any] = {
        **base,
        "id": event_id,
        "nevent": nip19.nevent_encode(event_id, author=author, kind=kinds.POST) if event_id else None,
        "author": nip19.npub_encode(author) if author else None,
        # A seized owner key's posts before the seizure: a former role too, but "the former owner" to people.
        "role": "former-owner" if view.verdict.role == FORMER and author == item.channel.owner else view.verdict.role,
        "type": post.post_type if post else None,
        "status": "retracted" if view.retraction else view.verdict.status.value,
        "reason": view.verdict.reason,
        "subject": view.subject,
        "text": view.text,
        "fields": _fields(view.fields),
        "resolution": view.resolution,  # how a resolved help request was resolved; "" when not said
        "corrected": bool(view.corrections),
        "corrections": [{"id": c.id, "created_at": c.created_at, "text": c.text} for c in view.corrections],
        "retraction": (
            {"id": view.retraction.id, "reason": view.retraction.text, "by": nip19.npub_encode(view.retraction.author)}
            if view.retraction
            else None
        ),
        "labels": dict(view.labels),
        # corrections its removed (or seized) author signed: not applied, as they may be dated before the removal
        "unapplied_corrections": sum(1 for _, why in view.ignored if why == REMOVED_CORRECTION),
    }
    if post is not None and post.text != view.text:
        data["original_text"] = post.text
    if item.more:
        data["more"] = item.more  # the same author's posts folded after this one
    data["photos"] = [
        {"sha256": ref.sha256, "size": ref.size or None, "width": ref.width or None, "height": ref.height or None,
         "alt": ref.alt, "thumb_sha256": ref.thumb_sha256 or None}
        for ref in (photo_refs(item.original) if item.original is not None else [])
    ]  # fmt: skip
    return data


def _photo_line(number: int, photo: dict[str, Any], post_id: str) -> str:
    size = size_text(photo["size"]) if photo.get("size") else "size unknown"
    dim = f", {photo['width']}x{photo['height']}" if photo.get("width") and photo.get("height") else ""
    alt = f": {field(photo['alt'])}" if photo.get("alt") else " (no description)"
    return f"    photo {number} ({size}{dim}; samizdat photo get {post_id[:SHORT_ID]}:{number}){alt}"


def size_text(size: int) -> str:
    """``812 B``, ``74 KB``, ``1.4 MB``."""
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{round(size / 1024)} KB"
    return f"{size / (1024 * 1024):.1f} MB"


def _field_text(name: str, value: Any) -> str:
    if name in TIME_FIELDS and isinstance(value, int):
        return when(value)
    if name == "target" and isinstance(value, list):
        return " ".join(value)
    if isinstance(value, list):
        return ", ".join(field(v) for v in value)
    return field(str(value))


def render_feed(items: list[dict[str, Any]], *, nevent: bool = False) -> str:
    """Feed items for a person. Every text from the network is shown through :func:`~samizdat.core.display.field`
    (bidirectional overrides and invisible characters dropped, right-to-left text isolated)."""
    if not items:
        return "No posts yet."
    lines: list[str] = []
    for item in items:
        head = f"[{when(item['created_at'])}] {field(item['channel_name'])}"
        if item.get("type"):
            head += f" · {item['type']}"
        if item.get("role") == FORMER:  # a removed key can always backdate posts to before its removal
            head += " · by a former admin"
        elif item.get("role") == "former-owner":  # the owner key was seized: it too could backdate posts
            head += " · by the former owner (its key was seized)"
        ref = item.get("nevent") if nevent else (item["id"] or "")[:SHORT_ID]
        lines.append(head + f"  ({ref or '?'})")
        if item["retraction"]:
            lines.append(f"  RETRACTED by the channel, because: {field(item['retraction']['reason'])}")
            lines += _more(item)
            continue
        if item["status"] != "valid":
            lines.append(f"  NOT COUNTED ({item['status']}): {field(item['reason'] or '')}")
        if item.get("subject"):
            lines.append(f"  {field(item['subject'])}")
        for line in (item["text"] or "").splitlines() or [""]:
            lines.append(f"  {field(line)}")
        if item.get("resolution"):
            lines.append(f"  resolved: {field(item['resolution'])}")
        for name, value in item.get("fields", {}).items():
            lines.append(f"    {FIELD_NAMES.get(name, name)}: {_field_text(name, value)}")
        for number, photo in enumerate(item.get("photos", ()), 1):
            lines.append(_photo_line(number, photo, item["id"] or ""))
        if item["corrected"]:
            was = f"; originally: {field(item['original_text'])}" if "original_text" in item else ""
            lines.append(f"  corrected ×{len(item['corrections'])}{was}")
        if item.get("unapplied_corrections"):
            lines.append(
                f"  NOT APPLIED: {item['unapplied_corrections']} correction(s) by its removed key (it can date them"
                " before its removal): ask the channel before you go"
            )
        if item["labels"]:
            lines.append("  verifiers: " + ", ".join(f"{k} ×{v}" for k, v in sorted(item["labels"].items())))
        lines += _more(item)
    return "\n".join(lines).rstrip()


def _more(item: dict[str, Any]) -> list[str]:
    """The blank line after a post, and before it the line of the posts by the same author folded after it."""
    if not item.get("more"):
        return [""]
    return ["", f"+ {plural(item['more'], 'more post')} by the same author (--unfold shows them)", ""]
