-- EKS update records (store.UpdateRecord): what DescribeUpdate and
-- ListUpdates answer after UpdateAddon.
CREATE TABLE updates (
	cluster    TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
	id         TEXT NOT NULL,
	addon      TEXT NOT NULL,
	type       TEXT NOT NULL,
	status     TEXT NOT NULL,
	params     TEXT NOT NULL,
	errors     TEXT NOT NULL,
	created_at INTEGER,
	PRIMARY KEY (cluster, id)
) STRICT, WITHOUT ROWID;
CREATE INDEX updates_by_addon ON updates (cluster, addon, id);
