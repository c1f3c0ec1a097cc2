//! `tokenhub config check`: validate the configuration and print it, secrets masked.

use clap::Subcommand;

use crate::config::Config;
use crate::secrets::describe_master_key;
use crate::store::mask_url;

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Validate the configuration and print it (database password and master key masked).
    Check,
}

pub fn check(config: &Config) -> anyhow::Result<()> {
    let mut shown = config.clone();
    shown.database.url = mask_url(&shown.database.url);
    let master_key = describe_master_key(config)?;
    println!("{}", toml_like(&shown)?);
    eprintln!("{master_key}");
    eprintln!("configuration is valid");
    Ok(())
}

fn toml_like(config: &Config) -> anyhow::Result<String> {
    Ok(toml::to_string_pretty(config)?)
}
