-- Samizdat store schema, version 1. Applied once, inside one transaction, by samizdat.store.queries.migrate;
-- PRAGMA user_version records the number of the last migration applied.
--
-- Ids and public keys are 32-byte BLOBs (half the size of hex, and memcmp order is hex order, so "id ascending"
-- is the same on both). Every ordered index ends in (created_at DESC, id) so that the NIP-01 order
-- "newest first, then lowest id" is read straight off an index, with no sort.

-- seq is the insertion order (AUTOINCREMENT: never reused, so events_since() can resume from a seq).
-- raw is the event exactly as served (compact JSON); nothing else in the row is needed to serve it, so an
-- encrypting store can encrypt this one column.
-- d_tag is the replacement slot: '' for replaceable kinds, the d tag for addressable kinds, NULL otherwise.
CREATE TABLE events (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          BLOB    NOT NULL,
    pubkey      BLOB    NOT NULL,
    created_at  INTEGER NOT NULL,
    kind        INTEGER NOT NULL,
    d_tag       TEXT,
    expiration  INTEGER,
    raw         BLOB    NOT NULL
);
CREATE UNIQUE INDEX events_id ON events (id);
CREATE INDEX events_created ON events (created_at DESC, id);
CREATE INDEX events_kind ON events (kind, created_at DESC, id);
CREATE INDEX events_pubkey ON events (pubkey, created_at DESC, id);
CREATE INDEX events_pubkey_kind ON events (pubkey, kind, created_at DESC, id);
-- At most one stored version per replaceable/addressable slot.
CREATE UNIQUE INDEX events_slot ON events (pubkey, kind, d_tag) WHERE d_tag IS NOT NULL;
CREATE INDEX events_expiration ON events (expiration) WHERE expiration IS NOT NULL;

-- First values of single-letter tags (the only tags NIP-01 filters can name). A value that is 64 lowercase hex
-- characters (an event id or public key, most e/p tags) is stored as its 32 bytes; filters convert the same way.
-- The primary key is the index "#x filter, newest first"; rows are deleted by recomputing it from the event.
CREATE TABLE tags (
    name        TEXT    NOT NULL,
    value       ANY     NOT NULL,
    created_at  INTEGER NOT NULL,
    id          BLOB    NOT NULL,
    seq         INTEGER NOT NULL,
    PRIMARY KEY (name, value, created_at DESC, id)
) WITHOUT ROWID;

-- NIP-09 bookkeeping, so that an event arriving after its deletion request is refused.
-- deleted_ids: "pubkey asked for event id to be deleted" (honoured only for events by that pubkey).
CREATE TABLE deleted_ids (
    id          BLOB    NOT NULL,
    pubkey      BLOB    NOT NULL,
    PRIMARY KEY (id, pubkey)
) WITHOUT ROWID;
-- deleted_addrs: versions of the slot (pubkey, kind, d) with created_at <= until are deleted.
CREATE TABLE deleted_addrs (
    pubkey      BLOB    NOT NULL,
    kind        INTEGER NOT NULL,
    d_tag       TEXT    NOT NULL,
    until       INTEGER NOT NULL,
    PRIMARY KEY (pubkey, kind, d_tag)
) WITHOUT ROWID;

-- NIP-50 full-text index over samizdat.store.rules.searchable_text(event); rowid = events.seq. Contentless
-- (the text is already in events.raw), so a row is removed with the 'delete' command and the same text:
-- changing searchable_text() needs a migration that rebuilds this table. No column sizes: we rank by time,
-- not bm25().
CREATE VIRTUAL TABLE events_fts USING fts5 (
    text,
    content = '',
    columnsize = 0,
    tokenize = 'unicode61 remove_diacritics 2'
);
