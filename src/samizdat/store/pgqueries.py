"""The SQL of the PostgreSQL store: synchronous functions that take a :class:`psycopg.Connection`.

The PostgreSQL twin of :mod:`samizdat.store.queries`, on the schema of ``migrations/postgres/``: the same rules
(through :mod:`samizdat.store.rules` and the filter preparation of :mod:`samizdat.store.queries`), in
PostgreSQL's words. Nothing here knows about threads or asyncio; ``psycopg.Error`` escapes, and
:mod:`samizdat.store.postgres` maps it to :class:`~samizdat.errors.StoreError`. Adding events is in
:mod:`samizdat.store.pgwrites`.

How a filter becomes SQL: one SELECT per filter, ``ORDER BY created_at DESC, id LIMIT n``, with every condition
in its WHERE clause (tag conditions as semi-joins on ``tags``). Unlike SQLite, PostgreSQL keeps statistics and
picks the index itself, so none of the SQLite store's steering (unary ``+``, one SELECT per value) is needed.
Arrays (``= ANY(%s)``) carry lists of values, so a statement's text does not depend on how many values a filter
has. Rows with events come in PostgreSQL's binary format (``binary=True``): ids and JSON as bytes, not as hex
text twice their size. A ``search`` filter takes the matches stored most recently (``ORDER BY seq DESC``), like
the SQLite store.

Full-text search (NIP-50) uses the text search configuration ``samizdat_search`` (``simple`` plus ``unaccent``,
defined in the first migration): PostgreSQL's parser splits the text, ``unaccent`` removes diacritics and
``simple`` lowercases, in any script. Each term of the search string, as typed, becomes a ``phraseto_tsquery``
folded the same way as the indexed text; all must match. Where the SQLite store and this one differ (the contract
tests say so): PostgreSQL's parser keeps e-mail addresses, URLs and host names as single tokens (``a@b.org`` is
one word here, three in SQLite), and ``unaccent`` keeps letters that are letters of their own in Cyrillic
(``й`` stays ``й``, where SQLite and Python fold it to ``и``).
"""

from __future__ import annotations

import dataclasses
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg

from samizdat.core.event import Event
from samizdat.core.filters import Filter
from samizdat.core.kinds import DELETION
from samizdat.store.base import Withdrawn
from samizdat.store.queries import Key, Stream, _Prepared, event_from_raw, prepare
from samizdat.store.rules import (
    WITHDRAWN_PER_AUTHOR,
    Search,
    deletion_targets,
    is_hex64,
    newest_first,
    search_terms,
    withdrawn_cutoff,
)

Conn = psycopg.Connection[Any]
_NOT_EXPIRED = "(e.expiration IS NULL OR e.expiration > %s)"
_TSV = "to_tsvector('samizdat_search', %s)"

# --- writes -------------------------------------------------------------------------------------------------------


def last_seq(conn: Conn) -> int:
    row = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
    return int(row[0]) if row else 0


#: The NOTIFY channel that carries each write transaction's highest insertion number (samizdat.store.postgres).
CHANNEL = "samizdat_events"


# Adding events is in samizdat.store.pgwrites; purging them is here (the store's shared reading code calls it).


def keep_withdrawn(conn: Conn, records: Sequence[tuple[Withdrawn, int]], now: int) -> None:
    """Keep ``records`` (:class:`~samizdat.store.base.Withdrawn`, each with its amendment's ``seq``), made ``now``,
    and at most WITHDRAWN_PER_AUTHOR of each of their authors', those whose amendment reached the store last
    dropped first (the SQLite store's rule)."""
    if not records:
        return
    columns: list[list[Any]] = [[] for _ in range(10)]
    for r, seq in records:
        values = (bytes.fromhex(r.id), bytes.fromhex(r.author), r.action, bytes.fromhex(r.target), r.address,
                  r.created_at, bytes.fromhex(r.deletion), r.deleted_at, now, seq)  # fmt: skip
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    conn.execute(
        "INSERT INTO withdrawn (id, pubkey, action, target, address, created_at, deletion, deleted_at, recorded_at,"
        " arrived) SELECT * FROM unnest(%s::bytea[], %s::bytea[], %s::text[], %s::bytea[], %s::text[],"
        " %s::bigint[], %s::bytea[], %s::bigint[], %s::bigint[], %s::bigint[]) ON CONFLICT DO NOTHING",
        columns,
    )
    conn.execute(
        "DELETE FROM withdrawn w USING (SELECT id, row_number() OVER (PARTITION BY pubkey"
        " ORDER BY arrived, id) AS n FROM withdrawn WHERE pubkey = ANY(%s)) AS r"
        " WHERE w.id = r.id AND r.n > %s",
        (sorted({bytes.fromhex(r.author) for r, _ in records}), WITHDRAWN_PER_AUTHOR),
    )


def withdrawn(conn: Conn, author: str) -> list[Withdrawn]:
    """``author``'s :class:`~samizdat.store.base.Withdrawn` records, newest first."""
    rows = conn.execute(
        "SELECT id, action, target, address, created_at, deletion, deleted_at FROM withdrawn WHERE pubkey = %s"
        " ORDER BY created_at DESC, id",
        (bytes.fromhex(author),),
    ).fetchall()
    return [Withdrawn(bytes(i).hex(), author, a, bytes(t).hex(), addr, int(c), bytes(d).hex(), int(dc))
            for i, a, t, addr, c, d, dc in rows]  # fmt: skip


def purge_expired_chunk(conn: Conn, now: int, chunk: int) -> int:
    """Delete up to ``chunk`` events whose expiration is ``<= now``; return how many. An expired deletion request
    takes its marks with it (:func:`_forget_deletion`). Drops the withdrawn records past their time too."""
    conn.execute("DELETE FROM withdrawn WHERE recorded_at < %s", (withdrawn_cutoff(now),))
    rows = conn.execute(
        "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE expiration <= %s LIMIT %s) RETURNING kind, raw",
        (now, chunk),
        binary=True,
    ).fetchall()
    for kind, raw in rows:
        if kind == DELETION:
            _forget_deletion(conn, event_from_raw(bytes(raw)))
    return len(rows)


def _forget_deletion(conn: Conn, request: Event) -> None:
    """Remove the marks deletion ``request`` left (``deleted_ids``, ``deleted_addrs``) now that it has left the
    store, unless another stored request of its author asks the same (the SQLite store's rule,
    :func:`samizdat.store.queries._forget_deletion`). Kept, they were the one thing of an expired request that
    stayed: requests of 2,000 random ids each, expiring seconds later, left 2,000 rows each on the server's disk
    for good (red-team finding)."""
    pubkey = bytes.fromhex(request.pubkey)
    targets = deletion_targets(request)
    if targets.ids:
        conn.execute(
            "DELETE FROM deleted_ids d WHERE d.pubkey = %s AND d.id = ANY(%s) AND NOT EXISTS ("
            f" SELECT 1 FROM tags t JOIN events e ON e.seq = t.seq WHERE t.name = 'e'"
            f" AND t.value = encode(d.id, 'hex') AND e.kind = {DELETION} AND e.pubkey = d.pubkey)",
            (pubkey, [bytes.fromhex(t) for t in targets.ids]),
        )
    if targets.slots:  # one statement for all the addresses (see pgwrites._apply_deletions)
        conn.execute(
            "DELETE FROM deleted_addrs da USING unnest(%s::integer[], %s::text[], %s::text[]) AS u(k, d, a)"
            " WHERE da.pubkey = %s AND da.kind = u.k AND da.d_tag = u.d AND NOT EXISTS ("
            " SELECT 1 FROM tags t JOIN events e ON e.seq = t.seq WHERE t.name = 'a' AND t.value = u.a"
            f" AND e.kind = {DELETION} AND e.pubkey = %s)",
            (
                [kind for kind, _ in targets.slots],
                [d for _, d in targets.slots],
                [f"{kind}:{request.pubkey}:{d}" for kind, d in targets.slots],
                pubkey,
                pubkey,
            ),
        )


# --- filters to SQL -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Terms(Search):
    """A parsed ``search`` with the terms as the person typed them, for PostgreSQL to split and fold itself."""

    terms: tuple[str, ...] = ()


def _prepare(f: Filter) -> _Prepared | None:
    """:func:`~samizdat.store.queries.prepare`, keeping the search terms as typed: PostgreSQL's parser and
    ``unaccent`` fold them exactly as they folded the indexed text (Python's folding differs, e.g. ``й``)."""
    p = prepare(f)
    if p is None or f.search is None or p.search.phrases is None:
        return p
    return dataclasses.replace(p, search=_Terms(p.search.phrases, search_terms(f.search)))


def _text(value: str | bytes) -> str:
    return value.hex() if isinstance(value, bytes) else value  # prepare() turns 64-hex values into bytes


@dataclass(slots=True)
class _Select:
    terms: list[str] = dataclasses.field(default_factory=list)
    params: list[object] = dataclasses.field(default_factory=list)

    def where(self, term: str, *params: object) -> None:
        self.terms.append(term)
        self.params.extend(params)

    def sql(self, columns: str) -> str:
        return f"SELECT {columns} FROM events e WHERE {' AND '.join(self.terms) or 'true'}"


def _any(s: _Select, column: str, values: Sequence[object]) -> None:
    # One value as "=": the planner then reads an index in its order (with ANY it sorts what it finds).
    if len(values) == 1:
        s.where(f"{column} = %s", values[0])
    else:  # ids and keys in binary (%b), not as hex text
        s.where(f"{column} = ANY(%{'b' if isinstance(values[0], bytes) else 's'})", list(values))


def _build(p: _Prepared, now: int, after: Key | None = None, skip_tag: str | None = None) -> _Select:
    s = _Select()
    if p.ids is not None:
        _any(s, "e.id", p.ids)
    if p.authors is not None:
        _any(s, "e.pubkey", p.authors)
    if p.kinds is not None:
        _any(s, "e.kind", p.kinds)
    if p.since is not None:
        s.where("e.created_at >= %s", p.since)
    if p.until is not None:
        s.where("e.created_at <= %s", p.until)
    if after is not None:
        s.where("e.created_at <= %s AND (e.created_at < %s OR e.id > %s)", after[0], after[0], after[1])
    for name, values in p.tags:
        if name == skip_tag:
            continue
        s.where(
            "e.seq IN (SELECT t.seq FROM tags t WHERE t.name = %s AND t.value = ANY(%s))",
            name,
            [_text(v) for v in values],
        )
    if p.search.phrases is not None:
        terms = p.search.terms if isinstance(p.search, _Terms) else tuple(" ".join(w) for w in p.search.phrases)
        query = " && ".join(["phraseto_tsquery('samizdat_search', %s)"] * len(terms))
        s.where(f"e.search @@ ({query})", *terms)
    s.where(_NOT_EXPIRED, now)
    return s


def _is_search(p: _Prepared) -> bool:
    return p.search.phrases is not None and p.ids is None


#: Most values of a driving tag read one by one (each from the tag index, newest first) and merged.
MAX_ARMS = 20


#: What a query's rows carry: the event's JSON, or (for a page, :func:`_first_bytes`) its insertion number too.
_RAW, _PAGED = "e.raw", "e.seq, e.raw"


def _first_bytes(sql: str, params: list[object], keys: str, order: str, max_bytes: int) -> tuple[str, list[object]]:
    """``sql``'s rows (``keys``..., raw), as (``keys``..., size of raw, raw) in ``order``, with the JSON only in
    the rows that begin within the first ``max_bytes`` of JSON (NULL after them): all that a page of ``max_bytes``
    can take of them. ``octet_length`` reads a stored value's size, not the value."""
    n = "octet_length(r)"
    return (
        f"SELECT {keys}, {n}, CASE WHEN sum({n}) OVER (ORDER BY {order} ROWS UNBOUNDED PRECEDING) - {n} < %s"
        f" THEN r END FROM ({sql}) AS s({keys}, r) ORDER BY {order}",
        [max_bytes, *params],
    )


def _tag_arms(p: _Prepared, now: int, limit: int, after: Key | None, columns: str) -> tuple[str, list[object]] | None:
    """A filter led by a ``#x`` tag (no ids or authors): one SELECT per value of its tag with the fewest values,
    each reading the tag index newest first and stopping at ``limit``, merged. Without this, PostgreSQL finds
    every event with the tag and sorts them all (a topic tag of a million events: thousands of rows)."""
    if not p.tags or p.ids is not None or p.authors is not None:
        return None
    name, values = min(p.tags, key=lambda tag: len(tag[1]))
    if len(values) > MAX_ARMS:
        return None
    rest = _build(p, now, after, skip_tag=name)
    arms, params = [], []
    for value in values:
        terms = (
            " AND ".join(["t.name = %s", "t.value = %s", *rest.terms])
            .replace("e.created_at", "t.created_at")
            .replace("e.id >", "t.id >")
        )
        arms.append(
            f"(SELECT t.created_at, t.id, {columns} FROM tags t JOIN events e ON e.seq = t.seq"
            f" WHERE {terms} ORDER BY t.created_at DESC, t.id LIMIT %s)"
        )
        params += [name, _text(value), *rest.params, limit]
    if len(arms) == 1:
        return arms[0][1:-1], params
    return " UNION ".join(arms) + " ORDER BY 1 DESC, 2 LIMIT %s", [*params, limit]


def query_sql(
    p: _Prepared, now: int, limit: int, after: Key | None = None, *, max_bytes: int | None = None
) -> tuple[str, list[object]]:
    """Rows of (created_at, id, raw) answering one filter, newest first (a ``search`` filter: stored last first);
    with ``max_bytes`` (a page), (created_at, id, seq, size of raw, raw) with the JSON only in the rows that begin
    within the first ``max_bytes`` of it (:func:`_first_bytes`)."""
    if max_bytes is not None:
        sql, params = _query_sql(p, now, limit, after, _PAGED)
        return _first_bytes(sql, params, "c, i, q", "c DESC, i", max_bytes)
    return _query_sql(p, now, limit, after, _RAW)


def _query_sql(p: _Prepared, now: int, limit: int, after: Key | None, columns: str) -> tuple[str, list[object]]:
    if _is_search(p):
        s = _build(p, now)
        return f"{s.sql(f'e.created_at, e.id, {columns}')} ORDER BY e.seq DESC LIMIT %s", [*s.params, limit]
    arms = _tag_arms(p, now, limit, after, columns)
    if arms is not None:
        return arms
    s = _build(p, now, after)
    return f"{s.sql(f'e.created_at, e.id, {columns}')} ORDER BY e.created_at DESC, e.id LIMIT %s", [*s.params, limit]


def _raws(conn: Conn, seqs: Sequence[int]) -> dict[int, bytes]:
    """The JSON of the events with these insertion numbers (one deleted meanwhile is missing)."""
    if not seqs:
        return {}
    rows = conn.execute("SELECT seq, raw FROM events WHERE seq = ANY(%s)", (list(seqs),), binary=True)
    return {int(seq): bytes(raw) for seq, raw in rows}


def _page(conn: Conn, rows: list[tuple[int, bytes | None]]) -> list[Event]:
    """The events of (seq, raw) rows, in order, reading the JSON of any that came without it (none should: the
    page stops within the bytes that came with theirs); one deleted meanwhile is left out."""
    missing = _raws(conn, [seq for seq, raw in rows if raw is None])
    found = ((seq, missing.get(seq) if raw is None else raw) for seq, raw in rows)
    return [event_from_raw(raw) for _, raw in found if raw is not None]


def _query_ids(conn: Conn, f: Filter, p: _Prepared, now: int, limit: int) -> list[Event]:
    assert p.ids is not None
    rows = conn.execute(
        f"SELECT raw FROM events e WHERE e.id = ANY(%b) AND {_NOT_EXPIRED}", (list(p.ids), now), binary=True
    )
    found = [event for (raw,) in rows if f.matches(event := event_from_raw(bytes(raw)))]
    found.sort(key=newest_first)
    return found[:limit]


def query(conn: Conn, filters: Iterable[Filter], now: int, default_limit: int) -> list[Event]:
    """Events matching any filter, newest first, each filter capped by its limit; each event once."""
    found: dict[str, Event] = {}
    for f in filters:
        limit = default_limit if f.limit is None else f.limit
        p = _prepare(f)
        if p is None or limit <= 0:
            continue
        if p.ids is not None and p.search.phrases is None:
            events = _query_ids(conn, f, p, now, limit)
        else:
            sql, params = query_sql(p, now, limit)
            events = [event_from_raw(bytes(raw)) for _, _, raw in conn.execute(sql.encode(), params, binary=True)]
        for event in events:
            found.setdefault(event.id, event)
    return sorted(found.values(), key=newest_first)


class Pager:
    """:class:`samizdat.store.queries.Pager` on PostgreSQL: the same pages, in the same order (see there).

    Each filter's rows come with the JSON only of those within the page's first ``max_bytes`` (the rest with their
    size alone: :func:`_first_bytes`), all that the page can take of that filter. PostgreSQL sends a statement's
    whole result at once (SQLite's rows come one at a time, as the merge takes them): reading the JSON of every
    row asked for (up to ``max_events`` per filter) held all of it in the relay's memory to send a page of
    ``max_bytes``. A REQ of ten filters naming an author of 500 events of 200 KB pulled a gigabyte from the
    server for each page of one event, the relay grew past 2 GB, and the REQ kept the store busy for four minutes
    (red-team finding; tests/relay/test_redteam_scaled.py)."""

    def __init__(self, filters: Iterable[Filter], default_limit: int) -> None:
        self._merged: list[Stream] = []
        self._searches: list[Stream] = []
        for f in filters:
            limit = default_limit if f.limit is None else f.limit
            p = _prepare(f)
            if p is None or limit <= 0:
                continue
            (self._searches if _is_search(p) else self._merged).append(Stream(p, limit))
        self._after: Key | None = None

    @property
    def done(self) -> bool:
        return not self._merged and not self._searches

    def next_page(self, conn: Conn, now: int, max_events: int, max_bytes: int) -> list[Event]:
        if self._merged:
            return self._merged_page(conn, now, max_events, max_bytes)
        if self._searches:
            return self._search_page(conn, now, max_events, max_bytes)
        return []

    def _merged_page(self, conn: Conn, now: int, max_events: int, max_bytes: int) -> list[Event]:
        streams = self._merged
        rows: list[list[tuple[int, bytes, int, int, bytes | None]]] = []  # (created_at, id, seq, size, raw)
        asked: list[int] = []
        for stream in streams:
            want = min(stream.remaining, max_events)
            sql, params = query_sql(stream.prepared, now, want, self._after, max_bytes=max_bytes)
            got = [
                (int(c), bytes(i), int(q), int(n), None if r is None else bytes(r))
                for c, i, q, n, r in conn.execute(sql.encode(), params, binary=True)
            ]
            rows.append(got)
            asked.append(want)
            if len(got) < want:
                stream.exhausted = True
        heap = [(-got[0][0], got[0][1], i, 0) for i, got in enumerate(rows) if got]
        heapq.heapify(heap)
        chosen: list[tuple[int, bytes | None]] = []  # the page's (seq, raw), in its order
        size = 0
        last: tuple[int, bytes] | None = None
        taken = [0] * len(streams)
        while heap:
            neg_created, eid, i, at = heap[0]
            fresh = (neg_created, eid) != last
            if fresh and (len(chosen) >= max_events or size >= max_bytes):
                break
            heapq.heappop(heap)
            streams[i].remaining -= 1
            taken[i] += 1
            if fresh:
                _, _, seq, length, raw = rows[i][at]
                chosen.append((seq, raw))
                size += length
                last = (neg_created, eid)
            if at + 1 < len(rows[i]):
                row = rows[i][at + 1]
                heapq.heappush(heap, (-row[0], row[1], i, at + 1))
        for i, stream in enumerate(streams):
            if taken[i] < len(rows[i]):
                stream.exhausted = False  # rows were left over: this stream goes on after the page's last key
        if last is not None:
            self._after = (-last[0], last[1])
        self._merged = [s for s in streams if s.remaining > 0 and not s.exhausted]
        return _page(conn, chosen)

    def _search_page(self, conn: Conn, now: int, max_events: int, max_bytes: int) -> list[Event]:
        stream = self._searches[0]
        want = min(stream.remaining, max_events)
        s = _build(stream.prepared, now)
        if stream.before is not None:
            s.where("e.seq < %s", stream.before)
        sql, params = _first_bytes(
            f"{s.sql(_PAGED)} ORDER BY e.seq DESC LIMIT %s", [*s.params, want], "q", "q DESC", max_bytes
        )
        chosen: list[tuple[int, bytes | None]] = []
        size = 0
        for seq, length, raw in conn.execute(sql.encode(), params, binary=True):
            chosen.append((int(seq), None if raw is None else bytes(raw)))
            size += int(length)
            if len(chosen) >= want or size >= max_bytes:
                break
        page = _page(conn, chosen)
        if chosen:
            stream.before = chosen[-1][0]
        stream.remaining -= len(chosen)
        if len(chosen) < want and size < max_bytes:
            stream.exhausted = True
        if stream.finished:
            self._searches.pop(0)
        return page


# --- other reads --------------------------------------------------------------------------------------------------


def _selects(filters: Iterable[Filter], now: int) -> list[_Select] | None:
    """One SELECT per filter that can match, or None when some filter matches every event."""
    selects = []
    for f in filters:
        p = _prepare(f)
        if p is None:
            continue
        if p.unconditional:
            return None
        selects.append(_build(p, now))
    return selects


def count(conn: Conn, filters: Iterable[Filter], now: int) -> int:
    selects = _selects(filters, now)
    if selects is None:
        row = conn.execute(f"SELECT count(*) FROM events e WHERE {_NOT_EXPIRED}", (now,)).fetchone()
    elif not selects:
        return 0
    else:
        sql = "SELECT count(*) FROM (" + " UNION ".join(s.sql("e.seq") for s in selects) + ") AS matched"
        row = conn.execute(sql.encode(), [param for s in selects for param in s.params]).fetchone()
    return int(row[0]) if row else 0


def negentropy_sql(filters: Sequence[Filter], now: int) -> tuple[str, list[object]] | None:
    """The statement listing (created_at, id) of matching events by ``created_at`` ascending (ties in any order:
    the caller sorts them, so that the whole store is read backwards off the ``(created_at DESC, id)`` index
    instead of sorted); None when nothing can match."""
    selects = _selects(filters, now) if filters else None
    if selects is None:
        return f"SELECT e.created_at, e.id FROM events e WHERE {_NOT_EXPIRED} ORDER BY e.created_at", [now]
    if not selects:
        return None
    sql = " UNION ".join(s.sql("e.created_at, e.id") for s in selects) + " ORDER BY 1, 2"
    return sql, [param for s in selects for param in s.params]


def get(conn: Conn, event_id: str, now: int) -> Event | None:
    if not is_hex64(event_id):
        return None
    row = conn.execute(
        f"SELECT raw FROM events e WHERE e.id = %s AND {_NOT_EXPIRED}", (bytes.fromhex(event_id), now)
    ).fetchone()
    return None if row is None else event_from_raw(bytes(row[0]))


def ids_with_prefix(conn: Conn, prefix: str, now: int, limit: int) -> list[str]:
    low, high = bytes.fromhex(prefix.ljust(64, "0")), bytes.fromhex(prefix.ljust(64, "f"))
    rows = conn.execute(
        f"SELECT e.id FROM events e WHERE e.id >= %s AND e.id <= %s AND {_NOT_EXPIRED} ORDER BY e.id LIMIT %s",
        (low, high, now, limit),
    )
    return [bytes(row[0]).hex() for row in rows]


def has(conn: Conn, event_ids: Iterable[str], now: int) -> set[str]:
    wanted = sorted({bytes.fromhex(i) for i in event_ids if is_hex64(i)})
    if not wanted:
        return set()
    rows = conn.execute(f"SELECT e.id FROM events e WHERE e.id = ANY(%b) AND {_NOT_EXPIRED}", (wanted, now))
    return {bytes(row[0]).hex() for row in rows}


def events_since(conn: Conn, seq: int, limit: int, now: int) -> list[tuple[int, Event]]:
    rows = conn.execute(
        f"SELECT e.seq, e.raw FROM events e WHERE e.seq > %s AND {_NOT_EXPIRED} ORDER BY e.seq LIMIT %s",
        (seq, now, limit),
    )
    return [(int(s), event_from_raw(bytes(raw))) for s, raw in rows]


def scan_kinds(
    conn: Conn, seq: int, limit: int, now: int, kinds: frozenset[int]
) -> tuple[int, list[tuple[int, Event]], int]:
    """:meth:`samizdat.store.base.Store.scan_kinds`: other kinds' rows come back without their JSON, only its
    length."""
    rows = conn.execute(
        f"SELECT e.seq, CASE WHEN e.kind = ANY(%s) THEN e.raw END, octet_length(e.raw) FROM events e"
        f" WHERE e.seq > %s AND {_NOT_EXPIRED} ORDER BY e.seq LIMIT %s",
        (sorted(kinds), seq, now, limit),
    ).fetchall()
    last = int(rows[-1][0]) if rows else seq
    skipped = sum(int(size) for _, raw, size in rows if raw is None)
    return last, [(int(s), event_from_raw(bytes(raw))) for s, raw, _ in rows if raw is not None], skipped


def stats(conn: Conn) -> dict[str, int]:
    row = conn.execute(
        "SELECT count(*),"
        " count(*) FILTER (WHERE kind IN (0, 3) OR kind BETWEEN 10000 AND 19999),"
        " count(*) FILTER (WHERE kind BETWEEN 30000 AND 39999),"
        " count(*) FILTER (WHERE expiration IS NOT NULL),"
        f" count(*) FILTER (WHERE kind = {DELETION}),"
        " pg_database_size(current_database())"
        " FROM events"
    ).fetchone()
    assert row is not None
    events, replaceable, addressable, expiring, deletions, size = (int(v) for v in row)
    return {
        "events": events,
        "regular": events - replaceable - addressable,
        "replaceable": replaceable,
        "addressable": addressable,
        "expiring": expiring,
        "deletion_requests": deletions,
        "file_bytes": size,
    }


def evicted_among(conn: Conn, ids: Sequence[bytes]) -> set[bytes]:
    if not ids:
        return set()
    return {bytes(row[0]) for row in conn.execute("SELECT id FROM evicted WHERE id = ANY(%s)", (list(ids),))}
