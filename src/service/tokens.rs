//! Tokens as their eMSPs push them (receiver `PUT`/`PATCH`/`GET`), and the effective tokens the
//! sender list serves (hub policy applied).

use std::collections::HashSet;

use chrono::{TimeDelta, Utc};
use serde_json::{Map, Value};

use crate::domain::datetime::check_not_in_future;
use crate::domain::token::{apply_token_patch, effective_token, TokenKey, TokenWrite};
use crate::domain::ValidationError;
use crate::store::tokens;
use crate::store::{parties, Store, StoreError, StoreResult};

use super::push;

pub use crate::store::tokens::ListFilter;

mod batch;
pub use batch::PutBatches;

pub enum PutOutcome {
    Created,
    Replaced,
    Stale,
    Invalid(ValidationError),
}

pub enum PatchOutcome {
    Applied,
    Unknown,
    Stale,
    Invalid(ValidationError),
}

/// Creates or replaces the token (the hub policy stays) and queues its push to CPOs in the same
/// write job. A `last_updated` more than
/// `max_future_skew` ahead is refused: stored, it would make every later update stale.
/// On PostgreSQL the write goes through `batches` (with concurrent PUTs, in one transaction).
pub async fn put(
    store: &Store,
    batches: Option<&PutBatches>,
    write: TokenWrite,
    max_future_skew: TimeDelta,
) -> StoreResult<PutOutcome> {
    if let Err(e) = check_not_in_future(
        "last_updated",
        write.last_updated,
        Utc::now(),
        max_future_skew,
    ) {
        return Ok(PutOutcome::Invalid(e));
    }
    let outcome = match batches {
        Some(batches) => batches.put(write).await?,
        None => {
            store
                .write(move |conn| put_one(conn, &write, Utc::now()))
                .await?
        }
    };
    Ok(match outcome {
        tokens::PutOutcome::Created => PutOutcome::Created,
        tokens::PutOutcome::Replaced => PutOutcome::Replaced,
        tokens::PutOutcome::Stale => PutOutcome::Stale,
    })
}

/// One PUT inside a write job: the token, and its push unless it was stale.
fn put_one(
    conn: &mut crate::store::Conn<'_>,
    write: &TokenWrite,
    now: chrono::DateTime<Utc>,
) -> StoreResult<tokens::PutOutcome> {
    let outcome = tokens::put(conn, write, now)?;
    if outcome != tokens::PutOutcome::Stale {
        push::queue_token_change(conn, &write.key, now)?;
    }
    Ok(outcome)
}

/// Merges `patch` into the stored token under a lock, so concurrent PATCHes do not lose fields,
/// and queues its push to CPOs in the same write job.
pub async fn patch(
    store: &Store,
    key: TokenKey,
    patch: Map<String, Value>,
    max_future_skew: TimeDelta,
) -> StoreResult<PatchOutcome> {
    store
        .write(move |conn| {
            let Some(row) = tokens::find_by_key(conn, &key, true)? else {
                return Ok(PatchOutcome::Unknown);
            };
            let write = match apply_token_patch(&row.pushed()?, patch, &key) {
                Ok(write) => write,
                Err(e) => return Ok(PatchOutcome::Invalid(e)),
            };
            if let Err(e) = check_not_in_future(
                "last_updated",
                write.last_updated,
                Utc::now(),
                max_future_skew,
            ) {
                return Ok(PatchOutcome::Invalid(e));
            }
            Ok(match tokens::replace(conn, &row, &write)? {
                tokens::PutOutcome::Stale => PatchOutcome::Stale,
                tokens::PutOutcome::Created | tokens::PutOutcome::Replaced => {
                    push::queue_token_change(conn, &key, Utc::now())?;
                    PatchOutcome::Applied
                }
            })
        })
        .await
}

/// The token exactly as its eMSP pushed it.
pub async fn pushed(store: &Store, key: TokenKey) -> StoreResult<Option<Map<String, Value>>> {
    store
        .read(move |conn| {
            tokens::find_by_key(conn, &key, false)?
                .map(|row| row.pushed())
                .transpose()
        })
        .await
}

/// One page of the sender list.
pub struct EffectivePage {
    /// Effective tokens in creation order.
    pub tokens: Vec<Map<String, Value>>,
    /// How many match over all pages.
    pub total: i64,
    /// How many the list's version left out (see [`tokens::Page::hidden`]).
    pub hidden: i64,
}

/// One page of effective tokens in creation order, and how many match over all pages.
pub async fn effective_page(
    store: &Store,
    filter: ListFilter,
    offset: i64,
    limit: i64,
) -> StoreResult<EffectivePage> {
    let (page, suspended) = store
        .read(move |conn| {
            let page = tokens::list_page(conn, &filter, offset, limit)?;
            Ok((page, parties::suspended_emsps(conn)?))
        })
        .await?;
    let suspended: HashSet<(String, String)> = suspended.into_iter().collect();
    let now = Utc::now();
    let effective = page
        .rows
        .iter()
        .map(|row| {
            let owner_suspended =
                suspended.contains(&(row.country_code.clone(), row.party_id.clone()));
            Ok(effective_token(
                &row.pushed()?,
                row.last_updated_utc(),
                row.effective_updated.and_utc(),
                &row.policy(),
                owner_suspended,
                now,
            ))
        })
        .collect::<Result<_, StoreError>>()?;
    Ok(EffectivePage {
        tokens: effective,
        total: page.total,
        hidden: page.hidden,
    })
}

/// How often the background sequencer numbers new PostgreSQL tokens. Lists number what is
/// pending themselves before they read (`tokens::list_page`), so this bounds only how long a
/// token stays uncounted for readers of the counter and how large one list's pass can get
/// (at ~5k creations per second, ~250 tokens per pass).
pub const SEQUENCER_INTERVAL: std::time::Duration = std::time::Duration::from_millis(50);

/// The background sequencer (PostgreSQL; nothing to do on SQLite, whose writer numbers each
/// token as it inserts it). Every instance runs one; their passes take turns on an advisory
/// lock, and a pass with nothing pending costs one index probe.
pub async fn run_sequencer(store: Store) {
    if store.kind() != crate::store::BackendKind::Postgres {
        return;
    }
    let mut every = tokio::time::interval(SEQUENCER_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = store.read(tokens::sequence_pending).await {
            tracing::warn!(error = %e, "token sequencer failed; retrying next round");
        }
    }
}
