"""Feed items as JSON and as text for a terminal."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from samizdat import feed
from samizdat.core import nip19
from samizdat.core.channel import Channel
from samizdat.core.posts import PostFields
from samizdat.node import Node


async def collect_feed(
    node: Node, channels: list[Channel], verifiers: Iterable[str], *, limit: int, include_invalid: bool
) -> list[feed.FeedItem]:
    return await feed.collect_feed(
        node.store, channels, verifiers, now=node.now(), limit=limit, include_invalid=include_invalid
    )


def _fields(fields: PostFields) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in sorted(fields.given()):
        value = getattr(fields, name)
        out[name] = list(value) if isinstance(value, tuple) else value
    return out


def post_json(item: feed.FeedItem) -> dict[str, Any]:
    base = {"channel": item.channel.address, "channel_name": item.channel.name, "created_at": item.created_at}
    if item.orphan_retraction is not None:
        retraction = item.orphan_retraction
        return {
            **base,
            "id": retraction.target,
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
        "author": nip19.npub_encode(author) if author else None,
        "role": view.verdict.role,
        "type": post.post_type if post else None,
        "status": "retracted" if view.retraction else view.verdict.status.value,
        "reason": view.verdict.reason,
        "subject": view.subject,
        "text": view.text,
        "fields": _fields(view.fields),
        "corrected": bool(view.corrections),
        "corrections": [{"id": c.id, "created_at": c.created_at, "text": c.text} for c in view.corrections],
        "retraction": (
            {"id": view.retraction.id, "reason": view.retraction.text, "by": nip19.npub_encode(view.retraction.author)}
            if view.retraction
            else None
        ),
        "labels": dict(view.labels),
    }
    if post is not None and post.text != view.text:
        data["original_text"] = post.text
    return data


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M")


def render_feed(items: list[dict[str, Any]]) -> str:
    if not items:
        return "No posts yet."
    lines: list[str] = []
    for item in items:
        head = f"[{_when(item['created_at'])}] {item['channel_name']}"
        if item.get("type"):
            head += f" · {item['type']}"
        lines.append(head + f"  ({(item['id'] or '')[:12]})")
        if item["retraction"]:
            lines.append(f"  RETRACTED by the channel, because: {item['retraction']['reason']}")
            lines.append("")
            continue
        if item["status"] != "valid":
            lines.append(f"  NOT COUNTED ({item['status']}): {item['reason']}")
        if item.get("subject"):
            lines.append(f"  {item['subject']}")
        for line in (item["text"] or "").splitlines() or [""]:
            lines.append(f"  {line}")
        for name, value in item.get("fields", {}).items():
            if name in ("expiration", "start", "end"):
                value = _when(value)
            elif isinstance(value, list):
                value = ", ".join(value)
            lines.append(f"    {name}: {value}")
        if item["corrected"]:
            was = f"; originally: {item['original_text']}" if "original_text" in item else ""
            lines.append(f"  CORRECTED {len(item['corrections'])}x{was}")
        if item["labels"]:
            lines.append("  Verifiers: " + ", ".join(f"{k} ×{v}" for k, v in sorted(item["labels"].items())))
        lines.append("")
    return "\n".join(lines).rstrip()
