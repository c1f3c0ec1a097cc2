//! Storage: one diesel codebase over SQLite (embedded default) and PostgreSQL, chosen by the
//! scheme of `DATABASE_URL`. All SQL lives in this module's submodules as small functions.
//!
//! Writes run as jobs, each in its own transaction (PostgreSQL) or savepoint inside a group commit
//! (SQLite: one writer thread commits the jobs of concurrent requests together, so one fsync serves
//! many decisions and a failing job rolls back only itself).

pub mod audit;
pub mod connections;
pub mod migrate;
pub mod parties;
pub mod pg_pool;
pub mod schema;
pub mod sessions;
pub mod sqlite_writer;
pub mod tokens;
pub mod usage;

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::r2d2::{ConnectionManager, CustomizeConnection, Pool};
use diesel::sqlite::SqliteConnection;
use diesel::Connection;

use self::pg_pool::{PgConn, PgManager};
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
            Error::DatabaseError(_, info) if is_connection_loss(info.message()) => {
                StoreError::Unavailable(err.to_string())
            }
            _ => StoreError::Query(err.to_string()),
        }
    }
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

/// Settings the store needs from the configuration.
#[derive(Clone, Debug)]
pub struct StoreSettings {
    pub url: String,
    pub pool_size: u32,
    pub connect_timeout: Duration,
}

#[derive(Clone)]
pub struct Store {
    backend: Arc<Backend>,
}

enum Backend {
    Sqlite {
        readers: Pool<ConnectionManager<SqliteConnection>>,
        writer: SqliteWriter,
    },
    Pg {
        pool: Pool<PgManager>,
    },
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
/// the pool replaces it instead of handing it out again.
fn forget_if_lost<R>(conn: &mut PgConn, result: &StoreResult<R>) {
    if let Err(StoreError::Unavailable(_)) = result {
        conn.mark_lost();
    }
}

/// `sqlite://tokenhub.db` → `tokenhub.db`; `sqlite:///var/lib/x.db` → `/var/lib/x.db`.
pub fn sqlite_path(url: &str) -> &str {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .unwrap_or(url)
}

/// Hides the password of a database URL for messages and logs.
pub fn mask_url(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("****"));
            parsed.to_string()
        }
        _ => url.to_owned(),
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
                let mut writer_conn = open_sqlite(&path)?;
                migrate::run_sqlite(&mut writer_conn)?;
                let readers = Pool::builder()
                    .max_size(settings.pool_size.max(1))
                    .test_on_check_out(false)
                    .connection_timeout(settings.connect_timeout)
                    .connection_customizer(Box::new(SqlitePragmas))
                    .build(ConnectionManager::<SqliteConnection>::new(path.clone()))?;
                Backend::Sqlite {
                    readers,
                    writer: SqliteWriter::spawn(writer_conn, open_sqlite(&path)?, &path)?,
                }
            }
            BackendKind::Postgres => {
                pg_pool::init_tls();
                let pool = Pool::builder()
                    .max_size(settings.pool_size.max(2))
                    .test_on_check_out(false)
                    .min_idle(Some(1))
                    .connection_timeout(settings.connect_timeout)
                    .build(PgManager::new(&settings.url))
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
                migrate::run_postgres(&mut conn)?;
                Backend::Pg { pool }
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
        tokio::task::spawn_blocking(move || match &*backend {
            Backend::Sqlite { readers, .. } => {
                let mut c = readers.get()?;
                job(&mut Conn::Sqlite(&mut c))
            }
            Backend::Pg { pool } => {
                let mut c = pool.get()?;
                let result = job(&mut Conn::Pg(&mut c));
                forget_if_lost(&mut c, &result);
                result
            }
        })
        .await
        .map_err(|e| StoreError::Query(format!("store task failed: {e}")))?
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
                    let Backend::Pg { pool } = &*backend else {
                        unreachable!("checked above")
                    };
                    let mut c = pool.get()?;
                    let result = c.transaction(|c| job(&mut Conn::Pg(c)));
                    forget_if_lost(&mut c, &result);
                    result
                })
                .await
                .map_err(|e| StoreError::Query(format!("store task failed: {e}")))?
            }
        }
    }

    /// (connections, idle connections) of the read pool (SQLite) or the pool (PostgreSQL).
    pub fn pool_state(&self) -> (u32, u32) {
        let state = match &*self.backend {
            Backend::Sqlite { readers, .. } => readers.state(),
            Backend::Pg { pool } => pool.state(),
        };
        (state.connections, state.idle_connections)
    }

    /// Readiness: the database answers and every migration is applied.
    pub async fn check_ready(&self) -> StoreResult<()> {
        self.read(migrate::check_applied).await
    }
}
