//! `agreement add|remove|list`: the roaming agreements between CPOs and eMSPs that
//! `hub.agreements = "explicit"` honours (docs/design.md §6). Each change goes to the change log
//! (actor `operator`) in the transaction that makes it.

use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::domain::agreement::AgreementMode;
use crate::domain::ids::PartyKey;
use crate::domain::party::Role;
use crate::secrets::load_keys;
use crate::service::agreements::{self, AgreementChange, AgreementError};
use crate::service::AppState;
use crate::telemetry;

#[derive(Subcommand, Debug)]
pub enum AgreementCommand {
    /// Record that a CPO and an eMSP deal with each other (nothing changes if they do already).
    Add(PairArgs),
    /// Remove the agreement of a CPO and an eMSP.
    Remove(PairArgs),
    /// List the agreements, oldest first.
    List(ListArgs),
}

#[derive(Args, Debug)]
pub struct PairArgs {
    /// The CPO, as COUNTRY*PARTY (e.g. DE*CPO): a CPO party of the hub.
    #[arg(long, value_name = "CC*PID")]
    cpo: String,
    /// The eMSP, as COUNTRY*PARTY (e.g. NL*ABC): an EMSP party of the hub.
    #[arg(long, value_name = "CC*PID")]
    emsp: String,
    /// Print JSON {"cpo": ..., "emsp": ..., "changed": ...}.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// Only the agreements of this CPO (COUNTRY*PARTY).
    #[arg(long, value_name = "CC*PID")]
    cpo: Option<String>,
    /// Only the agreements of this eMSP (COUNTRY*PARTY).
    #[arg(long, value_name = "CC*PID")]
    emsp: Option<String>,
    /// Print a JSON array (one object per agreement) instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs one agreement command; each logs only warnings, as its output is for the operator.
pub async fn run(config: Settings, command: AgreementCommand) -> anyhow::Result<()> {
    telemetry::init(config.log.format, "warn");
    match command {
        AgreementCommand::Add(args) => change(config, args, AgreementChange::Add).await,
        AgreementCommand::Remove(args) => change(config, args, AgreementChange::Remove).await,
        AgreementCommand::List(args) => list(config, args).await,
    }
}

/// `CC*PID` as a party key, an error naming `flag`.
pub fn party_flag(flag: &str, value: &str) -> anyhow::Result<PartyKey> {
    let Some((cc, pid)) = value.split_once('*') else {
        anyhow::bail!("{flag}: {value:?} is not COUNTRY*PARTY (e.g. DE*CPO)");
    };
    PartyKey::parse(cc, pid).map_err(|e| anyhow::anyhow!("{flag}: {e}"))
}

async fn state(config: &Settings) -> anyhow::Result<AppState> {
    let keys = load_keys(config)?;
    let store = super::open_store(config).await?;
    let public_url = config.http.public_url_or(config.http.bind);
    AppState::new(config, store, keys, public_url).map_err(anyhow::Error::msg)
}

async fn change(config: Settings, args: PairArgs, change: AgreementChange) -> anyhow::Result<()> {
    let cpo = party_flag("--cpo", &args.cpo)?;
    let emsp = party_flag("--emsp", &args.emsp)?;
    let state = state(&config).await?;
    let changed = agreements::change(&state, change, &cpo, &emsp)
        .await
        .map_err(|e| match e {
            AgreementError::NotAParty {
                role: Role::Cpo, ..
            } => {
                anyhow::anyhow!("--cpo: {e} (see `tokenhub party list`)")
            }
            AgreementError::NotAParty { .. } => {
                anyhow::anyhow!("--emsp: {e} (see `tokenhub party list`)")
            }
            AgreementError::Store(e) => anyhow::anyhow!("{e}"),
        })?;
    if config.hub.agreements == AgreementMode::Open {
        eprintln!(
            "note: hub.agreements is open: every CPO deals with every eMSP; agreements take effect with hub.agreements = \"explicit\""
        );
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({ "cpo": cpo.to_string(), "emsp": emsp.to_string(), "changed": changed })
        );
        return Ok(());
    }
    match (change, changed) {
        (AgreementChange::Add, true) => println!("agreement {cpo} (CPO) – {emsp} (EMSP) added"),
        (AgreementChange::Remove, true) => {
            println!("agreement {cpo} (CPO) – {emsp} (EMSP) removed")
        }
        (AgreementChange::Add, false) => {
            eprintln!("{cpo} and {emsp} have an agreement already; nothing changed")
        }
        (AgreementChange::Remove, false) => {
            eprintln!("{cpo} and {emsp} have no agreement; nothing changed")
        }
    }
    Ok(())
}

async fn list(config: Settings, args: ListArgs) -> anyhow::Result<()> {
    let cpo = args
        .cpo
        .as_deref()
        .map(|v| party_flag("--cpo", v))
        .transpose()?;
    let emsp = args
        .emsp
        .as_deref()
        .map(|v| party_flag("--emsp", v))
        .transpose()?;
    let store = super::open_store(&config).await?;
    let rows = agreements::list(&store, cpo, emsp).await?;
    if args.json {
        let rows: Vec<_> = rows
            .iter()
            .map(|r| {
                serde_json::json!({
                    "cpo": r.agreement.cpo.to_string(),
                    "emsp": r.agreement.emsp.to_string(),
                    "created_at": crate::domain::datetime::format_ocpi_datetime(&r.created_at.and_utc()),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    let table: Vec<[String; 3]> = std::iter::once(["CPO", "EMSP", "CREATED_AT"].map(String::from))
        .chain(rows.iter().map(|r| {
            [
                r.agreement.cpo.to_string(),
                r.agreement.emsp.to_string(),
                crate::domain::datetime::format_ocpi_datetime(&r.created_at.and_utc()),
            ]
        }))
        .collect();
    super::print_table(&table);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn party_flags_are_country_star_party() {
        assert_eq!(party_flag("--cpo", "de*cpo").unwrap().to_string(), "DE*CPO");
        for (bad, says) in [
            ("DECPO", "--cpo: \"DECPO\" is not COUNTRY*PARTY"),
            ("DEU*CPO", "--cpo: country_code: "),
            ("DE*CP", "--cpo: party_id: "),
        ] {
            let err = party_flag("--cpo", bad).unwrap_err().to_string();
            assert!(err.starts_with(says), "{bad}: {err}");
        }
    }
}
