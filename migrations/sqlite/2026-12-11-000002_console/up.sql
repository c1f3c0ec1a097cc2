-- The admin console (docs/design.md "Console"): decisions per minute by result and reason, kept
-- as decisions are made (the dashboard reads this, never a scan of the audit), and the console's
-- sessions, whose OAuth tokens are held on the server.
CREATE TABLE decision_rollup (
    -- Unix time of the minute's start, in seconds.
    minute BIGINT NOT NULL,
    result TEXT NOT NULL,
    reason TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (minute, result, reason)
);

CREATE TABLE console_sessions (
    -- Keyed hash of the cookie value; the value itself is only in the browser.
    id_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    -- The access and refresh tokens, sealed with a key derived from the master key.
    tokens_sealed TEXT NOT NULL,
    -- When the access token expires: refreshed with the refresh token after this.
    access_expires_at TIMESTAMP NOT NULL,
    created_at TIMESTAMP NOT NULL,
    -- Idle sessions end here; every use moves it.
    expires_at TIMESTAMP NOT NULL
);
CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);
