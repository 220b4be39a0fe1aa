-- Store-carry-forward (samizdat.core.carry): ids of carried events dropped to stay within the carry quota, so
-- that peer sync does not fetch them again at the next meeting. Bounded by samizdat.store.carry.EVICTED_KEEP.
CREATE TABLE evicted (
    id          BLOB    PRIMARY KEY,
    evicted_at  INTEGER NOT NULL,
    address     TEXT                -- the channel it belonged to (first a tag), forgotten when it is followed
) WITHOUT ROWID;
CREATE INDEX evicted_at ON evicted (evicted_at);
CREATE INDEX evicted_address ON evicted (address) WHERE address IS NOT NULL;
