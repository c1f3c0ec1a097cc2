//! Embedded migrations, one tree per backend, applied at start.

use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;
use diesel::RunQueryDsl;
use diesel_migrations::{embed_migrations, EmbeddedMigrations, MigrationHarness};

use super::{Conn, StoreError, StoreResult};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Several instances starting together on one PostgreSQL database migrate once: the others wait
/// on this advisory lock and then find nothing pending.
const MIGRATION_LOCK: i64 = 0x746f6b656e687562; // "tokenhub"

fn migration_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Query(format!("migration failed: {e}"))
}

pub fn run_sqlite(conn: &mut SqliteConnection) -> StoreResult<()> {
    conn.run_pending_migrations(SQLITE)
        .map(|_| ())
        .map_err(migration_error)
}

pub fn run_postgres(conn: &mut PgConnection) -> StoreResult<()> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(conn)?;
    let result = conn
        .run_pending_migrations(POSTGRES)
        .map(|_| ())
        .map_err(migration_error);
    diesel::sql_query(format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})")).execute(conn)?;
    result
}

/// Fails when a migration of this binary is not applied yet (readiness).
pub fn check_applied(conn: &mut Conn<'_>) -> StoreResult<()> {
    let pending = match conn {
        Conn::Sqlite(c) => c.pending_migrations(SQLITE).map(|p| p.len()),
        Conn::Pg(c) => c.pending_migrations(POSTGRES).map(|p| p.len()),
    }
    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
    if pending == 0 {
        Ok(())
    } else {
        Err(StoreError::Unavailable(format!(
            "{pending} migrations pending"
        )))
    }
}
