//! What the console's dashboard shows: decisions per minute by result (last hour, last day) and
//! the top refusal reasons, both from the rollup; the outbox depth per partner.

use std::collections::BTreeMap;

use super::rollup;
use crate::store::outbox::{self, Backlog};
use crate::store::{Store, StoreResult};

/// Decisions by result in consecutive buckets of `bucket_secs`, the first starting at `since`.
#[derive(Debug, Clone)]
pub struct Series {
    pub since: i64,
    pub bucket_secs: i64,
    /// Result → one count per bucket.
    pub by_result: BTreeMap<String, Vec<i64>>,
    pub total: i64,
}

impl Series {
    pub fn new(since: i64, bucket_secs: i64) -> Self {
        Series {
            since,
            bucket_secs,
            by_result: BTreeMap::new(),
            total: 0,
        }
    }

    fn add(&mut self, buckets: usize, minute: i64, result: &str, count: i64) {
        let at = (minute - self.since) / self.bucket_secs;
        if !(0..buckets as i64).contains(&at) {
            return;
        }
        let counts = self
            .by_result
            .entry(result.to_owned())
            .or_insert_with(|| vec![0; buckets]);
        counts[at as usize] += count;
        self.total += count;
    }
}

pub struct Dashboard {
    /// The last hour, one bucket a minute.
    pub hour: Series,
    /// The last day, one bucket per 15 minutes.
    pub day: Series,
    /// Refusals of the last day by (result, reason), most first.
    pub top_refusals: Vec<(String, String, i64)>,
    pub backlog: Vec<Backlog>,
}

pub const HOUR_BUCKETS: usize = 60;
pub const DAY_BUCKETS: usize = 96;
const DAY_BUCKET_SECS: i64 = 900;

pub async fn dashboard(store: &Store) -> StoreResult<Dashboard> {
    let view = rollup::recent(store, 24 * 60).await?;
    let now_minute = (chrono::Utc::now().timestamp() / 60) * 60;
    let mut hour = Series::new(now_minute - 59 * 60, 60);
    // The day's buckets end with the current quarter hour.
    let quarter_end = (now_minute / DAY_BUCKET_SECS + 1) * DAY_BUCKET_SECS;
    let mut day = Series::new(
        quarter_end - DAY_BUCKETS as i64 * DAY_BUCKET_SECS,
        DAY_BUCKET_SECS,
    );
    let mut refusals: BTreeMap<(String, String), i64> = BTreeMap::new();
    for row in &view.rows {
        hour.add(HOUR_BUCKETS, row.minute, &row.result, row.count);
        day.add(DAY_BUCKETS, row.minute, &row.result, row.count);
        if row.result != "ALLOWED" {
            *refusals
                .entry((row.result.clone(), row.reason.clone()))
                .or_default() += row.count;
        }
    }
    let mut top_refusals: Vec<(String, String, i64)> = refusals
        .into_iter()
        .map(|((result, reason), count)| (result, reason, count))
        .collect();
    top_refusals.sort_by(|a, b| b.2.cmp(&a.2).then_with(|| a.1.cmp(&b.1)));
    top_refusals.truncate(8);
    let backlog = store.read(outbox::backlog).await?;
    Ok(Dashboard {
        hour,
        day,
        top_refusals,
        backlog,
    })
}
