"""Channel definitions, who may post, and what readers see: above all, that nobody can post as the channel."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samizdat.core import channel as ch
from samizdat.core import kinds, nip19
from samizdat.core import posts as po
from samizdat.core import thread as th
from samizdat.core.channel import Channel
from samizdat.core.event import Event, parse_event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.thread import Status
from samizdat.errors import RemoteProtocolError, UsageError

OWNER = SecretKey(bytes([1]) * 32)
ADMIN = SecretKey(bytes([2]) * 32)
EDITOR = SecretKey(bytes([3]) * 32)
STRANGER = SecretKey(bytes([4]) * 32)
FORMER = SecretKey(bytes([5]) * 32)  # an admin the owner removed
OTHER_OWNER = SecretKey(bytes([6]) * 32)
OTHER_ADMIN = SecretKey(bytes([7]) * 32)  # admin of the other channel only
VERIFIER = SecretKey(bytes([8]) * 32)
VERIFIER2 = SecretKey(bytes([9]) * 32)

T = 1_700_000_000
SINCE = T + 1000  # FORMER's posts from here on are invalid
NOW = T + 5000
SLUG = "minsk-frunzenski"


def wire(event: Event) -> Event:
    """What a reader gets: the event after a trip through JSON and full verification."""
    return parse_event(orjson.loads(event.to_json()))


def make_channel(created_at: int = T, **overrides: Any) -> Channel:
    args: dict[str, Any] = {
        "about": "Новости Фрунзенского района",
        "languages": ["ru", "be"],
        "place": "BY/Minsk/Frunzenski",
        "geohash": "u9edp2",
        "admins": {ADMIN.public_key_hex: "admin", EDITOR.public_key_hex: "editor"},
        "revoked": {FORMER.public_key_hex: SINCE},
        "mirrors": [
            "wss://relay.example.org",
            "wss://mirror.example.net",
            "ws://10.0.0.1:7777",
            "wss://x.org",
        ],
    }
    args.update(overrides)
    event = ch.build_channel_event(OWNER, SLUG, "Фрунзенский", created_at=created_at, **args)
    return ch.parse_channel(wire(event))


CHANNEL = make_channel()
OTHER = ch.parse_channel(
    ch.build_channel_event(OTHER_OWNER, "gomel", "Гомель", created_at=T, admins={OTHER_ADMIN.public_key_hex: "admin"})
)


def raw_post(
    key: SecretKey,
    post_type: str = "news",
    text: str = "Станция метро закрыта",
    *,
    created_at: int = T + 2000,
    address: str | None = None,
    extra: Sequence[Sequence[str]] = (),
) -> Event:
    """A post signed without the builders' checks: what an attacker or a buggy client can publish."""
    tags = [["a", address or CHANNEL.address, ""], ["type", post_type], *extra]
    return wire(sign_event(key, kinds.POST, text, tags, created_at=created_at))


# -- the definition ------------------------------------------------------------------------------------------


def test_definition_round_trips_with_every_field() -> None:
    assert CHANNEL.owner == OWNER.public_key_hex
    assert CHANNEL.channel_id == SLUG
    assert CHANNEL.name == "Фрунзенский"
    assert CHANNEL.about == "Новости Фрунзенского района"
    assert CHANNEL.languages == ("ru", "be")
    assert CHANNEL.place == "BY/Minsk/Frunzenski"
    assert CHANNEL.geohash == "u9edp2"
    assert CHANNEL.geohashes == ("u9e", "u9ed", "u9edp", "u9edp2")
    assert dict(CHANNEL.admins) == {ADMIN.public_key_hex: "admin", EDITOR.public_key_hex: "editor"}
    assert dict(CHANNEL.revoked) == {FORMER.public_key_hex: SINCE}
    assert CHANNEL.mirrors[0] == "wss://relay.example.org"
    assert CHANNEL.created_at == T
    assert CHANNEL.address == f"30333:{OWNER.public_key_hex}:{SLUG}"


def test_definition_tag_layout() -> None:
    tags = [list(t) for t in CHANNEL.event.tags]
    assert tags[:2] == [["d", SLUG], ["name", "Фрунзенский"]]
    assert ["L", "ISO-639-1"] in tags
    assert ["l", "be", "ISO-639-1"] in tags
    assert ["place", "BY/Minsk/Frunzenski"] in tags
    assert [t[1] for t in tags if t[0] == "g"] == ["u9e", "u9ed", "u9edp", "u9edp2"]
    assert ["p", ADMIN.public_key_hex, "", "admin"] in tags
    assert ["revoked", FORMER.public_key_hex, str(SINCE)] in tags
    assert ["r", "ws://10.0.0.1:7777"] in tags
    assert CHANNEL.event.kind == 30333
    assert CHANNEL.event.content == CHANNEL.about


def test_naddr_carries_the_address_and_a_few_mirrors() -> None:
    pointer = nip19.naddr_decode(CHANNEL.naddr())
    assert pointer.address == CHANNEL.address
    assert pointer.relays == CHANNEL.mirrors[:3]
    assert nip19.naddr_decode(CHANNEL.naddr(relays=[])).relays == ()


def test_parse_channel_address_accepts_what_people_paste() -> None:
    expected = (kinds.CHANNEL, OWNER.public_key_hex, SLUG)
    for text in (CHANNEL.naddr(), f"nostr:{CHANNEL.naddr()}", f" {CHANNEL.address} "):
        pointer = ch.parse_channel_address(text)
        assert (pointer.kind, pointer.pubkey, pointer.identifier) == expected
    with pytest.raises(UsageError, match="not a Samizdat channel"):
        ch.parse_channel_address(nip19.naddr_encode(30023, OWNER.public_key_hex, SLUG))
    with pytest.raises(UsageError, match="not a valid channel id"):
        ch.parse_channel_address(f"30333:{OWNER.public_key_hex}:Bad Slug")
    with pytest.raises(UsageError, match="checksum"):
        ch.parse_channel_address(CHANNEL.naddr()[:-1] + "q")


def _definition(tags: Sequence[Sequence[str]], content: str = "", kind: int = kinds.CHANNEL) -> Event:
    return sign_event(OWNER, kind, content, tags, created_at=T)


def _admin_tags(count: int) -> list[list[str]]:
    return [["p", SecretKey((i + 100).to_bytes(32, "big")).public_key_hex, "", "editor"] for i in range(count)]


OK = [["d", SLUG], ["name", "N"]]


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        ([["name", "N"]], "channel id"),
        ([["d", "Minsk"], ["name", "N"]], "channel id"),
        ([["d", "a b"], ["name", "N"]], "channel id"),
        ([["d", "x" * 65], ["name", "N"]], "channel id"),
        ([["d", "-x"], ["name", "N"]], "channel id"),
        ([["d", SLUG], ["d", "other"], ["name", "N"]], "more than one 'd'"),
        ([["d", SLUG]], "no name"),
        ([["d", SLUG], ["name", "two\nlines"]], "line breaks"),
        ([["d", SLUG], ["name", "x" * 101]], "longer than 100"),
        ([*OK, ["l", "rus", "ISO-639-1"]], "ISO 639-1"),
        ([*OK, ["place", "BY//Minsk"]], "non-empty parts"),
        ([*OK, ["g", "u9e"], ["g", "u4p"]], "different places"),
        ([*OK, ["g", "u9a"]], "not a geohash"),
        ([*OK, ["p", ADMIN.public_key_hex, "", "admin"], ["p", ADMIN.public_key_hex, "", "editor"]], "twice"),
        ([*OK, ["p", OWNER.public_key_hex, "", "admin"]], "owner as an admin"),
        ([*OK, ["p", "AB" * 32, "", "admin"]], "64 lowercase hex"),
        ([*OK, ["p", "00" * 32, "", "admin"]], "not a valid public key"),
        ([*OK, *_admin_tags(101)], "at most 100 admins"),
        ([*OK, ["revoked", ADMIN.public_key_hex]], "since unix time"),
        ([*OK, ["revoked", ADMIN.public_key_hex, "yesterday"]], "since unix time"),
        (
            [*OK, ["p", ADMIN.public_key_hex, "", "admin"], ["revoked", ADMIN.public_key_hex, "5"]],
            "also an admin",
        ),
        ([*OK, ["revoked", OWNER.public_key_hex, "5"]], "or the owner"),
        ([*OK, ["r", "https://relay.example.org"]], "ws:// or wss://"),
        ([*OK, ["r", "wss://user@relay.example.org"]], "ws:// or wss://"),
        ([*OK, ["r", "wss://relay.example.org:99999"]], "not a valid URL"),
        ([*OK, ["r", "wss://"]], "ws:// or wss://"),
        ([*OK, *[["r", f"wss://r{i}.example.org"] for i in range(21)]], "at most 20 mirror"),
    ],
)
def test_malformed_definitions_are_refused_with_a_reason(tags: list[list[str]], why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        ch.parse_channel(_definition(tags))


def test_definition_of_wrong_kind_or_with_control_characters_is_refused() -> None:
    with pytest.raises(RemoteProtocolError, match="kind 30333"):
        ch.parse_channel(_definition(OK, kind=30334))
    with pytest.raises(RemoteProtocolError, match="control characters"):
        ch.parse_channel(_definition(OK, content="\x1b[2Jgotcha"))


def test_p_tags_with_unknown_or_no_role_grant_nothing() -> None:
    tags = [*OK, ["p", ADMIN.public_key_hex], ["p", EDITOR.public_key_hex, "", "moderator"]]
    channel = ch.parse_channel(_definition(tags))
    assert dict(channel.admins) == {}
    assert th.post_verdict(raw_post(EDITOR, address=channel.address), channel, NOW).status is Status.FORGED


def test_duplicate_mirrors_are_collapsed() -> None:
    channel = ch.parse_channel(_definition([*OK, ["r", "wss://a.org"], ["r", "wss://a.org"]]))
    assert channel.mirrors == ("wss://a.org",)


@pytest.mark.parametrize(
    ("overrides", "why"),
    [
        ({"admins": {ADMIN.public_key_hex: "boss"}}, "admin or editor"),
        ({"mirrors": ["http://relay.example.org"]}, "ws:// or wss://"),
        ({"geohash": "u9edpa"}, "not a geohash"),
        ({"admins": {OWNER.public_key_hex: "admin"}}, "owner as an admin"),
        ({"languages": ["Russian"]}, "ISO 639-1"),
    ],
)
def test_builder_refuses_a_persons_mistakes(overrides: dict[str, Any], why: str) -> None:
    with pytest.raises(UsageError, match=why):
        make_channel(**overrides)


def test_builder_refuses_a_bad_slug() -> None:
    with pytest.raises(UsageError, match=r"^The channel id"):
        ch.build_channel_event(OWNER, "Minsk Frunzenski", "N", created_at=T)


# -- versions ------------------------------------------------------------------------------------------------


def test_newest_definition_wins_and_ties_go_to_the_lowest_id() -> None:
    old, new = make_channel(T).event, make_channel(T + 1, admins={}).event
    assert ch.channel_supersedes(new, old)
    assert not ch.channel_supersedes(old, new)
    a, b = make_channel(T + 2, about="a").event, make_channel(T + 2, about="b").event
    low, high = sorted([a, b], key=lambda e: e.id)
    assert ch.channel_supersedes(low, high)
    assert not ch.channel_supersedes(high, low)
    current = ch.current_channel([old, high, new, low, OTHER.event], CHANNEL.address)
    assert current is not None
    assert current.event == low


def test_current_channel_ignores_other_addresses_and_none_when_absent() -> None:
    assert ch.current_channel([OTHER.event], CHANNEL.address) is None
    assert ch.current_channel([], CHANNEL.address) is None
    newest = ch.newest_definitions([CHANNEL.event, OTHER.event, raw_post(OWNER)])
    assert set(newest) == {CHANNEL.address, OTHER.address}


def test_a_malformed_newest_version_does_not_fall_back_to_an_older_one() -> None:
    # Falling back would give power back to admins the owner removed in the newest version.
    broken = sign_event(OWNER, kinds.CHANNEL, "", [["d", SLUG], ["name", "x\n"]], created_at=T + 10)
    with pytest.raises(RemoteProtocolError, match="line breaks"):
        ch.current_channel([CHANNEL.event, broken], CHANNEL.address)


def test_only_the_owner_rebuilds_and_the_new_version_always_supersedes() -> None:
    with pytest.raises(UsageError, match="Only the channel's owner"):
        ch.rebuild_channel(ADMIN, CHANNEL, created_at=T + 10, name="Hijacked")
    event = ch.rebuild_channel(OWNER, CHANNEL, created_at=T - 100, name="Фрунзенский район")  # clock behind
    assert event.created_at == T + 1
    assert ch.channel_supersedes(event, CHANNEL.event)
    rebuilt = ch.parse_channel(wire(event))
    assert rebuilt.name == "Фрунзенский район"
    assert (rebuilt.admins, rebuilt.revoked, rebuilt.mirrors) == (
        CHANNEL.admins,
        CHANNEL.revoked,
        CHANNEL.mirrors,
    )


def test_add_and_remove_admins() -> None:
    new_key = SecretKey(bytes([42]) * 32).public_key_hex
    added = ch.parse_channel(ch.add_admin(OWNER, CHANNEL, new_key, "editor", created_at=T + 10))
    assert added.admins[new_key] == "editor"
    removed = ch.parse_channel(ch.remove_admin(OWNER, added, new_key, created_at=T + 20))
    assert new_key not in removed.admins
    assert removed.revoked[new_key] == T + 20
    earlier = ch.parse_channel(ch.remove_admin(OWNER, removed, new_key, created_at=T + 30, since=T + 5))
    assert earlier.revoked[new_key] == T + 5
    back = ch.parse_channel(ch.add_admin(OWNER, earlier, new_key, created_at=T + 40))
    assert back.admins[new_key] == "admin"
    assert new_key not in back.revoked
    with pytest.raises(UsageError, match="not an admin"):
        ch.remove_admin(OWNER, CHANNEL, STRANGER.public_key_hex, created_at=T + 10)
    with pytest.raises(UsageError, match="future"):
        ch.remove_admin(OWNER, CHANNEL, ADMIN.public_key_hex, created_at=T + 10, since=T + 11)
    with pytest.raises(UsageError, match="owner is always"):
        ch.add_admin(OWNER, CHANNEL, OWNER.public_key_hex, created_at=T + 10)
    with pytest.raises(UsageError, match="Only the channel's owner"):
        ch.add_admin(ADMIN, CHANNEL, STRANGER.public_key_hex, created_at=T + 10)


def test_roles_and_who_may_amend_what() -> None:
    owner, admin, editor = OWNER.public_key_hex, ADMIN.public_key_hex, EDITOR.public_key_hex
    former, stranger = FORMER.public_key_hex, STRANGER.public_key_hex
    assert [CHANNEL.role_of(k, T) for k in (owner, admin, editor, former, stranger)] == [
        "owner", "admin", "editor", "former", None,
    ]  # fmt: skip
    assert CHANNEL.role_of(former, SINCE) is None
    assert CHANNEL.role_of(former, SINCE - 1) == "former"
    assert CHANNEL.may_amend(owner, T, admin)
    assert not CHANNEL.may_amend(admin, T, owner)  # a turned admin cannot rewrite the owner's alerts
    assert CHANNEL.may_amend(admin, T, editor)
    assert CHANNEL.may_amend(admin, T, former)
    assert CHANNEL.may_amend(editor, T, editor)
    assert not CHANNEL.may_amend(editor, T, owner)
    assert CHANNEL.may_amend(former, T, former)
    assert not CHANNEL.may_amend(former, T, editor)
    assert not CHANNEL.may_amend(former, SINCE, former)
    assert not CHANNEL.may_amend(stranger, T, stranger)


# -- the verdict: impersonation ------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "role"), [(OWNER, "owner"), (ADMIN, "admin"), (EDITOR, "editor")])
def test_posts_by_the_owner_and_listed_admins_are_valid(key: SecretKey, role: str) -> None:
    verdict = th.post_verdict(raw_post(key), CHANNEL, NOW)
    assert verdict.ok
    assert verdict.status is Status.VALID
    assert verdict.role == role
    assert verdict.reason == ""
    assert verdict.post is not None
    assert verdict.post.text == "Станция метро закрыта"


def test_a_stranger_naming_the_channel_is_forged() -> None:
    verdict = th.post_verdict(raw_post(STRANGER), CHANNEL, NOW)
    assert not verdict.ok
    assert verdict.status is Status.FORGED
    assert verdict.role is None
    assert "not the channel's owner or admin" in verdict.reason


def test_an_admin_of_another_channel_is_a_stranger_here() -> None:
    assert th.post_verdict(raw_post(OTHER_ADMIN), CHANNEL, NOW).status is Status.FORGED
    assert th.post_verdict(raw_post(OTHER_ADMIN, address=OTHER.address), OTHER, NOW).ok


def test_our_admins_post_in_another_channel_does_not_count_here() -> None:
    post = raw_post(ADMIN, address=OTHER.address)
    assert th.post_verdict(post, CHANNEL, NOW).status is Status.OTHER_CHANNEL
    assert th.post_verdict(post, OTHER, NOW).status is Status.FORGED


def test_a_lookalike_channel_with_the_same_id_under_another_owner_does_not_match() -> None:
    # The attacker makes their own channel "minsk-frunzenski", with our admin's name and the same place.
    fake = ch.parse_channel(
        ch.build_channel_event(STRANGER, SLUG, "Фрунзенский", created_at=T + 1, place="BY/Minsk/Frunzenski")
    )
    post = raw_post(STRANGER, address=fake.address)
    assert th.post_verdict(post, fake, NOW).ok  # valid in the fake channel...
    assert th.post_verdict(post, CHANNEL, NOW).status is Status.OTHER_CHANNEL  # ...never in ours
    assert fake.address != CHANNEL.address


def test_a_forged_address_with_the_owner_swapped_is_another_channel() -> None:
    forged = f"30333:{STRANGER.public_key_hex}:{SLUG}"
    assert th.post_verdict(raw_post(ADMIN, address=forged), CHANNEL, NOW).status is Status.OTHER_CHANNEL


def test_a_post_altered_in_transit_does_not_even_parse() -> None:
    raw = orjson.loads(raw_post(ADMIN).to_json())
    raw["content"] = "Всё спокойно, расходитесь"
    with pytest.raises(RemoteProtocolError, match="id does not match"):
        parse_event(raw)
    raw["id"] = sign_event(ADMIN, kinds.POST, raw["content"], raw["tags"], created_at=raw["created_at"]).id
    with pytest.raises(RemoteProtocolError, match="signature is wrong"):
        parse_event(raw)


def test_a_removed_admin_counts_before_since_and_not_from_since_on() -> None:
    before = th.post_verdict(raw_post(FORMER, created_at=SINCE - 1), CHANNEL, NOW)
    assert before.ok
    assert before.role == "former"
    at = th.post_verdict(raw_post(FORMER, created_at=SINCE), CHANNEL, NOW)
    assert at.status is Status.REVOKED
    assert "removed admin" in at.reason
    after = th.post_verdict(raw_post(FORMER, created_at=SINCE + 500), CHANNEL, NOW)
    assert after.status is Status.REVOKED


def test_moving_since_earlier_invalidates_posts_of_a_key_compromised_earlier() -> None:
    post = raw_post(ADMIN, created_at=T + 300)
    assert th.post_verdict(post, CHANNEL, NOW).ok
    revoked = ch.parse_channel(ch.remove_admin(OWNER, CHANNEL, ADMIN.public_key_hex, created_at=T + 500, since=T + 200))
    assert th.post_verdict(post, revoked, NOW).status is Status.REVOKED
    assert th.post_verdict(raw_post(ADMIN, created_at=T + 100), revoked, NOW).ok  # earlier posts stand


def test_readers_must_use_the_newest_definition() -> None:
    removed = ch.parse_channel(ch.remove_admin(OWNER, CHANNEL, EDITOR.public_key_hex, created_at=T + 3000))
    post = raw_post(EDITOR, created_at=T + 4000)
    assert th.post_verdict(post, CHANNEL, NOW).ok  # an outdated definition still trusts the editor
    current = ch.current_channel([CHANNEL.event, removed.event], CHANNEL.address)
    assert current is not None
    assert th.post_verdict(post, current, NOW).status is Status.REVOKED


def test_authority_is_checked_before_shape_and_expiry() -> None:
    expired_forgery = raw_post(STRANGER, "alert", extra=[["location", "x"], ["expiration", str(T + 2001)]])
    assert th.post_verdict(expired_forgery, CHANNEL, NOW).status is Status.FORGED
    malformed_forgery = raw_post(STRANGER, "no-such-type")
    assert th.post_verdict(malformed_forgery, CHANNEL, NOW).status is Status.FORGED


def test_an_expired_alert_is_expired_not_forged() -> None:
    alert = po.build_post(ADMIN, CHANNEL, "alert", "ОМОН у метро", created_at=T + 2000, location="м. Пушкинская")
    assert th.post_verdict(alert, CHANNEL, T + 2000 + po.ALERT_TTL - 1).ok
    verdict = th.post_verdict(alert, CHANNEL, T + 2000 + po.ALERT_TTL)
    assert verdict.status is Status.EXPIRED
    assert not verdict.ok
    assert verdict.role == "admin"


def test_posts_from_the_future_are_held_back() -> None:
    assert th.post_verdict(raw_post(ADMIN, created_at=NOW + th.MAX_FUTURE), CHANNEL, NOW).ok
    late = th.post_verdict(raw_post(ADMIN, created_at=NOW + th.MAX_FUTURE + 1), CHANNEL, NOW)
    assert late.status is Status.FUTURE
    assert th.post_verdict(raw_post(ADMIN, created_at=NOW + 60), CHANNEL, NOW, max_future=0).status is Status.FUTURE


@pytest.mark.parametrize(
    ("post_type", "extra", "why"),
    [
        ("no-such-type", [], "unknown post type"),
        ("alert", [["location", "x"]], "an alert needs an expiration time"),
        ("alert", [["expiration", str(T + 3000)]], "an alert needs a location"),
        ("alert", [["location", "x"], ["expiration", str(T + 2000 + 8 * 86400)]], "within 7 days"),
        ("help", [["need", "insulin"], ["status", "maybe"]], "open or resolved"),
        (
            "event",
            [["location", "x"], ["start", str(T + 9000)], ["end", str(T + 8000)]],
            "end after it starts",
        ),
        ("event", [["location", "x"], ["start", "tomorrow"]], "not a unix time"),
        ("news", [["a", OTHER.address, ""]], "exactly one channel"),
        ("news", [["subject", "a\nb"]], "line breaks"),
        ("contact", [["role", "lawyer"], ["reach", "x"], ["reach", "y"]], "more than one 'reach'"),
    ],
)
def test_malformed_posts_by_admins_are_malformed(post_type: str, extra: list[list[str]], why: str) -> None:
    verdict = th.post_verdict(raw_post(ADMIN, post_type, extra=extra), CHANNEL, NOW)
    assert verdict.status is Status.MALFORMED
    assert why in verdict.reason
    assert verdict.role == "admin"


def test_a_post_without_a_type_is_malformed_and_other_kinds_are_not_posts() -> None:
    untyped = wire(sign_event(ADMIN, kinds.POST, "x", [["a", CHANNEL.address]], created_at=T))
    assert th.post_verdict(untyped, CHANNEL, NOW).status is Status.MALFORMED
    note = wire(sign_event(ADMIN, kinds.TEXT_NOTE, "x", [["a", CHANNEL.address]], created_at=T))
    assert th.post_verdict(note, CHANNEL, NOW).status is Status.NOT_A_POST


# -- what readers see ----------------------------------------------------------------------------------------


def _news(key: SecretKey = EDITOR, created_at: int = T + 2000) -> Event:
    return po.build_post(key, CHANNEL, "news", "В 18:00 сбор у ДК", created_at=created_at, subject="Сбор")


def test_a_plain_post_shows_as_is() -> None:
    view = th.thread_view(_news(), [], CHANNEL, NOW)
    assert view.verdict.ok
    assert view.text == "В 18:00 сбор у ДК"
    assert view.subject == "Сбор"
    assert view.corrections == ()
    assert view.retraction is None
    assert view.deletion is None
    assert dict(view.labels) == {}


def test_corrections_by_the_author_and_by_admins_apply_in_order() -> None:
    original = _news()
    by_author = po.build_correction(EDITOR, CHANNEL, original, "В 19:00 сбор у ДК", created_at=T + 2100)
    by_admin = po.build_correction(ADMIN, CHANNEL, original, "", created_at=T + 2200, subject="Сбор перенесён")
    view = th.thread_view(original, [by_admin, by_author], CHANNEL, NOW)
    assert [c.id for c in view.corrections] == [by_author.id, by_admin.id]
    assert view.text == "В 19:00 сбор у ДК"
    assert view.subject == "Сбор перенесён"


def test_corrections_by_strangers_editors_and_other_channels_are_ignored() -> None:
    original = po.build_post(OWNER, CHANNEL, "news", "Original", created_at=T + 2000)
    e_tag = ["e", original.id, "", "correction", original.pubkey]
    stranger = raw_post(STRANGER, "correction", "Всё отменено", created_at=T + 2100, extra=[e_tag])
    editor = raw_post(EDITOR, "correction", "Всё отменено", created_at=T + 2100, extra=[e_tag])
    foreign = raw_post(OTHER_ADMIN, "correction", "Всё отменено", address=OTHER.address, extra=[e_tag])
    former_late = raw_post(FORMER, "correction", "Всё отменено", created_at=SINCE + 1, extra=[e_tag])
    view = th.thread_view(original, [stranger, editor, foreign, former_late], CHANNEL, NOW)
    assert view.text == "Original"
    assert view.corrections == ()
    reasons = dict(view.ignored)
    assert "forged" not in reasons[stranger.id]
    assert "not the channel's owner or admin" in reasons[stranger.id]
    assert "may not amend this post" in reasons[editor.id]
    assert "another channel" in reasons[foreign.id]
    assert "removed admin" in reasons[former_late.id]


def test_a_correction_that_would_break_the_post_is_ignored() -> None:
    event = po.build_post(
        ADMIN, CHANNEL, "event", "Марш", created_at=T + 2000, location="Площадь", start=T + 9000, end=T + 9900
    )
    bad = raw_post(ADMIN, "correction", "", extra=[["e", event.id, "", "correction"], ["start", str(T + 9999)]])
    view = th.thread_view(event, [bad], CHANNEL, NOW)
    assert view.fields.start == T + 9000
    assert "end after it starts" in dict(view.ignored)[bad.id]


def test_resolving_a_help_request() -> None:
    request = po.build_post(EDITOR, CHANNEL, "help", "Нужен адвокат", created_at=T + 2000, need="Адвокат на Окрестина")
    opened = th.thread_view(request, [], CHANNEL, NOW)
    assert (opened.fields.status, opened.resolution) == ("open", "")
    resolved = po.build_resolution(ADMIN, CHANNEL, request, "Адвокат найден", created_at=T + 2500)
    view = th.thread_view(request, [resolved], CHANNEL, NOW)
    assert view.fields.status == "resolved"
    assert view.fields.need == "Адвокат на Окрестина"
    assert view.text == "Нужен адвокат"  # the request's text stays; the note is shown under it
    assert view.resolution == "Адвокат найден"
    assert view.corrections == (po.parse_post(resolved),)


def test_a_later_correction_keeps_or_clears_the_resolution_note() -> None:
    request = po.build_post(EDITOR, CHANNEL, "help", "Нужна машина", created_at=T + 2000, need="Машина")
    resolved = po.build_resolution(EDITOR, CHANNEL, request, "Сосед отвёз", created_at=T + 2100)
    reworded = po.build_correction(EDITOR, CHANNEL, request, "", created_at=T + 2200, need="Машина до Жодино")
    view = th.thread_view(request, [resolved, reworded], CHANNEL, NOW)
    assert (view.fields.status, view.resolution, view.text) == ("resolved", "Сосед отвёз", "Нужна машина")
    reopened = po.build_correction(EDITOR, CHANNEL, request, "", created_at=T + 2300, status="open")
    view = th.thread_view(request, [resolved, reworded, reopened], CHANNEL, NOW)
    assert (view.fields.status, view.resolution) == ("open", "")
    # Resolved again without a note (by an old node, or with nothing to say): the old note does not come back.
    again = po.build_resolution(EDITOR, CHANNEL, request, created_at=T + 2400)
    view = th.thread_view(request, [resolved, reworded, reopened, again], CHANNEL, NOW)
    assert (view.fields.status, view.resolution) == ("resolved", "")


def test_a_resolution_note_that_does_not_count_is_not_shown() -> None:
    request = po.build_post(EDITOR, CHANNEL, "help", "Нужна машина", created_at=T + 2000, need="Машина")
    e_tag = ["e", request.id, "", "correction", EDITOR.public_key_hex]
    stranger = raw_post(STRANGER, "correction", "", extra=[e_tag, ["status", "resolved"], ["resolution", "Ложь"]])
    view = th.thread_view(request, [stranger], CHANNEL, NOW)
    assert (view.fields.status, view.resolution) == ("open", "")
    # A note on a post that has no status (a news post) changes nothing, as for old readers.
    news = po.build_post(EDITOR, CHANNEL, "news", "Метро закрыто", created_at=T + 2000)
    tags = [["e", news.id, "", "correction"], ["status", "resolved"], ["resolution", "Открыли"]]
    noted = raw_post(EDITOR, "correction", "", created_at=T + 2100, extra=tags)
    view = th.thread_view(news, [noted], CHANNEL, NOW)
    assert (view.text, view.resolution, len(view.corrections)) == ("Метро закрыто", "", 1)


def test_an_old_style_resolution_still_replaces_the_text() -> None:
    """Resolutions published before the resolution tag carried the note as content: a text correction."""
    request = po.build_post(EDITOR, CHANNEL, "help", "Нужна машина", created_at=T + 2000, need="Машина")
    e_tag = ["e", request.id, "", "correction", EDITOR.public_key_hex]
    old = raw_post(EDITOR, "correction", "Сосед отвёз", created_at=T + 2100, extra=[e_tag, ["status", "resolved"]])
    view = th.thread_view(request, [old], CHANNEL, NOW)
    assert (view.fields.status, view.text, view.resolution) == ("resolved", "Сосед отвёз", "")


def test_retraction_by_an_admin_of_an_editors_post() -> None:
    original = po.build_post(EDITOR, CHANNEL, "news", "Погиб человек", created_at=T + 2000)
    retraction, deletion = po.build_retraction(ADMIN, CHANNEL, original, "Не подтвердилось", created_at=T + 2100)
    assert deletion is None  # NIP-09 would not honour the admin's deletion of the editor's event
    view = th.thread_view(original, [retraction], CHANNEL, NOW)
    assert view.retraction is not None
    assert view.retraction.text == "Не подтвердилось"
    assert view.retraction.author == ADMIN.public_key_hex
    assert view.deletion is None


def test_an_admin_cannot_retract_the_owners_post() -> None:
    original = po.build_post(OWNER, CHANNEL, "news", "Погиб человек", created_at=T + 2000)
    with pytest.raises(UsageError, match="Only the channel's owner may retract the owner's"):
        po.build_retraction(ADMIN, CHANNEL, original, "Не подтвердилось", created_at=T + 2100)
    e_tag = ["e", original.id, "", "retraction", original.pubkey]
    retraction = raw_post(ADMIN, "retraction", "Не подтвердилось", created_at=T + 2100, extra=[e_tag])
    view = th.thread_view(original, [retraction], CHANNEL, NOW)
    assert view.retraction is None
    assert "may not amend this post" in dict(view.ignored)[retraction.id]


def test_retraction_by_the_author_also_deletes() -> None:
    original = _news()
    retraction, deletion = po.build_retraction(EDITOR, CHANNEL, original, "Ошибка", created_at=T + 2100)
    assert deletion is not None
    view = th.thread_view(original, [retraction, deletion], CHANNEL, NOW)
    assert view.retraction is not None
    assert view.deletion == deletion


def test_retractions_by_strangers_and_by_editors_of_others_posts_are_ignored() -> None:
    original = po.build_post(ADMIN, CHANNEL, "news", "Правда", created_at=T + 2000)
    e_tag = ["e", original.id, "", "retraction"]
    stranger = raw_post(STRANGER, "retraction", "Фейк", extra=[e_tag])
    editor = raw_post(EDITOR, "retraction", "Фейк", extra=[e_tag])
    former_backdated = raw_post(FORMER, "retraction", "Фейк", created_at=SINCE - 10, extra=[e_tag])
    view = th.thread_view(original, [stranger, editor, former_backdated], CHANNEL, NOW)
    assert view.retraction is None
    assert len(view.ignored) == 3


def test_deletion_requests_count_only_from_the_author() -> None:
    original = _news()
    by_admin = wire(sign_event(ADMIN, kinds.DELETION, "", [["e", original.id]], created_at=T + 2100))
    assert th.thread_view(original, [by_admin], CHANNEL, NOW).deletion is None
    by_author = wire(sign_event(EDITOR, kinds.DELETION, "", [["e", original.id]], created_at=T + 2100))
    assert th.thread_view(original, [by_admin, by_author], CHANNEL, NOW).deletion == by_author


def test_an_amendment_its_author_deleted_stops_counting() -> None:
    original = _news()
    retraction, _ = po.build_retraction(ADMIN, CHANNEL, original, "Ошибка", created_at=T + 2100)
    undo = wire(sign_event(ADMIN, kinds.DELETION, "", [["e", retraction.id]], created_at=T + 2200))
    view = th.thread_view(original, [retraction, undo], CHANNEL, NOW)
    assert view.retraction is None
    assert dict(view.ignored)[retraction.id] == "deleted by its author"


def test_labels_from_followed_verifiers_are_counted_one_vote_each() -> None:
    original = _news()
    first = po.build_label(VERIFIER, original, "disputed", "Нет подтверждения", created_at=T + 2100)
    changed = po.build_label(VERIFIER, original, "confirmed", "Подтверждено фото", created_at=T + 2200)
    second = po.build_label(VERIFIER2, original, "confirmed", created_at=T + 2150)
    unfollowed = po.build_label(STRANGER, original, "false", "Фейк", created_at=T + 2150)
    elsewhere = po.build_label(VERIFIER, _news(created_at=T + 1), "false", created_at=T + 2150)
    view = th.thread_view(
        original,
        [changed, first, second, unfollowed, elsewhere],
        CHANNEL,
        NOW,
        verifiers=[VERIFIER.public_key_hex, VERIFIER2.public_key_hex],
    )
    assert dict(view.labels) == {"confirmed": 2}
    assert {label.event.id for label in view.label_events} == {changed.id, second.id}
    assert "do not follow" in dict(view.ignored)[unfollowed.id]
    assert "another post" in dict(view.ignored)[elsewhere.id]


def test_a_label_its_verifier_deleted_stops_counting() -> None:
    original = _news()
    label = po.build_label(VERIFIER, original, "false", "Фейк", created_at=T + 2100)
    undo = wire(sign_event(VERIFIER, kinds.DELETION, "", [["e", label.id]], created_at=T + 2200))
    view = th.thread_view(original, [label, undo], CHANNEL, NOW, verifiers=[VERIFIER.public_key_hex])
    assert dict(view.labels) == {}


def test_thread_view_of_a_forged_post_says_so() -> None:
    forged = raw_post(STRANGER)
    view = th.thread_view(forged, [], CHANNEL, NOW)
    assert view.verdict.status is Status.FORGED
    assert not view.verdict.ok


# -- hostile input never crashes the reader ---------------------------------------------------------------

TAG_NAMES = "a type e g location expiration start end status role target give subject t need reach l L p k".split()
TAG_VALUES = [
    CHANNEL.address,
    "30333:x:y",
    "news",
    "alert",
    "correction",
    "retraction",
    "u9e",
    "",
    "x",
    "\x00",
]
TAG_VALUES += ["٣", "1700000000", "ab" * 32, "confirmed", "samizdat.verify", "admin"]
hostile_tags = st.lists(
    st.tuples(st.sampled_from(TAG_NAMES), st.lists(st.sampled_from(TAG_VALUES), max_size=4)).map(
        lambda pair: [pair[0], *pair[1]]
    ),
    max_size=12,
)


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([OWNER, ADMIN, EDITOR, STRANGER, FORMER, VERIFIER]),
    st.sampled_from([kinds.POST, kinds.LABEL, kinds.DELETION, kinds.CHANNEL, kinds.TEXT_NOTE]),
    hostile_tags,
    st.text(max_size=30),
    st.integers(0, 2 * NOW),
)
def test_hostile_events_get_a_verdict_and_never_raise(
    key: SecretKey, kind: int, tags: list[list[str]], content: str, created_at: int
) -> None:
    event = sign_event(key, kind, content, tags, created_at=created_at)
    verdict = th.post_verdict(event, CHANNEL, NOW)
    assert isinstance(verdict.status, Status)
    assert verdict.ok == (verdict.status is Status.VALID)
    original = _news()
    view = th.thread_view(original, [event], CHANNEL, NOW, verifiers=[VERIFIER.public_key_hex])
    assert view.verdict.ok
    with contextlib.suppress(RemoteProtocolError):
        ch.parse_channel(event)
