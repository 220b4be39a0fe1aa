"""Area tags: every event our builders sign for a channel with a geohash carries the channel's 3- and
4-character cells as marked ``g`` tags, and no reader mistakes them for the post's own place."""

from __future__ import annotations

import pytest

from samizdat.core import channel as ch
from samizdat.core import geohash as gh
from samizdat.core import posts as po
from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey

OWNER = SecretKey(bytes([1]) * 32)
VERIFIER = SecretKey(bytes([8]) * 32)
T = 1_700_000_000

MINSK = ch.parse_channel(
    ch.build_channel_event(OWNER, "minsk", "Minsk", created_at=T, geohash="u9edp", mirrors=["wss://r.example"])
)
NOWHERE = ch.parse_channel(ch.build_channel_event(OWNER, "nowhere", "Nowhere", created_at=T))
COUNTRY = ch.parse_channel(ch.build_channel_event(OWNER, "by", "Belarus", created_at=T, geohash="u9"))


def area_of(event: Event) -> list[list[str]]:
    return [list(t) for t in event.tags if gh.is_area_tag(t)]


def test_cells_and_tags() -> None:
    assert gh.area_cell("u9edp2k") == "u9ed"
    assert gh.area_cell("u9e") == "u9e"
    assert gh.area_cell("u9") is None
    assert gh.area_cell("") is None
    assert gh.area_cell("u9ea") is None  # not a geohash ("a" is not in the alphabet)
    assert gh.area_tags("u9edp2k") == [["g", "u9e", "area"], ["g", "u9ed", "area"]]
    assert gh.area_tags("u9e") == [["g", "u9e", "area"]]
    assert gh.area_tags("u9") == []


def test_every_kind_of_post_carries_the_channels_area() -> None:
    news = po.build_post(OWNER, MINSK, "news", "Metro closed", created_at=T + 1)
    correction = po.build_correction(OWNER, MINSK, news, "Metro open again", created_at=T + 2)
    retraction, deletion = po.build_retraction(OWNER, MINSK, news, "wrong", created_at=T + 3)
    vouch = po.build_vouch(VERIFIER, MINSK, created_at=T + 4)
    help_request = po.build_post(OWNER, MINSK, "help", "", need="water", created_at=T + 5)
    resolved = po.build_resolution(OWNER, MINSK, help_request, "brought", created_at=T + 6)
    assert deletion is not None
    for event in (news, correction, retraction, deletion, vouch, help_request, resolved):
        assert area_of(event) == [["g", "u9e", "area"], ["g", "u9ed", "area"]], event.kind
        # a relay matches the area filter on the value alone, whatever the marker
        assert Filter(tags=(("g", frozenset({"u9ed"})),)).matches(event)
        assert not Filter(tags=(("g", frozenset({"u9ef"})),)).matches(event)


def test_channels_without_an_area_give_none() -> None:
    for channel in (NOWHERE, COUNTRY):
        news = po.build_post(OWNER, channel, "news", "hello", created_at=T + 1)
        assert area_of(news) == []
        assert po.parse_post(news).fields.geohash == ""


def test_a_post_without_a_place_does_not_get_its_channels_area_as_its_place() -> None:
    post = po.parse_post(po.build_post(OWNER, MINSK, "news", "Metro closed", created_at=T + 1))
    assert post.fields.geohash == ""


@pytest.mark.parametrize("place", ["u9edp2k", "u9e", "u9fz1", "v1"])
def test_a_posts_own_place_is_read_as_given_wherever_it_is(place: str) -> None:
    """Inside the channel's cell, coarser than it, or elsewhere (an alert about a road out of town): the precise
    place is what the author gave, and posts with both kinds of g tags are not 'pointing at different places'."""
    alert = po.build_post(OWNER, MINSK, "alert", "Checkpoint", location="Road", geohash=place, created_at=T + 1)
    parsed = po.parse_post(alert)
    assert parsed.fields.geohash == place
    assert area_of(alert) == [["g", "u9e", "area"], ["g", "u9ed", "area"]]
    correction = po.build_correction(OWNER, MINSK, alert, "", geohash="u9edp2", created_at=T + 2)
    assert po.parse_post(correction).fields.geohash == "u9edp2"


def test_a_channel_definition_is_read_without_area_tags() -> None:
    assert MINSK.geohash == "u9edp"
    assert MINSK.event.tag_values("g") == ["u9e", "u9ed", "u9edp"]  # the definition's own place, every prefix
