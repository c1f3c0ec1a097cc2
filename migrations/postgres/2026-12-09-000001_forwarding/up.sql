-- What the hub did when it asked the owner eMSP (docs/design.md §6 "Authorize flow"): to whom,
-- how long it took, and what came of it (ANSWERED:<allowed>, UNKNOWN_2004, TIMEOUT, UNREACHABLE,
-- FAILED, MALFORMED, BREAKER_OPEN, OFFLINE, BUSY). NULL: decided without asking.
ALTER TABLE authorization_audit ADD COLUMN forwarded_to TEXT;
ALTER TABLE authorization_audit ADD COLUMN forward_ms BIGINT;
ALTER TABLE authorization_audit ADD COLUMN forward_outcome TEXT;
