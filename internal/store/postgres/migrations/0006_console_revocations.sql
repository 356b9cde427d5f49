-- Console session revocations (store.Tx.RevokeConsoleSession): a signed-out
-- web-console session's ID with its absolute expiry, after which the
-- record is pruned (DeleteConsoleRevocationsBefore, by expires_at).
CREATE TABLE console_revocations (
	session_id text COLLATE "C" NOT NULL PRIMARY KEY,
	expires_at timestamptz NOT NULL
);
CREATE INDEX console_revocations_expires ON console_revocations (expires_at);

-- Sign-outs recorded before this table existed were idempotency tokens of
-- scope podid-console/signed-out with the expiry (RFC 3339, UTC) as their
-- resource: they move here, so those sessions stay signed out. An expiry
-- that does not parse (podid never wrote one) fails closed: the session
-- stays revoked for a console session's longest life (12 hours) from now.
INSERT INTO console_revocations (session_id, expires_at)
	SELECT token, CASE
		WHEN resource_id ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?Z$'
		THEN resource_id::timestamptz
		ELSE now() + interval '12 hours' END
	FROM idempotency_tokens
	WHERE scope = 'podid-console/signed-out'
	ON CONFLICT DO NOTHING;
DELETE FROM idempotency_tokens WHERE scope = 'podid-console/signed-out';
