-- 0004: several accounts in one store. IAM records (roles, users, managed
-- policies, access keys, OIDC providers) carry the account they belong
-- to; names are unique per account. Existing rows belong to the account
-- the store served until now: the account in their ARN (a store served
-- one account, which podid checked at every start), and for the root's
-- access keys the account record podid keeps in server_keys (purpose
-- podid-account), else the account of any role or user. A store with
-- neither has '' on its root keys; podid assigns them to its primary
-- account at start (app.CheckAccount).

ALTER TABLE roles ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE policies ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE access_keys ADD COLUMN account TEXT NOT NULL DEFAULT '';
ALTER TABLE oidc_providers ADD COLUMN account TEXT NOT NULL DEFAULT '';

-- arn:PARTITION:iam::ACCOUNT:…: the account is the 12 characters after
-- the partition's colon and "iam::".
UPDATE roles SET account = substr(arn, 4 + instr(substr(arn, 5), ':') + 6, 12);
UPDATE users SET account = substr(arn, 4 + instr(substr(arn, 5), ':') + 6, 12);
UPDATE policies SET account = substr(arn, 4 + instr(substr(arn, 5), ':') + 6, 12);
UPDATE oidc_providers SET account = substr(arn, 4 + instr(substr(arn, 5), ':') + 6, 12);
UPDATE access_keys SET account = (SELECT u.account FROM users u WHERE u.pk = access_keys.user_pk)
	WHERE user_pk IS NOT NULL;
UPDATE access_keys SET account = COALESCE(
	(SELECT id FROM server_keys WHERE purpose = 'podid-account' ORDER BY id LIMIT 1),
	(SELECT account FROM roles ORDER BY pk LIMIT 1),
	(SELECT account FROM users ORDER BY pk LIMIT 1),
	'')
	WHERE user_pk IS NULL;

DROP INDEX roles_name_nocase;
DROP INDEX roles_name;
CREATE UNIQUE INDEX roles_account_name_nocase ON roles (account, name COLLATE NOCASE);
CREATE INDEX roles_account_name ON roles (account, name);
DROP INDEX users_name_nocase;
DROP INDEX users_name;
CREATE UNIQUE INDEX users_account_name_nocase ON users (account, name COLLATE NOCASE);
CREATE INDEX users_account_name ON users (account, name);
DROP INDEX policies_name_nocase;
CREATE UNIQUE INDEX policies_account_name_nocase ON policies (account, name COLLATE NOCASE);
CREATE INDEX access_keys_account ON access_keys (account, user_pk, id);
