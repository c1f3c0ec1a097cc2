-- New tokens without the counter lock (store::tokens::put, sequencer). A PUT that creates a token
-- no longer takes the next `seq` from the `tokens_seq` counter row, whose lock made creations
-- commit one at a time: it inserts the row *pending*, with a negative placeholder from this
-- sequence in `seq` (and in `seq_v221` when OCPI 2.2.1 can name its type, so that `seq_v221 IS
-- NOT NULL` still says so). Lists read `seq > 0` only.
CREATE SEQUENCE tokens_pending;

-- The sequencer: numbers up to `max_rows` pending tokens after the last numbered one, in the
-- order of their placeholders, and returns how many it numbered. One pass at a time across
-- instances (the advisory lock, then the counter rows); every pass sees every token committed
-- before it started, so a token committed after a pass is numbered after every token that pass
-- numbered: a crawler following `Link` never finds a token behind the position it has reached.
-- A PL/pgSQL function (VOLATILE: each statement takes a fresh snapshot) so that the read of the
-- pending rows follows the lock; called in autocommit, one round trip, one transaction.
--
-- `enable_seqscan = off` for the function only: its plans are cached per connection, and one made
-- while the statistics still held pending (negative) `seq`s, or before the first ANALYZE, chose a
-- sequential scan of every token for `seq < 0` (measured: each list 9-19 ms instead of ~1 ms after
-- a PUT burst on 100k tokens). Pending rows are found through the `seq` index only.
CREATE FUNCTION tokenhub_sequence_tokens(max_rows BIGINT) RETURNS BIGINT
LANGUAGE plpgsql VOLATILE
SET enable_seqscan = off
AS $$
DECLARE
    v_base BIGINT;
    v_base_v221 BIGINT;
    v_numbered BIGINT;
    v_numbered_v221 BIGINT;
BEGIN
    -- Most calls (each list page) find nothing: no lock, no transaction id, no WAL.
    -- min() reads the first entry of the `seq` index.
    IF COALESCE((SELECT min(seq) FROM tokens), 0) >= 0 THEN
        RETURN 0;
    END IF;
    PERFORM pg_advisory_xact_lock(8390042714203448689); -- 'tokenseq'
    SELECT value INTO v_base FROM counters WHERE name = 'tokens_seq' FOR UPDATE;
    SELECT value INTO v_base_v221 FROM counters WHERE name = 'tokens_seq_v221' FOR UPDATE;
    WITH pending AS (
        SELECT id, seq AS placeholder, seq_v221 IS NOT NULL AS v221
          FROM tokens
         WHERE seq < 0
         ORDER BY seq DESC
         LIMIT max_rows
           FOR UPDATE
    ), numbered AS (
        SELECT id,
               v_base + ROW_NUMBER() OVER w AS seq,
               CASE WHEN v221 THEN v_base_v221 + COUNT(*) FILTER (WHERE v221) OVER w END
                   AS seq_v221
          FROM pending
        WINDOW w AS (ORDER BY placeholder DESC)
    ), done AS (
        UPDATE tokens t
           SET seq = n.seq, seq_v221 = n.seq_v221
          FROM numbered n
         WHERE t.id = n.id
        RETURNING t.seq_v221
    )
    SELECT COUNT(*), COUNT(seq_v221) INTO v_numbered, v_numbered_v221 FROM done;
    UPDATE counters SET value = v_base + v_numbered WHERE name = 'tokens_seq';
    UPDATE counters SET value = v_base_v221 + v_numbered_v221 WHERE name = 'tokens_seq_v221';
    RETURN v_numbered;
END;
$$;
