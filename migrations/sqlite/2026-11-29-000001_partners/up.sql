-- Partners that connect through the Credentials module: where the hub reaches them and with
-- which token, and how their connection stands (served by hubclientinfo).
ALTER TABLE platforms ADD COLUMN versions_url TEXT;
ALTER TABLE platforms ADD COLUMN ocpi_version TEXT;
-- The token the hub presents to the partner, encrypted with a key derived from the master key.
ALTER TABLE platforms ADD COLUMN outbound_token_sealed TEXT;
-- CONNECTED, OFFLINE, PLANNED or SUSPENDED (hubclientinfo's ConnectionStatus).
ALTER TABLE platforms ADD COLUMN status TEXT NOT NULL DEFAULT 'CONNECTED';
ALTER TABLE platforms ADD COLUMN status_changed_at TIMESTAMP;

CREATE TABLE platform_endpoints (
    platform_id BIGINT NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    identifier TEXT NOT NULL,
    role TEXT NOT NULL,
    url TEXT NOT NULL,
    PRIMARY KEY (platform_id, identifier, role)
);

-- Party settings for routing (docs/design.md §6).
ALTER TABLE parties ADD COLUMN forward_allowed BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE parties ADD COLUMN delegate_realtime BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE parties ADD COLUMN time_budget_ms INTEGER;
ALTER TABLE parties ADD COLUMN updated_at TIMESTAMP;

-- Every change an operator, an admin or a partner makes to the hub's configuration: who, what,
-- before and after, when.
CREATE TABLE change_log (
    id INTEGER PRIMARY KEY,
    changed_at TIMESTAMP NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    before TEXT,
    after TEXT
);
CREATE INDEX change_log_time ON change_log (changed_at);

-- Bumped by every change of a credentials token, so each instance drops its cached lookups.
INSERT INTO counters (name, value) VALUES ('credentials_epoch', 0);
