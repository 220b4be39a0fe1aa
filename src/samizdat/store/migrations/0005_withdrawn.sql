-- A record of each channel amendment (a retraction or a correction of a post) that its author's deletion request
-- (NIP-09) erased, for the owner's review of an admin's removal only: never served (samizdat.store.base,
-- Withdrawn). An arrested admin's key can delete the admin's honest retraction of a fake; without this, nothing
-- was left for the removal to offer. No content (a retraction's reason may name someone). At most 1,000 per
-- author, the oldest by created_at dropped first; dropped 90 days after created_at (purge_expired).
CREATE TABLE withdrawn (
    id          BLOB    PRIMARY KEY,   -- the amendment's id
    pubkey      BLOB    NOT NULL,      -- its author (and the deletion request's)
    action      TEXT    NOT NULL,      -- 'retraction' or 'correction'
    target      BLOB    NOT NULL,      -- the post it amended
    address     TEXT    NOT NULL,      -- the channel's address
    created_at  INTEGER NOT NULL,      -- the amendment's date
    deletion    BLOB    NOT NULL,      -- the deletion request's id
    deleted_at  INTEGER NOT NULL       -- the date the deletion request gives
) WITHOUT ROWID;
CREATE INDEX withdrawn_author ON withdrawn (pubkey, created_at);
CREATE INDEX withdrawn_created ON withdrawn (created_at);
