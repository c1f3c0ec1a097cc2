//! Sessions pushed by CPOs, and what they do to their token's usage.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Map, Value};

use crate::config::{AuthorizationSettings, Settings};
use crate::domain::datetime::{check_not_in_future, storage_precision};
use crate::domain::ids::{CiString36, PartyKey};
use crate::domain::session::{apply_session_patch, SessionBounds, SessionWrite};
use crate::domain::ValidationError;
use crate::store::sessions::{self, SessionRow};
use crate::store::{tokens, usage, Conn, Store, StoreResult};

pub enum WriteOutcome {
    Created,
    Updated,
    Unknown,
    Stale,
    Invalid(ValidationError),
}

/// What the sessions receiver needs from the configuration.
#[derive(Clone, Debug)]
pub struct SessionSettings {
    pub authorization: AuthorizationSettings,
    pub bounds: SessionBounds,
}

impl SessionSettings {
    pub fn from_settings(settings: &Settings) -> Self {
        Self {
            authorization: settings.authorization.clone(),
            bounds: SessionBounds {
                max_charging_periods: settings.retention.session_charging_periods,
                // A stored session needs no more room than one request may carry.
                max_bytes: settings.http.max_body_bytes,
            },
        }
    }
}

/// Stores the session, brings its token's usage in line with it, and queues its push to the
/// token's eMSP.
fn store_session(
    conn: &mut Conn<'_>,
    existing: Option<&SessionRow>,
    write: &SessionWrite,
    settings: &SessionSettings,
    now: DateTime<Utc>,
) -> StoreResult<WriteOutcome> {
    if let Some(row) = existing {
        if storage_precision(write.last_updated) < row.last_updated {
            return Ok(WriteOutcome::Stale);
        }
    }
    let token_id = tokens::find_by_key(conn, &write.token, true)?.map(|t| t.id);
    let session_id = sessions::upsert(conn, existing, write, token_id, now)?;
    let authorization = &settings.authorization;
    usage::sync_session(
        conn,
        &usage::SessionUse {
            session_id,
            token_id,
            cpo: &write.owner,
            uses_token: write.status.uses_token(),
            reference_key: write.authorization_reference.as_ref().map(|r| r.key()),
            now,
            matched_until: now + authorization.session_stale,
            unmatched_until: now + authorization.unmatched_session,
        },
    )?;
    super::push::queue_session_change(conn, session_id, &write.token.owner, now)?;
    Ok(if existing.is_some() {
        WriteOutcome::Updated
    } else {
        WriteOutcome::Created
    })
}

/// Creates or replaces the session `write` (its owner and id already match the URL's). A
/// `last_updated` more than `max_future_skew` ahead is refused: stored, it would make every later
/// update stale.
pub async fn put(
    store: &Store,
    settings: &SessionSettings,
    max_future_skew: TimeDelta,
    mut write: SessionWrite,
) -> StoreResult<WriteOutcome> {
    if let Err(e) = check_not_in_future(
        "last_updated",
        write.last_updated,
        Utc::now(),
        max_future_skew,
    ) {
        return Ok(WriteOutcome::Invalid(e));
    }
    // Before the job: JSON work has no place on the single SQLite writer.
    write.bound(settings.bounds);
    let settings = settings.clone();
    store
        .write(move |conn| {
            let existing = sessions::find(conn, &write.owner, &write.id, true)?;
            store_session(conn, existing.as_ref(), &write, &settings, Utc::now())
        })
        .await
}

/// Merges `patch` into the stored session under a lock.
pub async fn patch(
    store: &Store,
    settings: &SessionSettings,
    max_future_skew: TimeDelta,
    owner: PartyKey,
    id: CiString36,
    patch: Map<String, Value>,
) -> StoreResult<WriteOutcome> {
    let settings = settings.clone();
    store
        .write(move |conn| {
            let Some(existing) = sessions::find(conn, &owner, &id, true)? else {
                return Ok(WriteOutcome::Unknown);
            };
            let mut write = match apply_session_patch(&existing.stored()?, patch, &owner, &id) {
                Ok(write) => write,
                Err(e) => return Ok(WriteOutcome::Invalid(e)),
            };
            let now = Utc::now();
            if let Err(e) =
                check_not_in_future("last_updated", write.last_updated, now, max_future_skew)
            {
                return Ok(WriteOutcome::Invalid(e));
            }
            // Appended charging periods would grow the session with every PATCH.
            write.bound(settings.bounds);
            store_session(conn, Some(&existing), &write, &settings, now)
        })
        .await
}

/// The session as its CPO pushed it.
pub async fn stored(
    store: &Store,
    owner: PartyKey,
    id: CiString36,
) -> StoreResult<Option<Map<String, Value>>> {
    store
        .read(move |conn| {
            sessions::find(conn, &owner, &id, false)?
                .map(|row| row.stored())
                .transpose()
        })
        .await
}

/// One page of the Sessions sender list: the sessions as their CPOs pushed them, in creation
/// order, and how many match over all pages.
pub async fn sender_page(
    store: &Store,
    filter: sessions::SessionListFilter,
    offset: i64,
    limit: i64,
) -> StoreResult<(Vec<Map<String, Value>>, i64)> {
    let page = store
        .read(move |conn| sessions::list_page(conn, &filter, offset, limit))
        .await?;
    let stored = page
        .rows
        .iter()
        .map(SessionRow::stored)
        .collect::<StoreResult<_>>()?;
    Ok((stored, page.total))
}
