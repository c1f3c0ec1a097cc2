//! The single SQLite writer. SQLite allows one writer at a time; funnelling every write through one
//! thread avoids lock contention, and committing the jobs that queued up meanwhile in one
//! transaction (group commit) shares one fsync among them. Each job runs in its own savepoint, so
//! a job that fails undoes only itself; results are released only after the commit is durable.

use std::sync::mpsc;
use std::thread;

use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use tokio::sync::oneshot;

use super::{Conn, StoreError, StoreResult};

/// How many queued jobs share one commit at most; bounds the latency a batch adds.
const MAX_BATCH: usize = 256;

type Completion = Box<dyn FnOnce(StoreResult<()>) + Send>;
type Job = Box<dyn FnOnce(&mut SqliteConnection) -> Completion + Send>;

#[derive(Clone)]
pub struct SqliteWriter {
    queue: mpsc::Sender<Job>,
}

impl SqliteWriter {
    pub fn spawn(conn: SqliteConnection) -> Self {
        let (queue, jobs) = mpsc::channel::<Job>();
        thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(conn, jobs))
            .expect("spawn the SQLite writer thread");
        Self { queue }
    }

    pub async fn submit<R, F>(&self, job: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> StoreResult<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<StoreResult<R>>();
        let boxed: Job = Box::new(move |conn: &mut SqliteConnection| {
            let outcome = conn.transaction(|c| job(&mut Conn::Sqlite(c)));
            Box::new(move |committed: StoreResult<()>| {
                let _ = reply.send(committed.and(outcome));
            })
        });
        self.queue
            .send(boxed)
            .map_err(|_| StoreError::Unavailable("the SQLite writer has stopped".into()))?;
        answer
            .await
            .map_err(|_| StoreError::Unavailable("the SQLite writer dropped the request".into()))?
    }
}

fn run(mut conn: SqliteConnection, jobs: mpsc::Receiver<Job>) {
    // Ends when every sender is gone (the hub is shutting down), after the queue is drained.
    while let Ok(first) = jobs.recv() {
        let mut batch = Vec::with_capacity(16);
        batch.push(first);
        while batch.len() < MAX_BATCH {
            match jobs.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut completions = Vec::with_capacity(batch.len());
        let committed = conn.immediate_transaction::<_, diesel::result::Error, _>(|c| {
            for job in batch.drain(..) {
                completions.push(job(c));
            }
            Ok(())
        });
        let committed = committed.map_err(|e| {
            tracing::error!(error = %e, jobs = completions.len(), "SQLite group commit failed");
            StoreError::from(e)
        });
        for complete in completions {
            complete(committed.clone());
        }
    }
}
