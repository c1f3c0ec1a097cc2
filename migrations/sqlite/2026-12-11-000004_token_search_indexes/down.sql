DROP INDEX tokens_owner_valid_id;
DROP INDEX tokens_owner_id;
