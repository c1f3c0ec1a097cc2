//! `tokenhub config check`: validate the configuration and print every effective value, secrets
//! masked.

use clap::Subcommand;

use crate::config::Settings;
use crate::secrets::describe_master_key;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the configuration and print every effective value (database password and master
    /// key masked).
    Check,
}

pub fn check(config: &Settings) -> anyhow::Result<()> {
    let master_key = describe_master_key(config)?;
    println!("{}", config.effective_toml()?);
    eprintln!("{master_key}");
    eprintln!("configuration is valid");
    Ok(())
}
