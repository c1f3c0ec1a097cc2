-- SQLite drops its audit index by token in this migration (one random B-tree page per decision
-- cost a third of the WAL traffic there). PostgreSQL keeps it: the same name in both trees keeps
-- the migration history comparable, and this one changes nothing here.
SELECT 1;
