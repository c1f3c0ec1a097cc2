-- Nothing on SQLite: its decision reads are plain statements the writer prepares once, and
-- SQLite plans them from its own statistics, not from a cached generic plan (the PostgreSQL tree
-- pins the decision's plans to the indexes). The same directory name keeps both trees in step.
SELECT 1;
