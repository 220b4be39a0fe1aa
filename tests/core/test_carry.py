"""Store-carry-forward rules: what is always kept, which carried events go first, and what earns a bonus."""

from __future__ import annotations

from samizdat.core import kinds
from samizdat.core.carry import HOUR, CarryRanking, KeepRules, Standing, carry_rank, choose_evictions
from samizdat.core.channel import Channel, build_channel_event, parse_channel
from samizdat.core.event import Event, sign_event
from samizdat.core.keys import SecretKey
from samizdat.core.posts import build_label, build_post
from samizdat.core.recovery import build_claim

OWNER = "a" * 64
ME = "b" * 64
VERIFIER = "c" * 64
STRANGER = "d" * 64
FOLLOWED = f"{kinds.CHANNEL}:{OWNER}:town"
T = 1_700_000_000


def rules() -> KeepRules:
    return KeepRules.of([ME], [FOLLOWED], [VERIFIER])


def test_own_and_verifier_events_are_kept_whatever_they_are() -> None:
    assert rules().keeps(ME, 1, None, ())
    assert rules().keeps(VERIFIER, kinds.LABEL, None, ())


def test_followed_channel_definition_and_posts_are_kept_but_not_other_channels() -> None:
    assert rules().keeps(OWNER, kinds.CHANNEL, "town", ())
    assert not rules().keeps(OWNER, kinds.CHANNEL, "village", ())
    assert rules().keeps(STRANGER, kinds.POST, None, [FOLLOWED])
    assert not rules().keeps(STRANGER, kinds.POST, None, [f"{kinds.CHANNEL}:{OWNER}:village"])
    assert not rules().keeps(STRANGER, 1, None, ())


def test_alerts_and_help_outrank_news_of_the_same_day_but_not_for_ever() -> None:
    news_now = carry_rank(kinds.POST, T, "news")
    assert carry_rank(kinds.POST, T - 24 * HOUR, "alert") > news_now
    assert carry_rank(kinds.POST, T - 24 * HOUR, "help") > news_now
    assert carry_rank(kinds.POST, T - 7 * 24 * HOUR, "alert") < news_now
    assert carry_rank(kinds.POST, T, "unknown-type") == news_now
    assert carry_rank(kinds.CHANNEL, T - 7 * 24 * HOUR, None) > news_now


def test_evictions_drop_the_lowest_rank_until_the_quota_fits() -> None:
    candidates = [(100, 10, 1), (300, 10, 2), (200, 10, 3), (50, 10, 4)]
    assert choose_evictions(candidates, used=40, quota=40) == []
    assert choose_evictions(candidates, used=40, quota=25) == [4, 1]
    assert choose_evictions(candidates, used=40, quota=0) == [4, 1, 3, 2]


def test_equal_ranks_drop_the_later_stored_first() -> None:
    assert choose_evictions([(5, 10, 1), (5, 10, 2)], used=20, quota=10) == [2]


def test_only_a_valid_event_earns_a_bonus_and_junk_goes_before_anything() -> None:
    valid_alert = carry_rank(kinds.POST, T - 6 * 24 * HOUR, "alert")
    plain_note = carry_rank(1, T, None, Standing.PLAIN)
    junk_alert = carry_rank(kinds.POST, T + 900, "alert", Standing.JUNK)
    assert junk_alert < plain_note < valid_alert  # whatever their age
    assert carry_rank(kinds.POST, T, "alert", Standing.PLAIN) == carry_rank(kinds.POST, T, "news", Standing.PLAIN)
    assert carry_rank(kinds.POST, T, None, Standing.JUNK) < carry_rank(kinds.POST, T + 1, None, Standing.JUNK)


# -- one pass's ranking, on real signed events -------------------------------------------------------------------

OWNER_KEY, ADMIN_KEY, STRANGER_KEY = (SecretKey(bytes([n]) * 32) for n in (11, 12, 13))


def town() -> Channel:
    admins = {ADMIN_KEY.public_key_hex: "admin"}
    return parse_channel(build_channel_event(OWNER_KEY, "town", "Town", created_at=T - 90 * 24 * HOUR, admins=admins))


def alert(key: SecretKey, channel: Channel, created_at: int) -> Event:
    return build_post(key, channel, "alert", "Police vans at the market", created_at=created_at, location="Market",
                      expiration=created_at + 48 * HOUR)  # fmt: skip


def forged_alert(key: SecretKey, address: str, created_at: int) -> Event:
    tags = [["a", address], ["type", "alert"], ["location", "Market"], ["expiration", str(created_at + 3 * HOUR)]]
    return sign_event(key, kinds.POST, "Police vans at the market", tags, created_at=created_at)


def ranks(events: list[Event], channels: dict[str, Channel], kept: frozenset[str] = frozenset()) -> dict[str, int]:
    ranking = CarryRanking(T, channels.get, role_holders=())
    for key, event in enumerate(events):
        ranking.add(key, len(event.to_json()), event)
    return {events[key].id: rank for rank, _size, key in ranking.candidates(lambda ids: ids & kept)}


def test_posts_earn_their_type_bonus_only_when_their_channel_allows_the_signer() -> None:
    channel = town()
    genuine = alert(ADMIN_KEY, channel, T - 24 * HOUR)
    by_stranger = forged_alert(STRANGER_KEY, channel.address, T)
    undefined = forged_alert(STRANGER_KEY, f"{kinds.CHANNEL}:{STRANGER_KEY.public_key_hex}:fake", T)
    got = ranks([genuine, by_stranger, undefined], {channel.address: channel})
    assert got[genuine.id] == carry_rank(kinds.POST, genuine.created_at, "alert")
    assert got[by_stranger.id] == got[undefined.id] == carry_rank(kinds.POST, T, None, Standing.JUNK)


def test_definitions_earn_their_bonus_when_a_valid_post_needs_them() -> None:
    channel = town()
    genuine = alert(OWNER_KEY, channel, T - HOUR)
    nobodys = build_channel_event(STRANGER_KEY, "empty", "Empty", created_at=T)
    malformed = sign_event(STRANGER_KEY, kinds.CHANNEL, "", [["d", "x"]], created_at=T)  # no name
    got = ranks([channel.event, genuine, nobodys, malformed], {channel.address: channel})
    # Defined 90 days ago, it still goes only after the last post that needs it (the alert, ranked 2 days ahead).
    assert got[channel.event.id] == carry_rank(kinds.POST, T - HOUR, "alert") + 1
    assert got[channel.event.id] > carry_rank(kinds.CHANNEL, channel.created_at, None)
    assert got[nobodys.id] == carry_rank(kinds.CHANNEL, T, None, Standing.PLAIN)
    assert got[malformed.id] == carry_rank(kinds.CHANNEL, T, None, Standing.JUNK)


def test_deletions_and_labels_earn_their_bonus_from_people_and_posts_that_count() -> None:
    channel = town()
    genuine = alert(OWNER_KEY, channel, T - HOUR)
    by_admin = sign_event(ADMIN_KEY, kinds.DELETION, "", [["e", "ab" * 32]], created_at=T)
    by_stranger = sign_event(STRANGER_KEY, kinds.DELETION, "", [["e", "ab" * 32]], created_at=T)
    on_genuine = build_label(STRANGER_KEY, genuine, "confirmed", created_at=T)
    kept_post = alert(OWNER_KEY, channel, T - 2 * HOUR)
    on_kept = build_label(STRANGER_KEY, kept_post, "confirmed", created_at=T)
    on_nothing = build_label(STRANGER_KEY, forged_alert(STRANGER_KEY, channel.address, T), "false", created_at=T)
    got = ranks([channel.event, genuine, by_admin, by_stranger, on_genuine, on_kept, on_nothing],
                {channel.address: channel}, kept=frozenset({kept_post.id}))  # fmt: skip
    assert got[by_admin.id] == carry_rank(kinds.DELETION, T, None)  # the admin of a channel a valid post needs
    assert got[by_stranger.id] == carry_rank(kinds.DELETION, T, None, Standing.PLAIN)
    assert got[on_genuine.id] == got[on_kept.id] == carry_rank(kinds.LABEL, T, None)
    assert got[on_nothing.id] == carry_rank(kinds.LABEL, T, None, Standing.PLAIN)


def test_a_post_naming_thousands_of_channels_costs_only_a_few_lookups() -> None:
    asked: list[str] = []

    def channel_of(address: str) -> Channel | None:
        asked.append(address)
        return None

    tags = [["a", f"{kinds.CHANNEL}:{STRANGER_KEY.public_key_hex}:c{i}"] for i in range(1000)] + [["type", "alert"]]
    ranking = CarryRanking(T, channel_of)
    ranking.add(1, 100, sign_event(STRANGER_KEY, kinds.POST, "x", tags, created_at=T))
    assert len(asked) <= 4


def test_a_seizure_claim_keeps_a_place_like_a_definition_and_a_fake_one_is_junk() -> None:
    """A hub that only carries a channel keeps its seizure claim (signed by the recovery key, which has no role in
    the channel) as long as a definition, ahead of the day's news and alerts; a "claim" whose proof does not name
    its signer is junk, like any forgery."""
    recovery, police = SecretKey(bytes([21]) * 32), SecretKey(bytes([22]) * 32)
    admins = {ADMIN_KEY.public_key_hex: "admin"}
    proof = build_channel_event(OWNER_KEY, "town", "Town", created_at=T - 90 * 24 * HOUR, admins=admins,
                                recovery=recovery.public_key_hex)  # fmt: skip
    channel = parse_channel(proof)
    successor = parse_channel(build_channel_event(police, "town", "Town", created_at=T)).address
    real = build_claim(recovery, proof, successor, since=T - HOUR, created_at=T)
    fake = sign_event(police, kinds.POST, "seized", [list(t) for t in real.tags], created_at=T)  # the same proof
    news = build_post(ADMIN_KEY, channel, "news", "Water is back", created_at=T)
    got = ranks([real, fake, news, alert(ADMIN_KEY, channel, T)], {channel.address: channel})
    assert got[real.id] == carry_rank(kinds.POST, T, "seized")
    assert got[real.id] > carry_rank(kinds.POST, T, "alert")
    assert got[fake.id] == carry_rank(kinds.POST, T, None, Standing.JUNK)
