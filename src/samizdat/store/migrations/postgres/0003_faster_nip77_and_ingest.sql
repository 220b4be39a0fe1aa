-- Samizdat store schema for PostgreSQL, version 3: the NIP-77 item list read off one index, and tags without a
-- foreign key check per row. Nothing a query returns changes.

-- A Negentropy stream lists (created_at, id) of every unexpired event in created_at order. events_created had
-- (created_at DESC, id) but not expiration, so the unexpired test had to read every event's heap row: PostgreSQL
-- chose a sequential scan of the whole table (the events' JSON included) and a sort. With expiration in the
-- index (INCLUDE: carried, not sorted on), the list is an index-only scan read backwards, in order: about a
-- quarter of the time for 100,000 events (bench/pgstore.py). Same index, same name.
DROP INDEX events_created;
CREATE INDEX events_created ON events (created_at DESC, id) INCLUDE (expiration);

-- Tags went with their event through a foreign key (ON DELETE CASCADE), which also checked, for every tag row
-- inserted, that its event exists: one lookup per tag, about a tenth of an ingest batch's time on the server.
-- Tags are only ever inserted in the statement that inserts their event (samizdat.store.pgqueries), so the check
-- cannot fail; the cascade is kept by one trigger per DELETE statement, which removes the tags of every event
-- that statement deleted.
ALTER TABLE tags DROP CONSTRAINT tags_seq_fkey;
CREATE FUNCTION samizdat_drop_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM tags WHERE seq IN (SELECT seq FROM gone);
    RETURN NULL;
END
$$;
CREATE TRIGGER events_drop_tags AFTER DELETE ON events REFERENCING OLD TABLE AS gone
    FOR EACH STATEMENT EXECUTE FUNCTION samizdat_drop_tags();
