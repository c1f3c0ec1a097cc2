//! The PostgreSQL connection pool's manager. Connections are not pinged on every checkout (a
//! round trip per request); instead a connection whose query failed for lack of a server is
//! marked lost and r2d2 replaces it, so the hub recovers by itself when the database is back.

use std::ops::{Deref, DerefMut};

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{Error, R2D2Connection};
use diesel::Connection;

/// Initializes OpenSSL without its `atexit` clean-up. libpq (built with OpenSSL) otherwise lets
/// OpenSSL register one, and a process that exits while a pool thread is still connecting
/// crashes inside it: `tokenhub party add` on PostgreSQL died with SIGSEGV in 9 of 150 runs.
/// Call it before the first PostgreSQL connection of a process; later calls do nothing.
pub fn init_tls() {
    openssl_sys::init();
}

const SESSION_SETTINGS: &str = "SET statement_timeout = '15s'; SET lock_timeout = '5s'; \
     SET idle_in_transaction_session_timeout = '60s';";

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
}

impl PgManager {
    pub fn new(url: &str) -> Self {
        Self {
            url: url.to_owned(),
        }
    }
}

impl r2d2::ManageConnection for PgManager {
    type Connection = PgConn;
    type Error = Error;

    fn connect(&self) -> Result<PgConn, Error> {
        let mut conn = PgConnection::establish(&self.url).map_err(Error::ConnectionError)?;
        // Bounded waits: a stuck query or a long-held token lock fails the request (500/503)
        // instead of holding a pooled connection and a client forever.
        conn.batch_execute(SESSION_SETTINGS)
            .map_err(Error::QueryError)?;
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
