-- Samizdat store schema, version 3: fewer pages written per event (issue 12, docs/benchmarks.md "Encrypted store").
--
-- An encrypted store encrypts and authenticates every page a commit writes, so what an event costs to store grows
-- with the B-trees it touches at a random place. Measured with bench/store_pages.py (pages per event, commits of
-- 200): the id index, the tag rows and the two author indexes each cost about one page; everything else is
-- appended at the newest end of its B-tree and costs a small fraction of one.
--
-- events_pubkey (pubkey, created_at DESC, id) goes: events_pubkey_kind serves every filter with authors and
-- kinds (all that Samizdat itself sends), and a filter with authors but no kinds reads one arm per kind the
-- author has used, found by a few seeks in the same index (samizdat.store.queries.author_kinds). One random page
-- less per event.
DROP INDEX events_pubkey;

-- events_created also holds expiration, so that a Negentropy item list of every event ("SELECT created_at, id
-- ... WHERE not expired ORDER BY created_at", the start of every sync) reads only this index and never the rows
-- with their JSON: a tenth of the pages, each of which an encrypted store would have to decrypt.
DROP INDEX events_created;
CREATE INDEX events_created ON events (created_at DESC, id, expiration);
