-- 0004: several accounts in one store (the same change as SQLite's
-- 0004_accounts.sql). IAM records carry their account; names are unique
-- per account. Existing rows get the account in their ARN (a store served
-- one account until now); the root's access keys the account record in
-- server_keys (purpose podid-account), else that of any role or user, else
-- '' (podid assigns those to its primary account at start).

ALTER TABLE roles ADD COLUMN account text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN account text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE policies ADD COLUMN account text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE access_keys ADD COLUMN account text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE oidc_providers ADD COLUMN account text COLLATE "C" NOT NULL DEFAULT '';

UPDATE roles SET account = split_part(arn, ':', 5);
UPDATE users SET account = split_part(arn, ':', 5);
UPDATE policies SET account = split_part(arn, ':', 5);
UPDATE oidc_providers SET account = split_part(arn, ':', 5);
UPDATE access_keys k SET account = u.account FROM users u WHERE u.pk = k.user_pk;
UPDATE access_keys SET account = COALESCE(
	(SELECT id FROM server_keys WHERE purpose = 'podid-account' ORDER BY id LIMIT 1),
	(SELECT account FROM roles ORDER BY pk LIMIT 1),
	(SELECT account FROM users ORDER BY pk LIMIT 1),
	'')
	WHERE user_pk IS NULL;

DROP INDEX roles_name_lower;
DROP INDEX roles_name;
CREATE UNIQUE INDEX roles_account_name_lower ON roles (account, lower(name));
CREATE INDEX roles_account_name ON roles (account, name);
DROP INDEX users_name_lower;
DROP INDEX users_name;
CREATE UNIQUE INDEX users_account_name_lower ON users (account, lower(name));
CREATE INDEX users_account_name ON users (account, name);
DROP INDEX policies_name_lower;
CREATE UNIQUE INDEX policies_account_name_lower ON policies (account, lower(name));
CREATE INDEX access_keys_account ON access_keys (account, user_pk, id);
