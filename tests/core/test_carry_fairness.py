"""Inside one channel the carry ranks are dealt fairly between authors (core/carry.py, ``fair_shares``): the channel
keeps the ranks it earned, a channel with one author keeps its order, and a flooder's excess takes the lowest."""

from __future__ import annotations

from samizdat.core.carry import FAIR_FREE, choose_evictions, fair_shares


def test_one_author_keeps_the_order_and_the_channel_keeps_its_ranks() -> None:
    posts = [(1000 - 7 * i, 10 + i, i, "owner") for i in range(200)]
    dealt = fair_shares(posts)
    assert sorted(dealt) == sorted((rank, size, key) for rank, size, key, _ in posts)


def test_a_flooders_excess_goes_before_the_owners_older_posts() -> None:
    owner = [(1000 + i, 600, i, "owner") for i in range(20)]  # older
    flood = [(5000 + i, 600, 100 + i, "turned") for i in range(1000)]  # newer, so ranked higher
    dealt = fair_shares([*owner, *flood])
    assert sorted(r for r, _, _ in dealt) == sorted(r for r, _, _, _ in [*owner, *flood])
    dropped = set(choose_evictions(dealt, used=1020 * 600, quota=200 * 600))
    assert not dropped & {key for _, _, key, _ in owner}
    assert len(dropped) == 820
    kept_flood = {key for _, _, key, _ in flood} - dropped
    assert len(kept_flood) == 180  # its newest: it still gets the rest of the room
    assert min(kept_flood) == 100 + 1000 - 180


def test_a_few_huge_posts_do_not_push_out_many_small_ones() -> None:
    owner = [(1000 + i, 600, i, "owner") for i in range(20)]  # older, small
    huge = [(5000 + i, 60_000, 100 + i, "turned") for i in range(50)]  # newer, the largest a post may be
    dealt = fair_shares([*owner, *huge])
    dropped = set(choose_evictions(dealt, used=20 * 600 + 50 * 60_000, quota=200_000))
    assert not dropped & {key for _, _, key, _ in owner}


def test_below_the_free_share_the_order_of_age_and_type_stands() -> None:
    alerts = [(9000 + i, 100, i, "admin") for i in range(10)]
    news = [(1000 + i, 100, 100 + i, "owner") for i in range(10)]
    assert FAIR_FREE >= 10 * 100
    dropped = choose_evictions(fair_shares([*alerts, *news]), used=2000, quota=1500)
    assert set(dropped) == {100 + i for i in range(5)}  # the oldest news, as without the fair share
