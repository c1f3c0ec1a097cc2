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

/// Applies the pending migrations of `source` and returns their names, oldest first.
fn run_pending<C>(conn: &mut C, source: EmbeddedMigrations) -> StoreResult<Vec<String>>
where
    C: MigrationHarness<C::Backend> + diesel::Connection,
{
    let pending = conn.pending_migrations(source).map_err(migration_error)?;
    let names = pending.iter().map(|m| m.name().to_string()).collect();
    conn.run_migrations(&pending).map_err(migration_error)?;
    Ok(names)
}

/// Returns the names of the migrations applied, oldest first (empty: none was pending).
pub fn run_sqlite(conn: &mut SqliteConnection) -> StoreResult<Vec<String>> {
    run_pending(conn, SQLITE)
}

/// Returns the names of the migrations this instance applied: an instance that waited on the
/// lock for another one finds none pending.
pub fn run_postgres(conn: &mut PgConnection) -> StoreResult<Vec<String>> {
    diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})")).execute(conn)?;
    let result = run_pending(conn, POSTGRES);
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
