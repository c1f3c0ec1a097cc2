ALTER TABLE users DROP COLUMN parties;
ALTER TABLE oauth_clients DROP COLUMN parties;
