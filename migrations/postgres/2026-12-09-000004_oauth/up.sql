-- The OAuth 2 authorization server (docs/design.md "OAuth"): clients, the keys that sign access
-- tokens, and revoked access tokens until they expire.
CREATE TABLE oauth_clients (
    client_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    -- HMAC-SHA256 of the secret under a key derived from the master key; NULL: a public client.
    secret_hash TEXT,
    -- Space-separated, as in an OAuth scope parameter.
    scopes TEXT NOT NULL,
    -- A JSON array of strings; empty for a client-credentials client.
    redirect_uris TEXT NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT FALSE,
    created_at TIMESTAMP NOT NULL
);

CREATE TABLE oauth_signing_keys (
    kid TEXT PRIMARY KEY,
    algorithm TEXT NOT NULL,
    -- The PKCS#8 private key, sealed with a key derived from the master key.
    private_key_sealed TEXT NOT NULL,
    -- The public key as the JWK's `x` (base64url).
    public_key TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Set when a newer key took over signing; the key still verifies until its tokens expire.
    retired_at TIMESTAMP
);

CREATE TABLE oauth_revocations (
    jti TEXT PRIMARY KEY,
    expires_at TIMESTAMP NOT NULL,
    revoked_at TIMESTAMP NOT NULL
);
CREATE INDEX oauth_revocations_expiry ON oauth_revocations (expires_at);

-- Bumped by every change to clients, signing keys or revocations, so each instance reloads them.
INSERT INTO counters (name, value) VALUES ('oauth_epoch', 0);
