DROP FUNCTION tokenhub_write_decisions(JSONB);
DROP FUNCTION tokenhub_token_candidates_many(TEXT[], TEXT[], TIMESTAMP);
ALTER FUNCTION tokenhub_hold_guard(BIGINT, TIMESTAMP, TIMESTAMP, TIMESTAMP, TIMESTAMP, BIGINT[])
    RESET enable_seqscan;
DROP FUNCTION tokenhub_token_candidates(TEXT, TEXT, TIMESTAMP);
DROP INDEX token_usages_counts_until;
CREATE INDEX token_usages_counts_until ON token_usages (counts_until);
