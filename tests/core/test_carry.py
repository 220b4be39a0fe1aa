"""Store-carry-forward rules: what is always kept, and which carried events go first."""

from __future__ import annotations

from samizdat.core import kinds
from samizdat.core.carry import HOUR, KeepRules, carry_rank, choose_evictions

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
