//! `party list`, `party suspend`, `party resume`, `party set`: the operator's view and settings
//! of every party. Each change goes to the change log (actor `operator`) in the transaction that
//! makes it.

use clap::Args;

use crate::config::Settings;
use crate::domain::ids::PartyKey;
use crate::domain::party::{PartySettings, Role};
use crate::secrets::{load_keys, Keys};
use crate::service::parties::{
    change_settings, list_parties, PartyListing, SettingsChange, SettingsError, SettingsOutcome,
};
use crate::service::AppState;
use crate::store::Store;

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

/// The state a party command acts with: it pushes status changes to partners as the server does.
async fn state(config: &Settings) -> anyhow::Result<AppState> {
    let keys = load_keys(config)?;
    let store = Store::open(&config.store_settings()).await?;
    state_with(config, store, keys)
}

fn state_with(config: &Settings, store: Store, keys: Keys) -> anyhow::Result<AppState> {
    AppState::new(config, store, keys, super::public_url(config)).map_err(anyhow::Error::msg)
}

/// After `party add` or `party invite`: tells the partners that take hubclientinfo about the
/// party (best effort, as every push; the party is stored whatever happens here).
pub async fn announce(config: &Settings, store: Store, keys: Keys, key: PartyKey, role: Role) {
    match state_with(config, store, keys) {
        Ok(state) => {
            state.client_info.push(vec![(key, role)]).await;
        }
        Err(e) => tracing::warn!(error = %e, "hubclientinfo push skipped"),
    }
}

pub async fn list(config: Settings, args: PartyListArgs) -> anyhow::Result<()> {
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
    let widths: Vec<usize> = (0..9)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    for row in rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:width$}"))
            .collect();
        println!("{}", cells.join("  ").trim_end());
    }
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

pub async fn suspend(
    config: Settings,
    args: PartyTargetArgs,
    suspended: bool,
) -> anyhow::Result<()> {
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

pub async fn set(config: Settings, args: PartySetArgs) -> anyhow::Result<()> {
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
