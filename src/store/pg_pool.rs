//! The PostgreSQL connection pool's manager. Connections are not pinged on every checkout (a
//! round trip per request); instead a connection whose query failed for lack of a server is
//! marked lost and r2d2 replaces it, so the hub recovers by itself when the database is back.

use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{Error, R2D2Connection};
use diesel::Connection;

use super::StoreError;

/// Initializes OpenSSL without its `atexit` clean-up. libpq (built with OpenSSL) otherwise lets
/// OpenSSL register one, and a process that exits while a pool thread is still connecting
/// crashes inside it: `tokenhub party add` on PostgreSQL died with SIGSEGV in 9 of 150 runs.
/// Call it before the first PostgreSQL connection of a process; later calls do nothing.
pub fn init_tls() {
    openssl_sys::init();
}

pub struct PgConn {
    conn: PgConnection,
    lost: bool,
}

impl PgConn {
    pub fn mark_lost(&mut self) {
        self.lost = true;
    }
}

impl Deref for PgConn {
    type Target = PgConnection;
    fn deref(&self) -> &PgConnection {
        &self.conn
    }
}

impl DerefMut for PgConn {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.conn
    }
}

pub struct PgManager {
    url: String,
    session_settings: String,
}

impl PgManager {
    pub fn new(url: &str, statement_timeout: Duration, lock_timeout: Duration) -> Self {
        Self {
            url: url.to_owned(),
            session_settings: format!(
                "SET statement_timeout = {}; SET lock_timeout = {}; \
                 SET idle_in_transaction_session_timeout = '60s';",
                statement_timeout.as_millis().max(1),
                lock_timeout.as_millis().max(1),
            ),
        }
    }
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = Error;

    fn connect(&self) -> Result<PgConn, Error> {
        let mut conn = PgConnection::establish(&self.url).map_err(Error::ConnectionError)?;
        // Bounded waits: a stuck query or a long-held token lock fails the request (503) instead
        // of holding a pooled connection and a client forever.
        conn.batch_execute(&self.session_settings)
            .map_err(Error::QueryError)?;
        // A cancelled statement (a timeout) is recognized by its message (`StoreError`'s
        // mapping), so ask for untranslated messages. Only superusers, or users granted SET on
        // lc_messages, may: for the others the server's own language stays, quietly.
        let _ = conn.batch_execute(
            "DO $$ BEGIN SET lc_messages = 'C'; \
             EXCEPTION WHEN insufficient_privilege THEN NULL; END $$;",
        );
        Ok(PgConn { conn, lost: false })
    }

    fn is_valid(&self, conn: &mut PgConn) -> Result<(), Error> {
        conn.conn
            .batch_execute("SELECT 1")
            .map_err(Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PgConn) -> bool {
        conn.lost || conn.conn.is_broken()
    }
}

/// Fails checkouts at once while the database is known to be unreachable. r2d2 waits the whole
/// connection timeout on every checkout the pool cannot serve, so during an outage each request
/// held a client (and a blocking thread) for `connect_timeout_secs` before its 503. After a
/// checkout has failed, the others answer 503 at once for `outage_backoff`; then one request
/// probes the database (the others still fail at once), and its success reopens the gate.
///
/// Only checkouts count: a query that failed (a lost connection, a timeout) says nothing about
/// whether new connections can be made, and the pool replaces lost ones itself.
pub struct OutageGate {
    start: Instant,
    /// Milliseconds since `start` until which checkouts fail at once; 0 while the database answers.
    closed_until: AtomicU64,
    backoff: Duration,
    /// How long a probe may take: the connection timeout.
    probe: Duration,
}

impl OutageGate {
    pub fn new(backoff: Duration, connect_timeout: Duration) -> Self {
        Self {
            start: Instant::now(),
            closed_until: AtomicU64::new(0),
            backoff,
            probe: connect_timeout,
        }
    }

    fn now_ms(&self) -> u64 {
        // Never 0, which means "open".
        u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX - 1) + 1
    }

    fn after(&self, wait: Duration) -> u64 {
        self.now_ms()
            .saturating_add(u64::try_from(wait.as_millis()).unwrap_or(u64::MAX))
    }

    /// Whether this checkout may go to the pool.
    pub fn admit(&self) -> Result<(), StoreError> {
        let until = self.closed_until.load(Ordering::Acquire);
        if until == 0 {
            return Ok(());
        }
        let refused = || {
            Err(StoreError::Unavailable(
                "the database could not be reached moments ago; not trying again yet".into(),
            ))
        };
        if self.now_ms() < until {
            return refused();
        }
        // The backoff is over: this request probes, and keeps the gate closed meanwhile.
        let probing = self.after(self.probe + self.backoff);
        match self.closed_until.compare_exchange(
            until,
            probing,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            Ok(_) => Ok(()),
            Err(_) => refused(),
        }
    }

    pub fn checkout_succeeded(&self) {
        if self.closed_until.load(Ordering::Relaxed) != 0 {
            self.closed_until.store(0, Ordering::Release);
        }
    }

    pub fn checkout_failed(&self) {
        self.closed_until
            .store(self.after(self.backoff), Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_gate_refuses_during_the_backoff() {
        let gate = OutageGate::new(Duration::from_secs(3600), Duration::from_secs(60));
        assert!(gate.admit().is_ok(), "open at first");
        gate.checkout_failed();
        assert!(gate.admit().is_err(), "closed during the backoff");
        assert!(gate.admit().is_err());
    }

    #[test]
    fn after_the_backoff_one_probe_goes_through_and_its_success_reopens_the_gate() {
        let gate = OutageGate::new(Duration::ZERO, Duration::from_secs(3600));
        gate.checkout_failed();
        assert!(gate.admit().is_ok(), "one probe after the backoff");
        assert!(
            gate.admit().is_err(),
            "the others fail at once while it probes"
        );
        gate.checkout_failed();
        assert!(
            gate.admit().is_ok(),
            "the next probe after the next backoff"
        );
        gate.checkout_succeeded();
        assert!(gate.admit().is_ok(), "open again after a successful probe");
        assert!(gate.admit().is_ok());
    }
}
