DROP INDEX tokens_valid_until;
DROP INDEX tokens_valid_from;
DROP TABLE push_drops;
DROP TABLE push_partners;
DROP TABLE push_outbox;
DELETE FROM counters WHERE name IN ('window_processed_until', 'window_lease');
