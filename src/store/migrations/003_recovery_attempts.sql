-- 003: how many times a handler's run was resumed after a crash without progress, for the runtime's
-- crash-loop guard. Existing handlers start at 0.
-- Released: never edit this file; add 004_….sql instead.

ALTER TABLE handlers ADD COLUMN recovery_attempts INTEGER NOT NULL DEFAULT 0;
