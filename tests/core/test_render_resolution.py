"""How the command line shows a resolved help request: its text kept, the note under it, and in the JSON."""

from __future__ import annotations

from samizdat.cli.render import post_json, render_feed
from samizdat.core import channel as ch
from samizdat.core import posts as po
from samizdat.core import thread as th
from samizdat.core.keys import SecretKey
from samizdat.services.feed import FeedItem

OWNER = SecretKey(bytes([1]) * 32)
T = 1_700_000_000
CHANNEL = ch.parse_channel(ch.build_channel_event(OWNER, "minsk", "Minsk", created_at=T))


def _item(*notes: str) -> FeedItem:
    request = po.build_post(OWNER, CHANNEL, "help", "Need a driver\nto Zhodino", created_at=T + 10, need="transport")
    related = [po.build_resolution(OWNER, CHANNEL, request, n, created_at=T + 20 + i) for i, n in enumerate(notes)]
    view = th.thread_view(request, related, CHANNEL, T + 100)
    return FeedItem(CHANNEL, request.created_at, view=view, original=request)


def test_a_resolution_note_is_shown_under_the_text() -> None:
    data = post_json(_item("A neighbour drove them"))
    assert (data["text"], data["resolution"]) == ("Need a driver\nto Zhodino", "A neighbour drove them")
    assert data["fields"]["status"] == "resolved"
    assert "original_text" not in data  # the text did not change
    lines = render_feed([data]).splitlines()
    assert lines[1:4] == ["  Need a driver", "  to Zhodino", "  resolved: A neighbour drove them"]


def test_no_note_no_line() -> None:
    data = post_json(_item(""))  # resolved, without a note
    assert data["resolution"] == ""
    assert "resolved:" not in render_feed([data])
    assert "    status: resolved" in render_feed([data])
