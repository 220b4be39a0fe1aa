-- Store-carry-forward (samizdat.store.carry): when the carry quota drops a replaceable or addressable event (a
-- channel's definition above all), the slot's floor: the dropped version's created_at and id. A version older
-- than it is refused as it would be if the dropped one were still stored, so that a node which only carries a
-- channel cannot be handed back a definition that still lists an admin the owner removed. The dropped version
-- itself and newer ones are welcome. Bounded like the evicted ids (samizdat.store.carry.evicted_limit); floors
-- of events that counted for nothing here (valid = 0) are forgotten first.
CREATE TABLE slot_floors (
    pubkey      BLOB    NOT NULL,
    kind        INTEGER NOT NULL,
    d_tag       TEXT    NOT NULL,
    created_at  INTEGER NOT NULL,
    id          BLOB    NOT NULL,
    dropped_at  INTEGER NOT NULL,
    valid       INTEGER NOT NULL,   -- 1: the dropped version was valid channel content (core.carry.Standing)
    PRIMARY KEY (pubkey, kind, d_tag)
) WITHOUT ROWID;
CREATE INDEX slot_floors_forgetting ON slot_floors (valid, dropped_at);
