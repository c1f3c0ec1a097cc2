DELETE FROM counters WHERE name = 'oauth_epoch';
DROP TABLE oauth_revocations;
DROP TABLE oauth_signing_keys;
DROP TABLE oauth_clients;
