//! `keys rotate`: a new key signs the hub's access tokens from now on, on every instance within
//! `oauth.poll_ms`; tokens signed by the previous key stay valid until they expire.

use clap::Subcommand;

use crate::config::Settings;
use crate::secrets::load_keys;
use crate::service::oauth::rotate_signing_key;
use crate::telemetry;

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Start signing access tokens with a new key (printed: its kid).
    Rotate,
}

pub async fn run(config: Settings, command: KeysCommand) -> anyhow::Result<()> {
    telemetry::init(config.log.format, "warn");
    match command {
        KeysCommand::Rotate => {
            let keys = load_keys(&config)?;
            let store = super::open_store(&config).await?;
            let kid = rotate_signing_key(&store, &keys, "operator").await?;
            println!("{kid}");
            eprintln!(
                "new signing key {kid}; the previous key verifies until its tokens expire ({} s)",
                config.oauth.access_token_ttl.as_secs()
            );
            Ok(())
        }
    }
}
