-- A record of each channel amendment (a retraction or a correction of a post) that its author's deletion request
-- (NIP-09) erased, for the owner's review of an admin's removal only: never served (samizdat.store.base,
-- Withdrawn). An arrested admin's key can delete the admin's honest retraction of a fake; without this, nothing
-- was left for the removal to offer. No content (a retraction's reason may name someone). At most 1,000 per
-- author, those whose amendment arrived last dropped first (a flood made and deleted after an arrest cannot push
-- out the honest record); dropped 90 days after the deletion arrived (purge_expired; red team, round 15).
CREATE TABLE withdrawn (
    id          BLOB    PRIMARY KEY,   -- the amendment's id
    pubkey      BLOB    NOT NULL,      -- its author (and the deletion request's)
    action      TEXT    NOT NULL,      -- 'retraction' or 'correction'
    target      BLOB    NOT NULL,      -- the post it amended
    address     TEXT    NOT NULL,      -- the channel's address
    created_at  INTEGER NOT NULL,      -- the amendment's date
    deletion    BLOB    NOT NULL,      -- the deletion request's id
    deleted_at  INTEGER NOT NULL,      -- the date the deletion request gives
    recorded_at INTEGER NOT NULL,      -- the node's clock when the deletion arrived: dropped 90 days after
    arrived     INTEGER NOT NULL       -- when the amendment reached the store (its seq): past 1,000, the last go
) WITHOUT ROWID;
CREATE INDEX withdrawn_author ON withdrawn (pubkey, created_at);
CREATE INDEX withdrawn_recorded ON withdrawn (recorded_at);
CREATE INDEX withdrawn_arrived ON withdrawn (pubkey, arrived);
