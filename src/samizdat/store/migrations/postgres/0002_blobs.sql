-- Samizdat store schema for PostgreSQL, version 2: the photo store (samizdat.store.pgblobs), the tables that a
-- node on SQLite keeps in blobs/index.sqlite beside its blob files, with each blob's bytes in its row.
--
-- data is the blob exactly as served (its SHA-256 is sha256). PostgreSQL keeps a value this large out of line,
-- in TOAST chunks of about 2 KB, and reads it only when the column is asked for: listings never touch it.
-- STORAGE EXTERNAL skips the compression attempt (JPEG, PNG and WebP are compressed already).
CREATE TABLE blobs (
    sha256      text    PRIMARY KEY,
    size        bigint  NOT NULL,
    type        text    NOT NULL,
    thumb       boolean NOT NULL DEFAULT false,  -- a thumbnail (kept longest when the carry quota is full)
    stored_at   bigint  NOT NULL,
    data        bytea   NOT NULL
);
ALTER TABLE blobs ALTER COLUMN data SET STORAGE EXTERNAL;
CREATE INDEX blobs_stored ON blobs (stored_at, sha256);

-- A key that uploaded the blob (BUD-02), or the author of a post that carried it.
CREATE TABLE blob_owners (
    sha256      text    NOT NULL,
    pubkey      text    NOT NULL,
    uploaded    bigint  NOT NULL,
    PRIMARY KEY (sha256, pubkey)
);
CREATE INDEX blob_owners_pubkey ON blob_owners (pubkey, uploaded);

-- A stored post whose imeta tags name the blob; n is the order references were noted in (SQLite's rowid).
CREATE TABLE blob_refs (
    sha256      text    NOT NULL,
    event_id    text    NOT NULL,
    n           bigserial,
    PRIMARY KEY (sha256, event_id)
);
CREATE INDEX blob_refs_event ON blob_refs (event_id);

-- A referenced blob no source had yet, and when to try again.
CREATE TABLE blob_misses (
    sha256        text              PRIMARY KEY,
    tries         integer           NOT NULL,
    next_attempt  double precision  NOT NULL
);

CREATE TABLE blob_meta (
    name        text    PRIMARY KEY,
    value       text    NOT NULL
);
