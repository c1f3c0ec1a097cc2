DELETE FROM counters WHERE name = 'tokens_seq_v221';
DROP INDEX tokens_seq_v221;
ALTER TABLE tokens DROP COLUMN seq_v221;
