"""SQL for store-carry-forward: measure what a node carries for others and drop the lowest-ranked events.

The rules (what is kept, in which order the rest goes, what is valid) are pure, in :mod:`samizdat.core.carry`;
these functions read rows, look up channel definitions for it, and delete rows. They take a connection and run in
the store's reader or writer thread.

The ids of dropped events are remembered (the ``evicted`` table), so that peers and sync do not bring them back
at the next meeting, only to see them dropped again; the store answers "duplicate" for them. That memory must
never shut out a genuine post for good, so it is bounded three ways: in size (:func:`evicted_limit`, oldest
forgotten first), in time (:data:`EVICTED_TTL`), and by what the node keeps (:func:`prune_evicted` forgets every
drop of a channel the node owns or follows, and following a channel forgets its drops at once).

A dropped replaceable or addressable event (a channel's definition above all) is not remembered by id but by its
slot's *floor* (the ``slot_floors`` table): the dropped version's ``created_at`` and id. The store's add path
(:func:`samizdat.store.queries.add_event`) refuses a version older than the floor as "outdated", as it would if
the dropped one were still stored, and welcomes the dropped version itself and any newer one at once. Without it,
a node that only carries a channel took back, once a flood had pushed the newest definition out, an older one
that anyone may replay (still listing an admin the owner removed), and refused the newest for a day. A floor
never refuses anything the slot's rule (NIP-01: newer ``created_at``, then lower id) would take, so it may be
kept longer than a dropped id (:data:`FLOOR_TTL`) and is not forgotten when the channel is followed. It is
bounded in size like the dropped ids; floors of versions that counted for nothing here go first.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

from samizdat.core import kinds
from samizdat.core.carry import HOUR, CarryRanking, Judged, KeepRules, Standing, followed_excess, standing_of
from samizdat.core.channel import Channel, parse_channel
from samizdat.core.event import Event
from samizdat.core.posts import split_address
from samizdat.errors import RemoteProtocolError, StoreError
from samizdat.store.dbapi import sqlite3
from samizdat.store.queries import delete_event, event_from_raw
from samizdat.store.rules import slot_d

#: How many evicted ids are remembered at least, and per byte of carry quota (oldest forgotten first). A row
#: takes ~100-300 bytes with its indexes, so the list stays well under the quota it serves. Forgetting an id
#: only means a peer may send that event again.
EVICTED_MIN = 10_000
EVICTED_PER_QUOTA_BYTE = 1 / 2000
#: How long a drop is remembered. Long enough that a peer met again within the day does not send the same events
#: back; short enough that a post dropped by mistake is welcome again the next day.
EVICTED_TTL = 24 * HOUR
#: How long a slot's floor is remembered. A floor shuts out only versions older than one this node held (which
#: the slot's own rule would refuse were it still stored), so nothing genuine waits for it; the longer it lasts,
#: the longer a node cut off from every mirror of a channel refuses that channel's older definitions.
FLOOR_TTL = 30 * 24 * HOUR
MAX_ADDRESS = 200
#: Channel definitions looked up in one carry pass and held at once (a flood may name a million fake channels).
DEFINITION_CACHE = 10_000
_CHUNK = 500
#: What an event weighs against the quota beyond its JSON: this many bytes for each tag past the first
#: :data:`TAGS_FREE`. Each tag with a one-letter name is a row of the tag index (and a ``t`` tag a word of the
#: full-text index too), which on disk takes several times its JSON: an event of 2,000 short tags takes 5-6 times
#: its JSON where a plain note takes 2.4 (docs/operating.md, "Carry and outbox bounds"). Counted as
#: JSON alone, a flood of them filled the disk to several times the quota before any was dropped. Honest events
#: carry a few tags and weigh their JSON, as before.
TAG_WEIGHT = 20
TAGS_FREE = 16
#: The weight of a row, in SQL: every tag of the compact JSON ``raw`` starts with ``["`` (a string's ``"`` is
#: escaped, so text and tag values cannot hold one), so the tags are counted without parsing the event.
_TAGS_IN_RAW = "(length(CAST(raw AS TEXT)) - length(replace(CAST(raw AS TEXT), '[\"', ''))) / 2"
_WEIGHT = f"length(raw) + {TAG_WEIGHT} * max(0, {_TAGS_IN_RAW} - {TAGS_FREE})"
#: The kinds whose carry rank depends on what they say (their raw JSON is read; a post's only when it was not
#: judged before); others rank by kind and age.
_READ = (kinds.CHANNEL, kinds.DELETION, kinds.LABEL)


@dataclass(frozen=True, slots=True)
class Carried:
    """The carried events, as ``(rank, weight in bytes, seq)``, and their total weight (JSON, plus
    :data:`TAG_WEIGHT` a tag past :data:`TAGS_FREE`); ``excess``: the seqs of followed channels' events past their
    authors' bound (:func:`~samizdat.core.carry.followed_excess`), which go whatever the quota."""

    candidates: list[tuple[int, int, int]]
    used: int
    excess: tuple[int, ...] = ()


def stored_bytes(conn: sqlite3.Connection) -> int:
    """The bytes the database's live pages take (cheap: two PRAGMAs); an upper bound of what is carried."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0] - conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(pages) * int(conn.execute("PRAGMA page_size").fetchone()[0])


def _kept_by_address(conn: sqlite3.Connection, addresses: Sequence[str]) -> dict[int, str]:
    """The seqs of the events that name one of ``addresses``, with the (first) address each names."""
    kept: dict[int, str] = {}
    for start in range(0, len(addresses), _CHUNK):
        chunk = addresses[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT seq, value FROM tags WHERE name = 'a' AND value IN ({marks})", chunk)
        for seq, value in rows:
            kept.setdefault(seq, value)
    return kept


class _Definitions:
    """The current definition of a channel stored here, by address (None: none, or malformed), cached."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._cache: dict[str, Channel | None] = {}

    def __call__(self, address: str) -> Channel | None:
        if address in self._cache:
            return self._cache[address]
        channel = None
        parts = split_address(address)
        if parts is not None and parts[0] == kinds.CHANNEL:
            row = self._conn.execute(
                "SELECT raw FROM events WHERE pubkey = ? AND kind = ? AND d_tag = ?",
                (bytes.fromhex(parts[1]), kinds.CHANNEL, parts[2]),
            ).fetchone()
            if row is not None:
                try:
                    channel = parse_channel(event_from_raw(row[0]))
                except RemoteProtocolError:
                    channel = None
        if len(self._cache) >= DEFINITION_CACHE:
            self._cache.clear()
        self._cache[address] = channel
        return channel


def _stored_and_kept(conn: sqlite3.Connection, ids: set[str], kept: Collection[int], rules: KeepRules) -> set[str]:
    """Which of ``ids`` are stored and kept by ``rules`` (by address in ``kept``, or by their signer)."""
    found: set[str] = set()
    wanted = [bytes.fromhex(i) for i in ids if len(i) == 64]
    for start in range(0, len(wanted), _CHUNK):
        chunk = wanted[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT id, seq, pubkey, kind, d_tag FROM events WHERE id IN ({marks})", chunk)
        for eid, seq, pubkey, kind, d_tag in rows:
            if seq in kept or rules.keeps(pubkey.hex(), kind, d_tag, ()):
                found.add(eid.hex())
    return found


def carried(
    conn: sqlite3.Connection, rules: KeepRules, now: int, memo: dict[int, Judged] | None = None, bound: int = 0
) -> Carried:
    """Every stored event that ``rules`` do not keep, with its rank at ``now`` and its size (one pass over the
    events; posts, definitions, deletions and labels are read and judged, see :class:`CarryRanking`).

    ``memo`` carries the posts' judgements from one pass to the next (it is replaced with this pass's), so that
    a pass reads and parses only the posts that are new or whose channel changed. With a ``bound``, the events of
    followed channels past their authors' ``bound`` bytes are listed in :attr:`Carried.excess`."""
    kept = _kept_by_address(conn, sorted(rules.channels))
    definitions = _Definitions(conn)
    holders: set[str] = set()
    for address in rules.channels:
        if (channel := definitions(address)) is not None:
            holders.add(channel.owner)
            holders.update(channel.admins)
    ranking = CarryRanking(now, definitions, holders, memo)
    marks = ",".join("?" * len(_READ))
    rows = conn.execute(
        f"SELECT seq, pubkey, kind, created_at, d_tag, {_WEIGHT}, CASE WHEN kind IN ({marks}) THEN raw END FROM events",
        _READ,
    )
    followed: dict[str, list[tuple[int, int, int, str]]] = {}  # address -> created_at, size, seq, author
    for seq, pubkey, kind, created_at, d_tag, size, raw in rows:
        if seq in kept:
            followed.setdefault(kept[seq], []).append((created_at, size, seq, pubkey.hex()))
            continue
        if rules.keeps(pubkey.hex(), kind, d_tag, ()):
            continue
        if kind == kinds.POST:
            if ranking.recall(seq, size, created_at):
                continue
            row = conn.execute("SELECT raw FROM events WHERE seq = ?", (seq,)).fetchone()
            raw = row[0] if row is not None else None
        try:
            event = None if raw is None else event_from_raw(raw)
        except StoreError:  # a damaged row must not stop every pass; it ranks by age
            event = None
        if event is None:
            ranking.add_plain(seq, size, kind, created_at)
        else:
            ranking.add(seq, size, event)
    candidates = ranking.candidates(lambda ids: _stored_and_kept(conn, ids, kept, rules))
    if memo is not None:
        memo.clear()
        memo.update(ranking.memo)
    excess: list[int] = []
    for address, events in followed.items() if bound else ():
        parts = split_address(address)
        exempt = set(rules.own | rules.verifiers) | ({parts[1]} if parts is not None else set())
        members: set[str] | None = None
        if (channel := definitions(address)) is not None:
            members = {channel.owner, *channel.admins, *channel.revoked}
            exempt.add(channel.recovery)
        excess += followed_excess(events, exempt, bound, members)
    return Carried(candidates, ranking.used, tuple(excess))


def valid_seqs(candidates: Iterable[tuple[int, int, int]], doomed: Iterable[int]) -> frozenset[int]:
    """Which of the ``doomed`` seqs were ranked as valid channel content (:func:`standing_of` their rank)."""
    wanted = set(doomed)
    return frozenset(seq for rank, _, seq in candidates if seq in wanted and standing_of(rank) is Standing.VALID)


def evicted_limit(quota: int) -> int:
    return max(EVICTED_MIN, int(quota * EVICTED_PER_QUOTA_BYTE))


def _channel_address(event: Event) -> str | None:
    """The channel an event belongs to, for forgetting its drop when that channel is followed: a definition's
    own address, else the first ``a`` tag that is a channel address of sane length."""
    if event.kind == kinds.CHANNEL:
        address = f"{kinds.CHANNEL}:{event.pubkey}:{event.d_tag}"
        return address if len(address) <= MAX_ADDRESS else None
    for address in event.tag_values("a"):
        parts = split_address(address)
        if parts is not None and parts[0] == kinds.CHANNEL and len(address) <= MAX_ADDRESS:
            return address
    return None


def evict(
    conn: sqlite3.Connection,
    seqs: Sequence[int],
    now: int,
    keep: int = EVICTED_MIN,
    valid: Collection[int] = (),
    followed: Collection[int] = (),
) -> int:
    """Delete the events stored under ``seqs`` and remember them: a replaceable or addressable event by its slot's
    floor, any other by its id (the newest ``keep`` of each, ids for :data:`EVICTED_TTL`, floors for
    :data:`FLOOR_TTL`); return how many were deleted. ``valid`` are the seqs of events that counted as valid
    channel content (their floors are forgotten last); ``followed`` those of followed channels, past their authors'
    bound: their drop is remembered without the channel, which following it (or still following it) would forget,
    so that peers do not send them back at every meeting."""
    deleted = 0
    for seq in seqs:
        row = conn.execute("SELECT raw FROM events WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            continue
        event = event_from_raw(row[0])
        delete_event(conn, seq, event)
        d = slot_d(event)
        if d is not None:
            _raise_floor(conn, event, d, now, seq in valid)
        else:
            conn.execute(
                "INSERT OR REPLACE INTO evicted (id, evicted_at, address) VALUES (?, ?, ?)",
                (bytes.fromhex(event.id), now, None if seq in followed else _channel_address(event)),
            )
        deleted += 1
    conn.execute("DELETE FROM evicted WHERE evicted_at < ?", (now - EVICTED_TTL,))
    excess = conn.execute("SELECT count(*) FROM evicted").fetchone()[0] - keep
    if excess > 0:
        conn.execute("DELETE FROM evicted WHERE id IN (SELECT id FROM evicted ORDER BY evicted_at LIMIT ?)", (excess,))
    _forget_floors(conn, now)
    excess = conn.execute("SELECT count(*) FROM slot_floors").fetchone()[0] - keep
    if excess > 0:
        conn.execute(
            "DELETE FROM slot_floors WHERE (pubkey, kind, d_tag) IN (SELECT pubkey, kind, d_tag FROM slot_floors"
            " WHERE valid IN (0, 1) ORDER BY valid, dropped_at LIMIT ?)",
            (excess,),
        )
    return deleted


def _raise_floor(conn: sqlite3.Connection, event: Event, d: str, now: int, valid: bool) -> None:
    """Remember ``event``'s slot's floor; a floor only ever rises (NIP-01 order: ``created_at``, then lower id)."""
    conn.execute(
        "INSERT INTO slot_floors (pubkey, kind, d_tag, created_at, id, dropped_at, valid)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET created_at = excluded.created_at,"
        " id = excluded.id, dropped_at = excluded.dropped_at, valid = max(valid, excluded.valid)"
        " WHERE excluded.created_at > created_at OR (excluded.created_at = created_at AND excluded.id <= id)",
        (bytes.fromhex(event.pubkey), event.kind, d, event.created_at, bytes.fromhex(event.id), now, int(valid)),
    )


def _forget_floors(conn: sqlite3.Connection, now: int) -> int:
    return conn.execute("DELETE FROM slot_floors WHERE valid IN (0, 1) AND dropped_at < ?", (now - FLOOR_TTL,)).rowcount


def prune_evicted(conn: sqlite3.Connection, now: int, kept: Iterable[str]) -> int:
    """Forget the drops older than :data:`EVICTED_TTL` and those of the channels in ``kept`` (addresses of the
    channels the node owns or follows: their posts are always welcome), and the floors older than
    :data:`FLOOR_TTL` (a floor welcomes the dropped version back, so following a channel keeps it: forgetting it
    would hand the older definitions back exactly where the channel matters); return how many were forgotten."""
    forgotten = conn.execute("DELETE FROM evicted WHERE evicted_at < ?", (now - EVICTED_TTL,)).rowcount
    forgotten += _forget_floors(conn, now)
    addresses = sorted(kept)
    for start in range(0, len(addresses), _CHUNK):
        chunk = addresses[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        forgotten += conn.execute(f"DELETE FROM evicted WHERE address IN ({marks})", chunk).rowcount
    return forgotten


def evicted_among(conn: sqlite3.Connection, ids: Sequence[bytes]) -> set[bytes]:
    """Which of ``ids`` (32-byte) this node dropped to stay within its carry quota."""
    found: set[bytes] = set()
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        found.update(row[0] for row in conn.execute(f"SELECT id FROM evicted WHERE id IN ({marks})", chunk))
    return found


def forget_evicted(conn: sqlite3.Connection, address: str) -> int:
    """Let peers send again what was dropped of channel ``address`` (called when the node starts following it)."""
    return conn.execute("DELETE FROM evicted WHERE address = ?", (address,)).rowcount
