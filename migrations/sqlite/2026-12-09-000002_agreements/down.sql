DROP INDEX sessions_cpo_id;
DROP INDEX sessions_emsp_id;
DROP TABLE agreements;
