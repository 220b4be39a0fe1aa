"""The fan-out index finds exactly the subscriptions a brute-force scan finds, without scanning them all."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.relay.subscriptions import SubscriptionIndex

# Small alphabets so that random filters and events actually meet.
IDS = [f"{i:064x}" for i in range(4)]
PUBKEYS = [f"{i + 100:064x}" for i in range(4)]
KINDS = [0, 1, 5, 30333]
TAG_NAMES = ["e", "p", "t", "d"]
TAG_VALUES = ["a", "b", "c"]
TIMES = [10, 20, 30]


def fake_event(event_id: str, pubkey: str, kind: int, created_at: int, tags: list[tuple[str, ...]]) -> Event:
    return Event(event_id, pubkey, created_at, kind, tuple(tags), "", "00" * 64)


events = st.builds(
    fake_event,
    st.sampled_from(IDS),
    st.sampled_from(PUBKEYS),
    st.sampled_from(KINDS),
    st.sampled_from(TIMES),
    st.lists(
        st.one_of(
            st.tuples(st.sampled_from(TAG_NAMES), st.sampled_from(TAG_VALUES)),
            st.tuples(st.sampled_from(TAG_NAMES)),
            st.tuples(st.just("long"), st.sampled_from(TAG_VALUES)),
            st.tuples(st.sampled_from(TAG_NAMES), st.sampled_from(TAG_VALUES), st.just("extra")),
        ),
        max_size=4,
    ),
)


def maybe_set(values: list[object]) -> st.SearchStrategy[frozenset[object] | None]:
    return st.none() | st.frozensets(st.sampled_from(values), max_size=3)


filters = st.builds(
    Filter,
    ids=maybe_set(IDS),  # type: ignore[arg-type]
    authors=maybe_set(PUBKEYS),  # type: ignore[arg-type]
    kinds=maybe_set(KINDS),  # type: ignore[arg-type]
    tags=st.lists(
        st.tuples(st.sampled_from(TAG_NAMES), st.frozensets(st.sampled_from(TAG_VALUES), max_size=2)),
        max_size=2,
        unique_by=lambda t: t[0],
    ).map(lambda tags: tuple(sorted(tags))),
    since=st.none() | st.sampled_from(TIMES),
    until=st.none() | st.sampled_from(TIMES),
)

# A script of operations: add (owner, sub, filters) or remove (owner, sub), then events to match.
operations = st.lists(
    st.one_of(
        st.tuples(st.just("add"), st.integers(0, 3), st.sampled_from("xyz"), st.lists(filters, min_size=1, max_size=3)),
        st.tuples(st.just("remove"), st.integers(0, 3), st.sampled_from("xyz"), st.just([])),
        st.tuples(st.just("drop"), st.integers(0, 3), st.just(""), st.just([])),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(operations, st.lists(events, min_size=1, max_size=8))
def test_index_matches_brute_force(ops: list[tuple[str, int, str, list[Filter]]], evs: list[Event]) -> None:
    index: SubscriptionIndex[int] = SubscriptionIndex()
    model: dict[tuple[int, str], list[Filter]] = {}
    for op, owner, sub_id, fs in ops:
        if op == "add":
            index.add(owner, sub_id, fs)
            model[(owner, sub_id)] = fs
        elif op == "remove":
            removed = index.remove(owner, sub_id)
            assert (removed is not None) == ((owner, sub_id) in model)
            model.pop((owner, sub_id), None)
        else:
            assert index.remove_owner(owner) == sum(1 for o, _ in model if o == owner)
            model = {k: v for k, v in model.items() if k[0] != owner}
        assert len(index) == len(model)
    for ev in evs:
        got = [(s.owner, s.sub_id) for s in index.match(ev)]
        assert len(got) == len(set(got)), "a subscription is reported once"
        expected = {k for k, fs in model.items() if any(f.matches(ev) for f in fs)}
        assert set(got) == expected
    for owner, sub_id in list(model):
        index.remove(owner, sub_id)
    assert len(index) == 0
    assert index.bucket_sizes() == {"ids": 0, "authors": 0, "tags": 0, "kinds": 0, "search": 0, "time": 0}


def test_only_candidates_are_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    # 10,000 subscriptions for 10,000 different authors: an event is checked against one candidate, not all.
    index: SubscriptionIndex[int] = SubscriptionIndex()
    authors = [f"{i:064x}" for i in range(10_000)]
    for i, author in enumerate(authors):
        index.add(i, "s", [Filter(authors=frozenset({author}), kinds=frozenset({1}))])
    calls = 0
    original = Filter.matches

    def counting(self: Filter, event: Event) -> bool:
        nonlocal calls
        calls += 1
        return original(self, event)

    monkeypatch.setattr(Filter, "matches", counting)
    matched = index.match(fake_event(IDS[0], authors[1234], 1, 10, [("p", authors[5])]))
    assert [s.owner for s in matched] == [1234]
    assert calls == 1
    assert index.bucket_sizes()["authors"] == 10_000


def test_filing_prefers_selective_fields() -> None:
    index: SubscriptionIndex[int] = SubscriptionIndex()
    index.add(1, "a", [Filter(ids=frozenset(IDS[:2]), authors=frozenset(PUBKEYS[:1]), kinds=frozenset({1}))])
    index.add(1, "b", [Filter(kinds=frozenset({1}), tags=(("t", frozenset({"x"})),))])
    index.add(1, "c", [Filter(kinds=frozenset({1, 2}))])
    index.add(1, "d", [Filter(since=5)])
    index.add(1, "e", [Filter(kinds=frozenset())])  # matches nothing: not filed
    assert index.bucket_sizes() == {"ids": 2, "authors": 0, "tags": 1, "kinds": 2, "search": 0, "time": 1}
    assert len(index) == 5


def test_replacing_a_subscription_and_active_flag() -> None:
    index: SubscriptionIndex[str] = SubscriptionIndex()
    first = index.add("conn", "s", [Filter(kinds=frozenset({1}))], b'["EVENT","s",')
    second = index.add("conn", "s", [Filter(kinds=frozenset({2}))], b'["EVENT","s",')
    assert not first.active
    assert second.active
    assert len(index) == 1
    assert [s.sub_id for s in index.match(fake_event(IDS[0], PUBKEYS[0], 2, 1, []))] == ["s"]
    assert index.match(fake_event(IDS[0], PUBKEYS[0], 1, 1, [])) == []
    assert index.get("conn", "s") is second
    assert index.of_owner("conn") == [second]


def test_search_filters_match_live_events_by_words() -> None:
    # NIP-50 search is the store's job for stored events; live events get a simple all-words check.
    index: SubscriptionIndex[int] = SubscriptionIndex()
    index.add(1, "s", [Filter(kinds=frozenset({1}), search="police MINSK language:ru")])

    def with_content(content: str) -> Event:
        return Event(IDS[0], PUBKEYS[0], 1, 1, (), content, "00" * 64)

    assert [s.owner for s in index.match(with_content("Police near Minsk station"))] == [1]
    assert index.match(with_content("police near Grodno")) == []
