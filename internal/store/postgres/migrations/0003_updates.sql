-- EKS update records (store.UpdateRecord): what DescribeUpdate and
-- ListUpdates answer after UpdateAddon.
CREATE TABLE updates (
	cluster    text COLLATE "C" NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
	id         text COLLATE "C" NOT NULL,
	addon      text COLLATE "C" NOT NULL,
	type       text NOT NULL,
	status     text NOT NULL,
	params     text NOT NULL,
	errors     text NOT NULL,
	created_at timestamptz,
	PRIMARY KEY (cluster, id)
);
CREATE INDEX updates_by_addon ON updates (cluster, addon, id);
