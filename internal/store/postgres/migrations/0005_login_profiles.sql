-- Console passwords (store.LoginProfile) live with their user as JSON,
-- NULL when the user has none, beside the user's last console sign-in;
-- account password policies (store.PasswordPolicy) are one row per
-- account.
ALTER TABLE users ADD COLUMN login_profile jsonb;
ALTER TABLE users ADD COLUMN password_last_used timestamptz;

CREATE TABLE password_policies (
	account_id                   text COLLATE "C" NOT NULL PRIMARY KEY,
	minimum_password_length      integer NOT NULL,
	require_symbols              boolean NOT NULL,
	require_numbers              boolean NOT NULL,
	require_uppercase_characters boolean NOT NULL,
	require_lowercase_characters boolean NOT NULL,
	allow_users_to_change        boolean NOT NULL,
	max_password_age             integer NOT NULL,
	password_reuse_prevention    integer NOT NULL,
	hard_expiry                  boolean
);
