//! Background clean-up: expired holds and stale session uses, sessions past retention, and audit
//! entries past retention, deleted in small batches so no sweep holds the writer for long.

use chrono::{DateTime, Utc};

use crate::config::RetentionSettings;
use crate::ops::metrics;
use crate::store::{audit, sessions, usage, Store, StoreResult};

const BATCH: i64 = 500;
/// At most this many batches per table and round; the rest waits for the next round.
const MAX_BATCHES_PER_ROUND: usize = 20;

pub async fn run(store: Store, retention: RetentionSettings) {
    let mut every = tokio::time::interval(retention.sweep_interval);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = sweep_at(&store, &retention, Utc::now()).await {
            tracing::warn!(error = %e, "background clean-up failed; retrying next round");
        }
    }
}

/// What one round deleted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Swept {
    /// Expired holds and uses of stale sessions.
    pub usages: usize,
    pub sessions: usize,
    pub audits: usize,
}

/// One round as of `now` (a parameter so that tests can sweep as if time had passed).
pub async fn sweep_at(
    store: &Store,
    retention: &RetentionSettings,
    now: DateTime<Utc>,
) -> StoreResult<Swept> {
    let mut usages = 0;
    for _ in 0..MAX_BATCHES_PER_ROUND {
        let purged = store
            .write(move |conn| usage::purge_expired(conn, now, BATCH))
            .await?;
        // Counted once committed, by the instance whose statement deleted the row.
        for stale in &purged.stale_sessions {
            metrics::record_stale_session(&stale.cpo, stale.matched);
        }
        usages += purged.rows;
        if purged.rows < BATCH as usize {
            break;
        }
    }
    let (finished_before, abandoned_before) =
        (now - retention.session, now - retention.abandoned_session);
    let sessions = in_batches(store, move |conn| {
        sessions::purge_old(conn, finished_before, abandoned_before, BATCH)
    })
    .await?;
    let audit_before = now - retention.audit;
    let audits = in_batches(store, move |conn| {
        audit::purge_before(conn, audit_before, BATCH)
    })
    .await?;
    let swept = Swept {
        usages,
        sessions,
        audits,
    };
    if swept != Swept::default() {
        tracing::debug!(usages, sessions, audits, "cleaned up");
    }
    Ok(swept)
}

/// Runs `purge` (one batch per write job) until a batch comes back short or the round's budget is
/// spent; returns how many rows went.
async fn in_batches<F>(store: &Store, purge: F) -> StoreResult<usize>
where
    F: Fn(&mut crate::store::Conn<'_>) -> StoreResult<usize> + Clone + Send + 'static,
{
    let mut total = 0;
    for _ in 0..MAX_BATCHES_PER_ROUND {
        let n = store.write(purge.clone()).await?;
        total += n;
        if n < BATCH as usize {
            break;
        }
    }
    Ok(total)
}
