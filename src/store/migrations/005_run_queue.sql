-- 005: concurrency limits. run_slots: the runs of limited workflows that count against their limit
-- (dropped when the handler ends or is deleted); run_queue: runs waiting for a slot, in arrival order,
-- until the first write of their run (a new run_id on the handler) takes them out.
-- Released: never edit this file; add 006_….sql instead.

CREATE TABLE run_slots (
  handler_id      TEXT PRIMARY KEY,
  workflow_name   TEXT NOT NULL,
  concurrency_key TEXT NOT NULL -- "" when the workflow is limited as a whole
) STRICT, WITHOUT ROWID;

CREATE INDEX run_slots_by_key ON run_slots (workflow_name, concurrency_key);

CREATE TABLE run_queue (
  seq             INTEGER PRIMARY KEY AUTOINCREMENT,
  handler_id      TEXT NOT NULL UNIQUE,
  workflow_name   TEXT NOT NULL,
  run_id          TEXT NOT NULL,
  concurrency_key TEXT NOT NULL,
  start_event     TEXT NOT NULL, -- JSON {type, data}
  enqueued_at     TEXT NOT NULL,
  promoted        INTEGER NOT NULL DEFAULT 0 -- holds a slot and is being started
) STRICT;

CREATE INDEX run_queue_by_key ON run_queue (workflow_name, concurrency_key, seq);

CREATE TRIGGER handler_inserted AFTER INSERT ON handlers BEGIN
  DELETE FROM run_queue WHERE handler_id = NEW.handler_id;
  DELETE FROM run_slots WHERE handler_id = NEW.handler_id AND NEW.status <> 'running';
END;

CREATE TRIGGER handler_run_started AFTER UPDATE OF run_id ON handlers WHEN NEW.run_id IS NOT OLD.run_id BEGIN
  DELETE FROM run_queue WHERE handler_id = NEW.handler_id;
END;

CREATE TRIGGER handler_ended AFTER UPDATE OF status ON handlers WHEN NEW.status <> 'running' BEGIN
  DELETE FROM run_slots WHERE handler_id = NEW.handler_id;
END;

CREATE TRIGGER handler_deleted AFTER DELETE ON handlers BEGIN
  DELETE FROM run_slots WHERE handler_id = OLD.handler_id;
END;
