//! The `tokenhub` command line: `serve` (default), `migrate`, `party add|invite|register|list|
//! suspend|resume|set`, `config check`, `healthcheck`. One module per command group; this one
//! parses the arguments, loads the configuration and dispatches.

mod config_check;
mod healthcheck;
mod migrate;
mod party;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Overrides};
use crate::telemetry;

#[derive(Parser, Debug)]
#[command(
    name = "tokenhub",
    version,
    about = "OCPI 2.3.0 token-authorization hub"
)]
pub struct Cli {
    /// TOML configuration file (also TOKENHUB_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Storage: sqlite://PATH (default sqlite://tokenhub.db) or postgres://... (also DATABASE_URL).
    #[arg(long, global = true, value_name = "URL")]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Apply migrations, then serve (the default command).
    Serve(serve::ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage parties.
    #[command(subcommand)]
    Party(party::PartyCommand),
    /// Configuration.
    #[command(subcommand)]
    Config(config_check::ConfigCommand),
    /// Exit 0 when the hub answers 200 on /readyz (for container health checks: no shell or curl).
    Healthcheck(healthcheck::HealthcheckArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let serve_args = match &cli.command {
        Some(Command::Serve(args)) => Some(args),
        None => None,
        _ => None,
    };
    let overrides = Overrides {
        config_file: cli.config.clone(),
        database_url: cli.database_url.clone(),
        bind: serve_args.and_then(|a| a.bind.clone()),
        public_url: serve_args.and_then(|a| a.public_url.clone()),
    };
    let config = Config::load(&overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        None | Some(Command::Serve(_)) => {
            telemetry::init(config.log.format, &config.log.level);
            runtime.block_on(serve::serve(config))
        }
        Some(Command::Migrate) => {
            telemetry::init(config.log.format, &config.log.level);
            runtime.block_on(migrate::migrate(config))
        }
        Some(Command::Party(command)) => runtime.block_on(party::run(config, command)),
        Some(Command::Config(config_check::ConfigCommand::Check)) => config_check::check(&config),
        Some(Command::Healthcheck(args)) => {
            runtime.block_on(healthcheck::healthcheck(&config, args))
        }
    }
}
