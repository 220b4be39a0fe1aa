"""Telling the real channel from look-alikes: verifiers' vouches for a channel's address (and their withdrawal),
and channels another key named like a trusted one."""

from __future__ import annotations

import pytest

from samizdat.core import kinds
from samizdat.core.channel import Channel, build_channel_event, parse_channel
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import (
    LABEL_NAMESPACE,
    VOUCH_VALUE,
    build_label,
    build_post,
    build_vouch,
    build_vouch_withdrawal,
    parse_label,
    parse_vouch,
)
from samizdat.core.trust import collisions, vouchers
from samizdat.errors import RemoteProtocolError, UsageError

T = 1_700_000_000
OWNER, OTHER, THIRD, VERIFIER, STRANGER = (SecretKey(bytes([i]) * 32) for i in range(1, 6))


def channel(key: SecretKey, channel_id: str, name: str, place: str = "") -> Channel:
    return parse_channel(build_channel_event(key, channel_id, name, created_at=T, place=place,
                                             mirrors=["wss://m.example"]))  # fmt: skip


def vouch_tags(address: str, *extra: list[str]) -> list[list[str]]:
    return [["L", LABEL_NAMESPACE], ["l", VOUCH_VALUE, LABEL_NAMESPACE], ["a", address, ""], *extra]


# -- the vouch label ------------------------------------------------------------------------------------------


def test_a_vouch_is_a_label_on_the_channel_address() -> None:
    real = channel(OWNER, "frunzenski", "Frunzenski district")
    event = build_vouch(VERIFIER, real, "We met the admins", created_at=T + 10)
    vouch = parse_vouch(event)
    assert (vouch.channel, vouch.verifier, vouch.reason) == (real.address, VERIFIER.public_key_hex, "We met the admins")
    assert event.kind == kinds.LABEL
    assert ["a", real.address, "wss://m.example"] in [list(t) for t in event.tags]
    assert ["p", OWNER.public_key_hex, "wss://m.example"] in [list(t) for t in event.tags]
    assert event.tag_values("e") == []
    with pytest.raises(RemoteProtocolError, match="must carry one of"):
        parse_label(event)  # a post label reader never takes a vouch for a label on a post


@pytest.mark.parametrize(
    ("tags", "why"),
    [
        (
            [["L", LABEL_NAMESPACE], ["l", "confirmed", LABEL_NAMESPACE], ["a", "30333:" + "ab" * 32 + ":x", ""]],
            "the one label 'vouched'",
        ),
        ([["L", "other"], ["l", VOUCH_VALUE, "other"], ["a", "30333:" + "ab" * 32 + ":x", ""]], "namespace"),
        (vouch_tags("30333:" + "ab" * 32 + ":x", ["e", "cd" * 32]), "no 'e' tag"),
        (vouch_tags("30333:" + "ab" * 32 + ":x", ["a", "30333:" + "ab" * 32 + ":y"]), "exactly one channel"),
        (vouch_tags("1:" + "ab" * 32 + ":x"), "exactly one channel"),
        (vouch_tags("30333:" + "ab" * 32 + ":"), "exactly one channel"),
        (vouch_tags("30333:nothex:x"), "exactly one channel"),
    ],
)
def test_what_is_not_a_vouch(tags: list[list[str]], why: str) -> None:
    with pytest.raises(RemoteProtocolError, match=why):
        parse_vouch(sign_event(VERIFIER, kinds.LABEL, "", tags, created_at=T))


def test_a_post_label_with_the_vouch_value_is_not_a_label() -> None:
    real = channel(OWNER, "yard", "Yard")
    post = build_post(OWNER, real, "news", "Gate open", created_at=T)
    with pytest.raises(UsageError, match="not 'vouched'"):
        build_label(VERIFIER, post, VOUCH_VALUE, created_at=T)


def test_only_the_verifier_withdraws_a_vouch() -> None:
    real = channel(OWNER, "yard", "Yard")
    vouch = build_vouch(VERIFIER, real, created_at=T)
    withdrawal = build_vouch_withdrawal(VERIFIER, [vouch], "Changed hands", created_at=T + 5)
    assert withdrawal.kind == kinds.DELETION
    assert (withdrawal.tag_values("e"), withdrawal.tag_values("k")) == ([vouch.id], [str(kinds.LABEL)])
    with pytest.raises(UsageError, match="Only the verifier who vouched"):
        build_vouch_withdrawal(STRANGER, [vouch], created_at=T + 5)
    with pytest.raises(UsageError, match="no vouch"):
        build_vouch_withdrawal(VERIFIER, [], created_at=T + 5)


# -- counting vouches ---------------------------------------------------------------------------------------


def test_vouches_count_from_trusted_verifiers_until_withdrawn() -> None:
    real, other = channel(OWNER, "yard", "Yard"), channel(OTHER, "yard", "Yard")
    vouch = build_vouch(VERIFIER, real, created_at=T)
    events: list[Event] = [
        vouch,
        build_vouch(STRANGER, other, created_at=T),  # not trusted: does not count
        build_vouch(OTHER, real, created_at=T + 2 * 3600),  # dated in the future (clock skew beyond 15 min)
        sign_event(VERIFIER, kinds.LABEL, "", vouch_tags(other.address, ["expiration", str(T - 1)]), created_at=T - 9),
        sign_event(VERIFIER, kinds.LABEL, "", vouch_tags(other.address, ["e", "ab" * 32]), created_at=T),  # malformed
        sign_event(STRANGER, kinds.DELETION, "", [["e", vouch.id]], created_at=T + 1),  # not the verifier's: ignored
    ]
    trusted = [VERIFIER.public_key_hex, OTHER.public_key_hex]
    assert vouchers(events, trusted, T + 60) == {real.address: frozenset({VERIFIER.public_key_hex})}
    assert vouchers(events, trusted, T + 2 * 3600) == {real.address: frozenset(trusted)}
    withdrawn = [*events, build_vouch_withdrawal(VERIFIER, [vouch], created_at=T + 5)]
    assert vouchers(withdrawn, trusted, T + 60) == {}
    assert vouchers(reversed(withdrawn), trusted, T + 60) == {}  # whatever order they arrive in


# -- collisions -----------------------------------------------------------------------------------------------


def test_another_key_with_the_same_name_collides_whatever_the_script() -> None:
    real = channel(OWNER, "frunzenski", "Frunzenski district", "BY/Minsk/Frunzenski")
    same = channel(OTHER, "frunzenski", "Frunzenski district", "BY/Minsk/Frunzenski")
    cyrillic = channel(THIRD, "f", "Фрунзенскі district")  # another place: the name alone collides
    own_second = channel(OWNER, "second", "Frunzenski district")  # the same key: the owner's own channels
    news = channel(STRANGER, "news", "Frunzenski district news", "BY/Мінск/Фрунзенскі")  # same place, name inside
    elsewhere = channel(STRANGER, "elsewhere", "Frunzenski district news", "BY/Hrodna")  # a filler word: alike
    other_yard = channel(STRANGER, "other-yard", "Frunzenski district yard", "BY/Hrodna")  # not a filler: apart
    yard = channel(STRANGER, "yard", "Block 7 yard", "BY/Minsk/Frunzenski")  # same place, another name
    found = collisions([real, same, cyrillic, own_second, news, elsewhere, other_yard, yard], [real])
    assert found == {
        same.address: (real.address,), cyrillic.address: (real.address,), news.address: (real.address,),
        elsewhere.address: (real.address,),
    }  # fmt: skip


def test_same_name_collisions_come_before_same_place_ones() -> None:
    district = channel(OWNER, "district", "Frunzenski", "BY/Minsk/Frunzenski")
    news = channel(OTHER, "news", "Frunzenski news", "BY/Minsk/Frunzenski")
    copy = channel(STRANGER, "copy", "Frunzenski news", "BY/Minsk/Frunzenski")
    assert collisions([copy], [district, news]) == {copy.address: (news.address, district.address)}
