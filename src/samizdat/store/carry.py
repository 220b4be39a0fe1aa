"""SQL for store-carry-forward: measure what a node carries for others and drop the lowest-ranked events.

The rules (what is kept, in which order the rest goes) are pure, in :mod:`samizdat.core.carry`; these functions
only read rows and delete them. They take a connection and run in the store's reader or writer thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import orjson

from samizdat.core import kinds
from samizdat.core.carry import KeepRules, carry_rank
from samizdat.store.queries import delete_event, event_from_raw

#: How many evicted ids are remembered at least, and per byte of carry quota (oldest forgotten first). A row
#: takes ~100-300 bytes with its indexes, so the list stays well under the quota it serves. Forgetting an id
#: only means a peer may send that event again.
EVICTED_MIN = 10_000
EVICTED_PER_QUOTA_BYTE = 1 / 2000
MAX_ADDRESS = 200
_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Carried:
    """The carried events, as ``(rank, size in bytes, seq)``, and their total size."""

    candidates: list[tuple[int, int, int]]
    used: int


def stored_bytes(conn: sqlite3.Connection) -> int:
    """The bytes the database's live pages take (cheap: two PRAGMAs); an upper bound of what is carried."""
    pages = conn.execute("PRAGMA page_count").fetchone()[0] - conn.execute("PRAGMA freelist_count").fetchone()[0]
    return int(pages) * int(conn.execute("PRAGMA page_size").fetchone()[0])


def _kept_by_address(conn: sqlite3.Connection, addresses: Sequence[str]) -> set[int]:
    kept: set[int] = set()
    for start in range(0, len(addresses), _CHUNK):
        chunk = addresses[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(f"SELECT seq FROM tags WHERE name = 'a' AND value IN ({marks})", chunk)
        kept.update(seq for (seq,) in rows)
    return kept


def _post_type(raw: bytes) -> str | None:
    try:
        tags = orjson.loads(raw).get("tags", [])
    except (orjson.JSONDecodeError, AttributeError):
        return None
    for tag in tags:
        if isinstance(tag, list) and len(tag) > 1 and tag[0] == "type" and isinstance(tag[1], str):
            return tag[1]
    return None


def carried(conn: sqlite3.Connection, rules: KeepRules) -> Carried:
    """Every stored event that ``rules`` do not keep, with its rank and size (one pass over the events)."""
    kept = _kept_by_address(conn, sorted(rules.channels))
    candidates: list[tuple[int, int, int]] = []
    used = 0
    rows = conn.execute(
        "SELECT seq, pubkey, kind, created_at, d_tag, length(raw), CASE WHEN kind = ? THEN raw END FROM events",
        (kinds.POST,),
    )
    for seq, pubkey, kind, created_at, d_tag, size, raw in rows:
        if seq in kept or rules.keeps(pubkey.hex(), kind, d_tag, ()):
            continue
        candidates.append((carry_rank(kind, created_at, _post_type(raw) if raw else None), size, seq))
        used += size
    return Carried(candidates, used)


def evicted_limit(quota: int) -> int:
    return max(EVICTED_MIN, int(quota * EVICTED_PER_QUOTA_BYTE))


def evict(conn: sqlite3.Connection, seqs: Sequence[int], now: int, keep: int = EVICTED_MIN) -> int:
    """Delete the events stored under ``seqs`` and remember their ids (the newest ``keep`` of them); return how
    many were deleted."""
    deleted = 0
    for seq in seqs:
        row = conn.execute("SELECT raw FROM events WHERE seq = ?", (seq,)).fetchone()
        if row is None:
            continue
        event = event_from_raw(row[0])
        delete_event(conn, seq, event)
        address = next(iter(event.tag_values("a")), None)
        if address is not None and len(address) > MAX_ADDRESS:
            address = None  # not a channel address of ours; no need to store what a flooder chose
        conn.execute(
            "INSERT OR REPLACE INTO evicted (id, evicted_at, address) VALUES (?, ?, ?)",
            (bytes.fromhex(event.id), now, address),
        )
        deleted += 1
    excess = conn.execute("SELECT count(*) FROM evicted").fetchone()[0] - keep
    if excess > 0:
        conn.execute("DELETE FROM evicted WHERE id IN (SELECT id FROM evicted ORDER BY evicted_at LIMIT ?)", (excess,))
    return deleted


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
