"""The fan-out index finds exactly the subscriptions a brute-force scan finds, without scanning them all."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.relay.subscriptions import SubscriptionIndex
from samizdat.store.rules import LIVE_TEXT_CHARS, live_words, words

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


def count_matches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count every ``Filter.matches`` call from now on: the list's one item is the count."""
    calls = [0]
    original = Filter.matches

    def counting(self: Filter, event: Event) -> bool:
        calls[0] += 1
        return original(self, event)

    monkeypatch.setattr(Filter, "matches", counting)
    return calls


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
    calls = count_matches(monkeypatch)
    matched = index.match(fake_event(IDS[0], authors[1234], 1, 10, [("p", authors[5])]))
    assert [s.owner for s in matched] == [1234]
    assert calls[0] == 1
    assert index.bucket_sizes()["authors"] == 10_000


def test_readers_of_one_channel_share_one_filter_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # 5,000 readers send the same filter (each parsed on its own): the index holds it once and checks it once per
    # event, and lets go of it when the last reader goes.
    index: SubscriptionIndex[int] = SubscriptionIndex()
    for i in range(5000):
        index.add(i, "s", [Filter(authors=frozenset({PUBKEYS[0]}), kinds=frozenset({1}), limit=0)])
    index.add(5000, "s", [Filter(authors=frozenset({PUBKEYS[0]}), kinds=frozenset({1, 2}))])
    assert index.distinct_filters == 2
    assert index.get(0, "s").filters[0] is index.get(4999, "s").filters[0]  # type: ignore[union-attr]
    calls = count_matches(monkeypatch)
    assert len(index.match(fake_event(IDS[0], PUBKEYS[0], 1, 10, []))) == 5001
    assert calls[0] == 2
    assert [s.owner for s in index.match(fake_event(IDS[0], PUBKEYS[0], 2, 10, []))] == [5000]
    for i in range(5001):
        index.remove_owner(i)
    assert index.distinct_filters == 0
    assert len(index) == 0


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


# -- what unplaceable filters cost ---------------------------------------------------------------------------------

WIDE_TIMES = st.integers(0, 2**40)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.none() | WIDE_TIMES, st.none() | WIDE_TIMES), min_size=1, max_size=40),
    st.lists(WIDE_TIMES | st.sampled_from([0, 2**39, 2**40, 1_700_000_000]), min_size=1, max_size=20),
)
def test_time_windows_are_found_exactly(windows: list[tuple[int | None, int | None]], times: list[int]) -> None:
    index: SubscriptionIndex[int] = SubscriptionIndex()
    for i, (since, until) in enumerate(windows):
        index.add(i, "w", [Filter(since=since, until=until)])
    for i in range(0, len(windows), 3):  # and some removed again
        index.remove(i, "w")
    for t in times:
        got = sorted(s.owner for s in index.match(fake_event(IDS[0], PUBKEYS[0], 1, t, [])))
        expected = [
            i
            for i, (since, until) in enumerate(windows)
            if i % 3 and (since is None or since <= t) and (until is None or t <= until)
        ]
        assert got == expected


def test_unplaceable_filters_cost_nothing_when_they_do_not_match() -> None:
    # 10,000 time windows in the past and 1,000 searches for rare words: a new event is checked against the
    # few that match it, not against all of them.
    index: SubscriptionIndex[int] = SubscriptionIndex()
    now = 1_700_000_000
    for i in range(10_000):
        index.add(i, "w", [Filter(since=now - 10_000 - i * 7, until=now - 5_000 + i % 50)])
    for i in range(1_000):
        index.add(20_000 + i, "s", [Filter(search=f"zebra{i} crossing")])
    index.add(1, "all", [Filter()])
    index.add(2, "recent", [Filter(since=now - 60)])
    index.add(3, "zebra", [Filter(search="zebra7 crossing")])
    before = index.checks
    matched = index.match(Event(IDS[0], PUBKEYS[0], now, 1, (), "Zebra7 crossing closed", "00" * 64))
    assert sorted(s.owner for s in matched) == [1, 2, 3, 20_007]
    assert index.checks - before <= 6
    assert index.bucket_sizes()["time"] == 10_002
    assert index.bucket_sizes()["search"] == 1_001
    assert index.searches == 1_001 + 10_002  # broad, searches and windows alike: what the server caps


def test_live_search_matches_words_as_the_store_does() -> None:
    index: SubscriptionIndex[int] = SubscriptionIndex()
    index.add(1, "s", [Filter(search="e-mail Minsk")])  # a term of several words is a phrase
    index.add(2, "t", [Filter(search="only:extension")])  # nothing but extensions: no condition
    index.add(3, "u", [Filter(search="---")])  # no words: matches nothing, not filed
    assert index.searches_of(1) == 1
    assert index.searches_of(2) == 1  # no words: broad as "everything", counted against the same caps

    def owners(content: str) -> list[int]:
        return sorted(s.owner for s in index.match(Event(IDS[0], PUBKEYS[0], 1, 1, (), content, "00" * 64)))

    assert owners("Send an E-mail to MINSK office") == [1, 2]
    assert owners("mail e minsk") == [2]
    assert owners("minsker e-mail") == [2]  # words, not substrings


def test_a_live_search_reads_a_bounded_part_of_a_text_made_to_grow() -> None:
    """ "\ufdfa" folds to 18 characters (four words): a post of 64,000 of them had the relay fold 1.1 million
    characters on its event loop for every event, once any live search was open. The live index reads the text up
    to LIVE_TEXT_CHARS folded characters; any text a post may carry otherwise is read whole, as the store reads it."""
    index: SubscriptionIndex[int] = SubscriptionIndex()
    index.add(1, "head", [Filter(search="minsk")])
    index.add(2, "tail", [Filter(search="homiel")])

    def owners(content: str) -> list[int]:
        return sorted(s.owner for s in index.match(Event(IDS[0], PUBKEYS[0], 1, 1, (), content, "00" * 64)))

    grown = "Minsk " + "\ufdfa" * 64_000 + " Homiel"
    assert len(words(grown)) > 190_000
    assert len(live_words(grown)) <= LIVE_TEXT_CHARS // 4
    assert owners(grown) == [1]  # the tail of such a text is not read live (the store's search still finds it)
    plain = "Minsk " + "news of the district " * 3_000 + " Homiel"  # about 63,000 characters
    assert live_words(plain) == words(plain)
    assert owners(plain) == [1, 2]
