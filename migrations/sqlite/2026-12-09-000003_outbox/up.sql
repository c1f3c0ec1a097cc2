-- The push outbox (docs/design.md §6 "Push"): one row per (partner platform, kind, object),
-- written in the transaction of the change it pushes. A newer change of the same object updates
-- the row (coalescing: the worker sends the object as it is at delivery time) and bumps
-- `version`, so a delivery of an older version completes nothing. Order per partner is
-- (`enqueued_at`, `id`): the latest change of each object, oldest first.
CREATE TABLE push_outbox (
    id INTEGER PRIMARY KEY,
    platform_id BIGINT NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    -- TOKEN (tokens.id) or SESSION (sessions.id).
    kind TEXT NOT NULL,
    object_id BIGINT NOT NULL,
    version BIGINT NOT NULL DEFAULT 1,
    -- The retry window runs from the first change still pending.
    first_enqueued_at TIMESTAMP NOT NULL,
    enqueued_at TIMESTAMP NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMP NOT NULL,
    last_error TEXT,
    UNIQUE (platform_id, kind, object_id)
);
CREATE INDEX push_outbox_order ON push_outbox (platform_id, enqueued_at, id);

-- One row per partner being delivered to: the lease that makes one instance at a time deliver
-- a partner's entries, in order.
CREATE TABLE push_partners (
    platform_id BIGINT PRIMARY KEY REFERENCES platforms(id) ON DELETE CASCADE,
    lease_until BIGINT NOT NULL DEFAULT 0
);

-- Entries dropped per partner and reason (expired: the retry window passed; offline: the
-- partner went OFFLINE or SUSPENDED; rejected: the partner answered an OCPI client error).
CREATE TABLE push_drops (
    platform_id BIGINT NOT NULL REFERENCES platforms(id) ON DELETE CASCADE,
    reason TEXT NOT NULL,
    dropped BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (platform_id, reason)
);

-- The validity-window scheduler looks up the next instants a window opens or closes.
CREATE INDEX tokens_valid_from ON tokens (valid_from);
CREATE INDEX tokens_valid_until ON tokens (valid_until);
