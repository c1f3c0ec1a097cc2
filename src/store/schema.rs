//! Diesel table definitions, shared by both backends (portable types only: UTC timestamps
//! without zone, text, 64-bit integers, booleans).

diesel::table! {
    platforms (id) {
        id -> BigInt,
        name -> Text,
        token_hash -> Text,
        token_kind -> Text,
        created_at -> Timestamp,
        versions_url -> Nullable<Text>,
        ocpi_version -> Nullable<Text>,
        outbound_token_sealed -> Nullable<Text>,
        status -> Text,
        status_changed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    platform_endpoints (platform_id, identifier, role) {
        platform_id -> BigInt,
        identifier -> Text,
        role -> Text,
        url -> Text,
    }
}

diesel::table! {
    change_log (id) {
        id -> BigInt,
        changed_at -> Timestamp,
        actor -> Text,
        action -> Text,
        subject -> Text,
        before -> Nullable<Text>,
        after -> Nullable<Text>,
    }
}

diesel::table! {
    parties (id) {
        id -> BigInt,
        platform_id -> BigInt,
        country_code -> Text,
        party_id -> Text,
        role -> Text,
        name -> Text,
        suspended -> Bool,
        max_concurrent -> Nullable<Integer>,
        created_at -> Timestamp,
        forward_allowed -> Bool,
        delegate_realtime -> Bool,
        time_budget_ms -> Nullable<Integer>,
        updated_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    tokens (id) {
        id -> BigInt,
        seq -> BigInt,
        seq_v221 -> Nullable<BigInt>,
        country_code -> Text,
        party_id -> Text,
        uid_key -> Text,
        token_type -> Text,
        valid -> Bool,
        whitelist -> Text,
        last_updated -> Timestamp,
        body -> Text,
        blocked -> Bool,
        block_reason -> Nullable<Text>,
        valid_from -> Nullable<Timestamp>,
        valid_until -> Nullable<Timestamp>,
        max_concurrent -> Nullable<Integer>,
        whitelist_override -> Nullable<Text>,
        policy_updated_at -> Nullable<Timestamp>,
        effective_updated -> Timestamp,
        created_at -> Timestamp,
    }
}

diesel::table! {
    counters (name) {
        name -> Text,
        value -> BigInt,
    }
}

diesel::table! {
    sessions (id) {
        id -> BigInt,
        country_code -> Text,
        party_id -> Text,
        session_key -> Text,
        token_id -> Nullable<BigInt>,
        token_country_code -> Text,
        token_party_id -> Text,
        token_uid_key -> Text,
        token_type -> Text,
        status -> Text,
        authorization_reference -> Nullable<Text>,
        last_updated -> Timestamp,
        received_at -> Timestamp,
        body -> Text,
    }
}

diesel::table! {
    token_usages (id) {
        id -> BigInt,
        token_id -> BigInt,
        kind -> Text,
        authorization_reference -> Nullable<Text>,
        cpo_country_code -> Text,
        cpo_party_id -> Text,
        location_key -> Nullable<Text>,
        evse_set -> Nullable<Text>,
        session_id -> Nullable<BigInt>,
        created_at -> Timestamp,
        counts_until -> Timestamp,
    }
}

diesel::table! {
    authorization_audit (id) {
        id -> BigInt,
        decided_at -> Timestamp,
        token_id -> Nullable<BigInt>,
        token_country_code -> Nullable<Text>,
        token_party_id -> Nullable<Text>,
        token_uid -> Text,
        token_type -> Text,
        requester_country_code -> Text,
        requester_party_id -> Text,
        location_id -> Nullable<Text>,
        evse_uids -> Nullable<Text>,
        result -> Text,
        reason -> Text,
        authorization_reference -> Nullable<Text>,
        request_id -> Nullable<Text>,
        forwarded_to -> Nullable<Text>,
        forward_ms -> Nullable<BigInt>,
        forward_outcome -> Nullable<Text>,
    }
}

diesel::table! {
    agreements (id) {
        id -> BigInt,
        cpo_country_code -> Text,
        cpo_party_id -> Text,
        emsp_country_code -> Text,
        emsp_party_id -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    push_outbox (id) {
        id -> BigInt,
        platform_id -> BigInt,
        kind -> Text,
        object_id -> BigInt,
        version -> BigInt,
        first_enqueued_at -> Timestamp,
        enqueued_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    push_partners (platform_id) {
        platform_id -> BigInt,
        lease_until -> BigInt,
    }
}

diesel::table! {
    push_drops (platform_id, reason) {
        platform_id -> BigInt,
        reason -> Text,
        dropped -> BigInt,
    }
}

diesel::joinable!(parties -> platforms (platform_id));
diesel::joinable!(platform_endpoints -> platforms (platform_id));
diesel::allow_tables_to_appear_in_same_query!(
    platforms,
    platform_endpoints,
    change_log,
    parties,
    tokens,
    counters,
    sessions,
    token_usages,
    authorization_audit,
    agreements,
    push_outbox,
    push_partners,
    push_drops,
);

diesel::table! {
    oauth_clients (client_id) {
        client_id -> Text,
        name -> Text,
        secret_hash -> Nullable<Text>,
        scopes -> Text,
        redirect_uris -> Text,
        disabled -> Bool,
        created_at -> Timestamp,
        parties -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        private_key_sealed -> Text,
        public_key -> Text,
        created_at -> Timestamp,
        retired_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    oauth_revocations (jti) {
        jti -> Text,
        expires_at -> Timestamp,
        revoked_at -> Timestamp,
    }
}

diesel::table! {
    users (username) {
        username -> Text,
        password_hash -> Text,
        scopes -> Text,
        totp_secret_sealed -> Nullable<Text>,
        totp_last_step -> Nullable<BigInt>,
        disabled -> Bool,
        created_at -> Timestamp,
        parties -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_codes (code_hash) {
        code_hash -> Text,
        client_id -> Text,
        username -> Text,
        redirect_uri -> Text,
        scopes -> Text,
        code_challenge -> Text,
        expires_at -> Timestamp,
        used_at -> Nullable<Timestamp>,
        family_id -> Nullable<Text>,
    }
}

diesel::table! {
    oauth_refresh_tokens (token_hash) {
        token_hash -> Text,
        family_id -> Text,
        parent_hash -> Nullable<Text>,
        client_id -> Text,
        username -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        rotated_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        access_jti -> Text,
        access_expires_at -> Timestamp,
    }
}

diesel::table! {
    oauth_consents (username, client_id) {
        username -> Text,
        client_id -> Text,
        scopes -> Text,
        granted_at -> Timestamp,
    }
}

diesel::table! {
    decision_rollup (minute, result, reason) {
        minute -> BigInt,
        result -> Text,
        reason -> Text,
        count -> BigInt,
    }
}

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        username -> Text,
        tokens_sealed -> Text,
        access_expires_at -> Timestamp,
        created_at -> Timestamp,
        expires_at -> Timestamp,
    }
}
