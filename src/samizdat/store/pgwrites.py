"""Adding events to the PostgreSQL store: :func:`add_events` (the writer thread's batch, in one transaction) and
:func:`add_event`, the store rules of :mod:`samizdat.store.base` in PostgreSQL's words (the twin of the SQLite
store's :func:`samizdat.store.queries.add_event`). Synchronous functions that take a connection; ``psycopg.Error``
escapes.

Theory of operation: the server may be across a network, and one writer thread serves every client of the
relay, so a batch costs round trips by the *kind* of its events, never by their number or their tags. Runs of
plain events, of replaceable and addressable ones, and of deletion requests each take a handful of statements
whatever their length (one lookup of what is known of their ids and slots, then one statement per table), with the
outcomes adding them one at a time would give (``tests/store/test_batch_equivalence.py``). One round trip an event
or a tag let one connection, within its allowed rate, hold every client's ``OK`` for seconds (red-team finding,
docs/scaling.md "What a hostile client costs").
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

from samizdat.core.event import Event
from samizdat.core.kinds import DELETION, is_ephemeral
from samizdat.store.base import AddOutcome
from samizdat.store.pgqueries import CHANNEL, Conn, keep_withdrawn
from samizdat.store.queries import event_from_raw
from samizdat.store.rules import (
    UNDELETABLE_KINDS,
    deletion_targets,
    indexed_tags,
    searchable_text,
    slot_d,
    wins_over,
    withdrawn_record,
)

# One statement (one round trip) per run of new events, its arrays sent in PostgreSQL's binary format (%b: about
# half again as fast as text, where every byte of an event's JSON goes as two hex digits): the events with their
# insertion numbers (handed out in the run's order: volatile output expressions are evaluated after the ORDER BY),
# their tags, and the notification of the highest number (delivered at commit).
_INSERT = (
    "WITH ins AS ("
    " INSERT INTO events (seq, id, pubkey, created_at, kind, d_tag, expiration, raw, search)"
    " SELECT nextval('events_seq'), i, p, c, k, d, x, r,"
    " CASE WHEN t IS NOT NULL THEN to_tsvector('samizdat_search', t) END"
    " FROM unnest(%b::bytea[], %b::bytea[], %b::bigint[], %b::int[], %b::text[], %b::bigint[], %b::bytea[],"
    " %b::text[]) WITH ORDINALITY AS u(i, p, c, k, d, x, r, t, n) ORDER BY n"
    " RETURNING seq, id, created_at),"
    " tagged AS (INSERT INTO tags (seq, name, value, created_at, id)"
    " SELECT ins.seq, g.name, g.value, ins.created_at, ins.id"
    " FROM unnest(%b::bytea[], %b::text[], %b::text[]) AS g(id, name, value) JOIN ins ON ins.id = g.id)"
    f" SELECT pg_notify('{CHANNEL}', max(seq)::text) FROM ins"
)


def _insert_rows(conn: Conn, rows: list[tuple[Event, bytes, bytes, str | None]]) -> None:
    """Insert ``(event, id, pubkey, d)`` rows, in order, with their tags, and notify :data:`CHANNEL`."""
    columns: list[list[Any]] = [[] for _ in range(8)]
    tag_columns: list[list[Any]] = [[] for _ in range(3)]
    for event, eid, pubkey, d in rows:
        text = searchable_text(event)
        for column, value in zip(
            columns,
            (eid, pubkey, event.created_at, event.kind, d, event.expiration, event.to_json(), text or None),
            strict=True,
        ):
            column.append(value)
        for name, value in indexed_tags(event):
            for column, item in zip(tag_columns, (eid, name, value), strict=True):
                column.append(item)
    conn.execute(_INSERT, [*columns, *tag_columns])


def _delete(conn: Conn, seq: int) -> None:
    conn.execute("DELETE FROM events WHERE seq = %s", (seq,))  # its tags go with it (ON DELETE CASCADE)


def add_event(conn: Conn, event: Event, now: int) -> AddOutcome:
    """The store rules of :mod:`samizdat.store.base` for one verified event, inside the caller's transaction."""
    if is_ephemeral(event.kind):
        return AddOutcome.EPHEMERAL
    if event.is_expired(now):
        return AddOutcome.EXPIRED
    eid, pubkey = bytes.fromhex(event.id), bytes.fromhex(event.pubkey)
    row = conn.execute(
        "SELECT EXISTS (SELECT 1 FROM events WHERE id = %(i)s) OR EXISTS (SELECT 1 FROM evicted WHERE id = %(i)s),"
        " EXISTS (SELECT 1 FROM deleted_ids WHERE id = %(i)s AND pubkey = %(p)s)",
        {"i": eid, "p": pubkey},
    ).fetchone()
    assert row is not None
    stored, deleted = row
    if stored:
        return AddOutcome.DUPLICATE
    d = slot_d(event)
    if event.kind not in UNDELETABLE_KINDS:  # a deletion request cannot be deleted (NIP-09), nor a definition
        if deleted:
            return AddOutcome.DELETED
        if d is not None:
            until = conn.execute(
                "SELECT until FROM deleted_addrs WHERE pubkey = %s AND kind = %s AND d_tag = %s",
                (pubkey, event.kind, d),
            ).fetchone()
            if until and event.created_at <= until[0]:
                return AddOutcome.DELETED
    if d is not None:
        old = conn.execute(
            "SELECT seq, raw FROM events WHERE pubkey = %s AND kind = %s AND d_tag = %s", (pubkey, event.kind, d)
        ).fetchone()
        if old:
            if not wins_over(event, event_from_raw(old[1])):
                return AddOutcome.OUTDATED
            _delete(conn, old[0])
    _insert_rows(conn, [(event, eid, pubkey, d)])
    if event.kind == DELETION:
        _apply_deletions(conn, [event], now)
    return AddOutcome.STORED


def _apply_deletions(conn: Conn, requests: Sequence[Event], now: int) -> None:
    """Mark and delete what the stored deletion ``requests`` name (of their own authors), in four statements for
    all of them, not two a tag and a request: a request of 2,000 ``a`` tags (anyone may sign one about their own
    addresses) made 4,000 round trips to the server in the one writer, 0.16-0.22 s here on loopback and seconds
    to a server across a network, while every client's EVENT waited for its OK (red-team finding)."""
    marks: set[tuple[bytes, bytes]] = set()  # (id, pubkey)
    slots: dict[tuple[bytes, int, str], int] = {}  # (pubkey, kind, d) -> the newest request's created_at
    asking: dict[tuple[bytes, bytes], Event] = {}  # (id, pubkey) -> the first request of the run naming it
    for request in requests:
        pubkey = bytes.fromhex(request.pubkey)
        targets = deletion_targets(request)
        marks.update((bytes.fromhex(t), pubkey) for t in targets.ids)
        for t in targets.ids:
            asking.setdefault((bytes.fromhex(t), pubkey), request)
        for kind, d in targets.slots:
            slots[(pubkey, kind, d)] = max(slots.get((pubkey, kind, d), request.created_at), request.created_at)
    if marks:
        ids, pubkeys = [i for i, _ in marks], [p for _, p in marks]
        conn.execute(
            "INSERT INTO deleted_ids (id, pubkey) SELECT u.i, u.p FROM unnest(%s::bytea[], %s::bytea[]) AS u(i, p)"
            " ON CONFLICT DO NOTHING",
            (ids, pubkeys),
        )
        erased = conn.execute(
            "DELETE FROM events e USING unnest(%s::bytea[], %s::bytea[]) AS u(i, p)"
            " WHERE e.id = u.i AND e.pubkey = u.p AND e.kind != ALL(%s) RETURNING e.id, e.pubkey, e.raw, e.seq",
            (ids, pubkeys, sorted(UNDELETABLE_KINDS)),
        ).fetchall()
        records = []
        for eid, pubkey, raw, seq in erased:
            request = asking[(bytes(eid), bytes(pubkey))]
            if record := withdrawn_record(event_from_raw(bytes(raw)), request):
                records.append((record, int(seq)))
        keep_withdrawn(conn, records, now)
    if slots:  # distinct, as ON CONFLICT DO UPDATE needs
        columns = (
            [p for p, _, _ in slots],
            [k for _, k, _ in slots],
            [d for _, _, d in slots],
            list(slots.values()),
        )
        conn.execute(
            "INSERT INTO deleted_addrs (pubkey, kind, d_tag, until) SELECT u.p, u.k, u.d, u.c"
            " FROM unnest(%s::bytea[], %s::integer[], %s::text[], %s::bigint[]) AS u(p, k, d, c)"
            " ON CONFLICT (pubkey, kind, d_tag) DO UPDATE SET until = greatest(deleted_addrs.until, excluded.until)",
            columns,
        )
        conn.execute(
            "DELETE FROM events e USING unnest(%s::bytea[], %s::integer[], %s::text[], %s::bigint[]) AS u(p, k, d, c)"
            " WHERE e.pubkey = u.p AND e.kind = u.k AND e.d_tag = u.d AND e.created_at <= u.c",
            columns,
        )


def _is_deletion(event: Event, now: int) -> bool:
    """A deletion request that :func:`_add_deletion_run` may take."""
    return event.kind == DELETION and not event.is_expired(now)


def _add_deletion_run(conn: Conn, run: list[Event], now: int) -> list[AddOutcome]:
    """:func:`add_event` for a run of deletion requests, with the same outcomes, in six statements whatever its
    length, not six round trips a request in the one writer: 200 requests of one ``e`` tag from one connection
    held every client's OK for 3.9 s with the server 2 ms away (red-team finding). A deletion request cannot be
    deleted (NIP-09), so none of the run changes what another is: their marks and deletions go together."""
    ids = [bytes.fromhex(e.id) for e in run]
    present, _ = _lookup(conn, ids)
    outcomes: list[AddOutcome] = []
    new: list[tuple[Event, bytes, bytes, str | None]] = []
    for event, eid in zip(run, ids, strict=True):
        if eid in present:
            outcomes.append(AddOutcome.DUPLICATE)
            continue
        present.add(eid)  # the same request twice in one batch: the second is a duplicate
        new.append((event, eid, bytes.fromhex(event.pubkey), None))
        outcomes.append(AddOutcome.STORED)
    if new:
        _insert_rows(conn, new)
        _apply_deletions(conn, [event for event, _, _, _ in new], now)
    return outcomes


def _is_plain(event: Event, now: int) -> bool:
    return (
        event.kind != DELETION and slot_d(event) is None and not is_ephemeral(event.kind) and not event.is_expired(now)
    )


def _is_slotted(event: Event, now: int) -> bool:
    """A replaceable or addressable event that :func:`_add_slot_run` may take (not a deletion request)."""
    return (
        event.kind != DELETION
        and slot_d(event) is not None
        and not is_ephemeral(event.kind)
        and not event.is_expired(now)
    )


def add_events(conn: Conn, events: Sequence[Event], now: int) -> list[AddOutcome]:
    """:func:`add_event` for many events, in order, with the same outcomes: runs of plain events (regular,
    unexpired, not deletion requests) are checked with one lookup and inserted with one statement per table."""
    outcomes: list[AddOutcome] = []
    run: list[Event] = []
    adder = _add_plain_run
    deletions = functools.partial(_add_deletion_run, now=now)  # one object: the runs below compare it by identity
    for event in events:
        kind = (
            _add_plain_run
            if _is_plain(event, now)
            else _add_slot_run
            if _is_slotted(event, now)
            else deletions
            if _is_deletion(event, now)
            else None
        )
        if run and kind is not adder:
            outcomes += adder(conn, run)
            run = []
        if kind is None:
            outcomes.append(add_event(conn, event, now))
        else:
            adder = kind
            run.append(event)
    if run:
        outcomes += adder(conn, run)
    return outcomes


def _lookup(conn: Conn, ids: list[bytes]) -> tuple[set[bytes], set[tuple[bytes, bytes]]]:
    """Of ``ids``: those stored or evicted, and the (id, pubkey) marks of deletion requests among them."""
    present: set[bytes] = set()
    deleted: set[tuple[bytes, bytes]] = set()
    for eid, by in conn.execute(
        "SELECT id, NULL::bytea FROM events WHERE id = ANY(%(i)b)"
        " UNION ALL SELECT id, NULL FROM evicted WHERE id = ANY(%(i)b)"
        " UNION ALL SELECT id, pubkey FROM deleted_ids WHERE id = ANY(%(i)b)",
        {"i": ids},
    ):
        if by is None:
            present.add(bytes(eid))
        else:
            deleted.add((bytes(eid), bytes(by)))
    return present, deleted


def _add_slot_run(conn: Conn, run: list[Event]) -> list[AddOutcome]:
    """:func:`add_event` for a run of replaceable and addressable events, with the same outcomes, in four
    statements whatever its length (the lookups of the ids, of the slots' deletion marks and of their occupants,
    and the insert; one more to delete the occupants replaced), not four round trips to the server an event in the
    one writer: 200 addressable events from one connection (500 a second are allowed) held every client's OK for
    4.3 s with the server 2 ms away (red-team finding)."""
    ids = [bytes.fromhex(e.id) for e in run]
    present, deleted = _lookup(conn, ids)
    keys = [(bytes.fromhex(e.pubkey), e.kind, slot_d(e) or "") for e in run]
    slots = list(dict.fromkeys(keys))
    columns = ([p for p, _, _ in slots], [k for _, k, _ in slots], [d for _, _, d in slots])
    until: dict[tuple[bytes, int, str], int] = {}
    for pubkey, kind, d, when in conn.execute(
        "SELECT a.pubkey, a.kind, a.d_tag, a.until FROM deleted_addrs a"
        " JOIN unnest(%b::bytea[], %b::int[], %b::text[]) AS s(p, k, d) ON a.pubkey = s.p AND a.kind = s.k"
        " AND a.d_tag = s.d",
        columns,
    ):
        until[(bytes(pubkey), int(kind), str(d))] = int(when)
    held: dict[tuple[bytes, int, str], tuple[int | None, Event]] = {}  # slot -> (seq or None: of this run, event)
    for seq, pubkey, kind, d, raw in conn.execute(
        "SELECT e.seq, e.pubkey, e.kind, e.d_tag, e.raw FROM events e"
        " JOIN unnest(%b::bytea[], %b::int[], %b::text[]) AS s(p, k, d) ON e.pubkey = s.p AND e.kind = s.k"
        " AND e.d_tag = s.d",
        columns,
        binary=True,
    ):
        held[(bytes(pubkey), int(kind), str(d))] = (int(seq), event_from_raw(bytes(raw)))
    outcomes: list[AddOutcome] = []
    doomed: list[int] = []
    new: dict[tuple[bytes, int, str], tuple[Event, bytes, bytes, str | None]] = {}
    for event, eid, key in zip(run, ids, keys, strict=True):
        if eid in present:
            outcomes.append(AddOutcome.DUPLICATE)
            continue
        undeletable = event.kind in UNDELETABLE_KINDS  # marks of old requests count for nothing either
        if (eid, key[0]) in deleted and not undeletable:
            outcomes.append(AddOutcome.DELETED)
            continue
        when = until.get(key)
        if when is not None and event.created_at <= when and not undeletable:
            outcomes.append(AddOutcome.DELETED)
            continue
        holder = held.get(key)
        if holder is not None:
            seq, old = holder
            if not wins_over(event, old):
                outcomes.append(AddOutcome.OUTDATED)
                continue
            present.discard(bytes.fromhex(old.id))  # gone: if it comes again in this run, it is not a duplicate
            if seq is None:
                del new[key]  # an event of this run, replaced before it was stored: never inserted
            else:
                doomed.append(seq)
        present.add(eid)  # the same event twice in one batch: the second is a duplicate
        held[key] = (None, event)
        new[key] = (event, eid, key[0], key[2])
        outcomes.append(AddOutcome.STORED)
    if doomed:
        conn.execute("DELETE FROM events WHERE seq = ANY(%s)", (doomed,))  # their tags go with them
    if new:
        _insert_rows(conn, list(new.values()))
    return outcomes


def _add_plain_run(conn: Conn, run: list[Event]) -> list[AddOutcome]:
    ids = [bytes.fromhex(e.id) for e in run]
    present, deleted = _lookup(conn, ids)
    outcomes: list[AddOutcome] = []
    new: list[tuple[Event, bytes, bytes, str | None]] = []
    for event, eid in zip(run, ids, strict=True):
        pubkey = bytes.fromhex(event.pubkey)
        if eid in present:
            outcomes.append(AddOutcome.DUPLICATE)
        elif (eid, pubkey) in deleted:
            outcomes.append(AddOutcome.DELETED)
        else:
            present.add(eid)  # the same event twice in one batch: the second is a duplicate
            new.append((event, eid, pubkey, None))
            outcomes.append(AddOutcome.STORED)
    if new:
        _insert_rows(conn, new)
    return outcomes
