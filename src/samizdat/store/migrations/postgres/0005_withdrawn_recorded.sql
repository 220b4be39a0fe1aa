-- When the node made each withdrawn record (its clock when the deletion request arrived): the purge drops a record
-- 90 days after that, not after the amendment's date, so an honest retraction of an old fake that an arrested
-- admin's key deletes is still there for the removal that follows (red team, round 15: it went at the next purge).
-- And when its amendment reached the store (``arrived``: its seq): past 1,000 records of an author, those whose
-- amendment arrived last go first, not the oldest by the date the key gave (a flood made and deleted after an
-- arrest pushed out the honest retraction the key had made before). The records made before this migration keep
-- the old purge date and count as arrived first.
ALTER TABLE withdrawn ADD COLUMN recorded_at bigint NOT NULL DEFAULT 0;
ALTER TABLE withdrawn ADD COLUMN arrived bigint NOT NULL DEFAULT 0;
UPDATE withdrawn SET recorded_at = created_at;
DROP INDEX withdrawn_created;
CREATE INDEX withdrawn_recorded ON withdrawn (recorded_at);
CREATE INDEX withdrawn_arrived ON withdrawn (pubkey, arrived);
