"""Bundle files through real SQLite stores: export, split into parts, import, re-import."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from samizdat.core.bundle import HEADER_SIZE
from samizdat.core.bundle_reader import BundleReader
from samizdat.core.event import Event, sign_event
from samizdat.core.filters import Filter
from samizdat.core.keys import SecretKey
from samizdat.errors import StoreError, UsageError
from samizdat.store.base import AddOutcome
from samizdat.store.bundles import export_bundle, import_bundles, part_path
from samizdat.store.memory import MemoryStore
from samizdat.store.sqlite import SqliteStore

NOW = int(time.time())
OWNER = SecretKey(bytes.fromhex("11" * 32))
ADMIN = SecretKey(bytes.fromhex("12" * 32))


def make_events(count: int, *, start: int = NOW - 100_000) -> list[Event]:
    events = []
    for i in range(count):
        key = OWNER if i % 3 else ADMIN
        channel = f"minsk-{i % 4}"
        content = f"Новости #{i}: " + "сход у стелы в 19:00, берите воду. " * (1 + i % 5)
        tags = [["a", f"30333:{OWNER.public_key_hex}:{channel}"], ["t", "news"], ["g", "u9edq"]]
        events.append(sign_event(key, 2333, content, tags, created_at=start + i * 7))
    return events


EVENTS = make_events(600)


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def all_events(store: SqliteStore) -> set[Event]:
    found: set[Event] = set()
    rowid = 0
    while rows := await store.events_since(rowid, 1000):
        rowid = rows[-1][0]
        found.update(event for _, event in rows)
    return found


@pytest.fixture
async def source(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "source.db")
    await store.add_many(EVENTS)
    yield store
    await store.close()


@pytest.fixture
async def target(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    store = await SqliteStore.open(tmp_path / "target.db")
    yield store
    await store.close()


async def test_round_trip_from_one_store_to_an_empty_one(
    source: SqliteStore, target: SqliteStore, tmp_path: Path
) -> None:
    out = tmp_path / "news.smz"
    export = await export_bundle(source, out, created_at=NOW)
    assert export.files == (out,)
    assert export.events == len(EVENTS)
    assert export.file_bytes == out.stat().st_size
    assert export.content_bytes == sum(len(e.to_json()) + 1 for e in EVENTS)
    assert export.skipped == 0
    assert [name for name in names(tmp_path) if name.endswith(".tmp")] == []

    report = await import_bundles([out], target.add_many)
    assert (report.new, report.duplicate, report.invalid, report.rejected) == (len(EVENTS), 0, 0, 0)
    (file,) = report.files
    assert file.complete
    assert file.error is None
    assert (file.part, file.total_parts, file.bundle_id) == (1, 1, export.bundle_id)
    assert file.describe() == f"news.smz (part 1 of 1): {len(EVENTS)} new, 0 duplicate, 0 invalid, 0 rejected"
    assert await all_events(target) == set(EVENTS)


async def test_header_is_patched_with_counts_and_total_parts(source: SqliteStore, tmp_path: Path) -> None:
    export = await export_bundle(source, tmp_path / "n.smz", max_part_bytes=40_000, created_at=NOW)
    assert len(export.files) > 2
    events = 0
    for number, path in enumerate(export.files, start=1):
        reader = BundleReader()
        reader.feed(path.read_bytes()[:HEADER_SIZE])
        assert reader.header is not None
        assert (reader.header.part, reader.header.total_parts) == (number, len(export.files))
        assert reader.header.created_at == 0  # an export does not say when it was made (docs/safety.md)
        assert reader.header.bundle_id.hex() == export.bundle_id
        assert reader.header.event_count is not None
        events += reader.header.event_count
    assert events == len(EVENTS)


async def test_split_parts_are_each_under_the_limit_and_importable_alone(source: SqliteStore, tmp_path: Path) -> None:
    out = tmp_path / "news.smz"
    export = await export_bundle(source, out, max_part_bytes=30_000, created_at=NOW)
    assert export.files[:3] == (out, tmp_path / "news.part2.smz", tmp_path / "news.part3.smz")
    assert [p.name for p in export.files] == [part_path(out, n).name for n in range(1, len(export.files) + 1)]
    assert all(p.stat().st_size <= 30_000 for p in export.files)
    seen: set[Event] = set()
    for number, path in enumerate(reversed(export.files)):  # any order
        store = await SqliteStore.open(tmp_path / f"alone{number}.db")
        try:
            report = await import_bundles([path], store.add_many)
            assert report.files[0].complete
            this = len(export.files) - number
            assert report.missing_parts == {export.bundle_id: [n for n in range(1, this + number + 1) if n != this]}
            part = await all_events(store)
            assert report.new == len(part) > 0
            assert not part & seen
            seen |= part
        finally:
            await store.close()
    assert seen == set(EVENTS)


async def test_import_twice_gives_all_duplicates(source: SqliteStore, target: SqliteStore, tmp_path: Path) -> None:
    export = await export_bundle(source, tmp_path / "n.smz", max_part_bytes=50_000, created_at=NOW)
    first = await import_bundles(export.files, target.add_many)
    assert first.new == len(EVENTS)
    assert first.missing_parts == {}
    again = await import_bundles(export.files, target.add_many)
    assert (again.new, again.duplicate, again.invalid) == (0, len(EVENTS), 0)


async def test_reimport_after_a_partial_import(source: SqliteStore, target: SqliteStore, tmp_path: Path) -> None:
    export = await export_bundle(source, tmp_path / "n.smz", max_part_bytes=50_000, created_at=NOW)
    second = export.files[1]
    partial = await import_bundles([second], target.add_many)
    report = await import_bundles(export.files, target.add_many)
    assert report.files[1].duplicate == partial.new > 0
    assert report.files[1].new == 0
    assert report.new == len(EVENTS) - partial.new
    assert await all_events(target) == set(EVENTS)


async def test_filtered_export(source: SqliteStore, target: SqliteStore, tmp_path: Path) -> None:
    channel = f"30333:{OWNER.public_key_hex}:minsk-1"
    since = EVENTS[300].created_at
    filters = [Filter(tags=(("a", frozenset({channel})),), since=since)]
    export = await export_bundle(source, tmp_path / "c.smz", filters=filters, created_at=NOW)
    wanted = {e for e in EVENTS if e.created_at >= since and channel in e.tag_values("a")}
    assert export.events == len(wanted)
    await import_bundles(export.files, target.add_many)
    assert await all_events(target) == wanted


async def test_overlapping_filters_export_each_event_once(source: SqliteStore, tmp_path: Path) -> None:
    filters = [Filter(authors=frozenset({ADMIN.public_key_hex})), Filter(since=EVENTS[500].created_at)]
    export = await export_bundle(source, tmp_path / "o.smz", filters=filters, created_at=NOW)
    wanted = {e for e in EVENTS if e.pubkey == ADMIN.public_key_hex or e.created_at >= EVENTS[500].created_at}
    assert export.events == len(wanted)


async def test_filter_limit_exports_the_newest(source: SqliteStore, target: SqliteStore, tmp_path: Path) -> None:
    export = await export_bundle(source, tmp_path / "l.smz", filters=[Filter(limit=1500)], created_at=NOW)
    assert export.events == len(EVENTS)
    export = await export_bundle(source, tmp_path / "l.smz", filters=[Filter(limit=25)], created_at=NOW)
    await import_bundles(export.files, target.add_many)
    assert await all_events(target) == set(EVENTS[-25:])


async def test_paging_survives_many_events_in_the_same_second(target: SqliteStore, tmp_path: Path) -> None:
    same = [sign_event(OWNER, 2333, f"burst {i}", [["t", "burst"]], created_at=NOW - 10) for i in range(2300)]
    await target.add_many(same)
    filters = [Filter(kinds=frozenset({2333}))]
    export = await export_bundle(target, tmp_path / "b.smz", filters=filters, created_at=NOW)
    assert export.events == len(same)
    store = await SqliteStore.open(tmp_path / "b.db")
    try:
        report = await import_bundles(export.files, store.add_many)
        assert report.new == len(same)
    finally:
        await store.close()


async def test_empty_export_is_a_valid_bundle(target: SqliteStore, tmp_path: Path) -> None:
    export = await export_bundle(target, tmp_path / "e.smz", created_at=NOW)
    assert export.events == 0
    report = await import_bundles(export.files, target.add_many)
    assert report.files[0].complete
    assert report.new == 0


async def test_export_refuses_a_tiny_part_size_and_skips_events_that_cannot_fit(
    target: SqliteStore, tmp_path: Path
) -> None:
    with pytest.raises(UsageError, match="at least"):
        await export_bundle(target, tmp_path / "x.smz", max_part_bytes=1000, created_at=NOW)
    big = sign_event(OWNER, 2333, "x" * 10_000, created_at=NOW - 5)
    small = sign_event(OWNER, 2333, "small", created_at=NOW - 5)
    await target.add_many([big, small])
    export = await export_bundle(target, tmp_path / "x.smz", max_part_bytes=5000, created_at=NOW)
    assert (export.events, export.skipped) == (1, 1)


async def test_export_to_an_unwritable_place_is_a_usage_error(source: SqliteStore, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot write the bundle") as info:
        await export_bundle(source, tmp_path / "missing-dir" / "n.smz", created_at=NOW)
    assert "\n" not in str(info.value)


async def test_a_store_failure_leaves_no_files_and_keeps_the_old_bundle(tmp_path: Path) -> None:
    class FailingStore:
        def __init__(self) -> None:
            self.calls = 0

        async def query(self, filters: Sequence[Filter]) -> list[Event]:
            raise AssertionError("not used")

        async def events_since(self, rowid: int, limit: int) -> list[tuple[int, Event]]:
            self.calls += 1
            if self.calls > 3:
                raise StoreError("Cannot read the store: disk I/O error.")
            return [(rowid + i + 1, e) for i, e in enumerate(EVENTS[rowid : rowid + 100])]

    out = tmp_path / "n.smz"
    out.write_bytes(b"the previous bundle")
    with pytest.raises(StoreError):
        await export_bundle(FailingStore(), out, max_part_bytes=20_000, created_at=NOW)
    assert names(tmp_path) == ["n.smz"]
    assert out.read_bytes() == b"the previous bundle"


async def test_a_write_failure_is_one_sentence_and_cleans_up(source: SqliteStore, tmp_path: Path) -> None:
    out = tmp_path / "out" / "n.smz"
    out.parent.mkdir()
    (out.parent / "n.part3.smz.tmp").mkdir()  # part 3 cannot be created
    with pytest.raises(UsageError, match="cannot write the bundle") as info:
        await export_bundle(source, out, max_part_bytes=30_000, created_at=NOW)
    assert "\n" not in str(info.value)
    assert names(out.parent) == ["n.part3.smz.tmp"]


async def test_ingest_gets_batches_and_its_outcomes_are_counted(source: SqliteStore, tmp_path: Path) -> None:
    export = await export_bundle(source, tmp_path / "n.smz", created_at=NOW)
    sizes: list[int] = []

    async def ingest(events: list[Event]) -> list[AddOutcome]:
        sizes.append(len(events))
        first = [AddOutcome.STORED, AddOutcome.DELETED, AddOutcome.DUPLICATE] if not sizes[:-1] else []
        return first + [AddOutcome.OUTDATED] * (len(events) - len(first))

    report = await import_bundles(export.files, ingest, batch_size=200)
    assert sizes == [200, 200, 200]
    assert (report.new, report.duplicate, report.rejected) == (1, 1, 598)
    assert report.files[0].outcomes["outdated"] == 597
    assert report.files[0].outcomes["deleted"] == 1


async def test_memory_store_and_a_store_with_only_query(tmp_path: Path) -> None:
    memory = MemoryStore()
    await memory.add_many(EVENTS)

    class QueryOnly:  # a store without events_since: export pages through query()
        async def query(self, filters: Sequence[Filter]) -> list[Event]:
            return await memory.query(filters)

    for name, store in (("m.smz", memory), ("q.smz", QueryOnly())):
        export = await export_bundle(store, tmp_path / name, max_part_bytes=100_000, created_at=NOW)
        target = MemoryStore()
        report = await import_bundles(export.files, target.add_many)
        assert report.new == len(EVENTS)
        assert set(await target.query([Filter(limit=10_000)])) == set(EVENTS)
