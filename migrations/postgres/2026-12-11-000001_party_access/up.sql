-- Party-restricted access (issue 13 point 7): the parties a client or a user may act for, as
-- space-separated `CC*PID` keys; NULL = every party.
ALTER TABLE oauth_clients ADD COLUMN parties TEXT;
ALTER TABLE users ADD COLUMN parties TEXT;
