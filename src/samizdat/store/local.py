"""This node's own small state, apart from the events: followed channels, the outbox, sync progress.

Kept in its own SQLite file (``local.sqlite``) so the event store stays a pure, shareable set of signed events.
Every call is a short transaction on a small table, cheap enough to run on the event loop's thread; the file
is only ever used by one process.

The routes table remembers, per relay and network, how each transport did (failover, :mod:`samizdat.core.routes`).

The outbox (reliable publishing): each local event gets one row per target relay. A row is ``pending`` until
that relay answers ``OK true`` (then ``accepted``) or a definitive refusal, or until ``max_attempts`` tries
(then ``failed``). Retries back off exponentially with jitter chosen by the caller (time is injected).

The outbox is bounded, so that neither a flood of posts forwarded from phones nor months of unreachable mirrors
grow it without end: at most ``outbox_per_author`` events of one author and ``outbox_per_channel`` of one channel
wait at once. Beyond that the oldest waiting events of that author (for a channel: of the author with the most
waiting in it) are given up, marked ``failed`` with the reason, and a warning is logged: the newest news wins,
and one flooding author displaces their own backlog before anyone else's. Finished rows (accepted, failed) are
kept for ``samizdat status`` up to :data:`OUTBOX_FINISHED_KEEP`, newest first (:meth:`LocalState.prune_outbox`).
A row is ``lost`` when the relay accepted the post and a later sync or check found it lacking it
(:mod:`samizdat.services.relay_health`): not delivered, and not sent to that relay again by the outbox (but once,
when a later re-check found a post the relay had served gone: ``returned``). An accepted row's ``checked`` is 0
until the relay is first asked for the post, then the time it was last asked (1: some time before that was kept),
so the periodic re-check asks for the posts asked least recently first, across restarts.

The author_sources table (red team round 14, :mod:`samizdat.services.relay_memory`) keeps, per author whose events
a relay sync brought new to this node, which route first brought one, how many that route brought, and whether
another route has brought one since; an author counts as evidence that a relay's route withholds only when some
source other than the route that now brings the evidence showed it. Authors and routes are hashed with a salt of
this node's (``source_salt``), not kept: the file does not list whom this node reads or which proxy it uses. The
salt is in the same file, so whoever holds the file can still test a key they suspect (as they could read the
event store beside it); on an encrypted node the whole file is sealed like the event store. At most
:data:`SOURCES_MAX` authors: a node past that counts, of the authors it has no row for, none (see the module).

The relay_health table keeps, per relay, counts only: how many events it lacked after acknowledging them, first
and last seen. Which events it acknowledged is kept in memory only (:mod:`samizdat.core.acks`): a table of which
relay holds which ids would tell whoever seizes the device where its owner publishes.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import orjson

from samizdat.core.routes import RouteRecord
from samizdat.errors import StoreError
from samizdat.store.dbapi import connect, describe, sqlite3
from samizdat.store.dbapi import prepare_file as dbapi_prepare

log = logging.getLogger(__name__)
_T = TypeVar("_T")

#: Events of one author waiting in the outbox at most (a busy channel's admin posts 100-200 a day: a week's worth).
OUTBOX_PER_AUTHOR = 1000
#: Events of one channel waiting in the outbox at most (about ten days of the busiest channels of 2020).
OUTBOX_PER_CHANNEL = 2000
#: Accepted and failed rows kept for ``samizdat status`` at most (the oldest go first).
OUTBOX_FINISHED_KEEP = 50_000
#: Channels whose first recovery key is remembered at most (followed ones are read first; about 200 bytes each).
MAX_RECOVERY_KEYS = 20_000
#: Seconds between two warnings about the same full bound.
OUTBOX_WARN_EVERY = 60.0
#: Authors whose sources (which route brought their events, services/relay_memory.py) are remembered at most:
#: about 60 bytes each, 3 MB in all.
SOURCES_MAX = 50_000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS follows (
    address TEXT PRIMARY KEY,          -- 30333:<owner>:<d>
    relays TEXT NOT NULL DEFAULT '[]', -- JSON list of relay hints from the naddr
    added_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS by_channel_areas (
    cell TEXT PRIMARY KEY,             -- an area the person chose to fetch channel by channel (too large whole)
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS verifiers (
    pubkey TEXT PRIMARY KEY,
    added_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS recovery_keys (
    address TEXT PRIMARY KEY,          -- 30333:<owner>:<d>
    pubkey TEXT NOT NULL,              -- the first recovery key this node saw the channel name (core/recovery.py)
    first_seen REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS outbox (
    event_id TEXT NOT NULL,
    relay TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending | accepted | failed | lost
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    last_message TEXT NOT NULL DEFAULT '',
    created_at REAL NOT NULL,
    author TEXT NOT NULL DEFAULT '',   -- the event's pubkey (hex), for the per-author bound
    channel TEXT NOT NULL DEFAULT '',  -- the post's channel address, for the per-channel bound ('' for others)
    answered_at REAL NOT NULL DEFAULT 0,  -- when the relay last answered (an accepted post's time of OK)
    checked INTEGER NOT NULL DEFAULT 1,   -- 0: accepted, not yet asked back; else when last asked back
    returned INTEGER NOT NULL DEFAULT 0,  -- 1: a re-check found it lost, and it was sent to the relay once more
    PRIMARY KEY (event_id, relay)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt);
CREATE TABLE IF NOT EXISTS sync_state (
    relay TEXT NOT NULL,
    scope TEXT NOT NULL,               -- a channel address, 'area:<cell>', 'before-areas:<address>', or '*' (all)
    last_success REAL,
    last_attempt REAL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL DEFAULT 0,
    summary TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (relay, scope)
);
CREATE TABLE IF NOT EXISTS peers (
    url TEXT PRIMARY KEY,              -- ws://host:port of the peer's relay
    source TEXT NOT NULL,              -- manual | mdns
    name TEXT NOT NULL DEFAULT '',
    added_at REAL NOT NULL,
    last_seen REAL,                    -- last announcement heard or connection made
    last_sync REAL,                    -- last completed reconciliation
    state TEXT NOT NULL DEFAULT 'new', -- new | connecting | live | backoff | passive | gone
    failures INTEGER NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    events_in INTEGER NOT NULL DEFAULT 0,
    events_out INTEGER NOT NULL DEFAULT 0,
    bytes_in INTEGER NOT NULL DEFAULT 0,
    bytes_out INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS relay_health (
    relay TEXT PRIMARY KEY,
    lost INTEGER NOT NULL DEFAULT 0,   -- events it lacked after acknowledging them (counts only, never which)
    first_lost REAL NOT NULL,
    last_lost REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS routes (
    relay TEXT NOT NULL,
    network TEXT NOT NULL,             -- which network we were on (default route), see samizdat.net.netinfo
    transport TEXT NOT NULL,           -- direct, socks5h://..., http://...
    last_ok REAL,
    last_failure REAL,
    failures INTEGER NOT NULL DEFAULT 0,
    next_retry REAL NOT NULL DEFAULT 0,
    last_error TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (relay, network, transport)
);
-- Per relay and sync scope (a hash of its filters): the store's insertion number when the last sync that ended
-- well began, and how many of ours the relay still lacked when it ended. Numbers only, never which events: the
-- next sync tells events the relay had then and lacks now (services/relay_memory.py, red team round 10).
CREATE TABLE IF NOT EXISTS relay_marks (
    relay TEXT NOT NULL,
    scope TEXT NOT NULL,
    seq INTEGER NOT NULL,
    lacking INTEGER NOT NULL DEFAULT 0,
    at REAL NOT NULL,
    checked REAL NOT NULL DEFAULT 0,   -- when another route was last asked the same (a spot check)
    PRIMARY KEY (relay, scope)
);
-- Per relay and route's scope (relay_marks' name for it, a hash): since when that route is in doubt, having served
-- nothing in the scope while another route served or held events it lacked; what the node would send there waits
-- until a spot check settles it (services/sync.py, red team round 15).
CREATE TABLE IF NOT EXISTS relay_doubts (
    relay TEXT NOT NULL,
    scope TEXT NOT NULL,
    since REAL NOT NULL,
    PRIMARY KEY (relay, scope)
);
-- Per author whose events a relay sync brought new to this node: which route first brought one, how many that
-- route brought, whether another route brought one since (services/relay_memory.py, red team round 14). Hashes
-- with this node's salt, never the keys or the routes themselves.
CREATE TABLE IF NOT EXISTS source_salt (
    one INTEGER PRIMARY KEY CHECK (one = 1),
    salt BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS author_sources (
    author BLOB PRIMARY KEY,           -- sha256(salt, "author", pubkey), 16 bytes
    first BLOB NOT NULL,               -- sha256(salt, "route", route), 8 bytes: the route that brought the first
    brought INTEGER NOT NULL DEFAULT 0,  -- events of the author that route brought new to the store
    others INTEGER NOT NULL DEFAULT 0  -- 1 once another route brought one
) WITHOUT ROWID;
"""


@dataclass(frozen=True, slots=True)
class Sources:
    """Where a relay sync brought an author's events from (:meth:`LocalState.sources`)."""

    first_here: bool  # the route asked about brought the first of them
    brought: int  # how many the first route brought new to the store
    others: bool  # another route brought one since


@dataclass(frozen=True, slots=True)
class OutboxRow:
    event_id: str
    relay: str
    state: str
    attempts: int
    next_attempt: float
    last_message: str


@dataclass(frozen=True, slots=True)
class PeerRow:
    url: str
    source: str
    name: str
    added_at: float
    last_seen: float | None
    last_sync: float | None
    state: str
    failures: int
    last_error: str
    events_in: int
    events_out: int
    bytes_in: int
    bytes_out: int

    @property
    def name_verified(self) -> bool:
        """Whether the name is known to be the peer's own. Never, today: every name comes from an announcement on
        the LAN, which anyone can make with any name; faces show it as the peer's claim."""
        return False


_PEER_COLUMNS = (
    "url, source, name, added_at, last_seen, last_sync, state, failures, last_error, events_in, events_out, "
    "bytes_in, bytes_out"
)
#: Counters a peer link adds to; see :meth:`LocalState.update_peer`.
PEER_COUNTERS = frozenset({"events_in", "events_out", "bytes_in", "bytes_out"})
_PEER_FIELDS = frozenset({"name", "last_seen", "last_sync", "state", "failures", "last_error"})
#: Characters kept of a peer's name and of its last error: both can come from whoever is on the LAN.
PEER_TEXT_LIMITS = {"name": 60, "last_error": 300}


@dataclass(frozen=True, slots=True)
class RelayHealth:
    relay: str
    lost: int  # events it lacked after acknowledging them
    first_lost: float
    last_lost: float


@dataclass(frozen=True, slots=True)
class SyncRow:
    relay: str
    scope: str
    last_success: float | None
    last_attempt: float | None
    failures: int
    next_attempt: float
    summary: dict[str, object]


_OUTBOX_COLUMNS = {
    "author": "TEXT NOT NULL DEFAULT ''",
    "channel": "TEXT NOT NULL DEFAULT ''",
    "answered_at": "REAL NOT NULL DEFAULT 0",  # a state file from before lost posts were noticed
    "checked": "INTEGER NOT NULL DEFAULT 1",  # (its posts delivered then are not asked back: 50,000 downloads)
    "returned": "INTEGER NOT NULL DEFAULT 0",
}
_OUTBOX_INDEXES = """
CREATE INDEX IF NOT EXISTS outbox_author ON outbox (author, state);
CREATE INDEX IF NOT EXISTS outbox_channel ON outbox (channel, state);
CREATE INDEX IF NOT EXISTS outbox_unchecked ON outbox (checked, answered_at) WHERE checked = 0;
CREATE INDEX IF NOT EXISTS outbox_recheck ON outbox (state, relay, checked);
"""


def _create_tables(db: sqlite3.Connection) -> None:
    db.executescript(_SCHEMA)
    have = {row[1] for row in db.execute("PRAGMA table_info(outbox)")}
    for name, decl in _OUTBOX_COLUMNS.items():  # a state file from before the outbox bounds, or lost posts
        if name not in have:
            db.execute(f"ALTER TABLE outbox ADD COLUMN {name} {decl}")
    db.executescript(_OUTBOX_INDEXES)
    if "checked" not in {row[1] for row in db.execute("PRAGMA table_info(relay_marks)")}:
        db.execute("ALTER TABLE relay_marks ADD COLUMN checked REAL NOT NULL DEFAULT 0")
    db.execute("INSERT OR IGNORE INTO source_salt (one, salt) VALUES (1, ?)", (secrets.token_bytes(16),))


def prepare_file(path: Path, key: bytes | None, *, legacy: bool = False) -> None:
    """Make ``path`` an empty state file (in WAL mode) and close it: :class:`LocalState` made quickly (see
    :func:`samizdat.store.dbapi.prepare_file`)."""
    dbapi_prepare(path, key, _create_tables, "the node state", legacy=legacy)


def _in_batches(ids: list[_T], size: int = 500) -> Iterator[tuple[list[_T], str]]:
    """``ids`` ``size`` at a time, each with its ``?`` placeholders for ``IN (...)`` (SQLite's bound on a
    statement's variables is far above 500; one statement per id was the slow way)."""
    for start in range(0, len(ids), size):
        batch = ids[start : start + size]
        yield batch, ",".join("?" * len(batch))


class LocalState:
    def __init__(
        self,
        path: Path | str,
        *,
        outbox_per_author: int = OUTBOX_PER_AUTHOR,
        outbox_per_channel: int = OUTBOX_PER_CHANNEL,
        key: bytes | None = None,
    ) -> None:
        """Open (creating as needed) the state file ``path``, encrypted under ``key`` if given
        (store/dbapi.py). Raises StoreError when it cannot be opened or is damaged."""
        self.outbox_per_author = outbox_per_author
        self.outbox_per_channel = outbox_per_channel
        self._warned: dict[str, float] = {}  # bound -> when its last warning was logged
        try:
            self._db = connect(str(path), key, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA temp_store = MEMORY")
            self._db.execute("PRAGMA journal_mode=WAL")
            _create_tables(self._db)
            self._salt = bytes(self._db.execute("SELECT salt FROM source_salt").fetchone()[0])
            self._sources = int(self._db.execute("SELECT count(*) FROM author_sources").fetchone()[0])
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the node state {path}: {describe(exc)}") from exc

    def close(self) -> None:
        self._db.close()

    def _run(self, sql: str, params: Iterable[object] = ()) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, tuple(params))
        except sqlite3.Error as exc:
            raise StoreError(f"the node state could not be updated: {exc}") from exc

    # -- follows -----------------------------------------------------------------------------------------------

    def follow(self, address: str, relays: Iterable[str], now: float) -> bool:
        """Follow a channel; return False if it was already followed (its relay hints are merged)."""
        row = self._run("SELECT relays FROM follows WHERE address = ?", (address,)).fetchone()
        hints = list(dict.fromkeys([*(orjson.loads(row[0]) if row else []), *relays]))
        self._run(
            "INSERT INTO follows (address, relays, added_at) VALUES (?, ?, ?) "
            "ON CONFLICT (address) DO UPDATE SET relays = excluded.relays",
            (address, orjson.dumps(hints).decode(), int(now)),
        )
        return row is None

    def unfollow(self, address: str) -> bool:
        return self._run("DELETE FROM follows WHERE address = ?", (address,)).rowcount > 0

    def follows(self) -> dict[str, list[str]]:
        rows = self._run("SELECT address, relays FROM follows ORDER BY added_at, address").fetchall()
        return {address: orjson.loads(relays) for address, relays in rows}

    def follow_verifier(self, pubkey: str, now: float) -> bool:
        """Follow a verifier whose labels readers see; False if already followed."""
        cursor = self._run("INSERT OR IGNORE INTO verifiers (pubkey, added_at) VALUES (?, ?)", (pubkey, int(now)))
        return cursor.rowcount > 0

    def unfollow_verifier(self, pubkey: str) -> bool:
        return self._run("DELETE FROM verifiers WHERE pubkey = ?", (pubkey,)).rowcount > 0

    def verifiers(self) -> list[str]:
        return [row[0] for row in self._run("SELECT pubkey FROM verifiers ORDER BY added_at").fetchall()]

    # -- recovery keys (core/recovery.py) -------------------------------------------------------------------------

    def recovery_key(self, address: str) -> str:
        """The recovery key this node first saw channel ``address`` name, or ""."""
        row = self._run("SELECT pubkey FROM recovery_keys WHERE address = ?", (address,)).fetchone()
        return str(row[0]) if row else ""

    def remember_recovery_key(self, address: str, pubkey: str, now: float) -> bool:
        """Remember ``pubkey`` as channel ``address``'s recovery key unless one is remembered already (the first
        seen stays: a later definition may come from whoever seized the owner key). False when one was, or when
        :data:`MAX_RECOVERY_KEYS` channels are remembered (a flood of carried channels must not grow the file)."""
        if self._run("SELECT count(*) FROM recovery_keys").fetchone()[0] >= MAX_RECOVERY_KEYS:
            return False
        cursor = self._run(
            "INSERT OR IGNORE INTO recovery_keys (address, pubkey, first_seen) VALUES (?, ?, ?)", (address, pubkey, now)
        )
        return cursor.rowcount > 0

    # -- outbox ------------------------------------------------------------------------------------------------

    def enqueue(self, event_id: str, relays: Iterable[str], now: float, *, author: str = "", channel: str = "") -> int:
        """Queue ``event_id`` (by ``author``, in ``channel``) for every relay not queued yet; return how many rows
        were added. Then hold the outbox to its bounds (see the module's docstring): the oldest waiting events of
        the author, or of the channel's busiest author, may be given up."""
        added = 0
        for relay in relays:
            cursor = self._run(
                "INSERT OR IGNORE INTO outbox (event_id, relay, created_at, author, channel) VALUES (?, ?, ?, ?, ?)",
                (event_id, relay, now, author, channel),
            )
            added += cursor.rowcount
        if added and author:
            self._bound("author = ?", (author,), self.outbox_per_author, f"of author {author[:12]}", now)
        if added and channel:
            self._bound("channel = ?", (channel,), self.outbox_per_channel, f"of channel {channel[:80]}", now)
        return added

    def _waiting(self, where: str, params: tuple[object, ...]) -> int:
        sql = f"SELECT count(DISTINCT event_id) FROM outbox WHERE state = 'pending' AND {where}"
        return int(self._run(sql, params).fetchone()[0])

    def _bound(self, where: str, params: tuple[object, ...], limit: int, whose: str, now: float) -> None:
        """Give up the oldest waiting events matching ``where`` beyond ``limit``, those of the author with the
        most waiting among them first; say so in the log at most once a minute for each bound."""
        excess = self._waiting(where, params) - limit
        while excess > 0:
            top = self._run(
                f"SELECT author FROM outbox WHERE state = 'pending' AND {where} GROUP BY author "
                "ORDER BY count(DISTINCT event_id) DESC, author LIMIT 1",
                params,
            ).fetchone()
            if top is None:
                return
            doomed = [row[0] for row in self._run(
                f"SELECT event_id FROM outbox WHERE state = 'pending' AND {where} AND author = ? GROUP BY event_id "
                "ORDER BY min(rowid) LIMIT ?",
                (*params, top[0], excess),
            )]  # fmt: skip
            reason = f"dropped: more than {limit} posts {whose} were waiting"
            for event_id in doomed:
                self._run(
                    "UPDATE outbox SET state = 'failed', last_message = ? WHERE event_id = ? AND state = 'pending'",
                    (reason, event_id),
                )
            if now - self._warned.get(whose, -OUTBOX_WARN_EVERY) >= OUTBOX_WARN_EVERY:  # a flood, not a log flood
                if len(self._warned) > 1000:
                    self._warned.clear()
                self._warned[whose] = now
                # The author and the channel only with -v: a system log is kept unencrypted (docs/safety.md).
                log.warning("outbox: giving up the oldest waiting posts: more than %d posts were waiting", limit)
                log.info("outbox: the posts given up are by %s: more than %d posts %s were waiting",
                         top[0][:12] or "(unknown)", limit, whose)  # fmt: skip
            if not doomed:
                return
            excess -= len(doomed)

    def prune_outbox(self, keep: int = OUTBOX_FINISHED_KEEP) -> int:
        """Delete the oldest finished (accepted or failed) rows beyond the newest ``keep``; return how many."""
        return self._run(
            "DELETE FROM outbox WHERE state != 'pending' AND rowid <= (SELECT rowid FROM outbox "
            "WHERE state != 'pending' ORDER BY rowid DESC LIMIT 1 OFFSET ?)",
            (keep,),
        ).rowcount

    def due(self, now: float, limit: int = 500) -> list[OutboxRow]:
        rows = self._run(
            "SELECT event_id, relay, state, attempts, next_attempt, last_message FROM outbox "
            "WHERE state = 'pending' AND next_attempt <= ? ORDER BY next_attempt LIMIT ?",
            (now, limit),
        ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def record_attempt(
        self,
        event_id: str,
        relay: str,
        *,
        accepted: bool,
        message: str,
        final: bool,
        next_attempt: float,
        answered_at: float = 0.0,
    ) -> None:
        state = "accepted" if accepted else ("failed" if final else "pending")
        self._run(
            "UPDATE outbox SET state = ?, attempts = attempts + 1, next_attempt = ?, last_message = ?, "
            "answered_at = ?, checked = ? WHERE event_id = ? AND relay = ?",
            (state, next_attempt, message[:500], answered_at, int(not accepted), event_id, relay),
        )

    def to_check(self, before: float, limit: int = 500) -> dict[str, list[str]]:
        """Posts accepted at ``before`` or earlier and not yet asked back, by relay, the oldest first (``limit``
        in all)."""
        out: dict[str, list[str]] = {}
        for relay, event_id in self._run(
            "SELECT relay, event_id FROM outbox WHERE checked = 0 AND state = 'accepted' AND answered_at <= ? "
            "ORDER BY answered_at LIMIT ?",
            (before, limit),
        ):
            out.setdefault(relay, []).append(event_id)
        return out

    def mark_checked(self, relay: str, event_ids: Iterable[str], now: float = 1.0) -> None:
        """``relay`` was asked for ``event_ids`` at ``now`` (never 0: that is "not asked yet")."""
        ids, when = list(event_ids), max(int(now), 1)
        for batch, marks in _in_batches(ids):
            self._run(f"UPDATE outbox SET checked = ? WHERE relay = ? AND event_id IN ({marks})", (when, relay, *batch))

    def to_recheck(self, before: float, since: float, per_relay: int) -> dict[str, list[str]]:
        """Posts accepted at ``since`` or later, asked back already but not since ``before``, by relay: up to
        ``per_relay`` each, the least recently asked first."""
        out: dict[str, list[str]] = {}
        relay = ""
        while True:  # relay by relay, each a seek in outbox_recheck (50,000 rows read whole took 80 ms)
            row = self._run("SELECT min(relay) FROM outbox WHERE state = 'accepted' AND relay > ?", (relay,)).fetchone()
            if row is None or row[0] is None:
                return out
            relay = row[0]
            ids = [found[0] for found in self._run(
                "SELECT event_id FROM outbox WHERE relay = ? AND state = 'accepted' AND checked != 0 AND checked <= ? "
                "AND answered_at >= ? ORDER BY checked, answered_at LIMIT ?", (relay, before, since, per_relay),
            )]  # fmt: skip
            if ids:
                out[relay] = ids

    def accepted_among(self, relay: str, event_ids: Iterable[str], before: float) -> list[str]:
        """Of ``event_ids``, the posts ``relay`` accepted at ``before`` or earlier (looked up by id, 500 at a time:
        the outbox's rows of that relay are not read whole for every filter of a sync)."""
        ids = list(event_ids)
        accepted: set[str] = set()
        for batch, marks in _in_batches(ids):
            accepted.update(row[0] for row in self._run(
                "SELECT event_id FROM outbox WHERE relay = ? AND state = 'accepted' AND answered_at <= ? "
                f"AND event_id IN ({marks})", (relay, before, *batch),
            ))  # fmt: skip
        return [i for i in ids if i in accepted]

    def mark_lost(self, relay: str, event_ids: Iterable[str], message: str) -> list[str]:
        """Rows of ``event_ids`` that ``relay`` accepted become ``lost`` with ``message``; return their ids."""
        ids = list(dict.fromkeys(event_ids))
        found: list[str] = []
        for batch, marks in _in_batches(ids):
            where = f"relay = ? AND state = 'accepted' AND event_id IN ({marks})"
            found += [row[0] for row in self._run(f"SELECT event_id FROM outbox WHERE {where}", (relay, *batch))]
            self._run(
                f"UPDATE outbox SET state = 'lost', last_message = ? WHERE {where}", (message[:500], relay, *batch)
            )
        return found

    def give_back(self, relay: str, event_ids: Iterable[str], message: str, now: float) -> list[str]:
        """Of ``event_ids``, the ``lost`` rows of ``relay`` never sent back to it are due again at ``now``, once
        (``returned``); return their ids."""
        ids = list(dict.fromkeys(event_ids))
        found: list[str] = []
        for batch, marks in _in_batches(ids):
            where = f"relay = ? AND state = 'lost' AND returned = 0 AND event_id IN ({marks})"
            found += [row[0] for row in self._run(f"SELECT event_id FROM outbox WHERE {where}", (relay, *batch))]
            self._run(
                "UPDATE outbox SET state = 'pending', returned = 1, attempts = 0, next_attempt = ?, "
                f"last_message = ? WHERE {where}",
                (now, message[:500], relay, *batch),
            )
        return found

    def retry_elsewhere(self, event_id: str, shunned: Iterable[str], now: float) -> int:
        """Send ``event_id`` again at once to every relay but ``shunned`` that has not accepted it: waiting rows
        are due now, failed ones wait again with their tries reset. Returns how many rows that changed."""
        avoid = list(shunned)
        marks = ",".join("?" * len(avoid)) or "''"
        return self._run(
            "UPDATE outbox SET state = 'pending', next_attempt = ?, attempts = CASE WHEN state = 'failed' THEN 0 "
            f"ELSE attempts END WHERE event_id = ? AND state IN ('pending', 'failed') AND relay NOT IN ({marks})",
            (now, event_id, *avoid),
        ).rowcount

    def outbox(self, states: Iterable[str] = ("pending", "accepted", "failed", "lost")) -> list[OutboxRow]:
        wanted = tuple(states)
        marks = ",".join("?" * len(wanted))
        rows = self._run(
            "SELECT event_id, relay, state, attempts, next_attempt, last_message FROM outbox "
            f"WHERE state IN ({marks}) ORDER BY created_at, relay",
            wanted,
        ).fetchall()
        return [OutboxRow(*row) for row in rows]

    def next_due(self) -> float | None:
        row = self._run("SELECT MIN(next_attempt) FROM outbox WHERE state = 'pending'").fetchone()
        return None if row is None or row[0] is None else float(row[0])

    # -- relays that lose what they acknowledge (services/relay_health.py) -------------------------------------

    def record_lost(self, relay: str, count: int, now: float, *, anew: bool = False) -> None:
        """Add ``count`` events ``relay`` lost at ``now``; ``anew``: start counting again from these."""
        self._run(
            "INSERT INTO relay_health (relay, lost, first_lost, last_lost) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (relay) DO UPDATE SET last_lost = excluded.last_lost, "
            "lost = CASE WHEN ? THEN excluded.lost ELSE lost + excluded.lost END, "
            "first_lost = CASE WHEN ? THEN excluded.first_lost ELSE first_lost END",
            (relay, count, now, now, anew, anew),
        )

    def relay_health(self) -> dict[str, RelayHealth]:
        rows = self._run("SELECT relay, lost, first_lost, last_lost FROM relay_health").fetchall()
        return {row[0]: RelayHealth(*row) for row in rows}

    # -- areas fetched channel by channel, by choice (services/areas.py) ---------------------------------------

    def set_by_channel(self, cell: str, on: bool, now: float) -> bool:
        """Fetch the area ``cell`` channel by channel (``on``) or whole again; True when that changed anything."""
        if on:
            sql, params = "INSERT OR IGNORE INTO by_channel_areas (cell, added_at) VALUES (?, ?)", (cell, now)
            return self._run(sql, params).rowcount > 0
        return self._run("DELETE FROM by_channel_areas WHERE cell = ?", (cell,)).rowcount > 0

    def by_channel_areas(self) -> set[str]:
        return {row[0] for row in self._run("SELECT cell FROM by_channel_areas").fetchall()}

    # -- sync progress -----------------------------------------------------------------------------------------

    def sync_row(self, relay: str, scope: str) -> SyncRow | None:
        row = self._run(
            "SELECT relay, scope, last_success, last_attempt, failures, next_attempt, summary FROM sync_state "
            "WHERE relay = ? AND scope = ?",
            (relay, scope),
        ).fetchone()
        return None if row is None else SyncRow(row[0], row[1], row[2], row[3], row[4], row[5], orjson.loads(row[6]))

    def sync_rows(self) -> list[SyncRow]:
        rows = self._run(
            "SELECT relay, scope, last_success, last_attempt, failures, next_attempt, summary FROM sync_state "
            "ORDER BY scope, relay"
        ).fetchall()
        return [SyncRow(row[0], row[1], row[2], row[3], row[4], row[5], orjson.loads(row[6])) for row in rows]

    def record_sync(
        self, relay: str, scope: str, *, now: float, ok: bool, next_attempt: float, summary: dict[str, object]
    ) -> None:
        self._run(
            "INSERT INTO sync_state (relay, scope, last_success, last_attempt, failures, next_attempt, summary) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (relay, scope) DO UPDATE SET "
            "last_success = COALESCE(excluded.last_success, last_success), last_attempt = excluded.last_attempt, "
            "failures = CASE WHEN ? THEN 0 ELSE failures + 1 END, next_attempt = excluded.next_attempt, "
            "summary = excluded.summary",
            (
                relay,
                scope,
                now if ok else None,
                now,
                0 if ok else 1,
                next_attempt,
                orjson.dumps(summary).decode(),
                ok,
            ),
        )

    # -- LAN and manual peers ----------------------------------------------------------------------------------

    def add_peer(self, url: str, source: str, now: float, name: str = "") -> bool:
        """Remember a peer; False if it was known (a manual entry stays manual; a given name replaces the old)."""
        known = self._run("SELECT 1 FROM peers WHERE url = ?", (url,)).fetchone() is not None
        self._run(
            "INSERT INTO peers (url, source, name, added_at) VALUES (?, ?, ?, ?) ON CONFLICT (url) DO UPDATE SET "
            "name = CASE WHEN excluded.name != '' THEN excluded.name ELSE name END, "
            "source = CASE WHEN source = 'manual' THEN source ELSE excluded.source END",
            (url, source, name[: PEER_TEXT_LIMITS["name"]], now),
        )
        return not known

    def remove_peer(self, url: str) -> bool:
        return self._run("DELETE FROM peers WHERE url = ?", (url,)).rowcount > 0

    def forget_announced(self, url: str | None = None) -> int:
        """Forget what only an announcement told us, about ``url`` or every peer: peers found on the LAN are
        removed, manual ones lose their announced name. Returns how many peers were removed."""
        where, params = ("", ()) if url is None else (" AND url = ?", (url,))
        removed = self._run(f"DELETE FROM peers WHERE source = 'mdns'{where}", params).rowcount
        self._run(f"UPDATE peers SET name = '' WHERE source = 'manual'{where}", params)
        return removed

    def peers(self) -> list[PeerRow]:
        rows = self._run(f"SELECT {_PEER_COLUMNS} FROM peers ORDER BY added_at, url").fetchall()
        return [PeerRow(*row) for row in rows]

    def peer(self, url: str) -> PeerRow | None:
        row = self._run(f"SELECT {_PEER_COLUMNS} FROM peers WHERE url = ?", (url,)).fetchone()
        return None if row is None else PeerRow(*row)

    def update_peer(self, url: str, **values: object) -> None:
        """Set fields of a known peer (name, last_seen, last_sync, state, failures, last_error) and add to its
        counters (events_in, events_out, bytes_in, bytes_out). Unknown peers are ignored."""
        sets: list[str] = []
        params: list[object] = []
        for key, value in values.items():
            if key in PEER_COUNTERS:
                sets.append(f"{key} = {key} + ?")
            elif key in _PEER_FIELDS:
                sets.append(f"{key} = ?")
                if key in PEER_TEXT_LIMITS and isinstance(value, str):
                    value = value[: PEER_TEXT_LIMITS[key]]
            else:
                raise ValueError(f"not a peer field: {key}")
            params.append(value)
        if sets:
            self._run(f"UPDATE peers SET {', '.join(sets)} WHERE url = ?", (*params, url))

    # -- what a relay held at the last sync (services/relay_memory.py) ------------------------------------------

    def relay_mark(self, relay: str, scope: str) -> tuple[int, int, float, float] | None:
        """(insertion number, events it still lacked, when, when another route was last asked the same) of the
        last sync of ``scope`` with ``relay`` that ended well; None before the first."""
        row = self._run(
            "SELECT seq, lacking, at, checked FROM relay_marks WHERE relay = ? AND scope = ?", (relay, scope)
        ).fetchone()
        return None if row is None else (int(row[0]), int(row[1]), float(row[2]), float(row[3]))

    def record_relay_mark(
        self, relay: str, scope: str, seq: int, lacking: int, now: float, checked: float | None = None
    ) -> None:
        """Note a sync that ended well; ``checked``: another route was asked the same (None: keep the last)."""
        self._run(
            "INSERT INTO relay_marks (relay, scope, seq, lacking, at, checked) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (relay, scope) DO UPDATE SET seq = excluded.seq, lacking = excluded.lacking, "
            "at = excluded.at, checked = CASE WHEN ? THEN excluded.checked ELSE checked END",
            (relay, scope, seq, lacking, now, checked or 0.0, checked is not None),
        )

    def relay_doubt(self, relay: str, scope: str) -> float | None:
        """Since when the route whose marks are named ``scope`` (:func:`samizdat.services.relay_memory.route_key`)
        is in doubt at ``relay``; None when it is not (red team, round 15)."""
        row = self._run("SELECT since FROM relay_doubts WHERE relay = ? AND scope = ?", (relay, scope)).fetchone()
        return None if row is None else float(row[0])

    def relay_doubt_scopes(self, relay: str) -> list[str]:
        """The names of the marks (scope and route) in doubt at ``relay``."""
        return [row[0] for row in self._run("SELECT scope FROM relay_doubts WHERE relay = ?", (relay,)).fetchall()]

    def record_relay_doubt(self, relay: str, scope: str, since: float | None) -> None:
        """Note the route in doubt since ``since`` (kept if it already was); None: the doubt is settled."""
        if since is None:
            self._run("DELETE FROM relay_doubts WHERE relay = ? AND scope = ?", (relay, scope))
        else:
            sql = "INSERT OR IGNORE INTO relay_doubts (relay, scope, since) VALUES (?, ?, ?)"
            self._run(sql, (relay, scope, since))

    # -- which route brought an author's events (services/relay_memory.py, red team round 14) -----------------

    def _hash(self, what: str, text: str | None, size: int) -> bytes:
        return hashlib.sha256(b"%s\0%s\0%s" % (self._salt, what.encode(), (text or "").encode())).digest()[:size]

    def note_brought(self, route: str | None, authors: Mapping[str, int]) -> None:
        """Note that a relay sync through ``route`` brought events new to the store by ``authors`` (pubkey: how
        many). An author not yet noted is added while fewer than :data:`SOURCES_MAX` are (then it is not)."""
        if not authors:
            return
        first = self._hash("route", route, 8)
        tagged = {self._hash("author", pubkey, 16): count for pubkey, count in authors.items()}
        try:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                known: dict[bytes, bytes] = {}
                for batch, marks in _in_batches(list(tagged)):
                    sql = f"SELECT author, first FROM author_sources WHERE author IN ({marks})"
                    known.update((bytes(a), bytes(f)) for a, f in self._db.execute(sql, batch).fetchall())
                added = 0
                for author, count in tagged.items():
                    if author in known:
                        self._db.execute(
                            "UPDATE author_sources SET brought = brought + ?, others = others | ? WHERE author = ?",
                            (count if known[author] == first else 0, int(known[author] != first), author),
                        )
                    elif self._sources + added < SOURCES_MAX:
                        self._db.execute(
                            "INSERT INTO author_sources (author, first, brought) VALUES (?, ?, ?)",
                            (author, first, count),
                        )
                        added += 1
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StoreError(f"the node state could not be updated: {exc}") from exc
        self._sources += added

    def sources(self, pubkeys: Iterable[str], route: str | None) -> dict[str, Sources]:
        """What is noted of ``pubkeys``' sources (:meth:`note_brought`), each whether ``route`` was the first; an
        author never noted is left out."""
        first = self._hash("route", route, 8)
        tags = {self._hash("author", pubkey, 16): pubkey for pubkey in pubkeys}
        out: dict[str, Sources] = {}
        for batch, marks in _in_batches(list(tags)):
            sql = f"SELECT author, first, brought, others FROM author_sources WHERE author IN ({marks})"
            for author, was, brought, others in self._run(sql, batch).fetchall():
                out[tags[bytes(author)]] = Sources(bytes(was) == first, int(brought), bool(others))
        return out

    def sources_full(self) -> bool:
        """Whether :data:`SOURCES_MAX` authors are noted (authors brought since are not)."""
        return self._sources >= SOURCES_MAX

    # -- routes (failover memory) ------------------------------------------------------------------------------

    def routes(self, relay: str, network: str) -> dict[str, RouteRecord]:
        rows = self._run(
            "SELECT transport, last_ok, last_failure, failures, next_retry, last_error FROM routes "
            "WHERE relay = ? AND network = ?",
            (relay, network),
        ).fetchall()
        return {row[0]: RouteRecord(*row) for row in rows}

    def all_routes(self) -> list[tuple[str, str, RouteRecord]]:
        rows = self._run(
            "SELECT relay, network, transport, last_ok, last_failure, failures, next_retry, last_error FROM routes "
            "ORDER BY relay, network, transport"
        ).fetchall()
        return [(row[0], row[1], RouteRecord(*row[2:])) for row in rows]

    def record_route(self, relay: str, network: str, record: RouteRecord) -> None:
        self._run(
            "INSERT OR REPLACE INTO routes (relay, network, transport, last_ok, last_failure, failures, next_retry, "
            "last_error) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                relay,
                network,
                record.transport,
                record.last_ok,
                record.last_failure,
                record.failures,
                record.next_retry,
                record.last_error,
            ),
        )
