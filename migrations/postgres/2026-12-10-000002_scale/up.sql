-- The guard of an optimistic authorization (store::decision_pg): the decision's inputs were read
-- without a lock, in autocommit; the hold is written only if, once the token row is locked, the
-- token is unchanged and its active uses are exactly those the decision saw.
--
-- A function because of READ COMMITTED: a plain statement keeps the snapshot it took before it
-- waited for the row lock, so it would miss a hold committed by another instance meanwhile. Each
-- statement of a VOLATILE PL/pgSQL function takes a fresh snapshot, so the read of the uses below
-- follows the lock.
CREATE FUNCTION tokenhub_hold_guard(
    p_token_id BIGINT,
    p_last_updated TIMESTAMP,
    p_effective_updated TIMESTAMP,
    p_policy_updated_at TIMESTAMP,
    p_now TIMESTAMP,
    p_use_ids BIGINT[]
) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_last TIMESTAMP;
    v_effective TIMESTAMP;
    v_policy TIMESTAMP;
BEGIN
    SELECT last_updated, effective_updated, policy_updated_at
      INTO v_last, v_effective, v_policy
      FROM tokens WHERE id = p_token_id FOR UPDATE;
    IF NOT FOUND
       OR v_last IS DISTINCT FROM p_last_updated
       OR v_effective IS DISTINCT FROM p_effective_updated
       OR v_policy IS DISTINCT FROM p_policy_updated_at THEN
        RETURN FALSE;
    END IF;
    RETURN p_use_ids = COALESCE(
        (SELECT array_agg(id ORDER BY id) FROM token_usages
          WHERE token_id = p_token_id AND counts_until > p_now),
        '{}'::BIGINT[]);
END
$$;
