-- 0001: podid's initial schema on PostgreSQL (the same tables as SQLite's
-- 0001_initial.sql).
--
-- Conventions: every text column that is compared or sorted uses COLLATE "C"
-- (byte order, whatever the database's default collation). Times are
-- timestamptz (microseconds), NULL for the zero time. Tag sets and string
-- lists are jsonb, NULL when empty (arrays keep their order). Sealed secrets
-- are bytea. IAM principals carry a bigint surrogate key (pk) that child rows
-- reference, so a user rename keeps its keys and policies.

CREATE TABLE roles (
	pk                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id                   text COLLATE "C" NOT NULL UNIQUE,
	name                 text COLLATE "C" NOT NULL,
	path                 text COLLATE "C" NOT NULL,
	arn                  text NOT NULL,
	assume_role_policy   text NOT NULL,
	description          text NOT NULL,
	max_session_duration integer NOT NULL,
	permissions_boundary text NOT NULL,
	tags                 jsonb,
	created_at           timestamptz,
	last_used_at         timestamptz,
	last_used_region     text NOT NULL
);
-- IAM names are ASCII and unique case-insensitively; lower() under "C"
-- folds ASCII only, which is IAM's rule. Listings sort by the exact bytes.
CREATE UNIQUE INDEX roles_name_lower ON roles (lower(name));
CREATE INDEX roles_name ON roles (name);

CREATE TABLE users (
	pk                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id                   text COLLATE "C" NOT NULL UNIQUE,
	name                 text COLLATE "C" NOT NULL,
	path                 text COLLATE "C" NOT NULL,
	arn                  text NOT NULL,
	permissions_boundary text NOT NULL,
	tags                 jsonb,
	created_at           timestamptz
);
CREATE UNIQUE INDEX users_name_lower ON users (lower(name));
CREATE INDEX users_name ON users (name);

CREATE TABLE policies (
	pk                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id                 text COLLATE "C" NOT NULL UNIQUE,
	arn                text COLLATE "C" NOT NULL UNIQUE,
	name               text COLLATE "C" NOT NULL,
	path               text COLLATE "C" NOT NULL,
	default_version_id text NOT NULL,
	description        text NOT NULL,
	tags               jsonb,
	created_at         timestamptz,
	updated_at         timestamptz
);
CREATE UNIQUE INDEX policies_name_lower ON policies (lower(name));

CREATE TABLE policy_versions (
	policy_pk  bigint NOT NULL REFERENCES policies (pk) ON DELETE CASCADE,
	version_id text COLLATE "C" NOT NULL,
	document   text NOT NULL,
	is_default boolean NOT NULL,
	created_at timestamptz,
	PRIMARY KEY (policy_pk, version_id)
);

-- Attachments name the policy by ARN without a foreign key (AWS managed
-- policies need not be stored). A principal with attachments or inline
-- policies cannot be deleted (IAM's DeleteConflict): no cascade.
CREATE TABLE role_policy_attachments (
	role_pk    bigint NOT NULL REFERENCES roles (pk),
	policy_arn text COLLATE "C" NOT NULL,
	PRIMARY KEY (role_pk, policy_arn)
);
CREATE INDEX role_policy_attachments_arn ON role_policy_attachments (policy_arn);

CREATE TABLE user_policy_attachments (
	user_pk    bigint NOT NULL REFERENCES users (pk),
	policy_arn text COLLATE "C" NOT NULL,
	PRIMARY KEY (user_pk, policy_arn)
);
CREATE INDEX user_policy_attachments_arn ON user_policy_attachments (policy_arn);

CREATE TABLE role_inline_policies (
	role_pk     bigint NOT NULL REFERENCES roles (pk),
	policy_name text COLLATE "C" NOT NULL,
	document    text NOT NULL,
	PRIMARY KEY (role_pk, policy_name)
);

CREATE TABLE user_inline_policies (
	user_pk     bigint NOT NULL REFERENCES users (pk),
	policy_name text COLLATE "C" NOT NULL,
	document    text NOT NULL,
	PRIMARY KEY (user_pk, policy_name)
);

-- user_pk is NULL for the account root's keys.
CREATE TABLE access_keys (
	id            text COLLATE "C" PRIMARY KEY,
	user_pk       bigint REFERENCES users (pk),
	sealed_secret bytea NOT NULL,
	status        text NOT NULL,
	created_at    timestamptz
);
CREATE INDEX access_keys_user ON access_keys (user_pk, id);

CREATE TABLE oidc_providers (
	arn         text COLLATE "C" PRIMARY KEY,
	url         text NOT NULL,
	client_ids  jsonb,
	thumbprints jsonb,
	tags        jsonb,
	created_at  timestamptz
);

CREATE TABLE server_keys (
	id         text COLLATE "C" PRIMARY KEY,
	purpose    text COLLATE "C" NOT NULL,
	sealed     bytea NOT NULL,
	active     boolean NOT NULL,
	created_at timestamptz
);
CREATE INDEX server_keys_purpose ON server_keys (purpose, id);

CREATE TABLE clusters (
	name       text COLLATE "C" PRIMARY KEY,
	arn        text NOT NULL,
	kind       text NOT NULL,
	status     text NOT NULL,
	version    text NOT NULL,
	role_arn   text NOT NULL,
	issuer_url text NOT NULL,
	jwks       text NOT NULL,
	spec       text NOT NULL,
	tags       jsonb,
	created_at timestamptz
);

CREATE TABLE addons (
	cluster                  text COLLATE "C" NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
	name                     text COLLATE "C" NOT NULL,
	arn                      text NOT NULL,
	version                  text NOT NULL,
	status                   text NOT NULL,
	health                   text NOT NULL,
	service_account_role_arn text NOT NULL,
	configuration_values     text NOT NULL,
	tags                     jsonb,
	created_at               timestamptz,
	modified_at              timestamptz,
	PRIMARY KEY (cluster, name)
);

-- Associations are deleted explicitly (with their events) before their
-- cluster, so the foreign key has no cascade.
CREATE TABLE associations (
	cluster              text COLLATE "C" NOT NULL REFERENCES clusters (name),
	id                   text COLLATE "C" NOT NULL,
	arn                  text NOT NULL,
	namespace            text COLLATE "C" NOT NULL,
	service_account      text COLLATE "C" NOT NULL,
	role_arn             text NOT NULL,
	target_role_arn      text NOT NULL,
	external_id          text NOT NULL,
	disable_session_tags boolean NOT NULL,
	policy               text NOT NULL,
	owner_arn            text NOT NULL,
	tags                 jsonb,
	created_at           timestamptz,
	modified_at          timestamptz,
	PRIMARY KEY (cluster, id)
);
CREATE UNIQUE INDEX associations_key ON associations (cluster, namespace, service_account);

-- The change feed. Writers take a transaction-scoped advisory lock before
-- touching associations, so revisions (from the identity sequence) become
-- visible strictly in order.
CREATE TABLE association_events (
	revision    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	type        text NOT NULL,
	cluster     text COLLATE "C" NOT NULL,
	association jsonb NOT NULL,
	time        timestamptz
);
CREATE INDEX association_events_cluster ON association_events (cluster, revision);

CREATE TABLE idempotency_tokens (
	scope       text COLLATE "C" NOT NULL,
	token       text COLLATE "C" NOT NULL,
	resource_id text NOT NULL,
	created_at  timestamptz,
	PRIMARY KEY (scope, token)
);

CREATE TABLE audit (
	id       text COLLATE "C" PRIMARY KEY,
	time     timestamptz,
	kind     text NOT NULL,
	decision text NOT NULL,
	reason   text NOT NULL,
	fields   text NOT NULL
);
CREATE INDEX audit_time ON audit (time, id);
