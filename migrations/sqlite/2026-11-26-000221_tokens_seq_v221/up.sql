-- OCPI 2.2.1 partners see only the token types 2.2.1 knows (a closed enum: AD_HOC_USER, APP_USER,
-- OTHER, RFID). `seq_v221` is the dense creation order among those tokens (NULL for the others),
-- so an unfiltered 2.2.1 page at any offset is an index seek, as `seq` is for 2.3.0, and its
-- total is the counter.
ALTER TABLE tokens ADD COLUMN seq_v221 BIGINT;
UPDATE tokens SET seq_v221 = numbered.n
FROM (
    SELECT id, ROW_NUMBER() OVER (ORDER BY seq) AS n
    FROM tokens
    WHERE token_type IN ('AD_HOC_USER', 'APP_USER', 'OTHER', 'RFID')
) AS numbered
WHERE tokens.id = numbered.id;
CREATE UNIQUE INDEX tokens_seq_v221 ON tokens (seq_v221);
INSERT INTO counters (name, value)
SELECT 'tokens_seq_v221', COUNT(*) FROM tokens WHERE seq_v221 IS NOT NULL;
