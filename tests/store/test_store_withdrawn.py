"""The record a store keeps of a channel's amendment its author deleted (docs/safety.md, red team round 13): made
when a deletion request erases a retraction or a correction of a post, never served (queries, counts, NIP-77, the
streams that bundles and the carry read), without the amendment's content, bounded per author and in time. Every
store: in memory, SQLite (plain and encrypted) and PostgreSQL (the ``store`` fixture)."""

from __future__ import annotations

from pathlib import Path

from store_helpers import NOW, Author, F

from samizdat.core import kinds
from samizdat.core.event import Event
from samizdat.store.base import AddOutcome, Store, Withdrawn
from samizdat.store.rules import WITHDRAWN_DAYS, WITHDRAWN_PER_AUTHOR
from samizdat.store.sqlite import SqliteStore
from samizdat.testing import FakeClock

REASON = "A police trap: Ivan Petrov at Lenina 40 told us"


def _address(owner: Author) -> str:
    return f"{kinds.CHANNEL}:{owner.pubkey}:yard"


def _post(author: Author, address: str, post_type: str, text: str, *tags: list[str], at: int = NOW - 100) -> Event:
    return author.sign(kinds.POST, text, [["a", address, ""], ["type", post_type], *tags], created_at=at)


def _amendment(author: Author, address: str, target: Event, post_type: str, at: int) -> Event:
    tags = [["e", target.id, "", post_type, target.pubkey]]
    if post_type == "correction":
        tags.append(["location", "Yard of Gorky 2"])
        return _post(author, address, post_type, "", *tags, at=at)
    return _post(author, address, post_type, REASON, *tags, at=at)


async def _everything(store: Store) -> set[str]:
    ids = {e.id for e in await store.query([F(limit=100_000)])}
    ids |= {bytes(i).hex() async for _, i in store.negentropy_items([])}
    ids |= {e.id for _, e in await store.events_since(0, 100_000)}
    return ids


async def test_a_deleted_amendment_leaves_a_record_that_is_never_served(
    store: Store, alice: Author, bob: Author
) -> None:
    address = _address(bob)
    post = _post(bob, address, "safe-place", "Doctors here", ["location", "Lenina 40"], at=NOW - 200)
    retraction = _amendment(alice, address, post, "retraction", NOW - 150)
    correction = _amendment(alice, address, post, "correction", NOW - 140)
    note = _post(alice, address, "news", "A plain post")
    assert await store.add_many([post, retraction, correction, note]) == [AddOutcome.STORED] * 4
    request = alice.sign(kinds.DELETION, "", [["e", retraction.id], ["e", correction.id], ["e", note.id]])
    assert await store.add(request) is AddOutcome.STORED

    # Erased as NIP-09 asks, and refused when offered again ...
    assert await store.get(retraction.id) is None
    assert await store.add(retraction) is AddOutcome.DELETED
    # ... but recorded, the amendments only (not the plain post), with no content.
    assert await store.withdrawn(alice.pubkey) == [
        Withdrawn(correction.id, alice.pubkey, "correction", post.id, address, NOW - 140, request.id, NOW - 1),
        Withdrawn(retraction.id, alice.pubkey, "retraction", post.id, address, NOW - 150, request.id, NOW - 1),
    ]
    assert await store.withdrawn(bob.pubkey) == []
    # Never served: no query, count, NIP-77 listing or stream of the store gives them.
    served = await _everything(store)
    assert served == {post.id, request.id}
    assert await store.count([F(ids=[retraction.id, correction.id])]) == 0
    assert (await store.stats())["events"] == 2

    # Someone else's deletion request of the author's amendment erases nothing and records nothing.
    other = _amendment(alice, address, post, "retraction", NOW - 130)
    await store.add(other)
    await store.add(bob.sign(kinds.DELETION, "", [["e", other.id]]))
    assert other.id not in {r.id for r in await store.withdrawn(alice.pubkey)}
    assert await store.get(other.id) is not None


async def test_the_records_are_bounded_per_author_and_in_time(
    store: Store, alice: Author, bob: Author, clock: FakeClock
) -> None:
    address = _address(bob)
    post = _post(bob, address, "safe-place", "Doctors here", ["location", "Lenina 40"], at=NOW - 5000)
    honest = _amendment(bob, address, post, "retraction", NOW - 4000)  # bob's, another author's records
    await store.add_many([post, honest])
    await store.add(bob.sign(kinds.DELETION, "", [["e", honest.id]]))
    # A key's flood of its own amendments, deleted: the records of those that arrived last go (red team, round 15),
    # never another author's.
    flood = [_amendment(alice, address, post, "retraction", NOW - 3000 + i) for i in range(WITHDRAWN_PER_AUTHOR + 5)]
    await store.add_many(flood)
    for start in range(0, len(flood), 200):
        await store.add(alice.sign(kinds.DELETION, "", [["e", e.id] for e in flood[start : start + 200]]))
    kept = await store.withdrawn(alice.pubkey)
    assert len(kept) == WITHDRAWN_PER_AUTHOR
    assert {r.id for r in kept} == {e.id for e in flood[:WITHDRAWN_PER_AUTHOR]}
    assert [r.id for r in await store.withdrawn(bob.pubkey)] == [honest.id]

    # Dropped WITHDRAWN_DAYS after the record was made (the store's purge, as for expired events), whatever the
    # amendment's date (red team, round 15).
    clock.advance(WITHDRAWN_DAYS * 86400 - 10)
    await store.purge_expired()
    assert len(await store.withdrawn(alice.pubkey)) == WITHDRAWN_PER_AUTHOR
    assert [r.id for r in await store.withdrawn(bob.pubkey)] == [honest.id]
    clock.advance(20)
    await store.purge_expired()
    assert await store.withdrawn(bob.pubkey) == await store.withdrawn(alice.pubkey) == []


def _files(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.iterdir() if p.is_file())


async def test_the_reason_is_not_in_the_file(tmp_path: Path, alice: Author, bob: Author, clock: FakeClock) -> None:
    """What a seized plain store file holds of a deleted retraction: its record, not its reason."""
    path = tmp_path / "events.sqlite"
    address = _address(bob)
    post = _post(bob, address, "safe-place", "Doctors here", ["location", "Lenina 40"], at=NOW - 200)
    retraction = _amendment(alice, address, post, "retraction", NOW - 150)
    async with await SqliteStore.open(path, clock=clock) as store:
        await store.add_many([post, retraction])
        await store.add(alice.sign(kinds.DELETION, "", [["e", retraction.id]]))
        assert [r.id for r in await store.withdrawn(alice.pubkey)] == [retraction.id]
    data = _files(tmp_path)
    assert bytes.fromhex(retraction.id) in data  # the record
    assert b"Ivan Petrov" not in data
