-- The management API's token search pages by row id (keyset). With an owner filter -- every
-- search of a party-restricted caller has one -- the planner took tokens_owner_seq for the
-- equality and sorted the owner's rows by id: a page at row 900,000 sorted ~900,000 rows
-- (SQLite without statistics: 111 ms for the query alone on 1M rows). These serve owner and
-- owner + valid in id order, a seek however deep the page (SQLite: < 1 ms; EXPLAIN in the
-- commit message and BENCHMARKS.md).
CREATE INDEX tokens_owner_id ON tokens (country_code, party_id, id);
CREATE INDEX tokens_owner_valid_id ON tokens (country_code, party_id, valid, id);
