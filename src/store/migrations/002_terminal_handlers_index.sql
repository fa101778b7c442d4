-- 002: finished handlers by age, for retention. Pruning runs after every finished run; without this
-- index it walked every handler, running ones included (O(all handlers) per finished run).
-- Released: never edit this file; add 003_….sql instead.

CREATE INDEX handlers_terminal_by_age ON handlers (started_at, insertion) WHERE status <> 'running';
