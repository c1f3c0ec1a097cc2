-- Sessions that took over no hold count only while their CPO keeps updating them: they get a kind
-- of their own. A session row inserted without a hold never had an EVSE set, a hold always has
-- one (possibly empty), so the rows written before this migration are told apart exactly.
UPDATE token_usages SET kind = 'UNMATCHED_SESSION' WHERE kind = 'SESSION' AND evse_set IS NULL;

-- The sweeper purges sessions by the time the hub last received them.
CREATE INDEX sessions_received_at ON sessions (received_at);
