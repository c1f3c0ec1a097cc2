-- Roaming agreements (hub.agreements = "explicit"): the (CPO, eMSP) pairs that deal with each
-- other. Keys upper-cased like every party key. The unique index serves "may this CPO and this
-- eMSP deal" and the CPO's agreed eMSPs; the second index the eMSP's agreed CPOs.
CREATE TABLE agreements (
    id INTEGER PRIMARY KEY,
    cpo_country_code TEXT NOT NULL,
    cpo_party_id TEXT NOT NULL,
    emsp_country_code TEXT NOT NULL,
    emsp_party_id TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL,
    UNIQUE (cpo_country_code, cpo_party_id, emsp_country_code, emsp_party_id)
);
CREATE INDEX agreements_emsp ON agreements (emsp_country_code, emsp_party_id);

-- The sessions sender pages an eMSP's sessions (by the cdr_token's party) and a CPO's own, in
-- creation order: each an index range in that order, as tokens_owner_seq is for tokens.
CREATE INDEX sessions_emsp_id ON sessions (token_country_code, token_party_id, id);
CREATE INDEX sessions_cpo_id ON sessions (country_code, party_id, id);
