DROP TABLE authorization_audit;
DROP TABLE token_usages;
DROP TABLE sessions;
DROP TABLE counters;
DROP TABLE tokens;
DROP TABLE parties;
DROP TABLE platforms;
