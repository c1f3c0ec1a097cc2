DROP INDEX sessions_received_at;
UPDATE token_usages SET kind = 'SESSION' WHERE kind = 'UNMATCHED_SESSION';
