-- OAuth part 2 (docs/design.md "OAuth"): people who log in, the authorization codes and refresh
-- tokens they get for a client, and the consents they gave.
CREATE TABLE users (
    username TEXT PRIMARY KEY,
    -- Argon2id, in the PHC string format (algorithm, parameters and salt included).
    password_hash TEXT NOT NULL,
    -- Space-separated, as in an OAuth scope parameter: the most any token for this user carries.
    scopes TEXT NOT NULL,
    -- The RFC 6238 secret, sealed with a key derived from the master key; NULL: no second factor.
    totp_secret_sealed TEXT,
    -- The last 30-second step whose code was accepted: a code is good once (RFC 6238 §5.2).
    totp_last_step BIGINT,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE oauth_codes (
    -- Keyed hash of the code; the code itself is only in the redirect.
    code_hash TEXT PRIMARY KEY,
    client_id TEXT NOT NULL,
    username TEXT NOT NULL,
    redirect_uri TEXT NOT NULL,
    scopes TEXT NOT NULL,
    -- PKCE S256: base64url(SHA-256(code_verifier)).
    code_challenge TEXT NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    -- Set when exchanged; a second exchange revokes what the first one issued (below).
    used_at TIMESTAMP,
    family_id TEXT
);

CREATE TABLE oauth_refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    -- Every token rotated from one code shares its family: reuse of a rotated one revokes them all.
    family_id TEXT NOT NULL,
    parent_hash TEXT,
    client_id TEXT NOT NULL,
    username TEXT NOT NULL,
    scopes TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    rotated_at TIMESTAMP,
    revoked_at TIMESTAMP,
    -- The access token issued with this one: revoked with the family.
    access_jti TEXT NOT NULL,
    access_expires_at TIMESTAMP NOT NULL
);
CREATE INDEX oauth_refresh_tokens_family ON oauth_refresh_tokens (family_id);
CREATE INDEX oauth_refresh_tokens_expiry ON oauth_refresh_tokens (expires_at);

CREATE TABLE oauth_consents (
    username TEXT NOT NULL,
    client_id TEXT NOT NULL,
    -- Everything the user allowed this client so far; a request within it asks no more.
    scopes TEXT NOT NULL,
    granted_at TIMESTAMP NOT NULL,
    PRIMARY KEY (username, client_id)
);
