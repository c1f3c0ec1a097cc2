//! Background clean-up: expired holds and stale session uses, and audit entries past retention,
//! deleted in small batches so no sweep holds the writer for long.

use std::time::Duration;

use chrono::Utc;

use crate::config::Config;
use crate::store::{audit, usage, Store};

const BATCH: i64 = 500;
/// At most this many batches per table and round; the rest waits for the next round.
const MAX_BATCHES_PER_ROUND: usize = 20;

pub async fn run(store: Store, config: Config) {
    let mut every = tokio::time::interval(Duration::from_secs(
        config.retention.sweep_interval_secs.max(1),
    ));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = sweep_once(&store, config.retention.audit_days).await {
            tracing::warn!(error = %e, "background clean-up failed; retrying next round");
        }
    }
}

pub async fn sweep_once(
    store: &Store,
    audit_days: u32,
) -> Result<(usize, usize), crate::store::StoreError> {
    let mut usages = 0;
    for _ in 0..MAX_BATCHES_PER_ROUND {
        let n = store
            .write(|conn| usage::purge_expired(conn, Utc::now(), BATCH))
            .await?;
        usages += n;
        if n < BATCH as usize {
            break;
        }
    }
    let mut audits = 0;
    let before = Utc::now() - chrono::Duration::days(i64::from(audit_days));
    for _ in 0..MAX_BATCHES_PER_ROUND {
        let n = store
            .write(move |conn| audit::purge_before(conn, before, BATCH))
            .await?;
        audits += n;
        if n < BATCH as usize {
            break;
        }
    }
    if usages + audits > 0 {
        tracing::debug!(usages, audits, "cleaned up");
    }
    Ok((usages, audits))
}
