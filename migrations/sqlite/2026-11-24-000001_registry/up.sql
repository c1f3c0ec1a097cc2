-- Platforms authenticate with a credentials token (stored only as a SHA-256 hash) and speak for
-- one or more parties.
CREATE TABLE platforms (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    token_hash TEXT NOT NULL UNIQUE,
    token_kind TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE parties (
    id INTEGER PRIMARY KEY,
    platform_id BIGINT NOT NULL REFERENCES platforms(id),
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    role TEXT NOT NULL,
    name TEXT NOT NULL,
    suspended BOOLEAN NOT NULL DEFAULT 0,
    max_concurrent INTEGER,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (country_code, party_id, role)
);
CREATE INDEX parties_platform ON parties (platform_id);

-- `seq` is the dense creation order (1..n): a page at any offset is an index seek, not a scan.
CREATE TABLE tokens (
    id INTEGER PRIMARY KEY,
    seq BIGINT NOT NULL UNIQUE,
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    uid_key TEXT NOT NULL,
    token_type TEXT NOT NULL,
    valid BOOLEAN NOT NULL,
    whitelist TEXT NOT NULL,
    last_updated TIMESTAMP NOT NULL,
    body TEXT NOT NULL,
    blocked BOOLEAN NOT NULL DEFAULT 0,
    block_reason TEXT,
    valid_from TIMESTAMP,
    valid_until TIMESTAMP,
    max_concurrent INTEGER,
    whitelist_override TEXT,
    policy_updated_at TIMESTAMP,
    effective_updated TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE UNIQUE INDEX tokens_key ON tokens (uid_key, token_type, country_code, party_id);
CREATE INDEX tokens_owner_seq ON tokens (country_code, party_id, seq);
CREATE INDEX tokens_effective_updated ON tokens (effective_updated);

CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO counters (name, value) VALUES ('tokens_seq', 0);

CREATE TABLE sessions (
    id INTEGER PRIMARY KEY,
    country_code TEXT NOT NULL,
    party_id TEXT NOT NULL,
    session_key TEXT NOT NULL,
    token_id BIGINT REFERENCES tokens(id),
    token_country_code TEXT NOT NULL,
    token_party_id TEXT NOT NULL,
    token_uid_key TEXT NOT NULL,
    token_type TEXT NOT NULL,
    status TEXT NOT NULL,
    authorization_reference TEXT,
    last_updated TIMESTAMP NOT NULL,
    received_at TIMESTAMP NOT NULL,
    body TEXT NOT NULL,
    UNIQUE (country_code, party_id, session_key)
);
CREATE INDEX sessions_token ON sessions (token_id);

-- Current uses of a token: ALLOWED holds not yet matched by a session, and sessions that hold it.
CREATE TABLE token_usages (
    id INTEGER PRIMARY KEY,
    token_id BIGINT NOT NULL REFERENCES tokens(id),
    kind TEXT NOT NULL,
    authorization_reference TEXT,
    cpo_country_code TEXT NOT NULL,
    cpo_party_id TEXT NOT NULL,
    location_key TEXT,
    evse_set TEXT,
    session_id BIGINT UNIQUE REFERENCES sessions(id),
    created_at TIMESTAMP NOT NULL,
    counts_until TIMESTAMP NOT NULL
);
CREATE INDEX token_usages_token ON token_usages (token_id, counts_until);
CREATE INDEX token_usages_counts_until ON token_usages (counts_until);

CREATE TABLE authorization_audit (
    id INTEGER PRIMARY KEY,
    decided_at TIMESTAMP NOT NULL,
    token_id BIGINT,
    token_country_code TEXT,
    token_party_id TEXT,
    token_uid TEXT NOT NULL,
    token_type TEXT NOT NULL,
    requester_country_code TEXT NOT NULL,
    requester_party_id TEXT NOT NULL,
    location_id TEXT,
    evse_uids TEXT,
    result TEXT NOT NULL,
    reason TEXT NOT NULL,
    authorization_reference TEXT,
    request_id TEXT
);
CREATE INDEX authorization_audit_decided_at ON authorization_audit (decided_at);
CREATE INDEX authorization_audit_token ON authorization_audit (token_id, decided_at);
