SELECT tokenhub_sequence_tokens(9223372036854775807);
DROP FUNCTION tokenhub_sequence_tokens(BIGINT);
DROP SEQUENCE tokens_pending;
