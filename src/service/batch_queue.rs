//! A queue served in batches by threads of their own: each thread waits for one job, takes
//! whatever else is queued at that moment (up to a maximum), and serves them together. Used on
//! PostgreSQL, where a statement and its round trip cost more than the work in it
//! (`authorize::batch`, `tokens::batch`).

use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::sync::{Arc, Mutex};

pub struct BatchQueue<J> {
    queue: Sender<J>,
}

impl<J: Send + 'static> BatchQueue<J> {
    /// Starts `threads` threads named `name-N`, each calling `serve` with batches of at most
    /// `max` jobs. They stop once this queue is dropped and the jobs queued are served.
    pub fn start<F>(name: &str, threads: usize, max: usize, serve: F) -> Self
    where
        F: Fn(Vec<J>) + Send + Sync + 'static,
    {
        let (queue, jobs) = mpsc::channel::<J>();
        let jobs = Arc::new(Mutex::new(jobs));
        let serve = Arc::new(serve);
        for n in 0..threads {
            let jobs = Arc::clone(&jobs);
            let serve = Arc::clone(&serve);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || {
                    while let Some(batch) = next_batch(&jobs, max) {
                        serve(batch);
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, name, "could not start a batch thread");
            }
        }
        BatchQueue { queue }
    }

    /// Queues `job`; `Err` gives it back when no thread serves the queue any more.
    pub fn push(&self, job: J) -> Result<(), J> {
        self.queue.send(job).map_err(|e| e.0)
    }
}

/// Waits for one job, then takes whatever else is queued, up to `max`; `None` once the queue is
/// closed. One thread at a time gathers (the lock), the others serve what they gathered.
fn next_batch<J>(jobs: &Mutex<Receiver<J>>, max: usize) -> Option<Vec<J>> {
    let jobs = jobs.lock().ok()?;
    let first = jobs.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < max.max(1) {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::time::Duration;

    #[test]
    fn every_job_is_served_once_in_batches_of_at_most_max() {
        let (seen, served) = channel::<Vec<u32>>();
        let seen = Mutex::new(seen);
        let queue = BatchQueue::start("test-batch", 2, 4, move |batch: Vec<u32>| {
            // Slow enough that jobs pile up behind a batch.
            std::thread::sleep(Duration::from_millis(5));
            seen.lock().unwrap().send(batch).unwrap();
        });
        for job in 0..40 {
            queue.push(job).unwrap();
        }
        drop(queue);
        let mut all = Vec::new();
        let mut largest = 0;
        while let Ok(batch) = served.recv_timeout(Duration::from_secs(5)) {
            largest = largest.max(batch.len());
            all.extend(batch);
            if all.len() == 40 {
                break;
            }
        }
        all.sort_unstable();
        assert_eq!(all, (0..40).collect::<Vec<_>>());
        assert!(largest <= 4, "a batch of {largest}");
        assert!(
            largest > 1,
            "jobs queued behind a batch are served together"
        );
    }
}
