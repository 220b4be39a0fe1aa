"""A channel the node follows is kept, but each of its authors only up to a bound (core/carry.py
``followed_excess``): a turned admin's flood loses its oldest, the channel's owner and the node's own keys keep
everything, and a channel whose authors stay under the bound loses nothing."""

from __future__ import annotations

from samizdat.core.carry import FOLLOWED_AUTHOR_MIN, followed_bound, followed_excess

OWNER, ADMIN, TURNED = "0" * 64, "a" * 64, "b" * 64


def test_an_authors_oldest_past_the_bound_go_and_the_owner_keeps_everything() -> None:
    owner = [(100 + i, 1000, i, OWNER) for i in range(50)]
    admin = [(200 + i, 1000, 100 + i, ADMIN) for i in range(5)]
    flood = [(10_000 + i, 1000, 1000 + i, TURNED) for i in range(40)]
    gone = followed_excess([*owner, *admin, *flood], {OWNER}, bound=10_000)
    assert sorted(gone) == [1000 + i for i in range(30)]  # the flood's 30 oldest; its 10 newest stay


def test_a_channel_under_the_bound_loses_nothing() -> None:
    posts = [(100 + i, 1000, i, ADMIN if i % 2 else TURNED) for i in range(20)]
    assert followed_excess(posts, set(), bound=10_000) == []


def test_the_bound_is_a_part_of_the_quota_and_never_nothing() -> None:
    assert followed_bound(256_000_000) == 16_000_000
    assert followed_bound(0) == FOLLOWED_AUTHOR_MIN


def test_strangers_share_one_bound_however_many_their_keys() -> None:
    pile = [(10_000 + i, 1000, 1000 + i, f"{i + 16:064x}") for i in range(40)]  # forty keys with no role, a post each
    admin = [(200 + i, 1000, 100 + i, ADMIN) for i in range(5)]
    gone = followed_excess([*pile, *admin], {OWNER}, bound=10_000, members={OWNER, ADMIN})
    assert sorted(gone) == [1000 + i for i in range(30)]
