-- Nothing on SQLite: its single writer numbers each new token as it inserts it, without a lock
-- that other writers wait on (the PostgreSQL tree adds the sequencer of pending tokens). The same
-- directory name keeps both trees in step.
SELECT 1;
