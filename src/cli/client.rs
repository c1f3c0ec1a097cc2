//! `client add|list|disable`: the OAuth clients of the management API (DESIGN §3). A new
//! client's secret is printed once; the hub keeps only its keyed hash.

use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::domain::access::PartyAccess;
use crate::domain::oauth::ScopeSet;
use crate::secrets::client_secrets::SecretHasher;
use crate::secrets::load_keys;
use crate::service::oauth::clients::{add_client, disable_client, list_clients, NewClient};
use crate::telemetry;

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Register an OAuth client and print its client_id and, unless public, its secret (once).
    Add(ClientAddArgs),
    /// List every client (never a secret).
    List(ClientListArgs),
    /// Disable a client: its secret stops working on every instance within `oauth.poll_ms`.
    Disable(ClientDisableArgs),
}

#[derive(Args, Debug)]
pub struct ClientAddArgs {
    /// A name for the client in lists and logs.
    #[arg(long)]
    name: String,
    /// The scopes the client may have, space-separated, e.g. "tokens:read audit:read".
    #[arg(long)]
    scopes: String,
    /// A redirect URI for the authorization-code grant (repeatable); without one the client is
    /// for the client-credentials grant.
    #[arg(long = "redirect-uri", value_name = "URI")]
    redirect_uris: Vec<String>,
    /// A public client: no secret, PKCE only (needs --redirect-uri).
    #[arg(long)]
    public: bool,
    /// Restrict its tokens to a party, as CC*PID (repeatable); without one: every party.
    #[arg(long = "party", value_name = "CC*PID")]
    parties: Vec<String>,
    /// Print JSON {"client_id": ..., "client_secret": ...}.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ClientListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct ClientDisableArgs {
    /// The client's id.
    #[arg(long)]
    client_id: String,
}

pub async fn run(config: Settings, command: ClientCommand) -> anyhow::Result<()> {
    telemetry::init(config.log.format, "warn");
    match command {
        ClientCommand::Add(args) => add(config, args).await,
        ClientCommand::List(args) => list(config, args).await,
        ClientCommand::Disable(args) => disable(config, args).await,
    }
}

/// A redirect URI as RFC 9700 §2.1 wants it: absolute, no fragment, HTTPS unless it points back
/// to this machine (a native app's loopback listener).
fn redirect_uri(text: &str) -> anyhow::Result<url::Url> {
    let url = url::Url::parse(text).map_err(|e| anyhow::anyhow!("--redirect-uri {text}: {e}"))?;
    if url.fragment().is_some() {
        anyhow::bail!("--redirect-uri {text}: must not have a fragment (RFC 6749 §3.1.2)");
    }
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "[::1]" | "localhost"));
    match url.scheme() {
        "https" => Ok(url),
        "http" if loopback => Ok(url),
        _ => anyhow::bail!(
            "--redirect-uri {text}: must be https (or http on 127.0.0.1, [::1] or localhost)"
        ),
    }
}

fn new_client(args: &ClientAddArgs) -> anyhow::Result<NewClient> {
    let name = args.name.trim();
    if name.is_empty() || name.len() > 255 {
        anyhow::bail!("--name: 1 to 255 characters");
    }
    let scopes =
        ScopeSet::parse(args.scopes.trim()).map_err(|e| anyhow::anyhow!("--scopes: {e}"))?;
    let redirect_uris = args
        .redirect_uris
        .iter()
        .map(|u| redirect_uri(u))
        .collect::<anyhow::Result<Vec<_>>>()?;
    if args.public && redirect_uris.is_empty() {
        anyhow::bail!("--public: a public client has no secret, so it can only use the authorization-code grant: give --redirect-uri");
    }
    let parties = PartyAccess::from_list("--party", &args.parties)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
    Ok(NewClient {
        name: name.to_owned(),
        scopes,
        redirect_uris,
        public: args.public,
        parties,
    })
}

async fn add(config: Settings, args: ClientAddArgs) -> anyhow::Result<()> {
    let new = new_client(&args)?;
    let keys = load_keys(&config)?;
    let store = super::open_store(&config).await?;
    let issued = add_client(&store, &SecretHasher::new(&keys), new, "operator").await?;
    if args.json {
        let mut out = serde_json::json!({ "client_id": issued.client_id });
        if let Some(secret) = &issued.client_secret {
            out["client_secret"] = secret.as_str().into();
        }
        println!("{out}");
    } else {
        println!("client_id: {}", issued.client_id);
        if let Some(secret) = &issued.client_secret {
            println!("client_secret: {secret}");
        }
    }
    if issued.client_secret.is_some() {
        eprintln!("the secret is shown this once: the hub keeps only a hash of it");
    }
    Ok(())
}

async fn list(config: Settings, args: ClientListArgs) -> anyhow::Result<()> {
    let store = super::open_store(&config).await?;
    let clients = list_clients(&store).await?;
    if args.json {
        let rows: Vec<_> = clients
            .iter()
            .map(|c| {
                serde_json::json!({
                    "client_id": c.client_id,
                    "name": c.name,
                    "scopes": c.scopes.to_string(),
                    "redirect_uris": c.redirect_uris,
                    "public": c.secret_hash.is_none(),
                    "disabled": c.disabled,
                    "parties": c.parties.to_claim(),
                    "created_at": c.created_at.and_utc().to_rfc3339(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    println!("CLIENT_ID\tTYPE\tDISABLED\tPARTIES\tSCOPES\tNAME");
    for c in &clients {
        let kind = match (c.secret_hash.is_some(), c.redirect_uris.is_empty()) {
            (true, true) => "client_credentials",
            (true, false) => "confidential",
            (false, _) => "public",
        };
        println!(
            "{}\t{kind}\t{}\t{}\t{}\t{}",
            c.client_id, c.disabled, c.parties, c.scopes, c.name
        );
    }
    Ok(())
}

async fn disable(config: Settings, args: ClientDisableArgs) -> anyhow::Result<()> {
    let store = super::open_store(&config).await?;
    if !disable_client(&store, &args.client_id, "operator").await? {
        anyhow::bail!(
            "--client-id: there is no client {} (see `tokenhub client list`)",
            args.client_id
        );
    }
    eprintln!("client {} disabled", args.client_id);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(scopes: &str, uris: &[&str], public: bool) -> ClientAddArgs {
        ClientAddArgs {
            name: "bi".into(),
            scopes: scopes.into(),
            redirect_uris: uris.iter().map(|u| u.to_string()).collect(),
            public,
            parties: Vec::new(),
            json: false,
        }
    }

    #[test]
    fn bad_arguments_name_their_flag() {
        for (a, flag) in [
            (args("tokens:read nope", &[], false), "--scopes"),
            (args("", &[], false), "--scopes"),
            (args("tokens:read", &[], true), "--public"),
            (
                args("tokens:read", &["http://example.com/cb"], false),
                "--redirect-uri",
            ),
            (
                args("tokens:read", &["https://example.com/cb#x"], false),
                "--redirect-uri",
            ),
            (args("tokens:read", &["not a url"], false), "--redirect-uri"),
            (
                ClientAddArgs {
                    parties: vec!["NLABC".into()],
                    ..args("tokens:read", &[], false)
                },
                "--party",
            ),
        ] {
            let err = new_client(&a).unwrap_err().to_string();
            assert!(err.starts_with(flag), "{err}");
        }
        assert!(new_client(&args("tokens:read", &["http://127.0.0.1:9/cb"], true)).is_ok());
        assert!(new_client(&args("audit:read tokens:read", &[], false)).is_ok());
        let restricted = ClientAddArgs {
            parties: vec!["nl*abc".into(), "DE*XYZ".into()],
            ..args("tokens:read", &[], false)
        };
        assert_eq!(
            new_client(&restricted)
                .unwrap()
                .parties
                .to_stored()
                .as_deref(),
            Some("DE*XYZ NL*ABC")
        );
    }
}
