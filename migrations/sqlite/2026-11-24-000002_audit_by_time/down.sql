CREATE INDEX authorization_audit_token ON authorization_audit (token_id, decided_at);
