-- When the node made each withdrawn record (its clock when the deletion request arrived): the purge drops a record
-- 90 days after that, not after the amendment's date, so an honest retraction of an old fake that an arrested
-- admin's key deletes is still there for the removal that follows (red team, round 15: it went at the next purge).
-- The records made before this migration keep the old rule's date.
ALTER TABLE withdrawn ADD COLUMN recorded_at INTEGER NOT NULL DEFAULT 0;
UPDATE withdrawn SET recorded_at = created_at;
DROP INDEX withdrawn_created;
CREATE INDEX withdrawn_recorded ON withdrawn (recorded_at);
