DROP TABLE console_sessions;
DROP TABLE decision_rollup;
