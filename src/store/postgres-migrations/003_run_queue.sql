-- 003: concurrency limits (as in the SQLite store). run_slots: the runs of limited workflows that count
-- against their limit — while their handler runs, or while the replica that took the slot is alive
-- (it is starting the run); dropped when the handler ends or is deleted. run_queue: runs waiting for a
-- slot, in arrival order, until the first write of their run (a new run_id on the handler) takes them
-- out; promoted_by is the replica starting one (promoted again if it dies first).
-- Released: never edit this file; add 004_….sql instead.

CREATE TABLE llamactl.run_slots (
  handler_id      text PRIMARY KEY,
  workflow_name   text NOT NULL,
  concurrency_key text NOT NULL, -- '' when the workflow is limited as a whole
  replica_id      text NOT NULL
);

CREATE INDEX run_slots_by_key ON llamactl.run_slots (workflow_name, concurrency_key);

CREATE TABLE llamactl.run_queue (
  seq             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  handler_id      text NOT NULL UNIQUE,
  workflow_name   text NOT NULL,
  run_id          text NOT NULL,
  concurrency_key text NOT NULL,
  start_event     text NOT NULL, -- JSON {type, data}
  enqueued_at     text NOT NULL,
  promoted_by     text
);

CREATE INDEX run_queue_by_key ON llamactl.run_queue (workflow_name, concurrency_key, seq);

CREATE FUNCTION llamactl.handler_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    DELETE FROM llamactl.run_slots WHERE handler_id = OLD.handler_id;
    RETURN OLD;
  END IF;
  IF TG_OP = 'INSERT' OR NEW.run_id IS DISTINCT FROM OLD.run_id THEN
    DELETE FROM llamactl.run_queue WHERE handler_id = NEW.handler_id;
  END IF;
  IF NEW.status <> 'running' THEN
    DELETE FROM llamactl.run_slots WHERE handler_id = NEW.handler_id;
  END IF;
  RETURN NEW;
END
$$;

CREATE TRIGGER handler_changed AFTER INSERT OR UPDATE OF run_id, status OR DELETE ON llamactl.handlers
  FOR EACH ROW EXECUTE FUNCTION llamactl.handler_changed();
