//! The single SQLite writer. SQLite allows one writer at a time; funnelling every write through one
//! thread avoids lock contention, and committing the jobs that queued up meanwhile in one
//! transaction (group commit) shares one fsync among them. Each job runs in its own savepoint, so
//! a job that fails undoes only itself.
//!
//! Durability is pipelined: the writer commits with `synchronous = NORMAL` (the WAL frames are
//! written, not yet flushed) and goes on with the next batch, while a syncer thread fsyncs the WAL
//! and only then releases the answers of the batches it covered. No answer leaves before its
//! writes are on disk; the fsync (~0.7 ms here) no longer stalls the writer. Measured on the
//! 2-core machine: commit-then-fsync in the writer spent 0.7 ms per batch of ~16 jobs waiting.
//! Checkpoints are shared between a background thread and the writer (see `checkpoint_loop`).

use std::fs::File;
use std::panic::{self, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::sqlite::SqliteConnection;
use diesel::Connection;
use tokio::sync::oneshot;

use super::{Conn, StoreError, StoreResult};

/// How many queued jobs share one commit at most; bounds the latency a batch adds.
const MAX_BATCH: usize = 256;

/// The writer's own settings (see the module comment and `SqliteWriter::spawn`).
/// `journal_size_limit` gives the disk back after a burst: a WAL that restarts is cut to 64 MiB.
///
/// The writer keeps the readers' 4 MiB page cache on purpose: a B-tree page split parks a page
/// under the lock-byte page number (262145 with 4 KiB pages), and the commit after it then scans
/// the whole page-cache hash table to drop it. With 16 MiB that scan was ~4% of the writer's time
/// (seen with perf, cause found with gdb); 64 MiB cost 10% of authorize throughput, 4 MiB gained 3%.
const WRITER_PRAGMAS: &str = "PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 0; \
     PRAGMA journal_size_limit = 67108864;";

/// How often the checkpointer copies committed WAL frames into the database file.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(250);

type Completion = Box<dyn FnOnce(StoreResult<()>) + Send>;
type Job = Box<dyn FnOnce(&mut SqliteConnection) -> Completion + Send>;

/// A committed batch whose answers wait for the WAL to reach the disk.
struct Committed {
    completions: Vec<Completion>,
}

#[derive(Clone)]
pub struct SqliteWriter {
    queue: mpsc::Sender<Job>,
    /// Dropping the last clone stops the checkpointer.
    _checkpointer: mpsc::Sender<()>,
}

impl SqliteWriter {
    /// `conn` becomes the only writer of the database at `path`; `checkpoint_conn` serves the
    /// background checkpointer.
    pub fn spawn(
        mut conn: SqliteConnection,
        checkpoint_conn: SqliteConnection,
        path: &str,
    ) -> StoreResult<Self> {
        conn.batch_execute(WRITER_PRAGMAS)?;
        let wal = PathBuf::from(format!("{path}-wal"));
        let (queue, jobs) = mpsc::channel::<Job>();
        let (to_sync, committed) = mpsc::channel::<Committed>();
        let (stop, stopped) = mpsc::channel::<()>();
        let catch_up = Arc::new(AtomicBool::new(false));
        let requested = Arc::clone(&catch_up);
        spawn_named("sqlite-writer", move || run(conn, jobs, to_sync, catch_up))?;
        spawn_named("sqlite-sync", move || sync_loop(wal, committed))?;
        spawn_named("sqlite-checkpoint", move || {
            checkpoint_loop(checkpoint_conn, stopped, requested)
        })?;
        Ok(Self {
            queue,
            _checkpointer: stop,
        })
    }

    pub async fn submit<R, F>(&self, job: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> StoreResult<R> + Send + 'static,
    {
        self.submit_releasing(job, |_| false).await
    }

    /// As [`SqliteWriter::submit`], but an outcome for which `wrote_nothing` is true is answered
    /// as soon as the job has run, without waiting for the batch's commit and fsync: there is
    /// nothing of its own to make durable. What it read may still be lost with that batch, so
    /// only a caller that reads it again before acting on it durably may use this (the first
    /// job of a forwarded authorization: the second job loads the token again).
    pub async fn submit_releasing<R, F>(
        &self,
        job: F,
        wrote_nothing: fn(&R) -> bool,
    ) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> StoreResult<R> + Send + 'static,
    {
        let (reply, answer) = oneshot::channel::<StoreResult<R>>();
        let boxed: Job = Box::new(move |conn: &mut SqliteConnection| {
            // A job that panics would take the writer thread, and so every later write, with it:
            // it fails alone instead, its savepoint rolled back like any failing job's.
            let outcome = conn.transaction(|c| {
                panic::catch_unwind(AssertUnwindSafe(|| job(&mut Conn::Sqlite(c))))
                    .unwrap_or_else(|payload| Err(panicked(payload.as_ref())))
            });
            if outcome.as_ref().is_ok_and(wrote_nothing) {
                let _ = reply.send(outcome);
                return Box::new(|_: StoreResult<()>| {});
            }
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

    /// Readiness of the writer: an empty job goes through the queue, a commit and the syncer, so a
    /// writer or syncer that has died (or hangs) fails it.
    pub async fn ping(&self, timeout: Duration) -> StoreResult<()> {
        match tokio::time::timeout(timeout, self.submit(|_| Ok(()))).await {
            Ok(answer) => answer,
            Err(_) => Err(StoreError::Unavailable(format!(
                "the SQLite writer did not answer within {timeout:?}"
            ))),
        }
    }

    /// Kills the writer thread, as a panic outside any job would.
    #[cfg(test)]
    pub(crate) fn kill(&self) {
        let _ = self.queue.send(Box::new(|_| {
            panic!("the SQLite writer is killed by a test")
        }));
    }
}

fn panicked(payload: &(dyn std::any::Any + Send)) -> StoreError {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    StoreError::Query(format!("a write job panicked: {what}"))
}

/// Says so when the writer thread ends by a panic: from then on every write answers 503 and
/// `/readyz` reports the hub not ready.
struct WriterAlive;

impl Drop for WriterAlive {
    fn drop(&mut self) {
        if thread::panicking() {
            tracing::error!(
                "the SQLite writer has stopped after a panic; writes fail until restart"
            );
        }
    }
}

fn spawn_named(name: &str, body: impl FnOnce() + Send + 'static) -> StoreResult<()> {
    thread::Builder::new()
        .name(name.into())
        .spawn(body)
        .map(|_| ())
        .map_err(|e| StoreError::Query(format!("cannot start thread {name}: {e}")))
}

fn run(
    mut conn: SqliteConnection,
    jobs: mpsc::Receiver<Job>,
    to_sync: mpsc::Sender<Committed>,
    catch_up: Arc<AtomicBool>,
) {
    let _alive = WriterAlive;
    let mut uncheckpointed = false;
    loop {
        let first = match jobs.recv_timeout(CHECKPOINT_EVERY) {
            Ok(job) => job,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                if uncheckpointed && checkpoint(&mut conn, "PASSIVE") {
                    uncheckpointed = false;
                }
                continue;
            }
            // Every sender is gone: the hub is shutting down and the queue is drained.
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
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
        match committed {
            Ok(()) => {
                uncheckpointed = true;
                if let Err(mpsc::SendError(lost)) = to_sync.send(Committed { completions }) {
                    finish(lost.completions, Err(syncer_gone()));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, jobs = completions.len(), "SQLite group commit failed");
                finish(completions, Err(StoreError::from(e)));
            }
        }
        if catch_up.load(Ordering::Acquire) && checkpoint(&mut conn, "PASSIVE") {
            catch_up.store(false, Ordering::Release);
            uncheckpointed = false;
        }
    }
    checkpoint(&mut conn, "TRUNCATE");
}

/// Checkpoints come in two steps, because SQLite starts the WAL over (and so stops it growing)
/// only after a checkpoint has copied every frame, and a checkpointer beside a busy writer never
/// does: the WAL grew by ~150 MB/s under the authorize benchmark that way. Copying in the writer
/// alone stalled it too long (up to 27 ms every 250 ms, growing with the database, since every
/// decision dirties random index pages). So the checkpointer thread copies the bulk and flushes
/// the database file without blocking anyone, then asks the writer to catch up between two
/// batches: it copies the few frames committed meanwhile, and its next batch starts the WAL over.
fn checkpoint_loop(
    mut conn: SqliteConnection,
    stop: mpsc::Receiver<()>,
    catch_up: Arc<AtomicBool>,
) {
    if let Err(e) = conn.batch_execute("PRAGMA synchronous = NORMAL;") {
        tracing::warn!(error = %e, "SQLite checkpointer setup failed");
    }
    while let Err(mpsc::RecvTimeoutError::Timeout) = stop.recv_timeout(CHECKPOINT_EVERY) {
        if checkpoint(&mut conn, "PASSIVE") {
            catch_up.store(true, Ordering::Release);
        }
    }
}

/// Copies committed WAL frames into the database file; false on an error (logged). One that
/// finds the other checkpoint running copies nothing and still returns true: the next round
/// catches up. With `synchronous = NORMAL` a checkpoint flushes the WAL before copying and the
/// database file after, so nothing is lost when the WAL starts over.
fn checkpoint(conn: &mut SqliteConnection, mode: &str) -> bool {
    match conn.batch_execute(&format!("PRAGMA wal_checkpoint({mode});")) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "SQLite checkpoint failed; retrying later");
            false
        }
    }
}

fn syncer_gone() -> StoreError {
    StoreError::Unavailable("the SQLite syncer has stopped".into())
}

fn finish(completions: Vec<Completion>, result: StoreResult<()>) {
    for complete in completions {
        complete(result.clone());
    }
}

/// Flushes the WAL once for every batch committed since the last flush, then answers them.
fn sync_loop(wal: PathBuf, committed: mpsc::Receiver<Committed>) {
    while let Ok(first) = committed.recv() {
        let mut ready = vec![first];
        while let Ok(more) = committed.try_recv() {
            ready.push(more);
        }
        // fsync applies to the file, whichever descriptor wrote it.
        let flushed = File::open(&wal).and_then(|f| f.sync_data()).map_err(|e| {
            tracing::error!(error = %e, "cannot flush the SQLite WAL");
            StoreError::Unavailable(format!("cannot flush the write-ahead log: {e}"))
        });
        for batch in ready {
            finish(batch.completions, flushed.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use crate::store::audit::{self, AuditEntry};
    use crate::store::{Store, StoreSettings};

    /// The WAL header's checkpoint sequence number (bytes 12..16, big-endian) counts how often
    /// SQLite has started the WAL over.
    fn wal_restarts(wal: &std::path::Path) -> u32 {
        let header = std::fs::read(wal).expect("the WAL exists");
        u32::from_be_bytes(header[12..16].try_into().expect("a WAL header"))
    }

    fn entry(n: usize) -> AuditEntry {
        AuditEntry {
            decided_at: chrono::Utc::now().naive_utc(),
            token_id: None,
            token_country_code: None,
            token_party_id: None,
            token_uid: format!("UID{n}"),
            token_type: "RFID".into(),
            requester_country_code: "DE".into(),
            requester_party_id: "CPO".into(),
            location_id: None,
            evse_uids: None,
            result: crate::domain::authorization::AuditResult::Unknown,
            reason: crate::domain::authorization::Reason::UnknownToken,
            authorization_reference: None,
            request_id: None,
            forwarded_to: None,
            forward_ms: None,
            forward_outcome: None,
        }
    }

    /// A writer thread that has died (here: killed outside any job) answers every write with 503;
    /// readiness (what `/readyz` asks) must say so, or the load balancer keeps sending writes to
    /// this instance.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_writer_makes_the_store_unready() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let store = Store::open(&StoreSettings::for_url(
            format!("sqlite://{}", dir.path().join("hub.db").display()),
            2,
            Duration::from_secs(5),
        ))
        .await
        .expect("the store opens");
        assert!(store.check_ready().await.is_ok());
        store.kill_sqlite_writer();
        let ready = store.check_ready().await;
        assert!(
            matches!(ready, Err(crate::store::StoreError::Unavailable(_))),
            "{ready:?}"
        );
        let write = store.write(|c| audit::record(c, &entry(1))).await;
        assert!(
            matches!(write, Err(crate::store::StoreError::Unavailable(_))),
            "{write:?}"
        );
    }

    /// Under writes that never pause, the WAL must still start over, or it grows without bound
    /// (it did, by ~150 MB/s, while a separate thread ran the checkpoints).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_wal_starts_over_while_writes_never_pause() {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let db = dir.path().join("hub.db");
        let store = Store::open(&StoreSettings::for_url(
            format!("sqlite://{}", db.display()),
            2,
            Duration::from_secs(5),
        ))
        .await
        .expect("the store opens");
        let wal = dir.path().join("hub.db-wal");
        store
            .write(|c| audit::record(c, &entry(0)))
            .await
            .expect("a first write");
        let before = wal_restarts(&wal);

        // 32 writers keep the queue from ever running dry; bounded by time and by count.
        let deadline = Instant::now() + Duration::from_millis(1500);
        let writers: Vec<_> = (0..32)
            .map(|w| {
                let store = store.clone();
                tokio::spawn(async move {
                    let mut written = 0usize;
                    while Instant::now() < deadline && written < 20_000 {
                        let e = entry(w * 100_000 + written);
                        store.write(move |c| audit::record(c, &e)).await?;
                        written += 1;
                    }
                    Ok::<usize, crate::store::StoreError>(written)
                })
            })
            .collect();
        let mut written = 0;
        for writer in writers {
            written += writer
                .await
                .expect("the writer task")
                .expect("writes succeed");
        }
        let restarts = wal_restarts(&wal).wrapping_sub(before);
        assert!(
            restarts >= 3,
            "the WAL started over {restarts} times in 1.5 s of {written} writes; \
             expected one per checkpoint interval"
        );
    }
}
