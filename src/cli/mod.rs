//! The `tokenhub` command line: `serve` (default), `migrate`, `party add|invite|register|list|
//! suspend|resume|set`, `config check`, `healthcheck`.

mod party;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config::{Overrides, Settings};
use crate::domain::ids::PartyKey;
use crate::domain::party::Role;
use crate::secrets::{describe_master_key, load_keys};
use crate::service::parties::{invite_party, register_party};
use crate::service::partners::register_outgoing;
use crate::service::AppState;
use crate::startup::Application;
use crate::store::connections::InviteOutcome;
use crate::store::parties::AddOutcome;
use crate::store::Store;
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
    Serve(ServeArgs),
    /// Apply pending migrations and exit.
    Migrate,
    /// Manage parties.
    #[command(subcommand)]
    Party(PartyCommand),
    /// Configuration.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Exit 0 when the hub answers 200 on /readyz (for container health checks: no shell or curl).
    Healthcheck(HealthcheckArgs),
}

#[derive(Args, Debug, Default)]
struct ServeArgs {
    /// Address to listen on (port 0 picks a free one).
    #[arg(long, value_name = "ADDR")]
    bind: Option<String>,
    /// Base URL the hub advertises (default http:// + the bound address).
    #[arg(long, value_name = "URL")]
    public_url: Option<String>,
}

#[derive(Subcommand, Debug)]
enum PartyCommand {
    /// Register a trusted party and print its new credentials token (no handshake: the hub
    /// never calls it).
    Add(PartyAddArgs),
    /// Invite a partner platform: print a token A for it to register with (Credentials POST).
    Invite(PartyInviteArgs),
    /// Register the hub with a partner platform that gave it a token A and its versions URL.
    Register(PartyRegisterArgs),
    /// List every party with its status and settings.
    List(party::PartyListArgs),
    /// Suspend a party: an eMSP's tokens authorize NOT_ALLOWED; partners see it SUSPENDED.
    Suspend(party::PartyTargetArgs),
    /// Resume a suspended party.
    Resume(party::PartyTargetArgs),
    /// Change a party's settings (only the flags given).
    Set(party::PartySetArgs),
}

#[derive(Args, Debug)]
struct PartyInviteArgs {
    /// Country code of the invited party (ISO 3166-1 alpha-2).
    #[arg(long)]
    country_code: String,
    /// Party id of the invited party (three letters or digits).
    #[arg(long)]
    party_id: String,
    /// CPO, EMSP, NAP, NSP, OTHER or SCSP (any case).
    #[arg(long)]
    role: String,
    /// Business name (defaults to COUNTRY*PARTY).
    #[arg(long)]
    name: Option<String>,
    /// Print JSON {"token": ..., "versions_url": ...} instead of the bare token.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct PartyRegisterArgs {
    /// The partner's OCPI versions URL.
    #[arg(long, value_name = "URL")]
    versions_url: String,
    /// The token A the partner gave the hub.
    #[arg(long, value_name = "TOKEN")]
    token_a: String,
    /// A name for the partner platform in the hub's lists.
    #[arg(long)]
    name: Option<String>,
    /// Print JSON {"platform_id": ..., "version": ..., "roles": [...]}.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct PartyAddArgs {
    #[arg(long)]
    country_code: String,
    #[arg(long)]
    party_id: String,
    /// CPO, EMSP, NAP, NSP, OTHER or SCSP (any case).
    #[arg(long)]
    role: String,
    /// Business name (defaults to COUNTRY*PARTY).
    #[arg(long)]
    name: Option<String>,
    /// Print JSON {"token": ...} instead of the bare token.
    #[arg(long)]
    json: bool,
    /// Issue a new token for an existing party (the old one stops working).
    #[arg(long)]
    rotate: bool,
}

#[derive(Args, Debug)]
struct HealthcheckArgs {
    /// Base URL of the hub (default http:// + http.bind, with 0.0.0.0 or [::] as loopback).
    #[arg(long, value_name = "URL")]
    url: Option<String>,
}

#[derive(Subcommand, Debug)]
enum ConfigCommand {
    /// Validate the configuration and print it (database password and master key masked).
    Check,
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
    let config = Settings::load(&overrides)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        None | Some(Command::Serve(_)) => {
            telemetry::init(config.log.format, config.log.filter.as_str());
            runtime.block_on(serve(config))
        }
        Some(Command::Migrate) => {
            telemetry::init(config.log.format, config.log.filter.as_str());
            // Every command that opens the store loads the key as `serve` does: a PostgreSQL hub
            // without one fails here too, and a SQLite hub has its key file from the first command.
            load_keys(&config)?;
            runtime.block_on(async {
                Store::open(&config.store_settings()).await?;
                eprintln!("migrations applied to {}", config.database.url);
                Ok(())
            })
        }
        Some(Command::Party(PartyCommand::Add(args))) => {
            telemetry::init(config.log.format, "warn");
            runtime.block_on(party_add(config, args))
        }
        Some(Command::Party(PartyCommand::Invite(args))) => {
            telemetry::init(config.log.format, "warn");
            runtime.block_on(party_invite(config, args))
        }
        Some(Command::Party(PartyCommand::Register(args))) => {
            telemetry::init(config.log.format, "warn");
            runtime.block_on(party_register(config, args))
        }
        Some(Command::Party(PartyCommand::List(args))) => {
            telemetry::init(config.log.format, "warn");
            runtime.block_on(party::list(config, args))
        }
        Some(Command::Party(PartyCommand::Suspend(args))) => {
            telemetry::init(config.log.format, "warn");
            runtime.block_on(party::suspend(config, args, true))
        }
        Some(Command::Party(PartyCommand::Resume(args))) => {
            telemetry::init(config.log.format, "warn");
            runtime.block_on(party::suspend(config, args, false))
        }
        Some(Command::Party(PartyCommand::Set(args))) => {
            telemetry::init(config.log.format, "warn");
            runtime.block_on(party::set(config, args))
        }
        Some(Command::Config(ConfigCommand::Check)) => {
            let master_key = describe_master_key(&config)?;
            println!("{}", config.effective_toml()?);
            eprintln!("{master_key}");
            eprintln!("configuration is valid");
            Ok(())
        }
        Some(Command::Healthcheck(args)) => runtime.block_on(healthcheck(&config, args)),
    }
}

async fn serve(config: Settings) -> anyhow::Result<()> {
    // Before the store: a PostgreSQL hub without a key stops here, even with its database down.
    let keys = load_keys(&config)?;
    let app = Application::build(config.clone(), keys).await?;
    tracing::info!(
        url = %app.public_url(),
        database = %config.database.url,
        "tokenhub listening"
    );
    // A machine-readable line for scripts that start the hub on port 0.
    println!("tokenhub listening on http://127.0.0.1:{}", app.port());
    app.run_until_stopped().await?;
    tracing::info!("tokenhub stopped");
    Ok(())
}

async fn healthcheck(config: &Settings, args: HealthcheckArgs) -> anyhow::Result<()> {
    let base = match args.url {
        Some(url) => url,
        None => {
            let mut addr = config.http.bind;
            // A hub listening on every interface is reached through loopback.
            match addr.ip() {
                IpAddr::V4(ip) if ip.is_unspecified() => addr.set_ip(Ipv4Addr::LOCALHOST.into()),
                IpAddr::V6(ip) if ip.is_unspecified() => addr.set_ip(Ipv6Addr::LOCALHOST.into()),
                _ => {}
            }
            format!("http://{addr}")
        }
    };
    let url = format!("{}/readyz", base.trim_end_matches('/'));
    // Short, so a hung hub fails the check instead of outliving the orchestrator's own timeout;
    // no proxy: the check is about this hub, not about the path to it.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .no_proxy()
        .build()?;
    let response = client.get(&url).send().await.map_err(|e| {
        // reqwest's top-level message is generic; the innermost cause says what happened.
        let mut cause: &dyn std::error::Error = &e;
        while let Some(inner) = cause.source() {
            cause = inner;
        }
        let why = if e.is_timeout() {
            "no answer within 3 s".to_owned()
        } else {
            cause.to_string()
        };
        anyhow::anyhow!("{url}: {why}")
    })?;
    let status = response.status();
    if status != reqwest::StatusCode::OK {
        anyhow::bail!("{url} answered {status}");
    }
    Ok(())
}

async fn party_add(config: Settings, args: PartyAddArgs) -> anyhow::Result<()> {
    let (key, role) = party_key_and_role(&args.country_code, &args.party_id, &args.role)?;
    let name = args.name.clone().unwrap_or_else(|| key.to_string());
    let keys = load_keys(&config)?;
    let store = Store::open(&config.store_settings()).await?;
    let (outcome, token) = register_party(&store, &key, role, &name, args.rotate).await?;
    if outcome == AddOutcome::AlreadyExists {
        anyhow::bail!(
            "party {key} with role {role} exists already (use --rotate to issue a new token)"
        );
    }
    if args.json {
        println!("{}", serde_json::json!({ "token": token }));
    } else {
        println!("{token}");
    }
    if outcome == AddOutcome::Created {
        party::announce(&config, store, keys, key, role).await;
    }
    Ok(())
}

fn party_key_and_role(
    country_code: &str,
    party_id: &str,
    role: &str,
) -> anyhow::Result<(PartyKey, Role)> {
    let key = PartyKey::parse(country_code, party_id)
        .map_err(|e| anyhow::anyhow!("--{}", e.to_string().replace('_', "-")))?;
    let role: Role = role
        .parse()
        .map_err(|e: String| anyhow::anyhow!("--role: {e}"))?;
    Ok((key, role))
}

/// The URL partners reach the hub at: `http.public_url`, else `http://` + `http.bind`.
fn public_url(config: &Settings) -> String {
    config.http.public_url_or(config.http.bind)
}

async fn party_invite(config: Settings, args: PartyInviteArgs) -> anyhow::Result<()> {
    let (key, role) = party_key_and_role(&args.country_code, &args.party_id, &args.role)?;
    let name = args.name.clone().unwrap_or_else(|| key.to_string());
    let keys = load_keys(&config)?;
    let store = Store::open(&config.store_settings()).await?;
    let (outcome, token) = invite_party(&store, &key, role, &name).await?;
    if outcome == InviteOutcome::AlreadyConnected {
        anyhow::bail!(
            "party {key} with role {role} is connected already: it must unregister (Credentials DELETE) before it can be invited again"
        );
    }
    let versions_url = format!("{}/ocpi/versions", public_url(&config));
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "token": token, "versions_url": versions_url })
        );
    } else {
        println!("{token}");
        eprintln!(
            "give the partner this token A and the hub's versions URL {versions_url}; it registers with a Credentials POST"
        );
    }
    party::announce(&config, store, keys, key, role).await;
    Ok(())
}

async fn party_register(config: Settings, args: PartyRegisterArgs) -> anyhow::Result<()> {
    let versions_url =
        url::Url::parse(&args.versions_url).map_err(|e| anyhow::anyhow!("--versions-url: {e}"))?;
    let keys = load_keys(&config)?;
    let store = Store::open(&config.store_settings()).await?;
    let state =
        AppState::new(&config, store, keys, public_url(&config)).map_err(anyhow::Error::msg)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| versions_url.host_str().unwrap_or("partner").to_owned());
    let registered = register_outgoing(&state, &versions_url, &args.token_a, &name)
        .await
        .map_err(|e| anyhow::anyhow!("registration with {versions_url} failed: {e}"))?;
    let roles: Vec<String> = registered
        .roles
        .iter()
        .map(|r| format!("{} ({})", r.key, r.role))
        .collect();
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "platform_id": registered.platform_id,
                "version": registered.version.as_str(),
                "roles": roles,
            })
        );
    } else {
        println!(
            "registered with {versions_url} on OCPI {}: {}",
            registered.version,
            roles.join(", ")
        );
    }
    Ok(())
}
