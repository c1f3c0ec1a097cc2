//! Current uses of tokens: holds (ALLOWED answers not yet matched by a session) and sessions that
//! hold a token. A row stops counting at `counts_until`; expired rows are purged in the background.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool, Integer, Nullable, Text, Timestamp};

use super::parties::{owner_from_row, Owner, OwnerRow};
use super::schema::{token_usages, tokens};
use super::tokens::TokenRow;
use super::{db_run, Conn, StoreResult};
use crate::domain::authorization::{ActiveUse, UseKind};
use crate::domain::datetime::storage_precision;
use crate::domain::ids::PartyKey;

pub(super) const HOLD: &str = "HOLD";
/// A session that took over a hold (the hub authorized it).
const SESSION: &str = "SESSION";
/// A session that took over no hold: it counts only while its CPO keeps updating it.
const UNMATCHED_SESSION: &str = "UNMATCHED_SESSION";

/// EVSE sets are stored as one text: `\n` cannot occur inside a CiString.
pub(super) const EVSE_SEPARATOR: &str = "\n";

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = token_usages)]
struct UsageRow {
    id: i64,
    kind: String,
    authorization_reference: Option<String>,
    cpo_country_code: String,
    cpo_party_id: String,
    location_key: Option<String>,
    evse_set: Option<String>,
    counts_until: NaiveDateTime,
}

impl UsageRow {
    fn to_active_use(&self) -> Option<ActiveUse> {
        Some(ActiveUse {
            kind: if self.kind == HOLD {
                UseKind::Hold
            } else {
                UseKind::Session
            },
            reference: self.authorization_reference.clone(),
            cpo: PartyKey::parse(&self.cpo_country_code, &self.cpo_party_id).ok()?,
            location_key: self.location_key.clone(),
            evse_set: self
                .evse_set
                .as_deref()
                .filter(|s| !s.is_empty())
                .map(|s| s.split(EVSE_SEPARATOR).map(str::to_owned).collect())
                .unwrap_or_default(),
            counts_until: self.counts_until.and_utc(),
        })
    }
}

/// The uses of a token that still count at `now`.
pub fn active_for_token(
    conn: &mut Conn<'_>,
    token_id: i64,
    now: DateTime<Utc>,
) -> StoreResult<Vec<ActiveUse>> {
    let now = storage_precision(now);
    let rows: Vec<UsageRow> = db_run!(conn => token_usages::table
        .filter(token_usages::token_id.eq(token_id))
        .filter(token_usages::counts_until.gt(now))
        .order(token_usages::id)
        .select(UsageRow::as_select())
        .load(conn))?;
    Ok(rows.iter().filter_map(UsageRow::to_active_use).collect())
}

/// A token the authorization may decide on, with the uses that count at the decision's `now`.
pub struct TokenUses {
    pub row: TokenRow,
    pub uses: Vec<ActiveUse>,
    /// The ids of those uses, ascending: what the PostgreSQL guard compares
    /// (`store::decision_pg`).
    pub use_ids: Vec<i64>,
    /// The token's owner eMSP (`None` inside: the hub has no such eMSP), when the read brought
    /// it (PostgreSQL); `None`: read it with `parties::owner`.
    pub owner: Option<Option<Owner>>,
}

/// The tokens `uid_key` and `token_type` name, each with its uses that count at `now`: one query
/// (a left join), so an optimistic PostgreSQL authorization reads its inputs in one round trip.
/// Nothing is locked: the decision's write checks that nothing changed (`store::decision_pg`).
///
/// On PostgreSQL through `tokenhub_token_candidates`, whose plan cannot fall back to a sequential
/// scan of the uses (migration `2026-12-12-000001_decision_batches` says why and what it cost).
pub fn candidates_with_uses(
    conn: &mut Conn<'_>,
    uid_key: &str,
    token_type: &str,
    now: DateTime<Utc>,
) -> StoreResult<Vec<TokenUses>> {
    let now = storage_precision(now);
    let rows: Vec<(TokenRow, Option<UsageRow>, Option<Option<Owner>>)> = match conn {
        Conn::Pg(c) => {
            let mut rows: Vec<_> = diesel::sql_query(CANDIDATES)
                .bind::<Text, _>(uid_key)
                .bind::<Text, _>(token_type)
                .bind::<Timestamp, _>(now)
                .load::<CandidateRow>(&mut **c)?
                .into_iter()
                .map(CandidateRow::split)
                .collect();
            // The function returns a token's uses unordered (its migration says why).
            rows.sort_by_key(|(token, usage, _)| (token.id, usage.as_ref().map(|u| u.id)));
            rows
        }
        Conn::Sqlite(c) => tokens::table
            .left_join(
                token_usages::table.on(token_usages::token_id
                    .eq(tokens::id)
                    .and(token_usages::counts_until.gt(now))),
            )
            .filter(tokens::uid_key.eq(uid_key))
            .filter(tokens::token_type.eq(token_type))
            .order((tokens::id, token_usages::id))
            .select((TokenRow::as_select(), Option::<UsageRow>::as_select()))
            .load::<(TokenRow, Option<UsageRow>)>(&mut **c)?
            .into_iter()
            .map(|(token, usage)| (token, usage, None))
            .collect(),
    };
    Ok(group_uses(rows))
}

/// The rows of one (uid, type): one `TokenUses` per token, in token order.
fn group_uses(rows: Vec<(TokenRow, Option<UsageRow>, Option<Option<Owner>>)>) -> Vec<TokenUses> {
    let mut found: Vec<TokenUses> = Vec::new();
    for (row, usage, owner) in rows {
        if found.last().is_none_or(|last| last.row.id != row.id) {
            found.push(TokenUses {
                row,
                uses: Vec::new(),
                use_ids: Vec::new(),
                owner,
            });
        }
        if let (Some(usage), Some(last)) = (usage, found.last_mut()) {
            // Same filter as `active_for_token`: a row whose CPO no longer parses is skipped.
            if let Some(active) = usage.to_active_use() {
                last.uses.push(active);
            }
            last.use_ids.push(usage.id);
        }
    }
    found
}

/// [`candidates_with_uses`] for many (uid key, type) pairs in one statement (PostgreSQL only:
/// `service::authorize::batch`), in the order of `keys`.
pub fn candidates_many(
    conn: &mut Conn<'_>,
    keys: &[(&str, &str)],
    now: DateTime<Utc>,
) -> StoreResult<Vec<Vec<TokenUses>>> {
    let Conn::Pg(c) = conn else {
        return Err(super::StoreError::Query(
            "the batched decision read is PostgreSQL's".into(),
        ));
    };
    let uid_keys: Vec<&str> = keys.iter().map(|(uid, _)| *uid).collect();
    let types: Vec<&str> = keys.iter().map(|(_, kind)| *kind).collect();
    let loaded: Vec<ManyRow> = diesel::sql_query(CANDIDATES_MANY)
        .bind::<Array<Text>, _>(&uid_keys)
        .bind::<Array<Text>, _>(&types)
        .bind::<Timestamp, _>(storage_precision(now))
        .load(&mut **c)?;
    let mut per_key: Vec<Vec<_>> = keys.iter().map(|_| Vec::new()).collect();
    for row in loaded {
        let at = usize::try_from(row.req).ok().and_then(|r| r.checked_sub(1));
        match at.and_then(|at| per_key.get_mut(at)) {
            Some(rows) => rows.push(row.row.split()),
            None => {
                return Err(super::StoreError::Query(format!(
                    "the batched decision read answered for pair {} of {}",
                    row.req,
                    keys.len()
                )))
            }
        }
    }
    Ok(per_key
        .into_iter()
        .map(|mut rows| {
            rows.sort_by_key(|(token, usage, _)| (token.id, usage.as_ref().map(|u| u.id)));
            group_uses(rows)
        })
        .collect())
}

const CANDIDATES_MANY: &str = "SELECT * FROM tokenhub_token_candidates_many($1, $2, $3)";

#[derive(QueryableByName)]
struct ManyRow {
    #[diesel(sql_type = Integer)]
    req: i32,
    #[diesel(embed)]
    row: CandidateRow,
}

const CANDIDATES: &str = "SELECT * FROM tokenhub_token_candidates($1, $2, $3)";

/// A row of `tokenhub_token_candidates`: the token, one of its uses or NULLs, and its owner.
#[derive(QueryableByName)]
struct CandidateRow {
    #[diesel(embed)]
    token: TokenRow,
    #[diesel(sql_type = Nullable<BigInt>)]
    use_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    use_kind: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    use_authorization_reference: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    use_cpo_country_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    use_cpo_party_id: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    use_location_key: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    use_evse_set: Option<String>,
    #[diesel(sql_type = Nullable<Timestamp>)]
    use_counts_until: Option<NaiveDateTime>,
    #[diesel(sql_type = Bool)]
    owner_found: bool,
    #[diesel(sql_type = Nullable<Bool>)]
    owner_suspended: Option<bool>,
    #[diesel(sql_type = Nullable<Integer>)]
    owner_max_concurrent: Option<i32>,
    #[diesel(sql_type = Nullable<Bool>)]
    owner_forward_allowed: Option<bool>,
    #[diesel(sql_type = Nullable<Bool>)]
    owner_delegate_realtime: Option<bool>,
    #[diesel(sql_type = Nullable<Integer>)]
    owner_time_budget_ms: Option<i32>,
    #[diesel(sql_type = Nullable<BigInt>)]
    owner_platform_id: Option<i64>,
    #[diesel(sql_type = Nullable<Text>)]
    owner_status: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    owner_ocpi_version: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    owner_outbound_token_sealed: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    owner_tokens_sender: Option<String>,
}

impl CandidateRow {
    fn split(self) -> (TokenRow, Option<UsageRow>, Option<Option<Owner>>) {
        let usage = match (
            self.use_id,
            self.use_kind,
            self.use_cpo_country_code,
            self.use_cpo_party_id,
            self.use_counts_until,
        ) {
            (Some(id), Some(kind), Some(cpo_country_code), Some(cpo_party_id), Some(until)) => {
                Some(UsageRow {
                    id,
                    kind,
                    authorization_reference: self.use_authorization_reference,
                    cpo_country_code,
                    cpo_party_id,
                    location_key: self.use_location_key,
                    evse_set: self.use_evse_set,
                    counts_until: until,
                })
            }
            _ => None,
        };
        let owner = match (
            self.owner_found,
            self.owner_suspended,
            self.owner_forward_allowed,
            self.owner_delegate_realtime,
            self.owner_platform_id,
            self.owner_status,
        ) {
            (
                true,
                Some(suspended),
                Some(forward_allowed),
                Some(delegate_realtime),
                Some(platform_id),
                Some(status),
            ) => Some(owner_from_row(OwnerRow {
                suspended,
                max_concurrent: self.owner_max_concurrent,
                forward_allowed,
                delegate_realtime,
                time_budget_ms: self.owner_time_budget_ms,
                platform_id,
                status,
                ocpi_version: self.owner_ocpi_version,
                outbound_token_sealed: self.owner_outbound_token_sealed,
                tokens_sender: self.owner_tokens_sender,
            })),
            _ => None,
        };
        (self.token, usage, Some(owner))
    }
}

pub struct NewHold<'a> {
    pub token_id: i64,
    pub reference: &'a str,
    pub cpo: &'a PartyKey,
    pub location_key: Option<&'a str>,
    pub evse_set: &'a [String],
    pub now: DateTime<Utc>,
    pub until: DateTime<Utc>,
}

pub fn insert_hold(conn: &mut Conn<'_>, hold: &NewHold<'_>) -> StoreResult<()> {
    let evses = hold.evse_set.join(EVSE_SEPARATOR);
    db_run!(conn => diesel::insert_into(token_usages::table)
        .values((
            token_usages::token_id.eq(hold.token_id),
            token_usages::kind.eq(HOLD),
            token_usages::authorization_reference.eq(hold.reference),
            token_usages::cpo_country_code.eq(hold.cpo.country_code.key()),
            token_usages::cpo_party_id.eq(hold.cpo.party_id.key()),
            token_usages::location_key.eq(hold.location_key),
            token_usages::evse_set.eq(&evses),
            token_usages::created_at.eq(storage_precision(hold.now)),
            token_usages::counts_until.eq(storage_precision(hold.until)),
        ))
        .execute(conn))?;
    Ok(())
}

/// Makes the usage of a session match its state (docs/design.md §8 "Usage for concurrency").
///
/// A session that uses its token keeps one row. The first time it is seen using its token it
/// takes over a hold of that token: the hold with its `authorization_reference`, or without one
/// the oldest hold its own CPO made. A hold belongs to a token, and so to that token's eMSP: a
/// reference never reaches the holds of another eMSP's tokens. A session that took over a hold
/// counts until `matched_until`; one that found none until `unmatched_until` (much sooner), so a
/// CPO that never finishes its sessions cannot lock a driver out at every other CPO for long.
/// A finished session frees its row or, the first time it is seen, the hold it would have taken
/// over.
pub struct SessionUse<'a> {
    pub session_id: i64,
    /// The registry's token the session's `cdr_token` names, if the hub knows it.
    pub token_id: Option<i64>,
    pub cpo: &'a PartyKey,
    pub uses_token: bool,
    pub reference_key: Option<&'a str>,
    pub now: DateTime<Utc>,
    /// When a session that took over a hold stops counting unless it is updated again.
    pub matched_until: DateTime<Utc>,
    /// When a session that took over no hold stops counting unless it is updated again.
    pub unmatched_until: DateTime<Utc>,
}

pub fn sync_session(conn: &mut Conn<'_>, session: &SessionUse<'_>) -> StoreResult<()> {
    let SessionUse {
        session_id,
        token_id,
        cpo,
        uses_token,
        reference_key,
        ..
    } = *session;
    let now = storage_precision(session.now);
    let matched_until = storage_precision(session.matched_until);
    let unmatched_until = storage_precision(session.unmatched_until);
    let counted_token = token_id.filter(|_| uses_token);
    db_run!(conn => {
        let own: Option<(i64, String)> = token_usages::table
            .filter(token_usages::session_id.eq(session_id))
            .select((token_usages::id, token_usages::kind))
            .get_result(conn)
            .optional()?;
        if let Some((id, kind)) = own {
            let row = token_usages::table.find(id);
            match counted_token {
                Some(token_id) => diesel::update(row)
                    .set((
                        token_usages::token_id.eq(token_id),
                        token_usages::counts_until.eq(if kind == SESSION {
                            matched_until
                        } else {
                            unmatched_until
                        }),
                    ))
                    .execute(conn)?,
                None => diesel::delete(row).execute(conn)?,
            };
            return Ok(());
        }
        // No hold can belong to a token the hub does not know.
        let Some(token_id) = token_id else {
            return Ok(());
        };
        let holds = token_usages::table
            .filter(token_usages::token_id.eq(token_id))
            .filter(token_usages::kind.eq(HOLD))
            .filter(token_usages::counts_until.gt(now));
        // A token has few holds: load them rather than `LIMIT 1` (see tokens::find_by_uid).
        let hold: Option<i64> = match reference_key {
            Some(reference) => holds
                .filter(token_usages::authorization_reference.eq(reference))
                .order(token_usages::id)
                .select(token_usages::id)
                .load::<i64>(conn)?
                .into_iter()
                .next(),
            None => holds
                .filter(token_usages::cpo_country_code.eq(cpo.country_code.key()))
                .filter(token_usages::cpo_party_id.eq(cpo.party_id.key()))
                .order(token_usages::id)
                .select(token_usages::id)
                .load::<i64>(conn)?
                .into_iter()
                .next(),
        };
        match (hold, uses_token) {
            (Some(id), true) => diesel::update(token_usages::table.find(id))
                .set((
                    token_usages::kind.eq(SESSION),
                    token_usages::session_id.eq(session_id),
                    token_usages::counts_until.eq(matched_until),
                ))
                .execute(conn)?,
            (Some(id), false) => diesel::delete(token_usages::table.find(id)).execute(conn)?,
            (None, true) => diesel::insert_into(token_usages::table)
                .values((
                    token_usages::token_id.eq(token_id),
                    token_usages::kind.eq(UNMATCHED_SESSION),
                    token_usages::authorization_reference.eq(reference_key),
                    token_usages::cpo_country_code.eq(cpo.country_code.key()),
                    token_usages::cpo_party_id.eq(cpo.party_id.key()),
                    token_usages::session_id.eq(session_id),
                    token_usages::created_at.eq(now),
                    token_usages::counts_until.eq(unmatched_until),
                ))
                .execute(conn)?,
            (None, false) => 0,
        };
        Ok(())
    })
}

/// A session the sweeper found stale: its CPO stopped updating it before it finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaleSession {
    pub cpo: PartyKey,
    /// Whether the session had taken over a hold.
    pub matched: bool,
}

/// What one purge deleted.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Purged {
    pub rows: usize,
    pub stale_sessions: Vec<StaleSession>,
}

/// Deletes up to `batch` rows that no longer count at `now`: expired holds, and the uses of
/// sessions their CPO stopped updating (reported, for the stale-sessions metric).
pub fn purge_expired(conn: &mut Conn<'_>, now: DateTime<Utc>, batch: i64) -> StoreResult<Purged> {
    let now = storage_precision(now);
    // RETURNING reports only what this statement deleted, so instances sweeping one PostgreSQL
    // database together count each stale session once.
    let deleted: Vec<(String, String, String)> = db_run!(conn => {
        let ids: Vec<i64> = token_usages::table
            .filter(token_usages::counts_until.le(now))
            .select(token_usages::id)
            .limit(batch)
            .load(conn)?;
        diesel::delete(token_usages::table.filter(token_usages::id.eq_any(ids)))
            .returning((
                token_usages::kind,
                token_usages::cpo_country_code,
                token_usages::cpo_party_id,
            ))
            .get_results(conn)?
    });
    Ok(Purged {
        rows: deleted.len(),
        stale_sessions: deleted
            .iter()
            .filter(|(kind, ..)| kind != HOLD)
            .filter_map(|(kind, cc, pid)| {
                Some(StaleSession {
                    cpo: PartyKey::parse(cc, pid).ok()?,
                    matched: kind == SESSION,
                })
            })
            .collect(),
    })
}
