ALTER TABLE authorization_audit DROP COLUMN forward_outcome;
ALTER TABLE authorization_audit DROP COLUMN forward_ms;
ALTER TABLE authorization_audit DROP COLUMN forwarded_to;
