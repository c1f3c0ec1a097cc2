//! `tokenhub migrate`: apply pending migrations and exit.

use crate::config::Config;
use crate::secrets::load_keys;
use crate::store::{mask_url, Store};

pub async fn migrate(config: Config) -> anyhow::Result<()> {
    // Every command that opens the store loads the key as `serve` does: a PostgreSQL hub
    // without one fails here too, and a SQLite hub has its key file from the first command.
    load_keys(&config)?;
    Store::open(&config.store_settings()).await?;
    eprintln!("migrations applied to {}", mask_url(&config.database.url));
    Ok(())
}
