-- The decision's reads of `token_usages` through the (token_id, counts_until) index only.
--
-- PostgreSQL caches a generic plan per connection for a prepared statement (after five runs, and
-- in PL/pgSQL functions) and keeps it until the table's statistics change (an ANALYZE, at most
-- once a minute from autovacuum). A plan made while `token_usages` looked empty (a new hub, or
-- right after seeding tokens) read the uses by a sequential scan, or through the `counts_until`
-- index with `token_id` as a filter, and kept doing so while the holds grew. Measured with
-- `tokenhub-bench --backend postgres --authorize-only --tokens 100000` (30 s, pg_stat_statements):
-- the candidates read took 1,849 µs a call and the guarded write 329 µs, against 37 µs for the
-- owner's read. Three changes, each needed (checked with forced generic plans on an empty table):
--
-- 1. The expiry index becomes BRIN. Uses are inserted roughly in `counts_until` order, so it
--    still finds expired rows for the purge; for one token's uses the planner chose the btree on
--    (token_id, counts_until) over it, where it had tied the btree on `counts_until` with it.
-- 2. The candidates read runs in a function that reads each token's uses by its id (a plain
--    `token_id = $1` restriction: a left join was planned as a scan of the whole index with the
--    token id as a join filter), unordered (`ORDER BY id` chose a scan of the primary key); the
--    hub sorts a token's few uses itself.
-- 3. Both functions run with `enable_seqscan = off` (for the function only), the same remedy as
--    the sequencer's (`2026-12-11-000003_sequencer`).

DROP INDEX token_usages_counts_until;
CREATE INDEX token_usages_counts_until ON token_usages USING brin (counts_until);

-- The tokens a uid and type name, ordered by id, each with its uses that count at `p_now` (one
-- row per use, in no order; a token without uses comes once, with NULL use columns) and its
-- owner eMSP (`owner_found` false: the hub has no such eMSP).
CREATE FUNCTION tokenhub_token_candidates(p_uid_key TEXT, p_token_type TEXT, p_now TIMESTAMP)
RETURNS TABLE (
    id BIGINT, seq BIGINT, seq_v221 BIGINT, country_code TEXT, party_id TEXT, uid_key TEXT,
    token_type TEXT, valid BOOLEAN, whitelist TEXT, last_updated TIMESTAMP, body TEXT,
    blocked BOOLEAN, block_reason TEXT, valid_from TIMESTAMP, valid_until TIMESTAMP,
    max_concurrent INTEGER, whitelist_override TEXT, policy_updated_at TIMESTAMP,
    effective_updated TIMESTAMP, created_at TIMESTAMP,
    use_id BIGINT, use_kind TEXT, use_authorization_reference TEXT, use_cpo_country_code TEXT,
    use_cpo_party_id TEXT, use_location_key TEXT, use_evse_set TEXT, use_counts_until TIMESTAMP,
    owner_found BOOLEAN, owner_suspended BOOLEAN, owner_max_concurrent INTEGER,
    owner_forward_allowed BOOLEAN, owner_delegate_realtime BOOLEAN, owner_time_budget_ms INTEGER,
    owner_platform_id BIGINT, owner_status TEXT, owner_ocpi_version TEXT,
    owner_outbound_token_sealed TEXT, owner_tokens_sender TEXT
)
LANGUAGE plpgsql STABLE ROWS 2
SET enable_seqscan = off
AS $$
#variable_conflict use_column
DECLARE
    t tokens%ROWTYPE;
    u RECORD;
    v_any BOOLEAN;
BEGIN
    FOR t IN SELECT * FROM tokens k
              WHERE k.uid_key = p_uid_key AND k.token_type = p_token_type
              ORDER BY k.id
    LOOP
        id := t.id; seq := t.seq; seq_v221 := t.seq_v221; country_code := t.country_code;
        party_id := t.party_id; uid_key := t.uid_key; token_type := t.token_type;
        valid := t.valid; whitelist := t.whitelist; last_updated := t.last_updated;
        body := t.body; blocked := t.blocked; block_reason := t.block_reason;
        valid_from := t.valid_from; valid_until := t.valid_until;
        max_concurrent := t.max_concurrent; whitelist_override := t.whitelist_override;
        policy_updated_at := t.policy_updated_at; effective_updated := t.effective_updated;
        created_at := t.created_at;
        -- The owner eMSP as `store::parties::owner` reads it: one round trip less per decision.
        SELECT TRUE, p.suspended, p.max_concurrent, p.forward_allowed, p.delegate_realtime,
               p.time_budget_ms, f.id, f.status, f.ocpi_version, f.outbound_token_sealed, e.url
          INTO owner_found, owner_suspended, owner_max_concurrent, owner_forward_allowed,
               owner_delegate_realtime, owner_time_budget_ms, owner_platform_id, owner_status,
               owner_ocpi_version, owner_outbound_token_sealed, owner_tokens_sender
          FROM parties p
          JOIN platforms f ON f.id = p.platform_id
          LEFT JOIN platform_endpoints e
            ON e.platform_id = p.platform_id AND e.identifier = 'tokens' AND e.role = 'SENDER'
         WHERE p.country_code = t.country_code AND p.party_id = t.party_id AND p.role = 'EMSP';
        IF NOT FOUND THEN
            owner_found := FALSE;
        END IF;
        v_any := FALSE;
        FOR u IN SELECT s.id, s.kind, s.authorization_reference, s.cpo_country_code,
                        s.cpo_party_id, s.location_key, s.evse_set, s.counts_until
                   FROM token_usages s
                  WHERE s.token_id = t.id AND s.counts_until > p_now
        LOOP
            use_id := u.id; use_kind := u.kind;
            use_authorization_reference := u.authorization_reference;
            use_cpo_country_code := u.cpo_country_code; use_cpo_party_id := u.cpo_party_id;
            use_location_key := u.location_key; use_evse_set := u.evse_set;
            use_counts_until := u.counts_until;
            v_any := TRUE;
            RETURN NEXT;
        END LOOP;
        IF NOT v_any THEN
            use_id := NULL; use_kind := NULL; use_authorization_reference := NULL;
            use_cpo_country_code := NULL; use_cpo_party_id := NULL; use_location_key := NULL;
            use_evse_set := NULL; use_counts_until := NULL;
            RETURN NEXT;
        END IF;
    END LOOP;
END
$$;

ALTER FUNCTION tokenhub_hold_guard(BIGINT, TIMESTAMP, TIMESTAMP, TIMESTAMP, TIMESTAMP, BIGINT[])
    SET enable_seqscan = off;

-- Batches (`service::authorize::batch`): the hub reads the inputs of many concurrent decisions in
-- one statement and writes their outcomes in one statement, one transaction, one WAL flush.
-- Measured before batching (pg_stat_statements and perf, 100k tokens, 2 cores): PostgreSQL spent
-- ~540 µs of CPU per decision, most of it per statement and per round trip (the kernel's TCP path
-- and wake-ups ~30%, executor start-up, PL/pgSQL), not in the reads and writes themselves.

-- `tokenhub_token_candidates` for each (uid key, type) pair, each row tagged with its pair's
-- 1-based position.
CREATE FUNCTION tokenhub_token_candidates_many(
    p_uid_keys TEXT[], p_token_types TEXT[], p_now TIMESTAMP
) RETURNS TABLE (
    req INTEGER,
    id BIGINT, seq BIGINT, seq_v221 BIGINT, country_code TEXT, party_id TEXT, uid_key TEXT,
    token_type TEXT, valid BOOLEAN, whitelist TEXT, last_updated TIMESTAMP, body TEXT,
    blocked BOOLEAN, block_reason TEXT, valid_from TIMESTAMP, valid_until TIMESTAMP,
    max_concurrent INTEGER, whitelist_override TEXT, policy_updated_at TIMESTAMP,
    effective_updated TIMESTAMP, created_at TIMESTAMP,
    use_id BIGINT, use_kind TEXT, use_authorization_reference TEXT, use_cpo_country_code TEXT,
    use_cpo_party_id TEXT, use_location_key TEXT, use_evse_set TEXT, use_counts_until TIMESTAMP,
    owner_found BOOLEAN, owner_suspended BOOLEAN, owner_max_concurrent INTEGER,
    owner_forward_allowed BOOLEAN, owner_delegate_realtime BOOLEAN, owner_time_budget_ms INTEGER,
    owner_platform_id BIGINT, owner_status TEXT, owner_ocpi_version TEXT,
    owner_outbound_token_sealed TEXT, owner_tokens_sender TEXT
)
LANGUAGE plpgsql STABLE
AS $$
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_uid_keys, 1), 0) LOOP
        RETURN QUERY SELECT i, c.* FROM tokenhub_token_candidates(p_uid_keys[i], p_token_types[i], p_now) c;
    END LOOP;
END
$$;

-- The writes of a batch of decisions, in the order given; one element per decision: a guarded
-- hold with its audit entry (`hold` true: `tokenhub_hold_and_record`, false when its guard
-- failed and nothing was written for it) or an audit entry alone (always true). One statement:
-- every write of the batch commits together, or (an error) none does. The hub sends the holds
-- ordered by token id, so two batches lock their tokens in one order.
CREATE FUNCTION tokenhub_write_decisions(p_batch JSONB) RETURNS BOOLEAN[]
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    d RECORD;
    v_done BOOLEAN[] := '{}';
BEGIN
    FOR d IN SELECT * FROM jsonb_to_recordset(p_batch) AS x(
        hold BOOLEAN, token_id BIGINT, last_updated TIMESTAMP, effective_updated TIMESTAMP,
        policy_updated_at TIMESTAMP, now TIMESTAMP, use_ids BIGINT[], kind TEXT,
        reference TEXT, cpo_country_code TEXT, cpo_party_id TEXT, location_key TEXT,
        evse_set TEXT, created_at TIMESTAMP, counts_until TIMESTAMP, decided_at TIMESTAMP,
        audit_token_id BIGINT, token_country_code TEXT, token_party_id TEXT, token_uid TEXT,
        token_type TEXT, requester_country_code TEXT, requester_party_id TEXT,
        location_id TEXT, evse_uids TEXT, result TEXT, reason TEXT,
        authorization_reference TEXT, request_id TEXT, forwarded_to TEXT, forward_ms BIGINT,
        forward_outcome TEXT)
    LOOP
        IF d.hold THEN
            v_done := v_done || tokenhub_hold_and_record(d.token_id, d.last_updated,
                d.effective_updated, d.policy_updated_at, d.now, d.use_ids, d.kind, d.reference,
                d.cpo_country_code, d.cpo_party_id, d.location_key, d.evse_set, d.created_at,
                d.counts_until, d.decided_at, d.audit_token_id, d.token_country_code,
                d.token_party_id, d.token_uid, d.token_type, d.requester_country_code,
                d.requester_party_id, d.location_id, d.evse_uids, d.result, d.reason,
                d.authorization_reference, d.request_id, d.forwarded_to, d.forward_ms,
                d.forward_outcome);
        ELSE
            INSERT INTO authorization_audit (decided_at, token_id, token_country_code,
                token_party_id, token_uid, token_type, requester_country_code,
                requester_party_id, location_id, evse_uids, result, reason,
                authorization_reference, request_id, forwarded_to, forward_ms, forward_outcome)
            VALUES (d.decided_at, d.audit_token_id, d.token_country_code, d.token_party_id,
                d.token_uid, d.token_type, d.requester_country_code, d.requester_party_id,
                d.location_id, d.evse_uids, d.result, d.reason, d.authorization_reference,
                d.request_id, d.forwarded_to, d.forward_ms, d.forward_outcome);
            v_done := v_done || TRUE;
        END IF;
    END LOOP;
    RETURN v_done;
END
$$;
