//! PostgreSQL token PUTs in batches: the PUTs that arrive together are written in one
//! transaction by the import's batch path (`token_import::apply_batch`: one read of the stored
//! rows, one multi-row insert of the new tokens, a replacement per changed token, one upsert of
//! the pushes), instead of five statements and a commit each.
//!
//! Why: each statement is a round trip, and on PostgreSQL the round trips and commits, not the
//! rows, were most of a PUT's cost (BENCHMARKS.md, issue 14 part 3). SQLite's writer already
//! shares one commit among concurrent writes.
//!
//! A PUT's answer is the one it would have had alone: created, replaced, or stale. One
//! difference: a PUT of exactly what is stored (same document, same `last_updated`) is answered
//! as replaced without rewriting the row or pushing the token again, as an import line is.
//! The batch is sorted by key (stably: two PUTs of one key keep their order), so two batches
//! insert and lock their keys in one order. If the batch fails, each PUT is written alone, so a
//! bad one fails only its own request; that includes the rare deadlock with a decision batch,
//! which locks its tokens in id order (PostgreSQL breaks it after `deadlock_timeout`, 1 s, well
//! inside the hub's `lock_timeout` of 5 s).

use chrono::Utc;
use tokio::sync::oneshot;

use super::put_one;
use crate::domain::token::TokenWrite;
use crate::service::batch_queue::BatchQueue;
use crate::service::token_import::{apply_batch, Outcome};
use crate::store::tokens::PutOutcome;
use crate::store::{Store, StoreError, StoreResult};

/// Two threads: while one waits for its commit, the other gathers and writes the next batch.
const THREADS: usize = 2;
/// The import's batch size.
const MAX_BATCH: usize = 500;

struct Job {
    write: TokenWrite,
    reply: oneshot::Sender<StoreResult<PutOutcome>>,
}

/// The threads that write PostgreSQL token PUTs in batches. They stop when this is dropped.
pub struct PutBatches {
    queue: BatchQueue<Job>,
}

impl PutBatches {
    pub fn start(store: Store) -> Self {
        let queue = BatchQueue::start("token-put-batch", THREADS, MAX_BATCH, move |jobs| {
            serve(&store, jobs)
        });
        PutBatches { queue }
    }

    /// Writes `write` with the next batch; durable when this returns `Ok`.
    pub(super) async fn put(&self, write: TokenWrite) -> StoreResult<PutOutcome> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .push(Job { write, reply })
            .map_err(|_| stopped())?;
        answer.await.map_err(|_| stopped())?
    }
}

fn stopped() -> StoreError {
    StoreError::Query("the token PUT batch threads stopped".into())
}

fn serve(store: &Store, mut jobs: Vec<Job>) {
    jobs.sort_by(|a, b| sort_key(&a.write).cmp(&sort_key(&b.write)));
    let (writes, replies): (Vec<(u64, TokenWrite)>, Vec<_>) = jobs
        .into_iter()
        .enumerate()
        .map(|(at, job)| ((at as u64, job.write), job.reply))
        .unzip();
    match store.write_blocking(|conn| apply_batch(conn, &writes, false)) {
        Ok(outcomes) => {
            for ((_, outcome), reply) in outcomes.into_iter().zip(replies) {
                let _ = reply.send(Ok(match outcome {
                    Outcome::Created => PutOutcome::Created,
                    Outcome::Replaced | Outcome::Unchanged => PutOutcome::Replaced,
                    Outcome::Stale => PutOutcome::Stale,
                }));
            }
        }
        // No connection, or it was lost: every PUT of the batch gets the error (503).
        Err(e @ StoreError::Unavailable(_)) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, puts = writes.len(), "a token PUT batch failed; writing each alone");
            for ((_, write), reply) in writes.iter().zip(replies) {
                let _ = reply.send(store.write_blocking(|conn| put_one(conn, write, Utc::now())));
            }
        }
    }
}

/// The stored key's order: what the unique index compares.
fn sort_key(write: &TokenWrite) -> (&str, &str, &str, &str) {
    (
        write.key.uid.key(),
        write.key.token_type.as_str(),
        write.key.owner.country_code.key(),
        write.key.owner.party_id.key(),
    )
}
