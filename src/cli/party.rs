//! `party add|invite|register|list|suspend|resume|set`: registering parties and partners, and
//! the operator's view and settings of every party. Each settings change goes to the change log
//! (actor `operator`) in the transaction that makes it.

use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::domain::ids::PartyKey;
use crate::domain::party::{PartySettings, Role};
use crate::secrets::{load_keys, Keys};
use crate::service::parties::{
    change_settings, invite_party, list_parties, register_party, PartyListing, SettingsChange,
    SettingsError, SettingsOutcome,
};
use crate::service::partners::register_outgoing;
use crate::service::AppState;
use crate::store::connections::InviteOutcome;
use crate::store::parties::AddOutcome;
use crate::store::Store;
use crate::telemetry;

#[derive(Subcommand, Debug)]
pub enum PartyCommand {
    /// Register a trusted party and print its new credentials token (no handshake: the hub
    /// never calls it).
    Add(PartyAddArgs),
    /// Invite a partner platform: print a token A for it to register with (Credentials POST).
    Invite(PartyInviteArgs),
    /// Register the hub with a partner platform that gave it a token A and its versions URL.
    Register(PartyRegisterArgs),
    /// List every party with its status and settings.
    List(PartyListArgs),
    /// Suspend a party: an eMSP's tokens authorize NOT_ALLOWED; partners see it SUSPENDED.
    Suspend(PartyTargetArgs),
    /// Resume a suspended party.
    Resume(PartyTargetArgs),
    /// Change a party's settings (only the flags given).
    Set(PartySetArgs),
}

/// The party a `party add` or `party invite` creates.
#[derive(Args, Debug)]
pub struct NewPartyArgs {
    /// Country code of the party (ISO 3166-1 alpha-2).
    #[arg(long)]
    country_code: String,
    /// Party id of the party (three letters or digits).
    #[arg(long)]
    party_id: String,
    /// CPO, EMSP, NAP, NSP, OTHER or SCSP (any case).
    #[arg(long)]
    role: String,
    /// Business name (defaults to COUNTRY*PARTY).
    #[arg(long)]
    name: Option<String>,
}

impl NewPartyArgs {
    /// The party key, its role and its name, each error naming its flag.
    fn parse(&self) -> anyhow::Result<(PartyKey, Role, String)> {
        let (key, role) = party_key_and_role(&self.country_code, &self.party_id, &self.role)?;
        let name = self.name.clone().unwrap_or_else(|| key.to_string());
        Ok((key, role, name))
    }
}

#[derive(Args, Debug)]
pub struct PartyInviteArgs {
    #[command(flatten)]
    party: NewPartyArgs,
    /// Print JSON {"token": ..., "versions_url": ...} instead of the bare token.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct PartyRegisterArgs {
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
pub struct PartyAddArgs {
    #[command(flatten)]
    party: NewPartyArgs,
    /// Print JSON {"token": ...} instead of the bare token.
    #[arg(long)]
    json: bool,
    /// Issue a new token for an existing party (the old one stops working).
    #[arg(long)]
    rotate: bool,
}

#[derive(Args, Debug)]
pub struct PartyListArgs {
    /// Print a JSON array (one object per party) instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct PartyTargetArgs {
    /// Country code of the party (ISO 3166-1 alpha-2).
    #[arg(long)]
    country_code: String,
    /// Party id of the party (three letters or digits).
    #[arg(long)]
    party_id: String,
    /// CPO, EMSP, NAP, NSP, OTHER or SCSP (any case); needed only when the country code and
    /// party id have several roles.
    #[arg(long)]
    role: Option<String>,
}

#[derive(Args, Debug)]
pub struct PartySetArgs {
    #[command(flatten)]
    target: PartyTargetArgs,
    /// eMSPs: concurrent uses allowed per token when the token sets none (1 to 10000), or
    /// `none` for the hub's default (authorization.default_max_concurrent).
    #[arg(long, value_name = "N|none")]
    max_concurrent: Option<String>,
    /// eMSPs: forward real-time authorizations of ALLOWED tokens to the eMSP (true or false).
    #[arg(long, value_name = "true|false")]
    forward_allowed: Option<String>,
    /// eMSPs: decide NEVER tokens locally when the eMSP offers no real-time authorization (true
    /// or false).
    #[arg(long, value_name = "true|false")]
    delegate_realtime: Option<String>,
    /// eMSPs: time budget of a forwarded authorization in milliseconds (100 to 60000), or `none`
    /// for the hub's default.
    #[arg(long, value_name = "MS|none")]
    time_budget_ms: Option<String>,
}

/// Runs one party command; each logs only warnings, as its output is for the operator.
pub async fn run(config: Settings, command: PartyCommand) -> anyhow::Result<()> {
    telemetry::init(config.log.format, "warn");
    match command {
        PartyCommand::Add(args) => add(config, args).await,
        PartyCommand::Invite(args) => invite(config, args).await,
        PartyCommand::Register(args) => register(config, args).await,
        PartyCommand::List(args) => list(config, args).await,
        PartyCommand::Suspend(args) => suspend(config, args, true).await,
        PartyCommand::Resume(args) => suspend(config, args, false).await,
        PartyCommand::Set(args) => set(config, args).await,
    }
}

async fn add(config: Settings, args: PartyAddArgs) -> anyhow::Result<()> {
    let (key, role, name) = args.party.parse()?;
    let keys = load_keys(&config)?;
    let store = super::open_store(&config).await?;
    let (outcome, token) = register_party(&store, &key, role, &name, args.rotate).await?;
    match outcome {
        AddOutcome::AlreadyExists => anyhow::bail!(
            "party {key} with role {role} exists already (use --rotate to issue a new token)"
        ),
        AddOutcome::NoSuchParty => anyhow::bail!(
            "--rotate: there is no party {key} with role {role} (see `tokenhub party list`; leave out --rotate to add it)"
        ),
        AddOutcome::Created | AddOutcome::Rotated => {}
    }
    if args.json {
        println!("{}", serde_json::json!({ "token": token }));
    } else {
        println!("{token}");
    }
    if outcome == AddOutcome::Created {
        announce(&config, store, keys, key, role).await;
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

/// A command runs apart from `serve` and knows the hub's address only from the configuration:
/// without `http.public_url`, the partner an invitation or a registration is for would be told
/// the default bind address, so say so.
fn note_missing_public_url(config: &Settings) {
    if config.http.public_url.is_none() {
        eprintln!(
            "note: http.public_url is not set (TOKENHUB_HTTP__PUBLIC_URL): the partner is told http://{}; set it to the URL partners reach the hub at",
            config.http.bind
        );
    }
}

async fn invite(config: Settings, args: PartyInviteArgs) -> anyhow::Result<()> {
    let (key, role, name) = args.party.parse()?;
    note_missing_public_url(&config);
    let keys = load_keys(&config)?;
    let store = super::open_store(&config).await?;
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
    announce(&config, store, keys, key, role).await;
    Ok(())
}

async fn register(config: Settings, args: PartyRegisterArgs) -> anyhow::Result<()> {
    let versions_url =
        url::Url::parse(&args.versions_url).map_err(|e| anyhow::anyhow!("--versions-url: {e}"))?;
    note_missing_public_url(&config);
    let keys = load_keys(&config)?;
    let store = super::open_store(&config).await?;
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

/// The state a party command acts with: it pushes status changes to partners as the server does.
async fn state(config: &Settings) -> anyhow::Result<AppState> {
    let keys = load_keys(config)?;
    let store = super::open_store(config).await?;
    state_with(config, store, keys)
}

fn state_with(config: &Settings, store: Store, keys: Keys) -> anyhow::Result<AppState> {
    AppState::new(config, store, keys, public_url(config)).map_err(anyhow::Error::msg)
}

/// After `party add` or `party invite`: tells the partners that take hubclientinfo about the
/// party (best effort, as every push; the party is stored whatever happens here).
async fn announce(config: &Settings, store: Store, keys: Keys, key: PartyKey, role: Role) {
    match state_with(config, store, keys) {
        Ok(state) => {
            state.client_info.push(vec![(key, role)]).await;
        }
        Err(e) => tracing::warn!(error = %e, "hubclientinfo push skipped"),
    }
}

async fn list(config: Settings, args: PartyListArgs) -> anyhow::Result<()> {
    let state = state(&config).await?;
    let parties = list_parties(&state.store).await?;
    if args.json {
        let rows: Vec<_> = parties.iter().map(listing_json).collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    let mut rows = vec![[
        "PARTY",
        "ROLE",
        "STATUS",
        "SUSPENDED",
        "MAX_CONCURRENT",
        "FORWARD_ALLOWED",
        "DELEGATE_REALTIME",
        "TIME_BUDGET_MS",
        "NAME",
    ]
    .map(String::from)];
    let or_dash = |v: Option<u32>| v.map_or_else(|| "-".to_owned(), |v| v.to_string());
    for p in &parties {
        let s = &p.settings;
        rows.push([
            p.key.to_string(),
            p.role.to_string(),
            p.status.as_str().to_owned(),
            s.suspended.to_string(),
            or_dash(s.max_concurrent),
            s.forward_allowed.to_string(),
            s.delegate_realtime.to_string(),
            or_dash(s.time_budget_ms),
            p.name.clone(),
        ]);
    }
    super::print_table(&rows);
    Ok(())
}

fn listing_json(p: &PartyListing) -> serde_json::Value {
    let s = &p.settings;
    serde_json::json!({
        "key": p.key.to_string(),
        "country_code": p.key.country_code.as_str(),
        "party_id": p.key.party_id.as_str(),
        "role": p.role.as_str(),
        "name": p.name,
        "status": p.status.as_str(),
        "suspended": s.suspended,
        "max_concurrent": s.max_concurrent,
        "forward_allowed": s.forward_allowed,
        "delegate_realtime": s.delegate_realtime,
        "time_budget_ms": s.time_budget_ms,
    })
}

async fn suspend(config: Settings, args: PartyTargetArgs, suspended: bool) -> anyhow::Result<()> {
    let (key, role) = target(&args)?;
    let change = SettingsChange {
        suspended: Some(suspended),
        ..SettingsChange::default()
    };
    let action = if suspended {
        "party.suspend"
    } else {
        "party.resume"
    };
    let state = state(&config).await?;
    let outcome = change_settings(&state, &key, role, change, action)
        .await
        .map_err(|e| flag_error(e, &args))?;
    let done = if suspended { "suspended" } else { "resumed" };
    if outcome.changed() {
        println!("{} ({}) {done}", outcome.key, outcome.role);
    } else {
        let already = if suspended {
            "suspended"
        } else {
            "not suspended"
        };
        eprintln!(
            "{} ({}) is {already} already; nothing changed",
            outcome.key, outcome.role
        );
    }
    Ok(())
}

async fn set(config: Settings, args: PartySetArgs) -> anyhow::Result<()> {
    let (key, role) = target(&args.target)?;
    let change = SettingsChange {
        suspended: None,
        max_concurrent: args
            .max_concurrent
            .as_deref()
            .map(|v| number_or_none("--max-concurrent", v, 1, 10_000))
            .transpose()?,
        forward_allowed: args
            .forward_allowed
            .as_deref()
            .map(|v| boolean("--forward-allowed", v))
            .transpose()?,
        delegate_realtime: args
            .delegate_realtime
            .as_deref()
            .map(|v| boolean("--delegate-realtime", v))
            .transpose()?,
        time_budget_ms: args
            .time_budget_ms
            .as_deref()
            .map(|v| number_or_none("--time-budget-ms", v, 100, 60_000))
            .transpose()?,
    };
    if change.max_concurrent.is_none()
        && change.forward_allowed.is_none()
        && change.delegate_realtime.is_none()
        && change.time_budget_ms.is_none()
    {
        anyhow::bail!(
            "nothing to set: give --max-concurrent, --forward-allowed, --delegate-realtime or --time-budget-ms"
        );
    }
    let state = state(&config).await?;
    let outcome = change_settings(&state, &key, role, change, "party.set")
        .await
        .map_err(|e| flag_error(e, &args.target))?;
    if !outcome.changed() {
        eprintln!(
            "{} ({}) has these settings already; nothing changed",
            outcome.key, outcome.role
        );
    }
    println!("{}", describe(&outcome));
    Ok(())
}

fn describe(outcome: &SettingsOutcome) -> String {
    let PartySettings {
        suspended,
        max_concurrent,
        forward_allowed,
        delegate_realtime,
        time_budget_ms,
    } = outcome.after;
    let or_none = |v: Option<u32>| v.map_or_else(|| "none".to_owned(), |v| v.to_string());
    format!(
        "{} ({}): suspended {suspended}, max_concurrent {}, forward_allowed {forward_allowed}, delegate_realtime {delegate_realtime}, time_budget_ms {}",
        outcome.key,
        outcome.role,
        or_none(max_concurrent),
        or_none(time_budget_ms),
    )
}

fn target(args: &PartyTargetArgs) -> anyhow::Result<(PartyKey, Option<Role>)> {
    let key = PartyKey::parse(&args.country_code, &args.party_id)
        .map_err(|e| anyhow::anyhow!("--{}", e.to_string().replace('_', "-")))?;
    let role = args
        .role
        .as_deref()
        .map(|r| {
            r.parse::<Role>()
                .map_err(|e| anyhow::anyhow!("--role: {e}"))
        })
        .transpose()?;
    Ok((key, role))
}

/// A service error as one line naming the flag to change.
fn flag_error(err: SettingsError, args: &PartyTargetArgs) -> anyhow::Error {
    match err {
        SettingsError::NoSuchParty(_) if args.role.is_some() => {
            anyhow::anyhow!("--role: {err} (see `tokenhub party list`)")
        }
        SettingsError::NoSuchParty(_) => {
            anyhow::anyhow!("--party-id: {err} (see `tokenhub party list`)")
        }
        SettingsError::AmbiguousRole { .. } => anyhow::anyhow!("--role: {err}"),
        SettingsError::NotForRole { setting, .. } => {
            anyhow::anyhow!("--{}: {err}", setting.replace('_', "-"))
        }
        SettingsError::Store(e) => anyhow::anyhow!("{e}"),
    }
}

fn boolean(flag: &str, value: &str) -> anyhow::Result<bool> {
    match value.to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => anyhow::bail!("{flag}: {value:?} is neither true nor false"),
    }
}

fn number_or_none(flag: &str, value: &str, min: u32, max: u32) -> anyhow::Result<Option<u32>> {
    if value.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    match value.parse::<u32>() {
        Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
        _ => anyhow::bail!("{flag}: {value:?} is not a whole number from {min} to {max}, or none"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_values_are_checked_naming_the_flag() {
        assert!(boolean("--x", "TRUE").unwrap());
        assert!(boolean("--forward-allowed", "yes")
            .unwrap_err()
            .to_string()
            .starts_with("--forward-allowed: "));
        assert_eq!(number_or_none("--x", "none", 1, 5).unwrap(), None);
        assert_eq!(number_or_none("--x", "3", 1, 5).unwrap(), Some(3));
        for bad in ["0", "6", "-1", "two"] {
            let err = number_or_none("--max-concurrent", bad, 1, 5).unwrap_err();
            assert!(err.to_string().starts_with("--max-concurrent: "), "{err}");
        }
    }
}
