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

-- The whole write, so that the statement the hub sends is a call (planned in microseconds) and
-- the statements inside keep cached plans: the same as one CTE statement, without planning a
-- two-insert CTE on every decision (diesel does not cache a raw query's plan).
CREATE FUNCTION tokenhub_hold_and_record(
    p_token_id BIGINT, p_last_updated TIMESTAMP, p_effective_updated TIMESTAMP,
    p_policy_updated_at TIMESTAMP, p_now TIMESTAMP, p_use_ids BIGINT[],
    p_kind TEXT, p_reference TEXT, p_cpo_country_code TEXT, p_cpo_party_id TEXT,
    p_location_key TEXT, p_evse_set TEXT, p_created_at TIMESTAMP, p_counts_until TIMESTAMP,
    p_decided_at TIMESTAMP, p_audit_token_id BIGINT, p_token_country_code TEXT,
    p_token_party_id TEXT, p_token_uid TEXT, p_token_type TEXT,
    p_requester_country_code TEXT, p_requester_party_id TEXT, p_location_id TEXT,
    p_evse_uids TEXT, p_result TEXT, p_reason TEXT, p_authorization_reference TEXT,
    p_request_id TEXT, p_forwarded_to TEXT, p_forward_ms BIGINT, p_forward_outcome TEXT
) RETURNS BOOLEAN
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT tokenhub_hold_guard(p_token_id, p_last_updated, p_effective_updated,
                               p_policy_updated_at, p_now, p_use_ids) THEN
        RETURN FALSE;
    END IF;
    INSERT INTO token_usages (token_id, kind, authorization_reference, cpo_country_code,
        cpo_party_id, location_key, evse_set, created_at, counts_until)
    VALUES (p_token_id, p_kind, p_reference, p_cpo_country_code, p_cpo_party_id,
        p_location_key, p_evse_set, p_created_at, p_counts_until);
    INSERT INTO authorization_audit (decided_at, token_id, token_country_code, token_party_id,
        token_uid, token_type, requester_country_code, requester_party_id, location_id,
        evse_uids, result, reason, authorization_reference, request_id, forwarded_to,
        forward_ms, forward_outcome)
    VALUES (p_decided_at, p_audit_token_id, p_token_country_code, p_token_party_id,
        p_token_uid, p_token_type, p_requester_country_code, p_requester_party_id,
        p_location_id, p_evse_uids, p_result, p_reason, p_authorization_reference,
        p_request_id, p_forwarded_to, p_forward_ms, p_forward_outcome);
    RETURN TRUE;
END
$$;
