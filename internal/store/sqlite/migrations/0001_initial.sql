-- 0001: podid's initial schema.
--
-- Conventions: times are INTEGER Unix nanoseconds (UTC), NULL for the zero
-- time; tag sets and string lists are JSON text, NULL when empty; booleans
-- are INTEGER 0/1. IAM principals carry an integer surrogate key (pk) that
-- child rows reference, so a user rename keeps its keys and policies.

CREATE TABLE roles (
	pk                   INTEGER PRIMARY KEY,
	id                   TEXT    NOT NULL UNIQUE,
	name                 TEXT    NOT NULL,
	path                 TEXT    NOT NULL,
	arn                  TEXT    NOT NULL,
	assume_role_policy   TEXT    NOT NULL,
	description          TEXT    NOT NULL,
	max_session_duration INTEGER NOT NULL,
	permissions_boundary TEXT    NOT NULL,
	tags                 TEXT,
	created_at           INTEGER,
	last_used_at         INTEGER,
	last_used_region     TEXT    NOT NULL
) STRICT;
-- IAM names are unique case-insensitively (they are ASCII, so NOCASE folds
-- them fully); listings sort by the exact bytes.
CREATE UNIQUE INDEX roles_name_nocase ON roles (name COLLATE NOCASE);
CREATE INDEX roles_name ON roles (name);

CREATE TABLE users (
	pk                   INTEGER PRIMARY KEY,
	id                   TEXT    NOT NULL UNIQUE,
	name                 TEXT    NOT NULL,
	path                 TEXT    NOT NULL,
	arn                  TEXT    NOT NULL,
	permissions_boundary TEXT    NOT NULL,
	tags                 TEXT,
	created_at           INTEGER
) STRICT;
CREATE UNIQUE INDEX users_name_nocase ON users (name COLLATE NOCASE);
CREATE INDEX users_name ON users (name);

CREATE TABLE policies (
	pk                 INTEGER PRIMARY KEY,
	id                 TEXT    NOT NULL UNIQUE,
	arn                TEXT    NOT NULL UNIQUE,
	name               TEXT    NOT NULL,
	path               TEXT    NOT NULL,
	default_version_id TEXT    NOT NULL,
	description        TEXT    NOT NULL,
	tags               TEXT,
	created_at         INTEGER,
	updated_at         INTEGER
) STRICT;
CREATE UNIQUE INDEX policies_name_nocase ON policies (name COLLATE NOCASE);

CREATE TABLE policy_versions (
	policy_pk  INTEGER NOT NULL REFERENCES policies (pk) ON DELETE CASCADE,
	version_id TEXT    NOT NULL,
	document   TEXT    NOT NULL,
	is_default INTEGER NOT NULL,
	created_at INTEGER,
	PRIMARY KEY (policy_pk, version_id)
) STRICT, WITHOUT ROWID;

-- Attachments name the policy by ARN without a foreign key: AWS managed
-- policies (arn:aws:iam::aws:policy/...) need not be stored. A principal with
-- attachments or inline policies cannot be deleted (IAM's DeleteConflict).
CREATE TABLE role_policy_attachments (
	role_pk    INTEGER NOT NULL REFERENCES roles (pk),
	policy_arn TEXT    NOT NULL,
	PRIMARY KEY (role_pk, policy_arn)
) STRICT, WITHOUT ROWID;
CREATE INDEX role_policy_attachments_arn ON role_policy_attachments (policy_arn);

CREATE TABLE user_policy_attachments (
	user_pk    INTEGER NOT NULL REFERENCES users (pk),
	policy_arn TEXT    NOT NULL,
	PRIMARY KEY (user_pk, policy_arn)
) STRICT, WITHOUT ROWID;
CREATE INDEX user_policy_attachments_arn ON user_policy_attachments (policy_arn);

CREATE TABLE role_inline_policies (
	role_pk     INTEGER NOT NULL REFERENCES roles (pk),
	policy_name TEXT    NOT NULL,
	document    TEXT    NOT NULL,
	PRIMARY KEY (role_pk, policy_name)
) STRICT, WITHOUT ROWID;

CREATE TABLE user_inline_policies (
	user_pk     INTEGER NOT NULL REFERENCES users (pk),
	policy_name TEXT    NOT NULL,
	document    TEXT    NOT NULL,
	PRIMARY KEY (user_pk, policy_name)
) STRICT, WITHOUT ROWID;

-- user_pk is NULL for the account root's keys.
CREATE TABLE access_keys (
	id            TEXT    PRIMARY KEY,
	user_pk       INTEGER REFERENCES users (pk),
	sealed_secret BLOB    NOT NULL,
	status        TEXT    NOT NULL,
	created_at    INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX access_keys_user ON access_keys (user_pk, id);

CREATE TABLE oidc_providers (
	arn         TEXT PRIMARY KEY,
	url         TEXT NOT NULL,
	client_ids  TEXT,
	thumbprints TEXT,
	tags        TEXT,
	created_at  INTEGER
) STRICT, WITHOUT ROWID;

CREATE TABLE server_keys (
	id         TEXT    PRIMARY KEY,
	purpose    TEXT    NOT NULL,
	sealed     BLOB    NOT NULL,
	active     INTEGER NOT NULL,
	created_at INTEGER
) STRICT, WITHOUT ROWID;
CREATE INDEX server_keys_purpose ON server_keys (purpose, id);

CREATE TABLE clusters (
	name       TEXT PRIMARY KEY,
	arn        TEXT NOT NULL,
	kind       TEXT NOT NULL,
	status     TEXT NOT NULL,
	version    TEXT NOT NULL,
	role_arn   TEXT NOT NULL,
	issuer_url TEXT NOT NULL,
	jwks       TEXT NOT NULL,
	spec       TEXT NOT NULL,
	tags       TEXT,
	created_at INTEGER
) STRICT, WITHOUT ROWID;

CREATE TABLE addons (
	cluster                  TEXT NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
	name                     TEXT NOT NULL,
	arn                      TEXT NOT NULL,
	version                  TEXT NOT NULL,
	status                   TEXT NOT NULL,
	health                   TEXT NOT NULL,
	service_account_role_arn TEXT NOT NULL,
	configuration_values     TEXT NOT NULL,
	tags                     TEXT,
	created_at               INTEGER,
	modified_at              INTEGER,
	PRIMARY KEY (cluster, name)
) STRICT, WITHOUT ROWID;

-- Associations are deleted explicitly (with their events) before their
-- cluster, so the foreign key has no cascade.
CREATE TABLE associations (
	cluster              TEXT    NOT NULL REFERENCES clusters (name),
	id                   TEXT    NOT NULL,
	arn                  TEXT    NOT NULL,
	namespace            TEXT    NOT NULL,
	service_account      TEXT    NOT NULL,
	role_arn             TEXT    NOT NULL,
	target_role_arn      TEXT    NOT NULL,
	external_id          TEXT    NOT NULL,
	disable_session_tags INTEGER NOT NULL,
	policy               TEXT    NOT NULL,
	owner_arn            TEXT    NOT NULL,
	tags                 TEXT,
	created_at           INTEGER,
	modified_at          INTEGER,
	PRIMARY KEY (cluster, id)
) STRICT, WITHOUT ROWID;
CREATE UNIQUE INDEX associations_key ON associations (cluster, namespace, service_account);

-- The change feed. AUTOINCREMENT keeps revisions strictly increasing and
-- never reused; the single writer makes them visible in order.
CREATE TABLE association_events (
	revision    INTEGER PRIMARY KEY AUTOINCREMENT,
	type        TEXT    NOT NULL,
	cluster     TEXT    NOT NULL,
	association TEXT    NOT NULL,
	time        INTEGER
) STRICT;
CREATE INDEX association_events_cluster ON association_events (cluster, revision);

CREATE TABLE idempotency_tokens (
	scope       TEXT NOT NULL,
	token       TEXT NOT NULL,
	resource_id TEXT NOT NULL,
	created_at  INTEGER,
	PRIMARY KEY (scope, token)
) STRICT, WITHOUT ROWID;

CREATE TABLE audit (
	id       TEXT PRIMARY KEY,
	time     INTEGER,
	kind     TEXT NOT NULL,
	decision TEXT NOT NULL,
	reason   TEXT NOT NULL,
	fields   TEXT NOT NULL
) STRICT, WITHOUT ROWID;
CREATE INDEX audit_time ON audit (time, id);
