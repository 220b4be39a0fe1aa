-- Samizdat store schema for PostgreSQL, version 1: the same tables as the SQLite store's 0001 and 0002
-- (store/migrations/), in PostgreSQL's terms. Applied once, in one transaction, by samizdat.store.pgconn.migrate;
-- the table samizdat_schema records the number of every migration applied.
--
-- Ids and public keys are 32-byte bytea (byte order is hex order). Every ordered index ends in
-- (created_at DESC, id) so that the NIP-01 order "newest first, then lowest id" is read off an index.

-- NIP-50: words are split by PostgreSQL's parser, then unaccented and lowercased ("simple" has no stemming and no
-- stop words), so Cyrillic and Latin text are treated alike: case and diacritics folded, every word kept.
CREATE EXTENSION IF NOT EXISTS unaccent;
CREATE TEXT SEARCH CONFIGURATION samizdat_search (COPY = simple);
ALTER TEXT SEARCH CONFIGURATION samizdat_search
    ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part, numword, numhword,
        hword_numpart
    WITH unaccent, simple;

-- seq is the insertion order. Writers take a transaction-level advisory lock before they insert (see
-- samizdat.store.postgres), so numbers become visible in the order they were handed out, even with several
-- processes writing: a reader that resumes after a number never skips an event committed later below it.
-- raw is the event exactly as served (compact JSON). d_tag is the replacement slot: '' for replaceable kinds,
-- the d tag for addressable ones, NULL otherwise. search is the NIP-50 index of rules.searchable_text(event).
CREATE SEQUENCE events_seq;
CREATE TABLE events (
    seq         bigint  PRIMARY KEY DEFAULT nextval('events_seq'),
    id          bytea   NOT NULL,
    pubkey      bytea   NOT NULL,
    created_at  bigint  NOT NULL,
    kind        integer NOT NULL,
    d_tag       text,
    expiration  bigint,
    raw         bytea   NOT NULL,
    search      tsvector
);
CREATE UNIQUE INDEX events_id ON events (id);
CREATE INDEX events_created ON events (created_at DESC, id);
CREATE INDEX events_kind ON events (kind, created_at DESC, id);
CREATE INDEX events_pubkey ON events (pubkey, created_at DESC, id);
CREATE INDEX events_pubkey_kind ON events (pubkey, kind, created_at DESC, id);
CREATE UNIQUE INDEX events_slot ON events (pubkey, kind, d_tag) WHERE d_tag IS NOT NULL;
CREATE INDEX events_expiration ON events (expiration) WHERE expiration IS NOT NULL;
CREATE INDEX events_search ON events USING gin (search) WHERE search IS NOT NULL;

-- First values of single-letter tags (the only tags NIP-01 filters can name), as text. Deleted with their event.
CREATE TABLE tags (
    seq         bigint  NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    name        text    NOT NULL,
    value       text    NOT NULL,
    created_at  bigint  NOT NULL,
    id          bytea   NOT NULL
);
CREATE INDEX tags_newest ON tags (name, value, created_at DESC, id);
CREATE INDEX tags_seq ON tags (seq);

-- NIP-09 bookkeeping, so that an event arriving after its deletion request is refused.
CREATE TABLE deleted_ids (
    id          bytea   NOT NULL,
    pubkey      bytea   NOT NULL,
    PRIMARY KEY (id, pubkey)
);
CREATE TABLE deleted_addrs (
    pubkey      bytea   NOT NULL,
    kind        integer NOT NULL,
    d_tag       text    NOT NULL,
    until       bigint  NOT NULL,
    PRIMARY KEY (pubkey, kind, d_tag)
);

-- Ids dropped to keep a carry quota (samizdat.store.carry). A PostgreSQL store keeps no carry quota (see
-- samizdat.store.postgres), so it stays empty; it is here so that "had it" reads the same on both stores.
CREATE TABLE evicted (
    id          bytea   PRIMARY KEY,
    evicted_at  bigint  NOT NULL,
    address     text
);
