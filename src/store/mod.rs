//! Storage: one diesel codebase over SQLite (embedded default) and PostgreSQL, chosen by the
//! scheme of `DATABASE_URL`. All SQL lives in this module's submodules as small functions.
//!
//! Writes run as jobs, each in its own transaction (PostgreSQL) or savepoint inside a group commit
//! (SQLite: one writer thread commits the jobs of concurrent requests together, so one fsync serves
//! many decisions and a failing job rolls back only itself).

pub mod agreements;
pub mod audit;
pub mod audit_search;
pub mod connections;
pub mod console;
pub mod decision_pg;
pub mod login;
pub mod migrate;
pub mod oauth;
pub mod outbox;
pub mod parties;
pub mod pg_pool;
pub mod schema;
pub mod sessions;
pub mod sqlite_writer;
pub mod token_search;
pub mod tokens;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use self::pg_pool::{OutageGate, PgConn, PgManager};
use self::sqlite_writer::SqliteWriter;

/// A connection of either backend, as handed to store functions.
pub enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Pg(&'a mut PgConnection),
}

impl Conn<'_> {
    pub fn is_postgres(&self) -> bool {
        matches!(self, Conn::Pg(_))
    }
}

/// Runs the same diesel code on whichever backend `$conn` holds (compiled once per backend).
macro_rules! db_run {
    ($conn:ident => $body:expr) => {
        match $conn {
            $crate::store::Conn::Sqlite(c) => {
                let $conn: &mut diesel::sqlite::SqliteConnection = &mut **c;
                $body
            }
            $crate::store::Conn::Pg(c) => {
                let $conn: &mut diesel::pg::PgConnection = &mut **c;
                $body
            }
        }
    };
}
pub(crate) use db_run;

#[derive(Debug, Clone, thiserror::Error)]
pub enum StoreError {
    /// The database cannot be reached (down, pool exhausted): HTTP 503, the hub retries by itself.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Query(String),
    #[error("{0}")]
    Config(String),
}

impl From<diesel::result::Error> for StoreError {
    fn from(err: diesel::result::Error) -> Self {
        use diesel::result::{DatabaseErrorKind, Error};
        match &err {
            Error::DatabaseError(DatabaseErrorKind::ClosedConnection, _) => {
                StoreError::Unavailable(err.to_string())
            }
            Error::DatabaseError(_, info)
                if is_connection_loss(info.message()) || is_cancellation(info.message()) =>
            {
                StoreError::Unavailable(err.to_string())
            }
            _ => StoreError::Query(err.to_string()),
        }
    }
}

/// A statement PostgreSQL cancelled: `statement_timeout` (SQLSTATE 57014), `lock_timeout`
/// (55P03), an operator's `pg_cancel_backend`. The database is busy, not broken: 503, try again.
/// diesel does not expose the SQLSTATE, so the server's (English) message is matched; the pool's
/// connections ask for English messages where the database user may (see `PgManager`).
fn is_cancellation(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.starts_with("canceling statement due to") || m.starts_with("could not obtain lock")
}
fn is_connection_loss(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("server closed the connection")
        || m.contains("connection refused")
        || m.contains("terminating connection")
        || m.contains("no connection to the server")
        || m.contains("could not connect")
}

/// A stored value that no longer passes validation: the data is corrupt, not the request.
impl From<crate::domain::ValidationError> for StoreError {
    fn from(err: crate::domain::ValidationError) -> Self {
        StoreError::Query(format!("stored data is invalid: {err}"))
    }
}

impl From<r2d2::Error> for StoreError {
    fn from(err: r2d2::Error) -> Self {
        StoreError::Unavailable(err.to_string())
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Defaults of `database.statement_timeout_ms`, `lock_timeout_ms` and `outage_backoff_ms`.
pub const DEFAULT_STATEMENT_TIMEOUT_MS: u64 = 15_000;
pub const DEFAULT_LOCK_TIMEOUT_MS: u64 = 5_000;
pub const DEFAULT_OUTAGE_BACKOFF_MS: u64 = 1_000;

/// Settings the store needs from the configuration (`database.*`; the defaults are its).
#[derive(Clone, Debug)]
pub struct StoreSettings {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout: Duration,
    /// PostgreSQL only, as are the two below.
    pub statement_timeout: Duration,
    pub lock_timeout: Duration,
    pub outage_backoff: Duration,
}

impl StoreSettings {
    /// `url` with the PostgreSQL-only settings at their configuration defaults (for tools and
    /// tests that open a store without a configuration).
    pub fn for_url(url: String, pool_size: u32, connect_timeout: Duration) -> Self {
        StoreSettings {
            url,
            pool_size,
            connect_timeout,
            statement_timeout: Duration::from_millis(DEFAULT_STATEMENT_TIMEOUT_MS),
            lock_timeout: Duration::from_millis(DEFAULT_LOCK_TIMEOUT_MS),
            outage_backoff: Duration::from_millis(DEFAULT_OUTAGE_BACKOFF_MS),
        }
    }
}

#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
}

enum Backend {
    Sqlite {
        readers: Pool<ConnectionManager<SqliteConnection>>,
        writer: SqliteWriter,
        /// How long readiness waits for the writer.
        ping_timeout: Duration,
    },
    Pg {
        pool: Pool<PgManager>,
        gate: OutageGate,
    },
}

/// Runs `job` on a connection of the read pool (SQLite) or the pool (PostgreSQL).
fn on_pooled<R>(
    backend: &Backend,
    job: impl FnOnce(&mut Conn<'_>) -> StoreResult<R>,
) -> StoreResult<R> {
    match backend {
        Backend::Sqlite { readers, .. } => {
            let mut c = readers.get()?;
            job(&mut Conn::Sqlite(&mut c))
        }
        Backend::Pg { pool, gate } => {
            let mut c = pg_checkout(pool, gate)?;
            let result = job(&mut Conn::Pg(&mut c));
            forget_if_lost(&mut c, &result);
            result
        }
    }
}

/// A pooled PostgreSQL connection, or 503 at once while the database is known to be down.
fn pg_checkout(
    pool: &Pool<PgManager>,
    gate: &OutageGate,
) -> StoreResult<r2d2::PooledConnection<PgManager>> {
    gate.admit()?;
    match pool.get() {
        Ok(conn) => {
            gate.checkout_succeeded();
            Ok(conn)
        }
        Err(e) => {
            gate.checkout_failed();
            Err(e.into())
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackendKind {
    Sqlite,
    Postgres,
}

impl BackendKind {
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(BackendKind::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(BackendKind::Postgres)
        } else {
            Err(StoreError::Config(format!(
                "DATABASE_URL must start with sqlite:// or postgres:// (got {})",
                mask_url(url)
            )))
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Sqlite => "sqlite",
            BackendKind::Postgres => "postgres",
        }
    }
}

/// A connection whose query failed for lack of a server goes back to the pool marked lost, so
/// the pool replaces it instead of handing it out again. One whose statement was only cancelled
/// (a statement or lock timeout) still answers and is kept: this round trip happens on that
/// error path only.
fn forget_if_lost<R>(conn: &mut PgConn, result: &StoreResult<R>) {
    if let Err(StoreError::Unavailable(_)) = result {
        if conn.batch_execute("SELECT 1").is_err() {
            conn.mark_lost();
        }
    }
}

/// `sqlite://tokenhub.db` → `tokenhub.db`; `sqlite:///var/lib/x.db` → `/var/lib/x.db`.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// Hides the secrets of a database URL for messages and logs: the password of its user info and
/// every query parameter whose name holds `password` in any case (libpq reads `?password=` and
/// `?sslpassword=`). A URL that does not parse is shown by its scheme alone, since where its
/// password would be cannot be told.
pub fn mask_url(url: &str) -> String {
    const MASK: &str = "****";
    let scheme_only = || match url.split_once(':') {
        Some((scheme, _))
            if !scheme.is_empty()
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            format!("{scheme}:<unparsable URL>")
        }
        _ => "<unparsable URL>".to_owned(),
    };
    let mut parsed = match url::Url::parse(url) {
        // `user:secret@host` parses as the scheme `user` and an opaque rest. `sqlite:PATH` is a
        // file name.
        Ok(parsed) if parsed.cannot_be_a_base() && parsed.scheme() != "sqlite" => {
            return scheme_only()
        }
        Ok(parsed) => parsed,
        Err(_) => return scheme_only(),
    };
    let mut masked = false;
    if parsed.password().is_some() {
        // Only fails for URLs without a host, which cannot hold a password either.
        let _ = parsed.set_password(Some(MASK));
        masked = true;
    }
    let secret_key = |key: &str| key.to_ascii_lowercase().contains("password");
    if parsed.query_pairs().any(|(key, _)| secret_key(&key)) {
        let pairs: Vec<(String, String)> = parsed
            .query_pairs()
            .map(|(key, value)| {
                let value = if secret_key(&key) {
                    MASK.to_owned()
                } else {
                    value.into_owned()
                };
                (key.into_owned(), value)
            })
            .collect();
        parsed.query_pairs_mut().clear().extend_pairs(pairs);
        masked = true;
    }
    // libpq ignores a fragment; whatever it holds is no business of a log.
    if parsed.fragment().is_some() {
        parsed.set_fragment(Some(MASK));
        masked = true;
    }
    // Unchanged otherwise: parsing would percent-encode a SQLite path shown to its operator.
    if masked {
        parsed.to_string()
    } else {
        url.to_owned()
    }
}

/// Applies [`SQLITE_PRAGMAS`] to every pooled connection.
#[derive(Debug)]
struct SqlitePragmas;

/// Per-connection SQLite settings. `busy_timeout` must come before WAL, or parallel connects fail
/// with "database is locked". Each connection keeps a 4 MiB page cache (see `sqlite_writer` for
/// why the writer's is not larger): with 8 readers the caches stay well inside the hub's 150 MB
/// memory budget; the operating system's file cache holds the rest.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
     PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = -4000;";

impl CustomizeConnection<SqliteConnection, diesel::r2d2::Error> for SqlitePragmas {
    fn on_acquire(&self, conn: &mut SqliteConnection) -> Result<(), diesel::r2d2::Error> {
        conn.batch_execute(SQLITE_PRAGMAS)
            .map_err(diesel::r2d2::Error::QueryError)
    }
}

pub fn open_sqlite(path: &str) -> StoreResult<SqliteConnection> {
    let mut conn = SqliteConnection::establish(path)
        .map_err(|e| StoreError::Unavailable(format!("cannot open SQLite database {path}: {e}")))?;
    conn.batch_execute(SQLITE_PRAGMAS)?;
    Ok(conn)
}

/// A clean close leaves the write-ahead log empty: one with content at open means the last
/// process was killed or crashed (or another process has the database open right now), and
/// SQLite recovers the committed transactions from it. Info, not a warning: a CLI command run
/// beside a serving hub sees the hub's log too. (PostgreSQL recovers on its own server, which
/// logs it; a client cannot tell.)
fn log_unclean_wal(path: &str) {
    let wal = format!("{path}-wal");
    if let Ok(meta) = std::fs::metadata(&wal) {
        if meta.len() > 0 {
            tracing::info!(
                wal = %wal,
                bytes = meta.len(),
                "SQLite write-ahead log not empty at open: the previous process did not close the \
                 database (a crash or a kill) or another one has it open; SQLite recovers from it"
            );
        }
    }
}

/// Says at start what the schema went through, so an upgrade is visible in the log.
fn log_migrations(applied: &[String]) {
    if applied.is_empty() {
        tracing::info!("no pending migrations");
    } else {
        tracing::info!(migrations = %applied.join(", "), "migrations applied");
    }
}

impl Store {
    /// Opens the database named by `settings.url` and applies pending migrations.
    pub async fn open(settings: &StoreSettings) -> StoreResult<Store> {
        let settings = settings.clone();
        tokio::task::spawn_blocking(move || Store::open_blocking(&settings))
            .await
            .map_err(|e| StoreError::Query(e.to_string()))?
    }

    fn open_blocking(settings: &StoreSettings) -> StoreResult<Store> {
        let backend = match BackendKind::from_url(&settings.url)? {
            BackendKind::Sqlite => {
                let path = sqlite_path(&settings.url).to_owned();
                log_unclean_wal(&path);
                let mut writer_conn = open_sqlite(&path)?;
                log_migrations(&migrate::run_sqlite(&mut writer_conn)?);
                let readers = Pool::builder()
                    .max_size(settings.pool_size.max(1))
                    .test_on_check_out(false)
                    .connection_timeout(settings.connect_timeout)
                    .connection_customizer(Box::new(SqlitePragmas))
                    .build(ConnectionManager::<SqliteConnection>::new(path.clone()))?;
                Backend::Sqlite {
                    readers,
                    writer: SqliteWriter::spawn(writer_conn, open_sqlite(&path)?, &path)?,
                    ping_timeout: settings.connect_timeout,
                }
            }
            BackendKind::Postgres => {
                pg_pool::init_tls();
                let pool = Pool::builder()
                    .max_size(settings.pool_size.max(2))
                    .test_on_check_out(false)
                    .min_idle(Some(1))
                    .connection_timeout(settings.connect_timeout)
                    .build(PgManager::new(
                        &settings.url,
                        settings.statement_timeout,
                        settings.lock_timeout,
                    ))
                    .map_err(|e| {
                        StoreError::Unavailable(format!(
                            "cannot connect to PostgreSQL at {}: {e}",
                            mask_url(&settings.url)
                        ))
                    })?;
                // Its own connection, without the pool's statement and lock timeouts: migrations
                // may take long, and other instances wait for them on the advisory lock.
                let mut conn = PgConnection::establish(&settings.url).map_err(|e| {
                    StoreError::Unavailable(format!(
                        "cannot connect to PostgreSQL at {}: {e}",
                        mask_url(&settings.url)
                    ))
                })?;
                log_migrations(&migrate::run_postgres(&mut conn)?);
                Backend::Pg {
                    pool,
                    gate: OutageGate::new(settings.outage_backoff, settings.connect_timeout),
                }
            }
        };
        Ok(Store {
            backend: Arc::new(backend),
        })
    }

    pub fn kind(&self) -> BackendKind {
        match &*self.backend {
            Backend::Sqlite { .. } => BackendKind::Sqlite,
            Backend::Pg { .. } => BackendKind::Postgres,
        }
    }

    /// Runs `job` on a pooled connection, outside any explicit transaction.
    pub async fn read<R, F>(&self, job: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> StoreResult<R> + Send + 'static,
    {
        let backend = Arc::clone(&self.backend);
        tokio::task::spawn_blocking(move || on_pooled(&backend, job))
            .await
            .map_err(|e| StoreError::Query(format!("store task failed: {e}")))?
    }

    /// Runs `job` on a pooled connection in the calling thread, outside any explicit
    /// transaction: for a thread of its own (`service::authorize::batch`), never an async task.
    pub fn autocommit_blocking<R>(
        &self,
        job: impl FnOnce(&mut Conn<'_>) -> StoreResult<R>,
    ) -> StoreResult<R> {
        on_pooled(&self.backend, job)
    }

    /// PostgreSQL: [`Store::write`] in the calling thread, for a thread of its own
    /// (`service::tokens::batch`), never an async task. SQLite writes go to its writer only.
    pub fn write_blocking<R>(
        &self,
        job: impl FnOnce(&mut Conn<'_>) -> StoreResult<R>,
    ) -> StoreResult<R> {
        let Backend::Pg { pool, gate } = &*self.backend else {
            return Err(StoreError::Query(
                "a blocking write is PostgreSQL's; SQLite writes go to its writer".into(),
            ));
        };
        let mut c = pg_checkout(pool, gate)?;
        let result = c.transaction(|c| job(&mut Conn::Pg(c)));
        forget_if_lost(&mut c, &result);
        result
    }

    /// Runs `job` atomically; its effects are durable when this returns `Ok`. An `Err` from the job
    /// rolls back the job's own writes and nothing else.
    pub async fn write<R, F>(&self, job: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> StoreResult<R> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite { writer, .. } => writer.submit(job).await,
            Backend::Pg { .. } => {
                let backend = Arc::clone(&self.backend);
                tokio::task::spawn_blocking(move || {
                    let Backend::Pg { pool, gate } = &*backend else {
                        unreachable!("checked above")
                    };
                    let mut c = pg_checkout(pool, gate)?;
                    let result = c.transaction(|c| job(&mut Conn::Pg(c)));
                    forget_if_lost(&mut c, &result);
                    result
                })
                .await
                .map_err(|e| StoreError::Query(format!("store task failed: {e}")))?
            }
        }
    }

    /// As [`Store::write`], but on SQLite an outcome for which `wrote_nothing` is true leaves
    /// before the group commit's fsync (see `SqliteWriter::submit_releasing` for who may use it).
    /// PostgreSQL: the same as `write`.
    pub async fn write_releasing<R, F>(
        &self,
        job: F,
        wrote_nothing: fn(&R) -> bool,
    ) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> StoreResult<R> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite { writer, .. } => writer.submit_releasing(job, wrote_nothing).await,
            Backend::Pg { .. } => self.write(job).await,
        }
    }

    /// PostgreSQL: runs `job` on a pooled connection without a transaction, so each statement
    /// commits by itself and is durable when it returns (`synchronous_commit` stays on). A job
    /// that writes makes each write one statement that is atomic on its own (an optimistic
    /// authorization: `decision_pg`). SQLite: the same as [`Store::write`].
    pub async fn write_autocommit<R, F>(&self, job: F) -> StoreResult<R>
    where
        R: Send + 'static,
        F: FnOnce(&mut Conn<'_>) -> StoreResult<R> + Send + 'static,
    {
        match &*self.backend {
            Backend::Sqlite { writer, .. } => writer.submit(job).await,
            Backend::Pg { .. } => self.read(job).await,
        }
    }

    /// (connections, idle connections) of the read pool (SQLite) or the pool (PostgreSQL).
    pub fn pool_state(&self) -> (u32, u32) {
        let state = match &*self.backend {
            Backend::Sqlite { readers, .. } => readers.state(),
            Backend::Pg { pool, .. } => pool.state(),
        };
        (state.connections, state.idle_connections)
    }

    /// Readiness: the database answers, every migration is applied, and (SQLite) the writer
    /// takes writes: without it every write answers 503 while reads still work.
    pub async fn check_ready(&self) -> StoreResult<()> {
        self.read(migrate::check_applied).await?;
        if let Backend::Sqlite {
            writer,
            ping_timeout,
            ..
        } = &*self.backend
        {
            writer.ping(*ping_timeout).await?;
        }
        Ok(())
    }

    /// Kills the SQLite writer thread, as a bug panicking outside any job would.
    #[cfg(test)]
    pub(crate) fn kill_sqlite_writer(&self) {
        if let Backend::Sqlite { writer, .. } = &*self.backend {
            writer.kill();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::mask_url;

    #[test]
    fn mask_url_hides_every_password() {
        let cases = [
            (
                "postgres://hub:secret@db:5432/tokenhub",
                "postgres://hub:****@db:5432/tokenhub",
            ),
            (
                "postgres://hub@db/tokenhub?password=secret",
                "postgres://hub@db/tokenhub?password=****",
            ),
            (
                "postgres://hub@db/tokenhub?sslmode=require&PassWord=secret&application_name=x",
                "postgres://hub@db/tokenhub?sslmode=require&PassWord=****&application_name=x",
            ),
            (
                "postgresql://hub:secret@db/tokenhub?PASSWORD=secret&sslpassword=secret",
                "postgresql://hub:****@db/tokenhub?PASSWORD=****&sslpassword=****",
            ),
            (
                "postgres://db/tokenhub?pass%77ord=secret",
                "postgres://db/tokenhub?password=****",
            ),
            (
                "postgres:///tokenhub?host=/run/pg&password=secret",
                "postgres:///tokenhub?host=%2Frun%2Fpg&password=****",
            ),
            (
                "postgres://db/tokenhub#secret",
                "postgres://db/tokenhub#****",
            ),
            // Unparsable: the port is not a number, or the host is broken.
            (
                "postgres://hub:secret@db:port/tokenhub",
                "postgres:<unparsable URL>",
            ),
            (
                "postgres://hub:secret@[db/tokenhub",
                "postgres:<unparsable URL>",
            ),
            ("hub:secret@db/tokenhub", "hub:<unparsable URL>"),
            ("sqlite:tokenhub.db", "sqlite:tokenhub.db"),
            ("secret", "<unparsable URL>"),
            ("", "<unparsable URL>"),
            // Nothing to hide: shown as given, not re-encoded.
            ("sqlite://tokenhub.db", "sqlite://tokenhub.db"),
            ("sqlite:///var/lib/my hub.db", "sqlite:///var/lib/my hub.db"),
            (
                "postgres://hub@db/tokenhub?sslmode=require",
                "postgres://hub@db/tokenhub?sslmode=require",
            ),
        ];
        for (url, shown) in cases {
            let masked = mask_url(url);
            assert_eq!(masked, shown, "{url}");
            if !url.is_empty() && url != "sqlite:///var/lib/my hub.db" {
                assert!(!masked.contains("secret"), "{url} → {masked}");
            }
        }
    }
}
