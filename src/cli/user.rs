//! `user add|list|disable` and `user totp enable|disable`: the people who log in on the hub's
//! login page (DESIGN §3). Passwords are read from stdin (never a flag: flags land in shell
//! history and `ps`), stored as Argon2id; a TOTP secret's URI is printed once.

use std::io::Read;

use clap::{Args, Subcommand};

use crate::config::Settings;
use crate::domain::access::PartyAccess;
use crate::domain::oauth::{ScopeSet, Username};
use crate::secrets::load_keys;
use crate::secrets::passwords::check_password_rules;
use crate::service::oauth::users::{add_user, disable_totp, disable_user, enable_totp, list_users};
use crate::telemetry;

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Add a person who logs in on the hub's login page (password read from stdin).
    Add(UserAddArgs),
    /// List every user (never a password or a TOTP secret).
    List(UserListArgs),
    /// Disable a user: its refresh tokens and their access tokens are revoked too.
    Disable(UsernameArgs),
    /// The user's second factor (TOTP, RFC 6238).
    #[command(subcommand)]
    Totp(TotpCommand),
}

#[derive(Subcommand, Debug)]
pub enum TotpCommand {
    /// Give the user a new TOTP secret and print its otpauth:// URI (once) for an authenticator app.
    Enable(UsernameArgs),
    /// Remove the user's second factor.
    Disable(UsernameArgs),
}

#[derive(Args, Debug)]
pub struct UserAddArgs {
    /// Login name: lowercase letters, digits and . _ - @ (1 to 64).
    #[arg(long)]
    username: String,
    /// Read the password from stdin (required: a password is never a flag). At least 12 characters.
    #[arg(long)]
    password_stdin: bool,
    /// The scopes any token for this user may carry, space-separated, e.g. "tokens:read audit:read".
    #[arg(long)]
    scopes: String,
    /// Restrict the user to a party, as CC*PID (repeatable); without one: every party.
    #[arg(long = "party", value_name = "CC*PID")]
    parties: Vec<String>,
}

#[derive(Args, Debug)]
pub struct UserListArgs {
    /// Print a JSON array instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
pub struct UsernameArgs {
    /// The user's login name.
    #[arg(long)]
    username: String,
}

pub async fn run(config: Settings, command: UserCommand) -> anyhow::Result<()> {
    telemetry::init(config.log.format, "warn");
    match command {
        UserCommand::Add(args) => add(config, args).await,
        UserCommand::List(args) => list(config, args).await,
        UserCommand::Disable(args) => disable(config, args).await,
        UserCommand::Totp(TotpCommand::Enable(args)) => totp_enable(config, args).await,
        UserCommand::Totp(TotpCommand::Disable(args)) => totp_disable(config, args).await,
    }
}

fn username(text: &str) -> anyhow::Result<Username> {
    Username::parse(text).map_err(|e| anyhow::anyhow!("--username: {e}"))
}

/// The password on stdin: one line (a trailing newline is not part of it).
fn password_from(mut input: impl Read) -> anyhow::Result<String> {
    let mut text = String::new();
    input
        .read_to_string(&mut text)
        .map_err(|e| anyhow::anyhow!("--password-stdin: cannot read stdin: {e}"))?;
    let password = text
        .strip_suffix('\n')
        .map(|t| t.strip_suffix('\r').unwrap_or(t))
        .unwrap_or(&text)
        .to_owned();
    check_password_rules(&password).map_err(|e| anyhow::anyhow!("--password-stdin: {e}"))?;
    Ok(password)
}

async fn add(config: Settings, args: UserAddArgs) -> anyhow::Result<()> {
    let name = username(&args.username)?;
    let scopes =
        ScopeSet::parse(args.scopes.trim()).map_err(|e| anyhow::anyhow!("--scopes: {e}"))?;
    let parties = PartyAccess::from_list("--party", &args.parties)
        .map_err(|e| anyhow::anyhow!("{}: {}", e.field, e.message))?;
    if !args.password_stdin {
        anyhow::bail!("--password-stdin is required: pipe the password in (it is never a flag)");
    }
    let password = password_from(std::io::stdin())?;
    let store = super::open_store(&config).await?;
    if !add_user(&store, &name, password, &scopes, &parties, "operator").await? {
        anyhow::bail!("--username: {name} exists already (see `tokenhub user list`)");
    }
    eprintln!("user {name} added with scopes {scopes}, for {parties}");
    Ok(())
}

async fn list(config: Settings, args: UserListArgs) -> anyhow::Result<()> {
    let store = super::open_store(&config).await?;
    let users = list_users(&store).await?;
    if args.json {
        let rows: Vec<_> = users
            .iter()
            .map(|u| {
                serde_json::json!({
                    "username": u.username,
                    "scopes": u.scopes.to_string(),
                    "totp": u.totp,
                    "disabled": u.disabled,
                    "parties": u.parties.to_claim(),
                    "created_at": u.created_at.and_utc().to_rfc3339(),
                })
            })
            .collect();
        println!("{}", serde_json::Value::Array(rows));
        return Ok(());
    }
    println!("USERNAME\tTOTP\tDISABLED\tPARTIES\tSCOPES");
    for u in &users {
        println!(
            "{}\t{}\t{}\t{}\t{}",
            u.username, u.totp, u.disabled, u.parties, u.scopes
        );
    }
    Ok(())
}

fn no_such_user(name: &str) -> anyhow::Error {
    anyhow::anyhow!("--username: there is no user {name} (see `tokenhub user list`)")
}

async fn disable(config: Settings, args: UsernameArgs) -> anyhow::Result<()> {
    let name = username(&args.username)?;
    let store = super::open_store(&config).await?;
    if !disable_user(&store, name.as_str(), "operator").await? {
        return Err(no_such_user(name.as_str()));
    }
    eprintln!("user {name} disabled; its refresh tokens and their access tokens are revoked");
    Ok(())
}

async fn totp_enable(config: Settings, args: UsernameArgs) -> anyhow::Result<()> {
    let name = username(&args.username)?;
    let keys = load_keys(&config)?;
    let store = super::open_store(&config).await?;
    let Some(uri) = enable_totp(&store, &keys, &config.hub.name, name.as_str(), "operator").await?
    else {
        return Err(no_such_user(name.as_str()));
    };
    println!("{uri}");
    eprintln!("the URI is shown this once: add it to the user's authenticator app (or as a QR code); the next login asks for a code");
    Ok(())
}

async fn totp_disable(config: Settings, args: UsernameArgs) -> anyhow::Result<()> {
    let name = username(&args.username)?;
    let store = super::open_store(&config).await?;
    if !disable_totp(&store, name.as_str(), "operator").await? {
        return Err(no_such_user(name.as_str()));
    }
    eprintln!("user {name}: second factor removed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_from_stdin_lose_only_the_newline() {
        assert_eq!(
            password_from("correct horse battery\n".as_bytes()).unwrap(),
            "correct horse battery"
        );
        assert_eq!(
            password_from("correct horse battery\r\n".as_bytes()).unwrap(),
            "correct horse battery"
        );
        assert_eq!(
            password_from(" spaces count too ".as_bytes()).unwrap(),
            " spaces count too "
        );
        let err = password_from("short\n".as_bytes()).unwrap_err().to_string();
        assert!(err.starts_with("--password-stdin"), "{err}");
        assert!(username("Alice")
            .unwrap_err()
            .to_string()
            .starts_with("--username"));
    }
}
