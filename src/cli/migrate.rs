//! `tokenhub migrate`: apply pending migrations and exit.

use crate::config::Settings;
use crate::secrets::load_keys;

pub async fn migrate(config: Settings) -> anyhow::Result<()> {
    // Every command that opens the store loads the key as `serve` does: a PostgreSQL hub
    // without one fails here too, and a SQLite hub has its key file from the first command.
    load_keys(&config)?;
    // The store logs which migrations it applied, or that none was pending.
    super::open_store(&config).await?;
    Ok(())
}
