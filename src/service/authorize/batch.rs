//! PostgreSQL decisions in batches: the optimistic jobs that arrive together are read in one
//! statement and written in one statement (one transaction, one WAL flush), instead of three
//! round trips and a commit each.
//!
//! Why: measured at 100k tokens on 2 cores (BENCHMARKS.md, issue 14 part 3), PostgreSQL spent
//! ~540 µs of CPU per decision, and most of it went to statements and round trips as such (the
//! kernel's TCP path and wake-ups, executor start-up, PL/pgSQL functions), not to the reads and
//! writes. A batch pays those once for all its decisions.
//!
//! What stays the same (docs/design.md §4 "Atomicity"): each decision is the pure
//! [`registry::route`](crate::registry::route) on inputs read without a lock, and its hold is
//! written only if the guard (`store::decision_pg`) finds the token and its uses unchanged once
//! it holds the token's row lock; a job whose guard failed decides again, like a lost race
//! outside a batch. Two decisions on one token in one batch: the second one's guard sees the
//! first one's hold (same transaction, a later statement), so it decides again. The batch's holds
//! are written in token order, so two batches (of one instance or of two) lock tokens in one
//! order. The answers leave after the batch's commit: every ALLOWED is durable first.

use std::sync::Arc;

use chrono::Utc;
use tokio::sync::oneshot;

use super::{run, Asked, AuthorizeRequest, Mode, Step, Writes};
use crate::config::AuthorizationSettings;
use crate::service::batch_queue::BatchQueue;
use crate::store::decision_pg::{write_many, PendingWrite};
use crate::store::{usage, Conn, Store, StoreError, StoreResult};

/// How many threads take batches. Two: while one waits for its commit's WAL flush, the other
/// reads and decides the next batch (three measured the same: 6.1-6.7k against 5.9-7.2k
/// decisions a second, three alternating rounds at 100k tokens on 2 cores).
const THREADS: usize = 2;
/// The most jobs one batch takes (its JSON stays well under a megabyte).
const MAX_BATCH: usize = 256;

struct Job {
    work: Work,
    reply: oneshot::Sender<StoreResult<Step>>,
}

/// The threads that run PostgreSQL decisions in batches. They stop when this is dropped.
pub struct DecisionBatches {
    queue: BatchQueue<Job>,
}

impl DecisionBatches {
    pub fn start(store: Store) -> Self {
        let queue = BatchQueue::start("decision-batch", THREADS, MAX_BATCH, move |jobs| {
            serve(&store, jobs)
        });
        DecisionBatches { queue }
    }

    /// One optimistic job of the authorize flow, in the next batch: what [`run`] returns, and
    /// [`Step::Conflict`] when its guard failed.
    pub(super) async fn decide(
        &self,
        request: AuthorizeRequest,
        settings: AuthorizationSettings,
        fresh_reference: String,
        asked: Option<Arc<Asked>>,
    ) -> StoreResult<Step> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .push(Job {
                work: (request, settings, fresh_reference, asked),
                reply,
            })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Query("the decision batch threads stopped".into())
}

fn serve(store: &Store, jobs: Vec<Job>) {
    let (work, replies): (Vec<_>, Vec<_>) = jobs.into_iter().map(|j| (j.work, j.reply)).unzip();
    match store.autocommit_blocking(|conn| decide_batch(conn, work)) {
        Ok(answers) => {
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
        }
        // No connection, or it was lost: every job of the batch gets the error (503).
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

type Work = (
    AuthorizeRequest,
    AuthorizationSettings,
    String,
    Option<Arc<Asked>>,
);

/// Reads, decides and writes one batch on one connection; one answer per job, in order. `Err`:
/// the batch could not be read or written at all (the connection is gone).
fn decide_batch(conn: &mut Conn<'_>, work: Vec<Work>) -> StoreResult<Vec<StoreResult<Step>>> {
    let now = Utc::now();
    let keys: Vec<(&str, &str)> = work
        .iter()
        .map(|(request, ..)| (request.uid.key(), request.token_type.as_str()))
        .collect();
    let mut read = usage::candidates_many(conn, &keys, now)?
        .into_iter()
        .map(Some)
        .collect::<Vec<_>>();
    let mut steps: Vec<StoreResult<Step>> = Vec::with_capacity(work.len());
    let mut writes: Vec<(usize, PendingWrite, AuthorizeRequest)> = Vec::new();
    for (at, (request, settings, reference, asked)) in work.into_iter().enumerate() {
        let mut kept = None;
        // Kept for a failed guard: the job decides again with this request.
        let again = request.clone();
        let step = run(
            conn,
            &mut Writes::Batched(&mut kept),
            read.get_mut(at).and_then(Option::take),
            request,
            &settings,
            now,
            reference,
            asked.as_deref(),
            Mode::Optimistic,
        );
        if let (Ok(_), Some(write)) = (&step, kept) {
            writes.push((at, write, again));
        }
        steps.push(step);
    }
    if writes.is_empty() {
        return Ok(steps);
    }
    // Holds in token order (audit entries lock nothing).
    writes.sort_by_key(|(at, write, _)| (write.locked_token(), *at));
    let (jobs, pending): (Vec<_>, Vec<_>) = writes
        .into_iter()
        .map(|(at, write, again)| ((at, again), write))
        .unzip();
    let done = match write_many(conn, &pending) {
        Ok(done) => done,
        Err(e @ StoreError::Unavailable(_)) => return Err(e),
        // One bad write fails only its own request: each is written alone.
        Err(e) => {
            tracing::warn!(error = %e, writes = pending.len(), "a decision batch failed; writing each alone");
            let mut done = Vec::with_capacity(pending.len());
            for (write, (at, _)) in pending.iter().zip(&jobs) {
                match write.write_alone(conn) {
                    Ok(written) => done.push(written),
                    Err(e) => {
                        steps[*at] = Err(e);
                        done.push(true);
                    }
                }
            }
            done
        }
    };
    for ((at, again), written) in jobs.into_iter().zip(done) {
        if !written {
            steps[at] = Ok(Step::Conflict(Box::new(again)));
        }
    }
    Ok(steps)
}
