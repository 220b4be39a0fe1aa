"""The SQL of the SQLite store: synchronous functions that take a :class:`sqlite3.Connection`.

Nothing here knows about threads or asyncio: :mod:`samizdat.store.writer` calls the write functions
(:func:`add_event`, :func:`purge_expired_chunk`) on its one write connection inside a transaction it owns, and
:mod:`samizdat.store.sqlite` calls the read functions on pooled read-only connections. Raw ``sqlite3.Error``\\ s
escape from here; the callers map them to :class:`~samizdat.errors.StoreError`. Opening connections and
migrating the schema is :mod:`samizdat.store.sqlite`'s job.

How a filter becomes SQL (the schema is in ``migrations/0001_init.sql``, its indexes changed by ``0003``):

* A filter is *driven* by one index, chosen from what it names, most selective first: ``ids``, then ``search``
  (the FTS5 table), then ``authors`` (with ``kinds``; without them, with the kinds the authors have used: see
  :func:`author_kinds`), then its ``#x`` tag with the fewest values, then
  ``kinds``, then ``created_at`` alone. The other conditions are written with a unary ``+``
  (``+e.kind IN (...)``) so that SQLite checks them on the rows found instead of picking another index without
  statistics to guide it.
* For ``query`` a driver with a few values (at most :data:`MAX_ARMS` combinations, such as 1 author x 3 kinds)
  becomes one SELECT per value, each reading its index newest first; SQLite merges them (``MERGE (UNION ALL)``)
  and stops after ``limit`` rows, so no result is ever sorted in a temporary b-tree. More values fall back to one
  SELECT with ``IN`` lists, which sorts only the rows that match.
* ``ids`` filters (up to thousands of ids) are looked up by primary key in chunks and checked in Python.
* A ``search`` filter (without ``ids``) is capped to the matches stored most recently, read from the full-text
  index in rowid order, so that a common word costs ``limit`` rows and not a sort of every match; see
  :func:`query_sql`.
* :class:`Pager` reads the same answer a page at a time (the relay's REQs): keyset paging, each filter's SELECT
  continuing after the last ``(created_at, id)`` sent (a search filter after the last rowid), so that a page
  costs about what it holds and no result list or read snapshot outlives it.
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from samizdat.core.event import Event, parse_stored_json
from samizdat.core.filters import Filter
from samizdat.core.kinds import DELETION, is_ephemeral
from samizdat.errors import RemoteProtocolError, StoreError
from samizdat.store.base import AddOutcome, Withdrawn
from samizdat.store.dbapi import sqlite3
from samizdat.store.rules import (
    UNDELETABLE_KINDS,
    WITHDRAWN_PER_AUTHOR,
    Search,
    deletion_targets,
    indexed_tags,
    is_filter_tag,
    is_hex64,
    newest_first,
    parse_search,
    searchable_text,
    slot_d,
    wins_over,
    withdrawn_cutoff,
    withdrawn_record,
)

#: Most SELECTs merged for one filter (SQLite allows 500 in a compound SELECT).
MAX_ARMS = 20
#: Ids looked up per statement.
ID_CHUNK = 500
#: A position in the newest-first order: (created_at, 32-byte id) of the last event a page held.
Key = tuple[int, bytes]
_NOT_EXPIRED = "(e.expiration IS NULL OR e.expiration > ?)"

# --- events in and out --------------------------------------------------------------------------------------


def event_from_raw(raw: bytes) -> Event:
    """The stored event; its JSON is kept so that serving it again needs no serialisation.

    Raises StoreError when the stored bytes are not an event (the file was damaged or tampered with).
    """
    try:
        return parse_stored_json(raw)
    except RemoteProtocolError as exc:
        raise StoreError(f"A stored event is damaged ({exc}).") from exc


def tag_value(value: str) -> str | bytes:
    return bytes.fromhex(value) if is_hex64(value) else value


def last_seq(conn: sqlite3.Connection) -> int:
    """The last insertion number handed out (AUTOINCREMENT keeps it in sqlite_sequence: one row read)."""
    row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()
    return int(row[0]) if row else 0


def add_event(conn: sqlite3.Connection, event: Event, now: int) -> AddOutcome:
    """Apply the store rules of :mod:`samizdat.store.base` to one verified event, inside the caller's transaction."""
    if is_ephemeral(event.kind):
        return AddOutcome.EPHEMERAL
    if event.is_expired(now):
        return AddOutcome.EXPIRED
    eid, pubkey = bytes.fromhex(event.id), bytes.fromhex(event.pubkey)
    # One statement for both lookups every event needs (this is the hot path of every write).
    # An id dropped to keep the carry quota counts as had: storing it again would only start the cycle again.
    stored, deleted = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM events WHERE id = ?1) OR EXISTS (SELECT 1 FROM evicted WHERE id = ?1),"
        " EXISTS (SELECT 1 FROM deleted_ids WHERE id = ?1 AND pubkey = ?2)",
        (eid, pubkey),
    ).fetchone()
    if stored:
        return AddOutcome.DUPLICATE
    d = slot_d(event)
    # A deletion request cannot be deleted (NIP-09), so one always gets through; nor can a channel's definition.
    if event.kind not in UNDELETABLE_KINDS:
        if deleted:
            return AddOutcome.DELETED
        if d is not None:
            row = conn.execute(
                "SELECT until FROM deleted_addrs WHERE pubkey = ? AND kind = ? AND d_tag = ?", (pubkey, event.kind, d)
            ).fetchone()
            if row and event.created_at <= row[0]:
                return AddOutcome.DELETED
    if d is not None:
        row = conn.execute(
            "SELECT seq, raw FROM events WHERE pubkey = ? AND kind = ? AND d_tag = ?", (pubkey, event.kind, d)
        ).fetchone()
        if row:
            stored = event_from_raw(row[1])
            if not wins_over(event, stored):
                return AddOutcome.OUTDATED
            delete_event(conn, row[0], stored)
        elif _below_floor(conn, event, pubkey, d):
            return AddOutcome.OUTDATED
    _insert(conn, event, eid, pubkey, d)
    if event.kind == DELETION:
        _apply_deletion(conn, event, pubkey, now)
    return AddOutcome.STORED


def _below_floor(conn: sqlite3.Connection, event: Event, pubkey: bytes, d: str) -> bool:
    """Whether the carry quota dropped a version of ``event``'s slot that ``event`` would not have replaced (see
    :mod:`samizdat.store.carry`, "floor"): refused as if that version were still stored. The dropped version
    itself is welcome back. Read only when the slot is empty, as a stored version is never below the floor."""
    row = conn.execute(
        "SELECT created_at, id FROM slot_floors WHERE pubkey = ? AND kind = ? AND d_tag = ?", (pubkey, event.kind, d)
    ).fetchone()
    if row is None:
        return False
    created_at, eid = int(row[0]), bytes(row[1]).hex()
    return event.id != eid and (event.created_at, eid) <= (created_at, event.id)


def add_events(conn: sqlite3.Connection, events: Sequence[Event], now: int) -> list[AddOutcome]:
    """:func:`add_event` for many events, in order, with the same outcomes, but with a few statements per run
    of plain events instead of several per event (this is what makes a busy relay's commits cheap).

    A *plain* event is a regular, unexpired event that is not a deletion request: whether it is stored depends
    only on whether its id is already stored or deleted. Runs of plain events are checked with one lookup and
    written with one ``executemany`` per table; anything else (replaceable, addressable, ephemeral, expired,
    deletion requests) goes through :func:`add_event` on its own, which ends the run, so the order of events in
    the batch keeps its meaning (a deletion request before an event still refuses it).
    """
    outcomes: list[AddOutcome] = []
    run: list[Event] = []
    for event in events:
        if is_plain(event, now):
            run.append(event)
            continue
        if run:
            outcomes += _add_plain_run(conn, run)
            run = []
        outcomes.append(add_event(conn, event, now))
    if run:
        outcomes += _add_plain_run(conn, run)
    return outcomes


def is_plain(event: Event, now: int) -> bool:
    return (
        event.kind != DELETION
        and slot_d(event) is None
        and not is_ephemeral(event.kind)
        and not (event.is_expired(now))
    )


def _add_plain_run(conn: sqlite3.Connection, run: list[Event]) -> list[AddOutcome]:
    ids = [bytes.fromhex(e.id) for e in run]
    present: set[bytes] = set()
    deleted: set[tuple[bytes, bytes]] = set()
    for start in range(0, len(ids), ID_CHUNK):
        chunk = ids[start : start + ID_CHUNK]
        marks = ",".join("?" * len(chunk))
        present.update(row[0] for row in conn.execute(f"SELECT id FROM events WHERE id IN ({marks})", chunk))
        present.update(row[0] for row in conn.execute(f"SELECT id FROM evicted WHERE id IN ({marks})", chunk))
        deleted.update(conn.execute(f"SELECT id, pubkey FROM deleted_ids WHERE id IN ({marks})", chunk))
    outcomes: list[AddOutcome] = []
    new: list[tuple[Event, bytes, bytes]] = []
    for event, eid in zip(run, ids, strict=True):
        pubkey = bytes.fromhex(event.pubkey)
        if eid in present:
            outcomes.append(AddOutcome.DUPLICATE)
        elif (eid, pubkey) in deleted:
            outcomes.append(AddOutcome.DELETED)
        else:
            present.add(eid)  # the same event twice in one batch: the second is a duplicate
            new.append((event, eid, pubkey))
            outcomes.append(AddOutcome.STORED)
    if not new:
        return outcomes
    # One writer, inside one transaction: AUTOINCREMENT hands the rows consecutive insertion numbers.
    first = last_seq(conn) + 1
    conn.executemany(
        "INSERT INTO events (seq, id, pubkey, created_at, kind, d_tag, expiration, raw) "
        "VALUES (?, ?, ?, ?, ?, NULL, ?, ?)",
        [
            (first + i, eid, pubkey, e.created_at, e.kind, e.expiration, e.to_json())
            for i, (e, eid, pubkey) in enumerate(new)
        ],
    )
    tag_rows = []
    text_rows = []
    for i, (event, eid, _) in enumerate(new):
        seq = first + i
        tag_rows += [(name, tag_value(value), event.created_at, eid, seq) for name, value in indexed_tags(event)]
        text = searchable_text(event)
        if text:
            text_rows.append((seq, text))
    if tag_rows:
        conn.executemany("INSERT INTO tags (name, value, created_at, id, seq) VALUES (?, ?, ?, ?, ?)", tag_rows)
    if text_rows:
        conn.executemany("INSERT INTO events_fts (rowid, text) VALUES (?, ?)", text_rows)
    return outcomes


def _insert(conn: sqlite3.Connection, event: Event, eid: bytes, pubkey: bytes, d: str | None) -> None:
    cursor = conn.execute(
        "INSERT INTO events (id, pubkey, created_at, kind, d_tag, expiration, raw) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (eid, pubkey, event.created_at, event.kind, d, event.expiration, event.to_json()),
    )
    seq = cursor.lastrowid
    tags = indexed_tags(event)
    if tags:
        conn.executemany(
            "INSERT INTO tags (name, value, created_at, id, seq) VALUES (?, ?, ?, ?, ?)",
            [(name, tag_value(value), event.created_at, eid, seq) for name, value in tags],
        )
    text = searchable_text(event)
    if text:
        conn.execute("INSERT INTO events_fts (rowid, text) VALUES (?, ?)", (seq, text))


def delete_event(conn: sqlite3.Connection, seq: int, event: Event) -> None:
    eid = bytes.fromhex(event.id)
    conn.execute("DELETE FROM events WHERE seq = ?", (seq,))
    conn.executemany(
        "DELETE FROM tags WHERE name = ? AND value = ? AND created_at = ? AND id = ?",
        [(name, tag_value(value), event.created_at, eid) for name, value in indexed_tags(event)],
    )
    text = searchable_text(event)
    if text:
        # Contentless FTS5: a row is deleted by repeating exactly the text that was indexed.
        conn.execute("INSERT INTO events_fts (events_fts, rowid, text) VALUES ('delete', ?, ?)", (seq, text))
    if event.kind == DELETION:
        _forget_deletion(conn, event)


def _forget_deletion(conn: sqlite3.Connection, request: Event) -> None:
    """Remove the marks deletion ``request`` left (``deleted_ids``, ``deleted_addrs``) now that it leaves the store
    itself (dropped by the carry quota, or expired), unless another stored request of its author asks the same.

    The marks are what refuses a deleted event that comes back; kept after their request, they would be the one
    thing a flood cannot be made to give back: deletion requests of 2,000 random ids each, dropped as the junk they
    are, left 7 MB of marks per 50 requests behind, which the quota counts and can only pay for with posts."""
    pubkey = bytes.fromhex(request.pubkey)
    targets = deletion_targets(request)
    for target in targets.ids:
        tid = bytes.fromhex(target)
        if not _still_asked(conn, pubkey, "e", tid):
            conn.execute("DELETE FROM deleted_ids WHERE id = ? AND pubkey = ?", (tid, pubkey))
    for kind, d in targets.slots:
        if not _still_asked(conn, pubkey, "a", f"{kind}:{request.pubkey}:{d}"):
            conn.execute("DELETE FROM deleted_addrs WHERE pubkey = ? AND kind = ? AND d_tag = ?", (pubkey, kind, d))


def _still_asked(conn: sqlite3.Connection, pubkey: bytes, name: str, value: str | bytes) -> bool:
    """Whether a stored deletion request by ``pubkey`` has the tag ``[name, value]``."""
    row = conn.execute(
        "SELECT 1 FROM tags AS t JOIN events AS e ON e.seq = t.seq "
        "WHERE t.name = ? AND t.value = ? AND e.kind = ? AND e.pubkey = ? LIMIT 1",
        (name, value, DELETION, pubkey),
    ).fetchone()
    return row is not None


def _apply_deletion(conn: sqlite3.Connection, request: Event, pubkey: bytes, now: int) -> None:
    targets = deletion_targets(request)
    records = []
    for target in targets.ids:
        tid = bytes.fromhex(target)
        conn.execute("INSERT OR IGNORE INTO deleted_ids (id, pubkey) VALUES (?, ?)", (tid, pubkey))
        row = conn.execute(
            "SELECT seq, raw FROM events WHERE id = ? AND pubkey = ? AND kind NOT IN (?, ?)",
            (tid, pubkey, *sorted(UNDELETABLE_KINDS)),
        ).fetchone()
        if row:
            erased = event_from_raw(row[1])
            delete_event(conn, row[0], erased)
            if record := withdrawn_record(erased, request):
                records.append((record, row[0]))
    keep_withdrawn(conn, records, now)
    for kind, d in targets.slots:
        conn.execute(
            "INSERT INTO deleted_addrs (pubkey, kind, d_tag, until) VALUES (?, ?, ?, ?) "
            "ON CONFLICT DO UPDATE SET until = max(until, excluded.until)",
            (pubkey, kind, d, request.created_at),
        )
        rows = conn.execute(
            "SELECT seq, raw FROM events WHERE pubkey = ? AND kind = ? AND d_tag = ? AND created_at <= ?",
            (pubkey, kind, d, request.created_at),
        ).fetchall()
        for seq, raw in rows:
            delete_event(conn, seq, event_from_raw(raw))


def keep_withdrawn(conn: sqlite3.Connection, records: Sequence[tuple[Withdrawn, int]], now: int) -> None:
    """Keep ``records`` (:class:`~samizdat.store.base.Withdrawn`, of one deletion request: one author, each with
    its amendment's ``seq``), made ``now``, and at most WITHDRAWN_PER_AUTHOR of their author's: those whose
    amendment reached the store last are dropped first (:data:`~samizdat.store.rules.WITHDRAWN_PER_AUTHOR`)."""
    if not records:
        return
    pubkey = bytes.fromhex(records[0][0].author)
    conn.executemany(
        "INSERT OR IGNORE INTO withdrawn (id, pubkey, action, target, address, created_at, deletion, deleted_at,"
        " recorded_at, arrived) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [(bytes.fromhex(r.id), bytes.fromhex(r.author), r.action, bytes.fromhex(r.target), r.address,
          r.created_at, bytes.fromhex(r.deletion), r.deleted_at, now, seq) for r, seq in records],
    )  # fmt: skip
    conn.execute(
        "DELETE FROM withdrawn WHERE pubkey = ?1 AND id IN (SELECT id FROM withdrawn WHERE pubkey = ?1"
        " ORDER BY arrived, id LIMIT -1 OFFSET ?2)",
        (pubkey, WITHDRAWN_PER_AUTHOR),
    )


def withdrawn(conn: sqlite3.Connection, author: str) -> list[Withdrawn]:
    """``author``'s :class:`~samizdat.store.base.Withdrawn` records, newest first."""
    rows = conn.execute(
        "SELECT id, action, target, address, created_at, deletion, deleted_at FROM withdrawn WHERE pubkey = ?"
        " ORDER BY created_at DESC, id",
        (bytes.fromhex(author),),
    ).fetchall()
    return [Withdrawn(bytes(i).hex(), author, a, bytes(t).hex(), addr, c, bytes(d).hex(), dc)
            for i, a, t, addr, c, d, dc in rows]  # fmt: skip


def purge_expired_chunk(conn: sqlite3.Connection, now: int, chunk: int) -> int:
    """Delete up to ``chunk`` events whose expiration is ``<= now``; return how many. Drops the withdrawn
    records past their time too (not counted)."""
    conn.execute("DELETE FROM withdrawn WHERE recorded_at < ?", (withdrawn_cutoff(now),))
    rows = conn.execute("SELECT seq, raw FROM events WHERE expiration <= ? LIMIT ?", (now, chunk)).fetchall()
    for seq, raw in rows:
        delete_event(conn, seq, event_from_raw(raw))
    return len(rows)


# --- filters to SQL ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A filter with its values converted to what the columns hold."""

    ids: tuple[bytes, ...] | None
    authors: tuple[bytes, ...] | None
    kinds: tuple[int, ...] | None
    tags: tuple[tuple[str, tuple[str | bytes, ...]], ...]
    since: int | None
    until: int | None
    search: Search

    @property
    def unconditional(self) -> bool:
        return (
            self.ids is None
            and self.authors is None
            and self.kinds is None
            and not self.tags
            and self.since is None
            and self.until is None
            and self.search.phrases is None
        )


def _hex_blobs(values: frozenset[str] | None) -> tuple[bytes, ...] | None:
    # A value that is not 64-hex cannot match anything; dropping it keeps the others' meaning.
    return None if values is None else tuple(bytes.fromhex(v) for v in sorted(values) if is_hex64(v))


def prepare(f: Filter) -> _Prepared | None:
    """``f`` in column terms, or None when it can match nothing."""
    search = parse_search(f.search)
    prepared = _Prepared(
        ids=_hex_blobs(f.ids),
        authors=_hex_blobs(f.authors),
        kinds=None if f.kinds is None else tuple(sorted(f.kinds)),
        tags=tuple((name, tuple(tag_value(v) for v in sorted(values))) for name, values in f.tags),
        since=f.since,
        until=f.until,
        search=search,
    )
    if f.is_empty_set or search.matches_nothing or prepared.ids == () or prepared.authors == ():
        return None
    if not all(is_filter_tag(name) for name, _ in f.tags):  # only single letters are indexed (and filterable)
        return None
    return prepared


def _in(column: str, values: Sequence[object]) -> str:
    return f"{column} = ?" if len(values) == 1 else f"{column} IN ({','.join('?' * len(values))})"


@dataclass(slots=True)
class _Select:
    """One SELECT: ``columns`` over ``source`` where all ``terms`` hold."""

    source: str = "events e"
    terms: list[str] = dataclasses.field(default_factory=list)
    params: list[object] = dataclasses.field(default_factory=list)
    order: str = "e"  # the alias whose (created_at, id) orders the rows

    def where(self, term: str, *params: object) -> None:
        self.terms.append(term)
        self.params.extend(params)

    def sql(self, columns: str) -> str:
        return f"SELECT {columns} FROM {self.source} WHERE {' AND '.join(self.terms) or '1'}"


# Which columns of events each driver reads through an index.
_INDEXED_BY = {
    "ids": frozenset({"id"}),
    "authors": frozenset({"pubkey", "kind", "created_at"}),
    "search": frozenset({"seq"}),
    "tag": frozenset(),
    "kinds": frozenset({"kind", "created_at"}),
}


def _driver(p: _Prepared) -> str:
    if p.ids is not None:
        return "ids"
    if p.search.phrases is not None:
        return "search"
    if p.authors is not None:
        return "authors"
    if p.tags:
        return "tag"
    return "kinds"


def _driving_tag(p: _Prepared) -> tuple[str, tuple[str | bytes, ...]]:
    return min(p.tags, key=lambda tag: len(tag[1]))


def _build(p: _Prepared, now: int, driver: str, *, join: bool = False, after: Key | None = None) -> _Select:
    """One SELECT for ``p`` driven by ``driver``. With ``join``, a tag or search driver reads its own table first
    and in its own order (tags newest first; full-text matches latest stored first) rather than feeding an IN.
    With ``after``, only rows that come after that key in the newest-first order (keyset paging)."""
    s = _Select()
    # Only the driver's columns may use an index; a unary + hides the others from the planner.
    indexed = _INDEXED_BY[driver]

    def col(name: str) -> str:
        return f"e.{name}" if name in indexed else f"+e.{name}"

    created = col("created_at")
    skip_tag: tuple[str, tuple[str | bytes, ...]] | None = None
    if driver == "tag":
        skip_tag = _driving_tag(p)
        name, values = skip_tag
        if join:
            s.source, s.order, created = "tags t CROSS JOIN events e ON e.seq = t.seq", "t", "t.created_at"
            s.where("t.name = ?", name)
            s.where(_in("t.value", values), *values)
        else:
            inner = f"SELECT t.seq FROM tags t WHERE t.name = ? AND {_in('t.value', values)}"
            s.where(f"e.seq IN ({inner})", name, *values)
    if driver == "authors":
        # Without statistics SQLite took the kind index for "1,000 authors and kind 1", and read every event of
        # the kind to find none of 1,000 unknown authors' (61-200 ms, red-team finding); the authors' index reads
        # at most their own events.
        s.source = "events e INDEXED BY events_pubkey_kind"
    if p.ids is not None:
        s.where(_in(col("id"), p.ids), *p.ids)
    if p.authors is not None:
        s.where(_in(col("pubkey"), p.authors), *p.authors)
    if p.kinds is not None:
        s.where(_in(col("kind"), p.kinds), *p.kinds)
    if p.since is not None:
        s.where(f"{created} >= ?", p.since)
    if p.until is not None:
        s.where(f"{created} <= ?", p.until)
    if after is not None:
        # The first term bounds the index range; the second skips what was sent at the same second.
        s.where(f"{created} <= ?", after[0])
        s.where(f"(+{s.order}.created_at < ? OR +{s.order}.id > ?)", after[0], after[1])
    for name, values in p.tags:
        if (name, values) == skip_tag:
            continue
        s.where(
            f"EXISTS (SELECT 1 FROM tags x WHERE x.name = ? AND {_in('x.value', values)} "
            "AND x.created_at = e.created_at AND x.id = e.id)",
            name,
            *values,
        )
    if p.search.phrases is not None and driver == "search" and join:
        s.source, s.order = "events_fts f CROSS JOIN events e ON e.seq = f.rowid", "f"
        s.where("f.events_fts MATCH ?", p.search.fts_query())
    elif p.search.phrases is not None:
        s.where(f"{col('seq')} IN (SELECT rowid FROM events_fts WHERE events_fts MATCH ?)", p.search.fts_query())
    s.where(_NOT_EXPIRED, now)
    return s


def _arms(p: _Prepared, now: int, after: Key | None = None) -> tuple[list[_Select], bool]:
    """The SELECTs whose merge answers ``p`` newest first (after ``after``), and whether their rows can overlap."""
    driver = _driver(p)
    if driver == "authors" and p.authors is not None:
        kinds: Sequence[int | None] = p.kinds if p.kinds is not None else (None,)
        if len(p.authors) * len(kinds) <= MAX_ARMS:
            return [
                _build(
                    dataclasses.replace(p, authors=(a,), kinds=None if k is None else (k,)), now, "authors", after=after
                )
                for a in p.authors
                for k in kinds
            ], False
    elif driver == "tag":
        name, values = _driving_tag(p)
        if len(values) <= MAX_ARMS:
            others = tuple(tag for tag in p.tags if tag != (name, values))
            return [
                _build(dataclasses.replace(p, tags=((name, (v,)), *others)), now, "tag", join=True, after=after)
                for v in values
            ], len(values) > 1
    elif driver == "kinds" and p.kinds is not None and 1 < len(p.kinds) <= MAX_ARMS:
        return [_build(dataclasses.replace(p, kinds=(k,)), now, "kinds", after=after) for k in p.kinds], False
    return [_build(p, now, driver, after=after)], False


def author_kinds(conn: sqlite3.Connection, p: _Prepared) -> _Prepared | None:
    """``p`` with the kinds its authors have used, when it names authors but no kinds; None if they have none.

    The store has no index of an author's events by time alone (migration 0003: one B-tree less to write per
    event), so "an author's events, newest first" is the merge of one arm per (author, kind) read from
    events_pubkey_kind. The kinds are found by seeking that index from one kind to the next (a skip scan: a
    few page reads per author, however many events they have). When the arms would exceed :data:`MAX_ARMS`,
    ``p`` is returned unchanged, and its one SELECT sorts the author's rows, as any filter with many values does.
    Other filters are returned unchanged."""
    if p.authors is None or p.kinds is not None or _driver(p) != "authors" or len(p.authors) > MAX_ARMS:
        return p
    found: set[int] = set()
    for author in p.authors:
        rows = conn.execute(
            "WITH RECURSIVE k(kind) AS (SELECT (SELECT min(kind) FROM events WHERE pubkey = ?1)"
            " UNION ALL SELECT (SELECT min(kind) FROM events WHERE pubkey = ?1 AND kind > k.kind)"
            " FROM k WHERE k.kind IS NOT NULL LIMIT ?2)"
            " SELECT kind FROM k WHERE kind IS NOT NULL",
            (author, MAX_ARMS + 1),
        )
        found.update(int(row[0]) for row in rows)
        if len(p.authors) * len(found) > MAX_ARMS:
            return p
    if not found:
        return None
    return dataclasses.replace(p, kinds=tuple(sorted(found)))


def query_sql(p: _Prepared, now: int, limit: int, after: Key | None = None) -> tuple[str, list[object]]:
    """The statement that answers one (non-``ids``) filter: rows of (created_at, id, raw), newest first; with
    ``after``, the rows that follow that key (a ``search`` filter ignores it: see :func:`search_page_sql`).

    A ``search`` filter takes the ``limit`` matches stored most recently instead (NIP-50 lets a relay choose
    which matches are best): that stops after ``limit`` rows however common the words are, where "newest
    ``created_at`` first" would have to sort every match.
    """
    if _driver(p) == "search":
        s = _build(p, now, "search", join=True)
        return f"{s.sql('e.created_at, e.id, e.raw')} ORDER BY f.rowid DESC LIMIT ?", [*s.params, limit]
    arms, overlap = _arms(p, now, after)
    if len(arms) == 1:
        arm = arms[0]
        o = arm.order
        sql = f"{arm.sql(f'{o}.created_at, {o}.id, e.raw')} ORDER BY {o}.created_at DESC, {o}.id LIMIT ?"
        return sql, [*arm.params, limit]
    glue = " UNION " if overlap else " UNION ALL "
    sql = glue.join(a.sql(f"{a.order}.created_at, {a.order}.id, e.raw") for a in arms) + " ORDER BY 1 DESC, 2 LIMIT ?"
    return sql, [*(param for a in arms for param in a.params), limit]


# --- reads ----------------------------------------------------------------------------------------------------


def _chunks(values: Sequence[bytes], size: int = ID_CHUNK) -> Iterator[Sequence[bytes]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _query_ids(conn: sqlite3.Connection, f: Filter, p: _Prepared, now: int, limit: int) -> list[Event]:
    assert p.ids is not None
    found: list[Event] = []
    for chunk in _chunks(p.ids):
        rows = conn.execute(
            f"SELECT raw FROM events e WHERE {_in('e.id', chunk)} AND {_NOT_EXPIRED}", (*chunk, now)
        ).fetchall()
        found.extend(event for (raw,) in rows if f.matches(event := event_from_raw(raw)))
    found.sort(key=newest_first)
    return found[:limit]


def query(conn: sqlite3.Connection, filters: Iterable[Filter], now: int, default_limit: int) -> list[Event]:
    """Events matching any filter, newest first, each filter capped by its limit; each event once."""
    found: dict[str, Event] = {}
    for f in filters:
        limit = default_limit if f.limit is None else f.limit
        p = prepare(f)
        if p is None or limit <= 0:
            continue
        if p.ids is not None and p.search.phrases is None:
            events = _query_ids(conn, f, p, now, limit)
        else:
            p = author_kinds(conn, p)
            if p is None:
                continue
            sql, params = query_sql(p, now, limit)
            events = [event_from_raw(raw) for _, _, raw in conn.execute(sql, params)]
        for event in events:
            found.setdefault(event.id, event)
    return sorted(found.values(), key=newest_first)


def search_page_sql(p: _Prepared, now: int, limit: int, before: int | None) -> tuple[str, list[object]]:
    """A page of a ``search``-driven filter: rows of (insertion number, raw), most recently stored first, below
    insertion number ``before`` (None: from the newest)."""
    s = _build(p, now, "search", join=True)
    if before is not None:
        s.where("f.rowid < ?", before)
    return f"{s.sql('f.rowid, e.raw')} ORDER BY f.rowid DESC LIMIT ?", [*s.params, limit]


@dataclass(slots=True)
class Stream:
    """One filter of a paged query (here and in :mod:`samizdat.store.pgqueries`): what it still may return, and
    where it stands."""

    prepared: _Prepared
    remaining: int  # events this filter may still contribute (its limit, counted down)
    exhausted: bool = False
    kinds_known: bool = False  # author_kinds has been applied (at the first page)
    before: int | None = None  # search streams: the insertion number of the last row read

    def take_search_page(self, rows: Iterable[tuple[int, bytes]], want: int, max_bytes: int) -> list[Event]:
        """A search stream's next page from ``rows`` (insertion number, raw event; newest stored first, at most
        ``want``): up to ``want`` events or the first that reaches ``max_bytes``, counted against the limit.
        Returns the page; :attr:`finished` says whether the stream has more."""
        page: list[Event] = []
        size = 0
        for seq, raw in rows:
            page.append(event_from_raw(bytes(raw)))
            size += len(raw)
            self.before = seq
            if len(page) >= want or size >= max_bytes:
                break
        self.remaining -= len(page)
        if len(page) < want and size < max_bytes:
            self.exhausted = True
        return page

    @property
    def finished(self) -> bool:
        return self.remaining <= 0 or self.exhausted


class Pager:
    """A query read a page at a time, each page in a short read transaction of its own (the relay's REQ path).

    :meth:`next_page` returns the next events, at most ``max_events`` of them and about ``max_bytes`` of JSON
    (a page stops at the first event that reaches it), until :attr:`done`. Nothing larger than one page is ever
    held, however high the filters' limits, and no read snapshot is kept between pages.

    Filters whose order is newest first (all but ``search``-driven ones) are *merged*: each page reads, for every
    filter still short of its ``limit``, its rows after the last key sent (keyset paging: an older
    ``created_at``, or the same one with a larger id) and merges them newest first, each event once, counting an
    event against the limit of every filter that returned it, as :func:`query` does. A filter that returns fewer
    rows than asked is finished. After them, each ``search``-driven filter follows on its own, most recently
    stored first (its order, see :func:`query_sql`), paged by insertion number; an event that also matched
    another filter of the same query may then come a second time. So for filters without ``search`` the pages
    hold exactly the events of :func:`query`, in its order, when the store does not change meanwhile; an event
    stored between two pages with an older ``created_at`` may be included, one deleted meanwhile is not.
    """

    def __init__(self, filters: Iterable[Filter], default_limit: int) -> None:
        self._merged: list[Stream] = []
        self._searches: list[Stream] = []
        for f in filters:
            limit = default_limit if f.limit is None else f.limit
            p = prepare(f)
            if p is None or limit <= 0:
                continue
            (self._searches if _driver(p) == "search" else self._merged).append(Stream(p, limit))
        self._after: Key | None = None

    @property
    def done(self) -> bool:
        return not self._merged and not self._searches

    def next_page(self, conn: sqlite3.Connection, now: int, max_events: int, max_bytes: int) -> list[Event]:
        """The next page (possibly empty, e.g. when the merged filters end; go on until :attr:`done`)."""
        if self._merged:
            return self._merged_page(conn, now, max_events, max_bytes)
        if self._searches:
            return self._search_page(conn, now, max_events, max_bytes)
        return []

    def _merged_page(self, conn: sqlite3.Connection, now: int, max_events: int, max_bytes: int) -> list[Event]:
        for stream in self._merged:
            if not stream.kinds_known:
                # The author's kinds as of the first page: a kind first used between two pages is not read.
                expanded = author_kinds(conn, stream.prepared)
                stream.kinds_known, stream.exhausted = True, expanded is None
                stream.prepared = expanded or stream.prepared
        streams = self._merged = [s for s in self._merged if not s.exhausted]
        cursors: list[sqlite3.Cursor] = []
        asked: list[int] = []
        got = [0] * len(streams)
        heap: list[tuple[int, bytes, int, bytes]] = []  # (-created_at, id, stream, raw): newest first
        try:
            for i, stream in enumerate(streams):
                want = min(stream.remaining, max_events)
                sql, params = query_sql(stream.prepared, now, want, self._after)
                cursor = conn.execute(sql, params)
                cursors.append(cursor)
                asked.append(want)
                row = cursor.fetchone()
                if row is None:
                    stream.exhausted = True
                else:
                    heap.append((-row[0], row[1], i, row[2]))
            heapq.heapify(heap)
            page: list[Event] = []
            size = 0
            last: tuple[int, bytes] | None = None
            while heap:
                neg_created, eid, i, raw = heap[0]
                fresh = (neg_created, eid) != last
                if fresh and (len(page) >= max_events or size >= max_bytes):
                    break  # the page is full; rows equal to the last one sent were still counted above
                heapq.heappop(heap)
                stream = streams[i]
                stream.remaining -= 1
                got[i] += 1
                if fresh:
                    page.append(event_from_raw(raw))
                    size += len(raw)
                    last = (neg_created, eid)
                if got[i] < asked[i]:
                    row = cursors[i].fetchone()
                    if row is None:
                        stream.exhausted = True
                    else:
                        heapq.heappush(heap, (-row[0], row[1], i, row[2]))
        finally:
            for cursor in cursors:
                cursor.close()
        if last is not None:
            self._after = (-last[0], last[1])
        self._merged = [s for s in streams if s.remaining > 0 and not s.exhausted]
        return page

    def _search_page(self, conn: sqlite3.Connection, now: int, max_events: int, max_bytes: int) -> list[Event]:
        stream = self._searches[0]
        want = min(stream.remaining, max_events)
        sql, params = search_page_sql(stream.prepared, now, want, stream.before)
        cursor = conn.execute(sql, params)
        try:
            page = stream.take_search_page(cursor, want, max_bytes)
        finally:
            cursor.close()
        if stream.finished:
            self._searches.pop(0)
        return page


def _seq_selects(filters: Iterable[Filter], now: int) -> list[_Select] | None:
    """One SELECT per filter that can match, or None when some filter matches every event."""
    selects = []
    for f in filters:
        p = prepare(f)
        if p is None:
            continue
        if p.unconditional:
            return None
        selects.append(_build(p, now, _driver(p)))
    return selects


def count(conn: sqlite3.Connection, filters: Iterable[Filter], now: int) -> int:
    """How many unexpired events match any filter (limits do not apply)."""
    selects = _seq_selects(filters, now)
    if selects is None:
        return int(conn.execute(f"SELECT count(*) FROM events e WHERE {_NOT_EXPIRED}", (now,)).fetchone()[0])
    if not selects:
        return 0
    if len(selects) == 1:
        return int(conn.execute(selects[0].sql("count(*)"), selects[0].params).fetchone()[0])
    sql = "SELECT count(*) FROM (" + " UNION ".join(s.sql("e.seq") for s in selects) + ")"
    return int(conn.execute(sql, [param for s in selects for param in s.params]).fetchone()[0])


def negentropy_cursor(conn: sqlite3.Connection, filters: Sequence[Filter], now: int) -> sqlite3.Cursor | None:
    """A cursor over (created_at, id) of matching events by ``created_at`` ascending (ties in any order).

    None when no filter can match. The caller fetches it in chunks and puts equal timestamps in id order.
    """
    selects = _seq_selects(filters, now) if filters else None
    if selects is None:
        sql = f"SELECT e.created_at, e.id FROM events e WHERE {_NOT_EXPIRED} ORDER BY e.created_at"
        return conn.execute(sql, (now,))
    if not selects:
        return None
    if len(selects) == 1:
        return conn.execute(selects[0].sql("e.created_at, e.id") + " ORDER BY e.created_at", selects[0].params)
    sql = " UNION ".join(s.sql("e.created_at, e.id") for s in selects) + " ORDER BY 1, 2"
    return conn.execute(sql, [param for s in selects for param in s.params])


def get(conn: sqlite3.Connection, event_id: str, now: int) -> Event | None:
    if not is_hex64(event_id):
        return None
    row = conn.execute(
        f"SELECT raw FROM events e WHERE e.id = ? AND {_NOT_EXPIRED}", (bytes.fromhex(event_id), now)
    ).fetchone()
    return None if row is None else event_from_raw(row[0])


def ids_with_prefix(conn: sqlite3.Connection, prefix: str, now: int, limit: int) -> list[str]:
    """Ids of unexpired events whose hex id starts with ``prefix`` (a range scan of the id index)."""
    low = bytes.fromhex(prefix.ljust(64, "0"))
    high = bytes.fromhex(prefix.ljust(64, "f"))
    rows = conn.execute(
        f"SELECT e.id FROM events e WHERE e.id >= ? AND e.id <= ? AND {_NOT_EXPIRED} ORDER BY e.id LIMIT ?",
        (low, high, now, limit),
    ).fetchall()
    return [bytes(row[0]).hex() for row in rows]


def has(conn: sqlite3.Connection, event_ids: Iterable[str], now: int) -> set[str]:
    wanted = sorted({bytes.fromhex(i) for i in event_ids if is_hex64(i)})
    found: set[str] = set()
    for chunk in _chunks(wanted):
        rows = conn.execute(f"SELECT id FROM events e WHERE {_in('e.id', chunk)} AND {_NOT_EXPIRED}", (*chunk, now))
        found.update(row[0].hex() for row in rows)
    return found


def events_since(conn: sqlite3.Connection, seq: int, limit: int, now: int) -> list[tuple[int, Event]]:
    rows = conn.execute(
        f"SELECT e.seq, e.raw FROM events e WHERE e.seq > ? AND {_NOT_EXPIRED} ORDER BY e.seq LIMIT ?",
        (seq, now, limit),
    )
    return [(s, event_from_raw(raw)) for s, raw in rows]


def scan_kinds(
    conn: sqlite3.Connection, seq: int, limit: int, now: int, kinds: frozenset[int]
) -> tuple[int, list[tuple[int, Event]], int]:
    """:meth:`samizdat.store.base.Store.scan_kinds`: other kinds' rows come back without their JSON, only its length
    (SQLite reads it from the row's header)."""
    wanted = ",".join(str(int(k)) for k in sorted(kinds)) or "NULL"
    rows = conn.execute(
        f"SELECT e.seq, CASE WHEN e.kind IN ({wanted}) THEN e.raw END, length(e.raw) FROM events e"
        f" WHERE e.seq > ? AND {_NOT_EXPIRED} ORDER BY e.seq LIMIT ?",
        (seq, now, limit),
    ).fetchall()
    last = rows[-1][0] if rows else seq
    skipped = sum(size for _, raw, size in rows if raw is None)
    return last, [(s, event_from_raw(raw)) for s, raw, _ in rows if raw is not None], skipped


def stats(conn: sqlite3.Connection) -> dict[str, int]:
    def one(sql: str) -> int:
        return int(conn.execute(sql).fetchone()[0])

    events = one("SELECT count(*) FROM events")
    replaceable = one(
        "SELECT (SELECT count(*) FROM events WHERE kind IN (0, 3))"
        " + (SELECT count(*) FROM events WHERE kind BETWEEN 10000 AND 19999)"
    )
    addressable = one("SELECT count(*) FROM events WHERE kind BETWEEN 30000 AND 39999")
    return {
        "events": events,
        "regular": events - replaceable - addressable,
        "replaceable": replaceable,
        "addressable": addressable,
        "expiring": one("SELECT count(*) FROM events WHERE expiration IS NOT NULL"),
        "deletion_requests": one(f"SELECT count(*) FROM events WHERE kind = {DELETION}"),
        "file_bytes": one("SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"),
    }
