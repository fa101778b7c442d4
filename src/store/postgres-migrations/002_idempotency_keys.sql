-- 002: Idempotency-Key headers: what each key did, until it expires (as in the SQLite store).
-- Released: never edit this file; add 003_….sql instead.

CREATE TABLE llamactl.idempotency_keys (
  scope       text NOT NULL, -- run:<workflow> or event:<handler id>
  key         text NOT NULL,
  fingerprint text NOT NULL, -- hash of the first request's body
  handler_id  text NOT NULL,
  expires_at  text NOT NULL, -- ISO 8601, UTC
  PRIMARY KEY (scope, key)
);

CREATE INDEX idempotency_keys_by_expiry ON llamactl.idempotency_keys (expires_at);
