//! The management API's reads of the audit trail: decisions and the change log, filtered, newest
//! first, keyset pages on the row id.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::{authorization_audit, change_log};
use super::{db_run, Conn, StoreResult};
use crate::domain::access::PartyAccess;
use crate::domain::datetime::storage_precision;
use crate::domain::ids::PartyKey;

/// Which decisions to read. `party` matches the token's owner or the requesting CPO.
#[derive(Clone, Debug, Default)]
pub struct DecisionFilter {
    /// The token's uid (any case) and, if given, its owner.
    pub token_uid: Option<String>,
    pub token_owner: Option<PartyKey>,
    pub party: Option<PartyKey>,
    /// The stored result (`ALLOWED`, `BLOCKED`, `UNKNOWN`, ...).
    pub result: Option<String>,
    pub reason: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The caller's parties: decisions on their tokens or asked by them.
    pub within: PartyAccess,
}

/// One decision as the management API shows it.
#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = authorization_audit)]
pub struct DecisionRow {
    pub id: i64,
    pub decided_at: NaiveDateTime,
    pub token_country_code: Option<String>,
    pub token_party_id: Option<String>,
    pub token_uid: String,
    pub token_type: String,
    pub requester_country_code: String,
    pub requester_party_id: String,
    pub location_id: Option<String>,
    pub evse_uids: Option<String>,
    pub result: String,
    pub reason: String,
    pub authorization_reference: Option<String>,
    pub request_id: Option<String>,
    pub forwarded_to: Option<String>,
    pub forward_ms: Option<i64>,
    pub forward_outcome: Option<String>,
}

/// Up to `limit` decisions matching `filter` with a row id below `before` (`None`: from the
/// newest), newest first.
pub fn decisions(
    conn: &mut Conn<'_>,
    filter: &DecisionFilter,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<DecisionRow>> {
    let f = filter.clone();
    Ok(db_run!(conn => {
        let mut q = authorization_audit::table.into_boxed();
        if let Some(keys) = f.within.keys() {
            let joined: Vec<String> = keys.iter().map(ToString::to_string).collect();
            q = q.filter(
                authorization_audit::token_country_code
                    .concat("*")
                    .concat(authorization_audit::token_party_id)
                    .eq_any(joined.clone())
                    .or(authorization_audit::requester_country_code
                        .concat("*")
                        .concat(authorization_audit::requester_party_id)
                        .eq_any(joined)),
            );
        }
        if let Some(before) = before {
            q = q.filter(authorization_audit::id.lt(before));
        }
        if let Some(uid) = &f.token_uid {
            // Stored as received; the hub's tokens are found by their upper-cased key, so both.
            q = q.filter(
                authorization_audit::token_uid
                    .eq(uid.clone())
                    .or(authorization_audit::token_uid.eq(uid.to_ascii_uppercase())),
            );
        }
        if let Some(owner) = &f.token_owner {
            q = q
                .filter(authorization_audit::token_country_code.eq(owner.country_code.key().to_owned()))
                .filter(authorization_audit::token_party_id.eq(owner.party_id.key().to_owned()));
        }
        if let Some(party) = &f.party {
            let cc = party.country_code.key().to_owned();
            let pid = party.party_id.key().to_owned();
            q = q.filter(
                authorization_audit::token_country_code
                    .eq(cc.clone())
                    .and(authorization_audit::token_party_id.eq(pid.clone()))
                    .or(authorization_audit::requester_country_code
                        .eq(cc)
                        .and(authorization_audit::requester_party_id.eq(pid))),
            );
        }
        if let Some(result) = &f.result {
            q = q.filter(authorization_audit::result.eq(result.clone()));
        }
        if let Some(reason) = &f.reason {
            q = q.filter(authorization_audit::reason.eq(reason.clone()));
        }
        if let Some(from) = f.from {
            q = q.filter(authorization_audit::decided_at.ge(storage_precision(from)));
        }
        if let Some(to) = f.to {
            q = q.filter(authorization_audit::decided_at.lt(storage_precision(to)));
        }
        q.order(authorization_audit::id.desc())
            .limit(limit)
            .select(DecisionRow::as_select())
            .load(conn)
    })?)
}

/// Which changes to read.
#[derive(Clone, Debug, Default)]
pub struct ChangeFilter {
    pub actor: Option<String>,
    pub action: Option<String>,
    /// Subjects starting with this (e.g. `token:NL*ABC:` or `party:`).
    pub subject_prefix: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The caller's parties: changes of their tokens (`token:CC*PID:`), of themselves
    /// (`party:CC*PID:`), of their agreements, and the bulk changes and imports of callers
    /// restricted to them (`tokens:CC*PID,...`).
    pub within: PartyAccess,
}

fn like_prefix(prefix: &str) -> String {
    let escaped = prefix
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("{escaped}%")
}

/// The subject patterns of a restricted caller's changes.
fn subject_patterns(within: &PartyAccess) -> Option<Vec<String>> {
    within.keys().map(|keys| {
        keys.iter()
            .flat_map(|k| {
                [
                    like_prefix(&format!("token:{k}:")),
                    like_prefix(&format!("party:{k}:")),
                    like_prefix(&format!("agreement:{k}:")),
                    // `agreement:CPO:EMSP`, the eMSP side (a party key holds no wildcard).
                    format!("agreement:%:{k}"),
                    // A bulk change or an import by a caller restricted to it (and others).
                    format!("tokens:%{k}%"),
                ]
            })
            .collect()
    })
}

/// Up to `limit` change-log entries matching `filter` below the row id `before`, newest first.
pub fn changes(
    conn: &mut Conn<'_>,
    filter: &ChangeFilter,
    before: Option<i64>,
    limit: i64,
) -> StoreResult<Vec<super::connections::ChangeRow>> {
    use super::connections::ChangeRow;
    let f = filter.clone();
    Ok(db_run!(conn => {
        let mut q = change_log::table.into_boxed();
        // First, before any other filter: `or_filter` ORs with all that came before it, and the
        // filters after it are ANDed with the whole group.
        match subject_patterns(&f.within) {
            None => {}
            Some(patterns) if patterns.is_empty() => q = q.filter(change_log::id.lt(0)),
            Some(patterns) => {
                for (i, pattern) in patterns.into_iter().enumerate() {
                    let matches = change_log::subject.like(pattern).escape('\\');
                    q = if i == 0 { q.filter(matches) } else { q.or_filter(matches) };
                }
            }
        }
        if let Some(before) = before {
            q = q.filter(change_log::id.lt(before));
        }
        if let Some(actor) = &f.actor {
            q = q.filter(change_log::actor.eq(actor.clone()));
        }
        if let Some(action) = &f.action {
            q = q.filter(change_log::action.eq(action.clone()));
        }
        if let Some(prefix) = &f.subject_prefix {
            q = q.filter(change_log::subject.like(like_prefix(prefix)).escape('\\'));
        }
        if let Some(from) = f.from {
            q = q.filter(change_log::changed_at.ge(storage_precision(from)));
        }
        if let Some(to) = f.to {
            q = q.filter(change_log::changed_at.lt(storage_precision(to)));
        }
        q.order(change_log::id.desc())
            .limit(limit)
            .select(ChangeRow::as_select())
            .load(conn)
    })?)
}
