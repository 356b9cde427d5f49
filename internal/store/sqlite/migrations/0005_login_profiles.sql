-- Console passwords (store.LoginProfile) live with their user as JSON,
-- NULL when the user has none, beside the user's last console sign-in;
-- account password policies (store.PasswordPolicy) are one row per
-- account.
ALTER TABLE users ADD COLUMN login_profile TEXT;
ALTER TABLE users ADD COLUMN password_last_used INTEGER;

CREATE TABLE password_policies (
	account_id                   TEXT    NOT NULL PRIMARY KEY,
	minimum_password_length      INTEGER NOT NULL,
	require_symbols              INTEGER NOT NULL,
	require_numbers              INTEGER NOT NULL,
	require_uppercase_characters INTEGER NOT NULL,
	require_lowercase_characters INTEGER NOT NULL,
	allow_users_to_change        INTEGER NOT NULL,
	max_password_age             INTEGER NOT NULL,
	password_reuse_prevention    INTEGER NOT NULL,
	hard_expiry                  INTEGER
) STRICT, WITHOUT ROWID;
