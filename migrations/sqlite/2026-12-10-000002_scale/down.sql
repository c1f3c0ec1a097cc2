-- Nothing on SQLite: its single writer serializes decisions (the PostgreSQL tree adds the guard
-- function of optimistic authorizations). The same directory name keeps both trees in step.
SELECT 1;
