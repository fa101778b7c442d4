-- 004: Idempotency-Key headers: what each key did, until it expires.
-- Released: never edit this file; add 005_….sql instead.

CREATE TABLE idempotency_keys (
  scope       TEXT NOT NULL, -- run:<workflow> or event:<handler id>
  key         TEXT NOT NULL,
  fingerprint TEXT NOT NULL, -- hash of the first request's body
  handler_id  TEXT NOT NULL,
  expires_at  TEXT NOT NULL, -- ISO 8601, UTC
  PRIMARY KEY (scope, key)
) STRICT, WITHOUT ROWID;

CREATE INDEX idempotency_keys_by_expiry ON idempotency_keys (expires_at);
