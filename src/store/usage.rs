//! Current uses of tokens: holds (ALLOWED answers not yet matched by a session) and sessions that
//! hold a token. A row stops counting at `counts_until`; expired rows are purged in the background.

use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;

use super::schema::token_usages;
use super::{db_run, Conn, StoreResult};
use crate::domain::authorization::{ActiveUse, UseKind};
use crate::domain::datetime::storage_precision;
use crate::domain::ids::PartyKey;

const HOLD: &str = "HOLD";
const SESSION: &str = "SESSION";

/// EVSE sets are stored as one text: `\n` cannot occur inside a CiString.
const EVSE_SEPARATOR: &str = "\n";

#[derive(Queryable, Selectable, Debug, Clone)]
#[diesel(table_name = token_usages)]
struct UsageRow {
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

/// Makes the usage of a session match its state (DESIGN §8 "Usage for concurrency"): a session
/// that uses its token keeps one row, taken over from the hold with its `authorization_reference`
/// (or, without one, the oldest unmatched hold); a finished session frees its row.
pub struct SessionUse<'a> {
    pub session_id: i64,
    /// The registry's token the session's `cdr_token` names, if the hub knows it.
    pub token_id: Option<i64>,
    pub cpo: &'a PartyKey,
    pub uses_token: bool,
    pub reference_key: Option<&'a str>,
    pub now: DateTime<Utc>,
    /// When the session stops counting unless it is updated again.
    pub until: DateTime<Utc>,
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
    let (now, until) = (
        storage_precision(session.now),
        storage_precision(session.until),
    );
    let Some(token_id) = token_id.filter(|_| uses_token) else {
        db_run!(conn => diesel::delete(token_usages::table.filter(token_usages::session_id.eq(session_id))).execute(conn))?;
        return Ok(());
    };
    db_run!(conn => {
        let own: Option<i64> = token_usages::table
            .filter(token_usages::session_id.eq(session_id))
            .select(token_usages::id)
            .get_result(conn)
            .optional()?;
        let holds = token_usages::table
            .filter(token_usages::token_id.eq(token_id))
            .filter(token_usages::kind.eq(HOLD))
            .filter(token_usages::counts_until.gt(now));
        let target: Option<i64> = match (own, reference_key) {
            (Some(id), _) => Some(id),
            // A token has few holds: load them rather than `LIMIT 1` (see tokens::find_by_uid).
            (None, Some(reference)) => holds
                .filter(token_usages::authorization_reference.eq(reference))
                .order(token_usages::id)
                .select(token_usages::id)
                .load::<i64>(conn)?
                .into_iter()
                .next(),
            (None, None) => holds
                .order(token_usages::id)
                .select(token_usages::id)
                .load::<i64>(conn)?
                .into_iter()
                .next(),
        };
        match target {
            Some(id) => diesel::update(token_usages::table.find(id))
                .set((
                    token_usages::kind.eq(SESSION),
                    token_usages::session_id.eq(session_id),
                    token_usages::token_id.eq(token_id),
                    token_usages::counts_until.eq(until),
                ))
                .execute(conn)?,
            None => diesel::insert_into(token_usages::table)
                .values((
                    token_usages::token_id.eq(token_id),
                    token_usages::kind.eq(SESSION),
                    token_usages::authorization_reference.eq(reference_key),
                    token_usages::cpo_country_code.eq(cpo.country_code.key()),
                    token_usages::cpo_party_id.eq(cpo.party_id.key()),
                    token_usages::session_id.eq(session_id),
                    token_usages::created_at.eq(now),
                    token_usages::counts_until.eq(until),
                ))
                .execute(conn)?,
        };
        Ok(())
    })
}

/// Deletes up to `batch` rows that no longer count; returns how many went.
pub fn purge_expired(conn: &mut Conn<'_>, now: DateTime<Utc>, batch: i64) -> StoreResult<usize> {
    let now = storage_precision(now);
    db_run!(conn => {
        let ids: Vec<i64> = token_usages::table
            .filter(token_usages::counts_until.le(now))
            .select(token_usages::id)
            .limit(batch)
            .load(conn)?;
        Ok(diesel::delete(token_usages::table.filter(token_usages::id.eq_any(ids))).execute(conn)?)
    })
}
