"""How ``samizdat feed`` shows a post's photos: one line each, with size, dimensions, how to save it and the alt
text (made safe to show), and the same in the JSON."""

from __future__ import annotations

from samizdat.cli.render import post_json, render_feed
from samizdat.core import channel as ch
from samizdat.core import posts as po
from samizdat.core import thread as th
from samizdat.core.imeta import PhotoRef, imeta_tag
from samizdat.core.keys import SecretKey
from samizdat.services.feed import FeedItem

OWNER = SecretKey(bytes([1]) * 32)
T = 1_700_000_000
CHANNEL = ch.parse_channel(ch.build_channel_event(OWNER, "minsk", "Minsk", created_at=T))
FULL, THUMB, OTHER = "a" * 64, "b" * 64, "c" * 64


def _item(*refs: PhotoRef) -> FeedItem:
    post = po.build_post(
        OWNER, CHANNEL, "news", "Vans at the corner", created_at=T + 10, extra_tags=[imeta_tag(r) for r in refs]
    )
    view = th.thread_view(post, [], CHANNEL, T + 100)
    return FeedItem(CHANNEL, post.created_at, view=view, original=post)


def test_each_photo_gets_a_line_with_size_alt_and_how_to_save_it() -> None:
    described = PhotoRef(FULL, f"{FULL}.webp", "image/webp", 1600, 1200, "LKO2?U%2Tw=w", "Vans\u202e at the corner",
                         150_000, THUMB, f"{THUMB}.webp")  # fmt: skip
    bare = PhotoRef(OTHER, f"https://media.example/{OTHER}.webp")
    data = post_json(_item(described, bare))
    assert data["photos"] == [
        {"sha256": FULL, "size": 150_000, "width": 1600, "height": 1200, "alt": "Vans\u202e at the corner",
         "thumb_sha256": THUMB},
        {"sha256": OTHER, "size": None, "width": None, "height": None, "alt": "", "thumb_sha256": None},
    ]  # fmt: skip
    text = render_feed([data])
    short = data["id"][:12]
    assert f"    photo 1 (146 KB, 1600x1200; samizdat photo get {short}:1): Vans" in text
    assert "\u202e" not in text  # a right-to-left override in the alt text cannot turn the line around
    assert f"    photo 2 (size unknown; samizdat photo get {short}:2) (no description)" in text


def test_a_post_without_photos_has_no_photo_lines() -> None:
    data = post_json(_item())
    assert data["photos"] == []
    assert "photo" not in render_feed([data])
