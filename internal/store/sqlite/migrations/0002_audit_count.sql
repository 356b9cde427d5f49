-- Aggregated audit records: one row may stand for repeated identical
-- events (store.AuditRecord.Count, LastTime).
ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
ALTER TABLE audit ADD COLUMN last_time INTEGER;
