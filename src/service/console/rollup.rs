//! Decisions per minute by result and reason, for the console's dashboard.
//!
//! The decision path only increments an in-process atomic counter ([`DecisionRollup::record`]):
//! no I/O and no shared database row on the hot path. A background task ([`run`]) adds the counts
//! to the `decision_rollup` table every [`FLUSH_EVERY`] with `count = count + excluded.count`
//! upserts, so several instances add up, and once more at shutdown. The trade-off: a crash loses
//! at most the last flush interval of dashboard counts; the audit trail, written with each
//! decision, stays the truth.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;

use crate::service::authorize::AuthorizeOutcome;
use crate::store::console::{self as rows, RollupRow};
use crate::store::{Store, StoreResult};

/// How often the counts go to the database: the dashboard lags by at most this.
pub const FLUSH_EVERY: Duration = Duration::from_secs(5);
/// The rollup keeps a day and an hour (the dashboard's longest view, and a margin).
const KEEP_SECS: i64 = 25 * 3600;

/// The results the audit records (`AuditResult::as_str`), and a last cell for anything else.
const RESULTS: [&str; 11] = [
    "ALLOWED",
    "BLOCKED",
    "EXPIRED",
    "NO_CREDIT",
    "NOT_ALLOWED",
    "UNKNOWN",
    "NOT_ENOUGH_INFORMATION",
    "UNKNOWN_RECEIVER",
    "FORWARD_TIMEOUT",
    "NOT_CONNECTED",
    "OTHER",
];
/// The reasons (`Reason::as_str`), and a last cell for anything else.
const REASONS: [&str; 17] = [
    "unknown_token",
    "token_invalid",
    "admin_block",
    "owner_suspended",
    "expired",
    "not_yet_valid",
    "concurrent_use",
    "allowed",
    "retry_of_hold",
    "ambiguous_owner",
    "type_unknown_to_version",
    "no_agreement",
    "forwarded",
    "emsp_unreachable",
    "no_realtime_authorization",
    "unknown_receiver",
    "other",
];
const CELLS: usize = RESULTS.len() * REASONS.len();

/// The counts not yet flushed, in two slots by the parity of the minute: a flush in minute `m`
/// takes the slot of `m` as minute `m` and the other as minute `m - 1` (the flush interval is far
/// below a minute, so nothing older is left in it).
pub struct DecisionRollup {
    slots: [Vec<AtomicU64>; 2],
}

impl Default for DecisionRollup {
    fn default() -> Self {
        let slot = || (0..CELLS).map(|_| AtomicU64::new(0)).collect();
        DecisionRollup {
            slots: [slot(), slot()],
        }
    }
}

fn index(list: &[&str], value: &str) -> usize {
    list.iter()
        .position(|v| *v == value)
        .unwrap_or(list.len() - 1)
}

/// The reason the audit records for an outcome.
fn reason_of(outcome: &AuthorizeOutcome) -> &'static str {
    match outcome {
        AuthorizeOutcome::Decided(d) => d.reason.as_str(),
        AuthorizeOutcome::Unknown => "unknown_token",
        AuthorizeOutcome::Hidden => "type_unknown_to_version",
        AuthorizeOutcome::Ambiguous => "ambiguous_owner",
        AuthorizeOutcome::UnknownReceiver(_) => "unknown_receiver",
        AuthorizeOutcome::ForwardTimeout(_) | AuthorizeOutcome::NotConnected(_) => {
            "emsp_unreachable"
        }
    }
}

impl DecisionRollup {
    /// Counts one decision in the current minute: one atomic add.
    pub fn record(&self, outcome: &AuthorizeOutcome) {
        self.count(
            Utc::now().timestamp(),
            outcome.result().as_str(),
            reason_of(outcome),
        );
    }

    fn count(&self, now: i64, result: &str, reason: &str) {
        let slot = ((now / 60) % 2) as usize;
        let cell = index(&RESULTS, result) * REASONS.len() + index(&REASONS, reason);
        self.slots[slot][cell].fetch_add(1, Ordering::Relaxed);
    }

    /// Takes every count out, as rows of the minutes they belong to (at `now`, Unix seconds).
    fn take(&self, now: i64) -> Vec<RollupRow> {
        let minute = now / 60;
        let mut rows = Vec::new();
        for (m, slot) in [
            (minute, (minute % 2) as usize),
            (minute - 1, ((minute + 1) % 2) as usize),
        ] {
            for (cell, counter) in self.slots[slot].iter().enumerate() {
                let count = counter.swap(0, Ordering::Relaxed);
                if count > 0 {
                    rows.push(RollupRow {
                        minute: m * 60,
                        result: RESULTS[cell / REASONS.len()].to_owned(),
                        reason: REASONS[cell % REASONS.len()].to_owned(),
                        count: count as i64,
                    });
                }
            }
        }
        rows
    }

    /// Adds what was counted since the last flush to the database. Counts that cannot be written
    /// are put back, to go with the next flush.
    pub async fn flush(&self, store: &Store) -> StoreResult<usize> {
        let now = Utc::now().timestamp();
        let rows = self.take(now);
        if rows.is_empty() {
            return Ok(0);
        }
        let written = rows.clone();
        let result = store
            .write(move |conn| {
                rows::add_to_rollup(conn, &written)?;
                rows::purge_rollup(conn, (now / 60) * 60 - KEEP_SECS)?;
                Ok(())
            })
            .await;
        match result {
            Ok(()) => Ok(rows.len()),
            Err(e) => {
                for row in &rows {
                    let cell =
                        index(&RESULTS, &row.result) * REASONS.len() + index(&REASONS, &row.reason);
                    // Into the slot of the current minute: a late count lands a minute late
                    // rather than not at all.
                    let slot = ((now / 60) % 2) as usize;
                    self.slots[slot][cell].fetch_add(row.count as u64, Ordering::Relaxed);
                }
                Err(e)
            }
        }
    }
}

/// Flushes the rollup every [`FLUSH_EVERY`] until aborted.
pub async fn run(rollup: std::sync::Arc<DecisionRollup>, store: Store) {
    let mut ticks = tokio::time::interval(FLUSH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = false;
    loop {
        ticks.tick().await;
        match rollup.flush(&store).await {
            Ok(_) if failing => {
                tracing::info!("decision rollup written again");
                failing = false;
            }
            Ok(_) => {}
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot write the decision rollup; its counts are kept for the next try");
                    failing = true;
                }
            }
        }
    }
}

/// Decisions per minute of the window the dashboard shows.
pub struct RollupView {
    /// Rows from `since` on (Unix seconds, a minute's start).
    pub since: i64,
    pub rows: Vec<RollupRow>,
}

/// The rollup of the last `minutes` minutes (this one included).
pub async fn recent(store: &Store, minutes: i64) -> StoreResult<RollupView> {
    let since = (Utc::now().timestamp() / 60 - minutes + 1) * 60;
    let rows = store
        .read(move |conn| rows::rollup_since(conn, since))
        .await?;
    Ok(RollupView { since, rows })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_go_to_the_minute_they_were_made_in() {
        let rollup = DecisionRollup::default();
        let minute = 29_000_000 * 60;
        rollup.count(minute + 59, "ALLOWED", "allowed");
        rollup.count(minute + 60, "ALLOWED", "allowed");
        rollup.count(minute + 61, "BLOCKED", "admin_block");
        rollup.count(minute + 61, "SOMETHING_NEW", "nonsense");
        let mut rows = rollup.take(minute + 65);
        rows.sort_by(|a, b| (a.minute, &a.result).cmp(&(b.minute, &b.result)));
        let seen: Vec<(i64, &str, &str, i64)> = rows
            .iter()
            .map(|r| (r.minute, r.result.as_str(), r.reason.as_str(), r.count))
            .collect();
        assert_eq!(
            seen,
            vec![
                (minute, "ALLOWED", "allowed", 1),
                (minute + 60, "ALLOWED", "allowed", 1),
                (minute + 60, "BLOCKED", "admin_block", 1),
                (minute + 60, "OTHER", "other", 1),
            ]
        );
        assert!(rollup.take(minute + 70).is_empty(), "taken once");
    }
}
