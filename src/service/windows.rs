//! The hub validity-window scheduler (docs/design.md §6 "Push"): at the instant a token's
//! `valid_from` or `valid_until` passes, its effective token changes (`valid`, `last_updated`), so
//! `effective_updated` moves to that instant (incremental pulls see it) and the change is pushed.
//!
//! The progress (up to which instant edges were processed) is a counter row, locked for the
//! round's transaction: instances sharing a PostgreSQL database process each instant once, one
//! after the other, and a hub that was down catches up on its first round. A round wakes at the
//! next edge, and at least every `push.window_check_secs` (a policy set meanwhile may add an
//! earlier edge).

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;

use crate::store::outbox;
use crate::store::StoreResult;

use super::AppState;

/// Runs rounds until the task is aborted (with the server).
pub async fn run(state: Arc<AppState>, check_at_least_every: Duration) {
    loop {
        let wait = match round(&state).await {
            Ok(Some(next)) => (next - Utc::now())
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(check_at_least_every),
            Ok(None) => check_at_least_every,
            Err(e) => {
                tracing::warn!(error = %e, "validity-window round failed; retrying");
                check_at_least_every
            }
        };
        // A few milliseconds past the edge: the edge itself must be `<= now` when the round runs.
        tokio::time::sleep(wait + Duration::from_millis(5)).await;
    }
}

/// Processes the edges passed since the last round; returns the next edge to come, if any.
pub async fn round(state: &AppState) -> StoreResult<Option<chrono::DateTime<Utc>>> {
    let (changed, next) = state
        .store
        .write(|conn| {
            let now = Utc::now();
            let after = outbox::lock_window_state(conn, now)?;
            let changed = if after < now {
                let changed = outbox::process_window_edges(conn, after, now)?;
                outbox::set_window_state(conn, now)?;
                changed
            } else {
                0
            };
            Ok((changed, outbox::next_window_edge(conn, now)?))
        })
        .await?;
    if changed > 0 {
        tracing::debug!(tokens = changed, "validity windows opened or closed");
    }
    Ok(next)
}
