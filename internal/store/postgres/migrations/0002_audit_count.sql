-- Aggregated audit records: one row may stand for repeated identical
-- events (store.AuditRecord.Count, LastTime).
ALTER TABLE audit ADD COLUMN count bigint NOT NULL DEFAULT 1;
ALTER TABLE audit ADD COLUMN last_time timestamptz;
