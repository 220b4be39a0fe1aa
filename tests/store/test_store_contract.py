"""The rules of samizdat.store.base, checked on every Store implementation with real signed events."""

from __future__ import annotations

from typing import Any

import pytest
from store_helpers import NOW, Author, F

from samizdat.core.event import Event
from samizdat.core.filters import FilterLimits
from samizdat.core.kinds import DELETION
from samizdat.errors import StoreError
from samizdat.store.base import AddOutcome, Store
from samizdat.store.postgres import PostgresStore
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock


def ids(events: list[Event]) -> list[str]:
    return [e.id for e in events]


def newest_first(events: list[Event]) -> list[str]:
    return [e.id for e in sorted(events, key=lambda e: (-e.created_at, e.id))]


# --- adding -------------------------------------------------------------------------------------------------


async def test_add_stores_and_detects_duplicates(store: Store, alice: Author) -> None:
    event = alice.sign(content="hello")
    assert await store.add(event) is AddOutcome.STORED
    assert await store.add(event) is AddOutcome.DUPLICATE
    got = await store.get(event.id)
    assert got == event
    assert got is not None
    assert got.to_json() == event.to_json()
    assert await store.query([F()]) == [event]


async def test_add_many_keeps_order_of_outcomes(store: Store, alice: Author) -> None:
    a, b = alice.sign(content="a"), alice.sign(content="b")
    ephemeral = alice.sign(kind=20001)
    assert await store.add_many([a, b, a, ephemeral]) == [
        AddOutcome.STORED,
        AddOutcome.STORED,
        AddOutcome.DUPLICATE,
        AddOutcome.EPHEMERAL,
    ]
    assert await store.add_many([]) == []


async def test_ephemeral_events_are_never_stored(store: Store, alice: Author) -> None:
    event = alice.sign(kind=20001, content="typing...")
    assert await store.add(event) is AddOutcome.EPHEMERAL
    assert await store.add(event) is AddOutcome.EPHEMERAL
    assert await store.get(event.id) is None
    assert await store.query([F()]) == []


async def test_outcomes_say_what_a_relay_answers() -> None:
    assert AddOutcome.DUPLICATE.accepted
    assert not AddOutcome.DELETED.accepted
    assert AddOutcome.EXPIRED.reply.startswith("invalid:")


# --- replaceable and addressable -------------------------------------------------------------------------------


async def test_newer_replaceable_replaces_older(store: Store, alice: Author, bob: Author) -> None:
    old = alice.sign(kind=0, content="old", created_at=NOW - 10)
    new = alice.sign(kind=0, content="new", created_at=NOW - 5)
    bobs = bob.sign(kind=0, content="bob", created_at=NOW - 20)
    assert await store.add(old) is AddOutcome.STORED
    assert await store.add(bobs) is AddOutcome.STORED
    assert await store.add(new) is AddOutcome.STORED
    assert ids(await store.query([F(kinds=[0])])) == [new.id, bobs.id]
    assert await store.get(old.id) is None
    assert await store.add(old) is AddOutcome.OUTDATED
    assert ids(await store.query([F(authors=[alice.pubkey])])) == [new.id]


@pytest.mark.parametrize("lower_first", [True, False])
async def test_replaceable_tie_keeps_lowest_id(store: Store, alice: Author, lower_first: bool) -> None:
    one, two = alice.sign(kind=10002, content="1"), alice.sign(kind=10002, content="2")
    low, high = sorted([one, two], key=lambda e: e.id)
    first, second = (low, high) if lower_first else (high, low)
    assert await store.add(first) is AddOutcome.STORED
    assert await store.add(second) is (AddOutcome.OUTDATED if lower_first else AddOutcome.STORED)
    assert ids(await store.query([F(kinds=[10002])])) == [low.id]


async def test_addressable_slots_are_per_d_tag(store: Store, alice: Author) -> None:
    a1 = alice.sign(kind=30333, content="a1", tags=[["d", "a"]], created_at=NOW - 10)
    b1 = alice.sign(kind=30333, content="b1", tags=[["d", "b"]], created_at=NOW - 10)
    a2 = alice.sign(kind=30333, content="a2", tags=[["d", "a"]], created_at=NOW - 5)
    no_d = alice.sign(kind=30333, content="no d", created_at=NOW - 9)
    empty_d = alice.sign(kind=30333, content="empty d", tags=[["d", ""]], created_at=NOW - 8)
    for event in (a1, b1, a2, no_d):
        assert await store.add(event) is AddOutcome.STORED
    # A missing d tag and an empty one are the same slot (NIP-01).
    assert await store.add(empty_d) is AddOutcome.STORED
    assert sorted(ids(await store.query([F(kinds=[30333])]))) == sorted([a2.id, b1.id, empty_d.id])
    assert await store.add(a1) is AddOutcome.OUTDATED
    assert ids(await store.query([F(kinds=[30333], tags={"d": ["a"]})])) == [a2.id]


async def test_regular_events_are_never_replaced(store: Store, alice: Author) -> None:
    events = [alice.sign(kind=1, content=str(i), created_at=NOW - i) for i in range(3)]
    assert await store.add_many(events) == [AddOutcome.STORED] * 3
    assert ids(await store.query([F()])) == ids(events)


# --- NIP-09 deletion ---------------------------------------------------------------------------------------------


async def test_deletion_request_deletes_own_events_only(store: Store, alice: Author, bob: Author) -> None:
    mine, theirs = alice.sign(content="oops"), bob.sign(content="bob's")
    await store.add_many([mine, theirs])
    request = alice.sign(kind=DELETION, content="by accident", tags=[["e", mine.id], ["e", theirs.id], ["k", "1"]])
    assert await store.add(request) is AddOutcome.STORED
    assert await store.get(mine.id) is None
    assert await store.get(theirs.id) == theirs
    # The request itself is stored and served.
    assert ids(await store.query([F(kinds=[DELETION])])) == [request.id]
    assert ids(await store.query([F(tags={"e": [mine.id]})])) == [request.id]
    # The deleted event cannot come back; the other author's event was never affected.
    assert await store.add(mine) is AddOutcome.DELETED
    assert await store.add(theirs) is AddOutcome.DUPLICATE


async def test_deletion_request_before_the_event(store: Store, alice: Author, bob: Author) -> None:
    mine, theirs = alice.sign(content="later"), bob.sign(content="later too")
    await store.add(alice.sign(kind=DELETION, tags=[["e", mine.id]]))
    await store.add(bob.sign(kind=DELETION, tags=[["e", theirs.id]]))
    await store.add(alice.sign(kind=DELETION, tags=[["e", theirs.id]], content="not mine to delete"))
    assert await store.add(mine) is AddOutcome.DELETED
    assert await store.add(theirs) is AddOutcome.DELETED  # bob's own request
    other = bob.sign(content="other")
    await store.add(alice.sign(kind=DELETION, tags=[["e", other.id]]))
    assert await store.add(other) is AddOutcome.STORED  # alice cannot delete bob's event
    assert await store.get(mine.id) is None


async def test_deleting_an_address_deletes_versions_up_to_the_request(store: Store, alice: Author, bob: Author) -> None:
    address = f"30023:{alice.pubkey}:news"  # not a channel's (30333): those are never deleted (test_one_rule_paths)
    old = alice.sign(kind=30023, content="v1", tags=[["d", "news"]], created_at=NOW - 100)
    other_slot = alice.sign(kind=30023, content="sports", tags=[["d", "sports"]], created_at=NOW - 100)
    await store.add_many([old, other_slot])
    request = alice.sign(kind=DELETION, tags=[["a", address]], created_at=NOW - 50)
    assert await store.add(request) is AddOutcome.STORED
    assert await store.get(old.id) is None
    assert await store.get(other_slot.id) == other_slot
    older = alice.sign(kind=30023, content="v0", tags=[["d", "news"]], created_at=NOW - 50)
    newer = alice.sign(kind=30023, content="v2", tags=[["d", "news"]], created_at=NOW - 49)
    assert await store.add(older) is AddOutcome.DELETED
    assert await store.add(newer) is AddOutcome.STORED
    # Someone else cannot delete alice's address.
    await store.add(bob.sign(kind=DELETION, tags=[["a", f"30023:{alice.pubkey}:news"]], created_at=NOW))
    assert await store.get(newer.id) == newer


async def test_a_channel_definition_is_never_deleted(store: Store, alice: Author) -> None:
    """Not by address, not by id, before or after it is stored (store/rules.py UNDELETABLE_KINDS)."""
    definition = alice.sign(kind=30333, content="", tags=[["d", "yard"]], created_at=NOW - 100)
    by_id = alice.sign(kind=DELETION, tags=[["e", definition.id]], created_at=NOW - 50)
    assert await store.add(by_id) is AddOutcome.STORED
    assert await store.add(definition) is AddOutcome.STORED
    by_address = alice.sign(kind=DELETION, tags=[["a", f"30333:{alice.pubkey}:yard"]], created_at=NOW - 40)
    again = alice.sign(kind=DELETION, tags=[["e", definition.id]], created_at=NOW - 30)
    assert await store.add_many([by_address, again]) == [AddOutcome.STORED, AddOutcome.STORED]
    assert await store.get(definition.id) == definition


async def test_malformed_deletion_targets_are_ignored(store: Store, alice: Author) -> None:
    note = alice.sign(content="stays")
    await store.add(note)
    tags = [["e", "not-an-id"], ["e"], ["a", "²:" + alice.pubkey + ":x"], ["a", "30333"], ["a", f"1:{alice.pubkey}:"]]
    assert await store.add(alice.sign(kind=DELETION, tags=tags)) is AddOutcome.STORED
    assert await store.get(note.id) == note


async def test_deleting_a_replaceable_address(store: Store, alice: Author) -> None:
    profile = alice.sign(kind=0, content='{"name":"a"}', created_at=NOW - 10)
    await store.add(profile)
    await store.add(alice.sign(kind=DELETION, tags=[["a", f"0:{alice.pubkey}:"]], created_at=NOW - 5))
    assert await store.get(profile.id) is None
    assert await store.add(alice.sign(kind=0, content="{}", created_at=NOW - 6)) is AddOutcome.DELETED
    assert await store.add(alice.sign(kind=0, content="{}", created_at=NOW - 4)) is AddOutcome.STORED


async def test_deleting_a_deletion_request_has_no_effect(store: Store, alice: Author) -> None:
    note = alice.sign(content="note")
    first = alice.sign(kind=DELETION, tags=[["e", note.id]], created_at=NOW - 10)
    await store.add_many([note, first])
    second = alice.sign(kind=DELETION, tags=[["e", first.id]], created_at=NOW - 5)
    assert await store.add(second) is AddOutcome.STORED
    assert sorted(ids(await store.query([F(kinds=[DELETION])]))) == sorted([first.id, second.id])
    assert await store.add(note) is AddOutcome.DELETED


async def test_deletion_in_the_same_batch(store: Store, alice: Author) -> None:
    note = alice.sign(content="note")
    request = alice.sign(kind=DELETION, tags=[["e", note.id]])
    assert await store.add_many([note, request, note]) == [
        AddOutcome.STORED,
        AddOutcome.STORED,
        AddOutcome.DELETED,
    ]
    assert ids(await store.query([F()])) == [request.id]


# --- NIP-40 expiration -------------------------------------------------------------------------------------------


async def test_expired_events_are_refused(store: Store, alice: Author) -> None:
    event = alice.sign(tags=[["expiration", str(NOW)]])
    assert await store.add(event) is AddOutcome.EXPIRED
    assert await store.get(event.id) is None


async def test_events_expire_on_the_injected_clock(store: Store, alice: Author, clock: FakeClock) -> None:
    alert = alice.sign(content="police at the bridge", tags=[["expiration", str(NOW + 60)], ["t", "alert"]])
    lasting = alice.sign(content="lasting news", tags=[["t", "alert"]], created_at=NOW - 2)
    assert await store.add_many([alert, lasting]) == [AddOutcome.STORED] * 2
    everything = [F()]
    assert ids(await store.query(everything)) == [alert.id, lasting.id]
    assert (await store.stats())["expiring"] == 1
    clock.advance(60)
    assert ids(await store.query(everything)) == [lasting.id]
    assert ids(await store.query([F(search="police")])) == []
    assert await store.get(alert.id) is None
    assert await store.has([alert.id, lasting.id]) == {lasting.id}
    assert await store.count(everything) == 1
    assert [i async for i in store.negentropy_items([])] == [(lasting.created_at, bytes.fromhex(lasting.id))]
    assert await store.purge_expired() == 1
    assert await store.purge_expired() == 0
    assert (await store.stats())["events"] == 1
    assert await store.add(alert) is AddOutcome.EXPIRED


async def test_expiration_does_not_matter_for_ephemeral(store: Store, alice: Author) -> None:
    event = alice.sign(kind=20000, tags=[["expiration", "1"]])
    assert await store.add(event) is AddOutcome.EPHEMERAL


# --- queries -----------------------------------------------------------------------------------------------------


async def test_query_is_newest_first_with_ties_by_id(store: Store, alice: Author, bob: Author) -> None:
    events = [a.sign(content=f"{a.pubkey[:4]} {i}", created_at=NOW - i // 3) for i in range(9) for a in (alice, bob)]
    await store.add_many(events)
    assert ids(await store.query([F()])) == newest_first(events)
    assert ids(await store.query([F(limit=4)])) == newest_first(events)[:4]
    assert (
        ids(await store.query([F(kinds=[1], authors=[alice.pubkey, bob.pubkey], limit=5)])) == newest_first(events)[:5]
    )


async def test_limit_zero_and_default_limit(store: Store, alice: Author) -> None:
    default = FilterLimits().default_limit
    events = [alice.sign(content=str(i), created_at=NOW - i) for i in range(default + 5)]
    await store.add_many(events)
    assert await store.query([F(limit=0)]) == []
    assert ids(await store.query([F()])) == ids(events[:default])
    assert len(await store.query([F(limit=default + 100)])) == default + 5
    assert await store.count([F(limit=1)]) == default + 5


async def test_filters_are_unioned_without_duplicates(store: Store, alice: Author, bob: Author) -> None:
    a = [alice.sign(content=f"a{i}", created_at=NOW - i) for i in range(5)]
    b = [bob.sign(content=f"b{i}", created_at=NOW - 10 - i) for i in range(5)]
    await store.add_many(a + b)
    # Each filter is capped by its own limit; what both match is returned once.
    result = await store.query([F(authors=[alice.pubkey], limit=2), F(limit=3), F(authors=[bob.pubkey], limit=1)])
    assert ids(result) == [a[0].id, a[1].id, a[2].id, b[0].id]
    assert await store.count([F(authors=[alice.pubkey]), F(kinds=[1])]) == 10


async def test_since_and_until_are_inclusive(store: Store, alice: Author) -> None:
    events = [alice.sign(content=str(t), created_at=t) for t in range(100, 110)]
    await store.add_many(events)
    assert [e.created_at for e in await store.query([F(since=103, until=106)])] == [106, 105, 104, 103]
    assert [e.created_at for e in await store.query([F(since=109)])] == [109]
    assert [e.created_at for e in await store.query([F(until=100)])] == [100]
    assert await store.query([F(since=107, until=103)]) == []
    assert await store.count([F(since=103, until=106, authors=[alice.pubkey], kinds=[1])]) == 4


async def test_ids_authors_kinds(store: Store, alice: Author, bob: Author) -> None:
    events = [alice.sign(kind=k, content=f"{k}", created_at=NOW - k) for k in (1, 7, 2333)]
    theirs = bob.sign(kind=7, content="+")
    await store.add_many([*events, theirs])
    assert ids(await store.query([F(ids=[events[1].id, theirs.id])])) == [theirs.id, events[1].id]
    assert ids(await store.query([F(ids=[events[1].id, theirs.id], authors=[alice.pubkey])])) == [events[1].id]
    assert ids(await store.query([F(kinds=[7])])) == [theirs.id, events[1].id]
    assert ids(await store.query([F(kinds=[7, 2333], authors=[alice.pubkey])])) == [events[1].id, events[2].id]
    assert await store.query([F(ids=[])]) == []
    assert await store.query([F(authors=[])]) == []
    assert await store.query([F(kinds=[])]) == []
    assert await store.query([F(ids=["not hex"])]) == []
    assert await store.count([F(authors=["zz" * 32])]) == 0


async def test_many_ids(store: Store, alice: Author) -> None:
    events = [alice.sign(content=str(i), created_at=NOW - i) for i in range(700)]
    await store.add_many(events)
    wanted = events[::2]
    missing = ["ab" * 32, "cd" * 32]
    result = await store.query([F(ids=[e.id for e in wanted] + missing, limit=5000)])
    assert ids(result) == ids(wanted)
    assert ids(await store.query([F(ids=[e.id for e in wanted], limit=3)])) == ids(wanted[:3])
    assert await store.has([e.id for e in wanted] + missing) == {e.id for e in wanted}
    assert await store.count([F(ids=[e.id for e in wanted])]) == len(wanted)


async def test_tag_filters(store: Store, alice: Author, bob: Author) -> None:
    post = alice.sign(content="post", created_at=NOW - 10)
    reply = bob.sign(content="reply", tags=[["e", post.id], ["p", alice.pubkey], ["t", "minsk"]], created_at=NOW - 9)
    like = bob.sign(kind=7, content="+", tags=[["e", post.id], ["p", alice.pubkey]], created_at=NOW - 8)
    upper = bob.sign(content="upper", tags=[["E", post.id], ["T", "minsk"]], created_at=NOW - 7)
    long_name = bob.sign(content="long", tags=[["title", "minsk"], ["t"]], created_at=NOW - 6)
    await store.add_many([post, reply, like, upper, long_name])
    assert ids(await store.query([F(tags={"e": [post.id]})])) == [like.id, reply.id]
    assert ids(await store.query([F(tags={"e": [post.id]}, kinds=[7])])) == [like.id]
    assert await store.count([F(tags={"e": [post.id]}, kinds=[7])]) == 1
    assert ids(await store.query([F(tags={"E": [post.id]})])) == [upper.id]
    assert ids(await store.query([F(tags={"t": ["minsk", "brest"]})])) == [reply.id]
    # Several tag conditions must all hold.
    assert ids(await store.query([F(tags={"e": [post.id], "t": ["minsk"]})])) == [reply.id]
    assert ids(await store.query([F(tags={"e": [post.id], "t": ["brest"]})])) == []
    assert ids(await store.query([F(tags={"p": [alice.pubkey]}, authors=[bob.pubkey], limit=1)])) == [like.id]
    assert await store.query([F(tags={"e": []})]) == []


async def test_tag_filter_with_many_values(store: Store, alice: Author) -> None:
    targets = [alice.sign(content=f"target {i}", created_at=NOW - 100 - i) for i in range(30)]
    replies = [
        alice.sign(content=f"re {i}", tags=[["e", t.id], ["e", targets[0].id]], created_at=NOW - i)
        for i, t in enumerate(targets)
    ]
    await store.add_many(targets + replies)
    wanted = F(tags={"e": [t.id for t in targets]}, limit=10)
    assert ids(await store.query([wanted])) == ids(replies[:10])
    few = F(tags={"e": [t.id for t in targets[:3]]})
    assert ids(await store.query([few])) == ids(replies)  # every reply names targets[0]
    assert await store.count([wanted]) == 30


async def test_many_authors_and_kinds(store: Store) -> None:
    authors = [Author() for _ in range(7)]
    events = [
        a.sign(kind=k, content=f"{i}", created_at=NOW - i * 4 - k) for i, a in enumerate(authors) for k in (1, 2, 3)
    ]
    await store.add_many(events)
    # 7 x 3 = 21 combinations: more than the SQLite store merges one by one.
    f = F(authors=[a.pubkey for a in authors], kinds=[1, 2, 3], limit=8)
    assert ids(await store.query([f])) == newest_first(events)[:8]
    assert ids(await store.query([F(kinds=[1, 3], limit=4)])) == newest_first([e for e in events if e.kind != 2])[:4]


# --- NIP-50 search -----------------------------------------------------------------------------------------------


async def test_search_matches_words(store: Store, alice: Author) -> None:
    a = alice.sign(content="Police at the central bridge, avoid it", created_at=NOW - 3)
    b = alice.sign(content="The bridge is open again", created_at=NOW - 2)
    c = alice.sign(kind=2333, content="Help needed: water", tags=[["title", "Bridge repairs"]], created_at=NOW - 1)
    await store.add_many([a, b, c])
    assert ids(await store.query([F(search="bridge")])) == [c.id, b.id, a.id]
    assert ids(await store.query([F(search="BRIDGE police")])) == [a.id]
    assert ids(await store.query([F(search="bridge", kinds=[1])])) == [b.id, a.id]
    assert ids(await store.query([F(search="bridge", limit=1)])) == [c.id]
    assert ids(await store.query([F(search="central bridge")])) == [a.id]
    assert ids(await store.query([F(search="bridge central")])) == [a.id]  # words, not a phrase
    assert ids(await store.query([F(search="tram")])) == []
    assert ids(await store.query([F(search="bridge language:en include:spam")])) == [c.id, b.id, a.id]
    assert await store.count([F(search="bridge")]) == 3


async def test_search_limit_takes_the_matches_stored_last(store: Store, alice: Author) -> None:
    # NIP-50 leaves "best matches" to the relay: ours are the ones stored most recently, served newest first.
    newer = alice.sign(content="curfew tonight", created_at=NOW - 1)
    older = alice.sign(content="curfew yesterday", created_at=NOW - 100)
    latest = alice.sign(content="curfew lifted", created_at=NOW - 50)
    await store.add_many([newer, older, latest])
    assert ids(await store.query([F(search="curfew", limit=2)])) == [latest.id, older.id]
    assert ids(await store.query([F(search="curfew")])) == [newer.id, latest.id, older.id]


async def test_search_is_plain_words_whatever_the_input(store: Store, alice: Author) -> None:
    event = alice.sign(content='say "AND" OR NOT (this) near* e-mail: x')
    await store.add(event)
    for text in ['"', "AND", "OR", "NOT", "(", ")", "*", "near(", "-", ":", "'", '"unbalanced', "^x", "a:b:c", "\x00"]:
        await store.query([F(search=text)])  # must not raise
        await store.count([F(search=text)])
    assert ids(await store.query([F(search="e-mail")])) == [event.id]
    assert ids(await store.query([F(search='"and" not')])) == [event.id]
    assert await store.query([F(search="!!!")]) == []


async def test_search_folds_case_and_diacritics_in_any_script(store: Store, alice: Author) -> None:
    event = alice.sign(content="Міліцыя каля Плошчы Незалежнасці. Café Zürich")
    await store.add(event)
    assert ids(await store.query([F(search="міліцыя")])) == [event.id]
    assert ids(await store.query([F(search="ПЛОШЧЫ")])) == [event.id]
    assert ids(await store.query([F(search="cafe zurich")])) == [event.id]


#: Which searches find "Йод и бинты: пишите help@example.org, e-mail, Straße 5", store by store. The memory store
#: folds the text and the search alike in Python (store/rules.py); SQLite indexes with its unicode61 tokenizer but
#: folds the search in Python, and the two differ on й and ß (unicode61 keeps them, Python folds them to и and
#: ss), so SQLite finds neither: a defect of the SQLite store, stated here as it is. PostgreSQL splits and folds
#: both sides with its parser and unaccent (store/pgqueries.py): й stays й, ß becomes ss, and an e-mail address
#: is one word.
SPLIT_DIFFERENTLY = {
    #                    memory  sqlite  postgres
    "пишите": (True, True, True),
    "e-mail": (True, True, True),
    "help@example.org": (True, True, True),
    "йод": (True, False, True),
    "ЙОД бинты": (True, False, True),
    "иод": (True, False, False),
    "straße": (True, False, True),
    "strasse": (True, False, True),
    "example": (True, True, False),
}


async def test_search_where_the_stores_split_words_differently(store: Store, alice: Author) -> None:
    event = alice.sign(content="Йод и бинты: пишите help@example.org, e-mail, Straße 5")
    await store.add(event)
    column = 2 if isinstance(store, PostgresStore) else 1 if isinstance(store, SqliteStore) else 0
    found = {search: ids(await store.query([F(search=search)])) == [event.id] for search in SPLIT_DIFFERENTLY}
    assert found == {search: row[column] for search, row in SPLIT_DIFFERENTLY.items()}


async def test_search_forgets_replaced_and_deleted_events(store: Store, alice: Author) -> None:
    old = alice.sign(kind=0, content="old profile marmalade", created_at=NOW - 10)
    note = alice.sign(content="marmalade recipe", created_at=NOW - 9)
    await store.add_many([old, note])
    await store.add(alice.sign(kind=0, content="new profile", created_at=NOW - 5))
    await store.add(alice.sign(kind=DELETION, tags=[["e", note.id]]))
    assert await store.query([F(search="marmalade")]) == []
    assert ids(await store.query([F(search="profile")])) != []


# --- sync support ------------------------------------------------------------------------------------------------


async def test_negentropy_items_ascending(store: Store, alice: Author, bob: Author) -> None:
    events = [a.sign(content=str(i), created_at=NOW - i // 4) for i in range(12) for a in (alice, bob)]
    await store.add_many(events)
    everything = sorted((e.created_at, bytes.fromhex(e.id)) for e in events)
    assert [i async for i in store.negentropy_items([])] == everything
    assert [i async for i in store.negentropy_items([F()])] == everything
    assert [i async for i in store.negentropy_items([F(limit=1)])] == everything
    alices = sorted((e.created_at, bytes.fromhex(e.id)) for e in events if e.pubkey == alice.pubkey)
    assert [i async for i in store.negentropy_items([F(authors=[alice.pubkey])])] == alices
    both = [F(authors=[alice.pubkey]), F(since=NOW - 1)]
    expected = sorted(
        (e.created_at, bytes.fromhex(e.id)) for e in events if e.pubkey == alice.pubkey or e.created_at >= NOW - 1
    )
    assert [i async for i in store.negentropy_items(both)] == expected
    assert [i async for i in store.negentropy_items([F(kinds=[])])] == []


async def test_has(store: Store, alice: Author) -> None:
    event = alice.sign()
    await store.add(event)
    assert await store.has([event.id, "00" * 32, "junk"]) == {event.id}
    assert await store.has([]) == set()


async def test_events_since_follows_insertion_order(store: Any, alice: Author) -> None:
    events = [alice.sign(content=str(i), created_at=NOW - 100 + (i * 7) % 10) for i in range(10)]
    await store.add_many(events)
    first = await store.events_since(0, 4)
    assert [e.id for _, e in first] == ids(events[:4])
    rest = await store.events_since(first[-1][0], 100)
    assert [e.id for _, e in rest] == ids(events[4:])
    assert await store.events_since(rest[-1][0], 100) == []


async def test_scan_kinds_skips_other_kinds_and_resumes_past_them(store: Any, alice: Author) -> None:
    events = [alice.sign(kind=7 if i % 3 else 2333, content=str(i), created_at=NOW - 100 + i) for i in range(10)]
    await store.add_many(events)
    everything = await store.events_since(0, 100)
    size = {e.id: len(e.to_json()) for e in events}
    last, first, skipped = await store.scan_kinds(0, 4, frozenset({2333}))
    assert last == everything[3][0]  # four scanned, two of them posts
    assert [e.id for _, e in first] == [events[0].id, events[3].id]
    assert skipped == size[events[1].id] + size[events[2].id]  # the bytes of the others (a flood's, for carry)
    last, rest, skipped = await store.scan_kinds(last, 100, frozenset({2333}))
    assert last == everything[-1][0]
    assert [e.id for _, e in rest] == [events[6].id, events[9].id]
    assert skipped == sum(size[e.id] for e in events[4:] if e.kind != 2333)
    assert await store.scan_kinds(last, 100, frozenset({2333})) == (last, [], 0)
    last, none, skipped = await store.scan_kinds(0, 100, frozenset({1}))
    assert (last, none, skipped) == (everything[-1][0], [], sum(size.values()))


async def test_stats(store: Store, alice: Author) -> None:
    await store.add_many(
        [
            alice.sign(kind=1),
            alice.sign(kind=0),
            alice.sign(kind=30333, tags=[["d", "x"]]),
            alice.sign(kind=DELETION, tags=[["e", "00" * 32]]),
        ]
    )
    stats = await store.stats()
    assert {k: stats[k] for k in ("events", "regular", "replaceable", "addressable", "deletion_requests")} == {
        "events": 4,
        "regular": 2,
        "replaceable": 1,
        "addressable": 1,
        "deletion_requests": 1,
    }


async def test_closed_store_refuses_work(store: Store, alice: Author) -> None:
    await store.close()
    await store.close()  # idempotent
    with pytest.raises(StoreError):
        await store.add(alice.sign())
    with pytest.raises(StoreError):
        await store.query([F()])
