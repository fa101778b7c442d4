-- 001: handlers, the event log of their runs, and their checkpoints.
-- Released: never edit this file; add 002_….sql instead.

CREATE TABLE handlers (
  handler_id    TEXT NOT NULL PRIMARY KEY,
  -- Ties on started_at keep insertion order; rowid is not stable across VACUUM, so it is explicit.
  insertion     INTEGER NOT NULL UNIQUE,
  workflow_name TEXT NOT NULL,
  run_id        TEXT,
  status        TEXT NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'cancelled')),
  error         TEXT,
  result        TEXT, -- JSON envelope of the stop event
  started_at    TEXT NOT NULL,
  updated_at    TEXT NOT NULL,
  completed_at  TEXT
) STRICT;

CREATE INDEX handlers_by_age ON handlers (started_at, insertion);

CREATE TABLE events (
  run_id     TEXT NOT NULL,
  sequence   INTEGER NOT NULL,
  handler_id TEXT NOT NULL REFERENCES handlers (handler_id) ON DELETE CASCADE,
  envelope   TEXT NOT NULL, -- JSON
  PRIMARY KEY (run_id, sequence)
) STRICT;

CREATE INDEX events_by_handler ON events (handler_id);

CREATE TABLE checkpoints (
  handler_id TEXT NOT NULL PRIMARY KEY REFERENCES handlers (handler_id) ON DELETE CASCADE,
  run_id     TEXT NOT NULL,
  data       TEXT NOT NULL -- JSON
) STRICT;
