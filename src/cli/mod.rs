//! The `tokenhub` command line: `serve` (default), `migrate`, `party add|invite|register|list|
//! suspend|resume|set`, `agreement add|remove|list`, `client add|list|disable`,
//! `user add|list|disable|totp`, `tokens import|export`, `keys rotate`, `outbox`, `config check`,
//! `healthcheck`. One module
//! per command group; this one parses the arguments, loads the configuration and dispatches.

mod agreement;
mod client;
mod config_check;
mod healthcheck;
mod keys;
mod migrate;
mod outbox;
mod party;
mod serve;
mod tokens;
mod user;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::{CommandFactory, Parser, Subcommand};

use crate::config::{Overrides, Settings};
use crate::store::{sqlite_path, BackendKind, Store};
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
    /// Manage roaming agreements between CPOs and eMSPs (hub.agreements = "explicit").
    #[command(subcommand)]
    Agreement(agreement::AgreementCommand),
    /// Configuration.
    #[command(subcommand)]
    Config(config_check::ConfigCommand),
    /// Manage OAuth clients of the management API.
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage the keys that sign access tokens.
    #[command(subcommand)]
    Keys(keys::KeysCommand),
    /// What the hub still has to push, per partner (pending, oldest age, drops).
    Outbox(outbox::OutboxArgs),
    /// Manage the people who log in on the hub's login page.
    #[command(subcommand)]
    User(user::UserCommand),
    /// Token files: import (tokens or hub policy) and export, NDJSON or CSV.
    #[command(subcommand)]
    Tokens(tokens::TokensCommand),
    /// Exit 0 when the hub answers 200 on /readyz (for container health checks: no shell or curl).
    Healthcheck(healthcheck::HealthcheckArgs),
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
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
    let config = Settings::load(&overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        None | Some(Command::Serve(_)) => {
            telemetry::init(config.log.format, config.log.filter.as_str());
            runtime.block_on(serve::serve(config))
        }
        Some(Command::Migrate) => {
            telemetry::init(config.log.format, config.log.filter.as_str());
            runtime.block_on(migrate::migrate(config))
        }
        Some(Command::Party(command)) => runtime.block_on(party::run(config, command)),
        Some(Command::Agreement(command)) => runtime.block_on(agreement::run(config, command)),
        Some(Command::Client(command)) => runtime.block_on(client::run(config, command)),
        Some(Command::Keys(command)) => runtime.block_on(keys::run(config, command)),
        Some(Command::User(command)) => runtime.block_on(user::run(config, command)),
        Some(Command::Tokens(command)) => runtime.block_on(tokens::run(config, command)),
        Some(Command::Config(config_check::ConfigCommand::Check)) => config_check::check(&config),
        Some(Command::Outbox(args)) => runtime.block_on(outbox::run(config, args)),
        Some(Command::Healthcheck(args)) => {
            runtime.block_on(healthcheck::healthcheck(&config, args))
        }
    }
}

/// Opens the store for a command and names the database on stderr: without the hub's
/// `DATABASE_URL` a command would otherwise work on a fresh `./tokenhub.db` without a word, and
/// the hub would then refuse the token it printed as unknown.
async fn open_store(config: &Settings) -> anyhow::Result<Store> {
    let url = &config.database.url;
    let new_file = config.database.backend == BackendKind::Sqlite
        && !std::path::Path::new(sqlite_path(url.expose())).exists();
    let store = Store::open(&config.store_settings()).await?;
    let note = if new_file {
        " (a new file: give the hub's database with DATABASE_URL or --database-url)"
    } else {
        ""
    };
    // `DatabaseUrl` prints masked.
    eprintln!("using database {url}{note}");
    Ok(store)
}

/// A command line clap refuses, as one line and a pointer to the help of the command at fault,
/// instead of clap's usage block: the line says what is wrong, `--help` says the rest.
/// Prints `rows` (the first one a header, if any) as left-aligned columns two spaces apart, as
/// every listing command does.
fn print_table<Row: AsRef<[String]>>(rows: &[Row]) {
    let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .as_ref()
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
}

fn usage_error(err: clap::Error) -> ExitCode {
    if matches!(
        err.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        err.exit();
    }
    let rendered = err.to_string();
    // The message is the first paragraph; what follows is clap's tip, usage and help pointer.
    let message = rendered
        .split("\n\n")
        .next()
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!(
        "{message} (see `{} --help`)",
        command_path(std::env::args().skip(1))
    );
    ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2))
}

/// `tokenhub` and the subcommands named on the command line, e.g. `tokenhub party add`.
fn command_path(args: impl Iterator<Item = String>) -> String {
    let mut command = Cli::command();
    let mut path = vec![command.get_name().to_owned()];
    for arg in args {
        if arg.starts_with('-') {
            continue;
        }
        let Some(sub) = command.find_subcommand(&arg).cloned() else {
            continue;
        };
        path.push(sub.get_name().to_owned());
        command = sub;
    }
    path.join(" ")
}
