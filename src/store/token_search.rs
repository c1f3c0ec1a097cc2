//! The management API's token search and bulk policy: filters over the registry's columns, keyset
//! pages on the row id (a seek however deep the page), and one policy written to every match.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::schema::tokens;
use super::tokens::TokenRow;
use super::{db_run, Conn, StoreResult};
use crate::domain::access::PartyAccess;
use crate::domain::datetime::storage_precision;
use crate::domain::ids::PartyKey;
use crate::domain::token::{HubPolicy, TokenType, Whitelist};

/// What an admin searches tokens by. Every filter is optional; all given must hold.
#[derive(Clone, Debug, Default)]
pub struct TokenFilter {
    /// The uid, in any case (uids are case-insensitive).
    pub uid: Option<String>,
    /// The pushed top-level `contract_id`, spelled exactly.
    pub contract_id: Option<String>,
    /// The pushed top-level `group_id`, spelled exactly.
    pub group_id: Option<String>,
    pub owner: Option<PartyKey>,
    pub token_type: Option<TokenType>,
    /// The eMSP's `valid` as pushed.
    pub valid: Option<bool>,
    /// The effective whitelist (the hub's override, else the eMSP's).
    pub whitelist: Option<Whitelist>,
    pub blocked: Option<bool>,
    /// The hub validity window closes before this instant.
    pub expiring_before: Option<DateTime<Utc>>,
    /// The effective token changed at or after this instant.
    pub changed_since: Option<DateTime<Utc>>,
    /// The caller's parties: tokens of other owners are not there for it.
    pub within: PartyAccess,
}

impl TokenFilter {
    /// The fields stored inside the pushed document only (no column): checked row by row.
    fn body_fields(&self) -> Vec<(&'static str, &str)> {
        [
            ("contract_id", self.contract_id.as_deref()),
            ("group_id", self.group_id.as_deref()),
        ]
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect()
    }

    /// Whether `row`'s pushed document has the top-level fields asked for. The SQL `LIKE` before
    /// it only narrows (it would also match a nested `energy_contract.contract_id`).
    pub fn body_matches(&self, row: &TokenRow) -> bool {
        let fields = self.body_fields();
        if fields.is_empty() {
            return true;
        }
        let Ok(body) = row.pushed() else {
            return false;
        };
        fields
            .iter()
            .all(|(k, v)| body.get(*k).and_then(|x| x.as_str()) == Some(*v))
    }
}

/// `%"field":"value"%` over the stored compact JSON, with `LIKE`'s wildcards escaped.
fn body_pattern(field: &str, value: &str) -> String {
    let json = serde_json::to_string(value).unwrap_or_default();
    let escaped = json
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%\"{field}\":{escaped}%")
}

macro_rules! filtered {
    ($filter:expr) => {{
        let f: &TokenFilter = $filter;
        let mut q = tokens::table.into_boxed();
        match f.within.keys() {
            None => {}
            // One party (the usual restriction): two equalities, which the owner index serves.
            Some([only]) => {
                q = q
                    .filter(tokens::country_code.eq(only.country_code.key().to_owned()))
                    .filter(tokens::party_id.eq(only.party_id.key().to_owned()));
            }
            Some(keys) => {
                let joined: Vec<String> = keys.iter().map(ToString::to_string).collect();
                q = q.filter(
                    tokens::country_code
                        .concat("*")
                        .concat(tokens::party_id)
                        .eq_any(joined),
                );
            }
        }
        if let Some(uid) = &f.uid {
            q = q.filter(tokens::uid_key.eq(uid.to_ascii_uppercase()));
        }
        if let Some(owner) = &f.owner {
            q = q
                .filter(tokens::country_code.eq(owner.country_code.key().to_owned()))
                .filter(tokens::party_id.eq(owner.party_id.key().to_owned()));
        }
        if let Some(t) = &f.token_type {
            q = q.filter(tokens::token_type.eq(t.as_str().to_owned()));
        }
        if let Some(valid) = f.valid {
            q = q.filter(tokens::valid.eq(valid));
        }
        if let Some(w) = f.whitelist {
            q = q.filter(
                tokens::whitelist_override
                    .eq(w.as_str())
                    .or(tokens::whitelist_override
                        .is_null()
                        .and(tokens::whitelist.eq(w.as_str()))),
            );
        }
        if let Some(blocked) = f.blocked {
            q = q.filter(tokens::blocked.eq(blocked));
        }
        if let Some(before) = f.expiring_before {
            q = q.filter(tokens::valid_until.lt(storage_precision(before)));
        }
        if let Some(since) = f.changed_since {
            q = q.filter(tokens::effective_updated.ge(storage_precision(since)));
        }
        for (field, value) in f.body_fields() {
            q = q.filter(tokens::body.like(body_pattern(field, value)).escape('\\'));
        }
        q
    }};
}

/// One page of a search: the matching rows after the row id `after`, in row id order.
pub struct SearchPage {
    pub rows: Vec<TokenRow>,
    /// The cursor of the next page: the last row id looked at, when the page was full.
    pub next_after: Option<i64>,
}

/// Up to `limit` tokens matching `filter` with a row id above `after`. Keyset on the primary key:
/// page 90,000 costs what page 1 costs when the filters are selective or absent.
pub fn search(
    conn: &mut Conn<'_>,
    filter: &TokenFilter,
    after: i64,
    limit: i64,
) -> StoreResult<SearchPage> {
    let rows: Vec<TokenRow> = db_run!(conn => filtered!(filter)
        .filter(tokens::id.gt(after))
        .order(tokens::id)
        .limit(limit)
        .select(TokenRow::as_select())
        .load(conn))?;
    let next_after = (rows.len() as i64 == limit)
        .then(|| rows.last().map(|r| r.id))
        .flatten();
    Ok(SearchPage {
        rows: rows
            .into_iter()
            .filter(|r| filter.body_matches(r))
            .collect(),
        next_after,
    })
}

/// Every token matching `filter`, locked (PostgreSQL) until the write job ends: the set a bulk
/// policy change applies to. A boxed query cannot lock, so the matching ids come first and their
/// rows are then read again under the lock.
pub fn matching_for_update(
    conn: &mut Conn<'_>,
    filter: &TokenFilter,
) -> StoreResult<Vec<TokenRow>> {
    let ids: Vec<i64> = db_run!(conn => filtered!(filter)
        .order(tokens::id)
        .select(tokens::id)
        .load(conn))?;
    let mut rows = Vec::with_capacity(ids.len());
    // Bounded statement size: SQLite allows at most 32766 bound parameters.
    for chunk in ids.chunks(10_000) {
        let mut part: Vec<TokenRow> = match conn {
            Conn::Pg(c) => tokens::table
                .filter(tokens::id.eq_any(chunk))
                .order(tokens::id)
                .select(TokenRow::as_select())
                .for_update()
                .load(&mut **c)?,
            Conn::Sqlite(c) => tokens::table
                .filter(tokens::id.eq_any(chunk))
                .order(tokens::id)
                .select(TokenRow::as_select())
                .load(&mut **c)?,
        };
        rows.append(&mut part);
    }
    Ok(rows
        .into_iter()
        .filter(|r| filter.body_matches(r))
        .collect())
}

/// Whether `policy` differs from what `row` holds (the change time aside).
pub fn policy_differs(row: &TokenRow, policy: &HubPolicy) -> bool {
    let mut current = row.policy();
    current.updated_at = None;
    let mut wanted = policy.clone();
    wanted.updated_at = None;
    wanted.valid_from = wanted.valid_from.map(|t| storage_precision(t).and_utc());
    wanted.valid_until = wanted.valid_until.map(|t| storage_precision(t).and_utc());
    current != wanted
}
