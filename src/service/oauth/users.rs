//! People who log in to the hub's login page (`tokenhub user add`): an Argon2id password, the
//! scopes any token for them may carry, and optionally a TOTP second factor whose secret is
//! sealed under a key derived from the master key (the hub must read it back to check a code).

use chrono::{NaiveDateTime, Utc};

use crate::domain::access::PartyAccess;
use crate::domain::oauth::{ScopeSet, Username};
use crate::secrets::passwords::{hash_password, verify_against_dummy, verify_password};
use crate::secrets::sealed::Sealer;
use crate::secrets::{totp, Keys, Purpose};
use crate::store::connections::{record_change, Change};
use crate::store::login::{self as rows, UserRow};
use crate::store::{Store, StoreError, StoreResult};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub username: String,
    pub scopes: ScopeSet,
    pub totp: bool,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    /// The parties the person's tokens may act for (within the client's too).
    pub parties: PartyAccess,
}

impl TryFrom<&UserRow> for User {
    type Error = StoreError;

    fn try_from(row: &UserRow) -> Result<Self, Self::Error> {
        Ok(User {
            username: row.username.clone(),
            scopes: ScopeSet::parse(&row.scopes)
                .map_err(|e| StoreError::Query(format!("user {}: {e}", row.username)))?,
            totp: row.totp_secret_sealed.is_some(),
            disabled: row.disabled,
            created_at: row.created_at,
            parties: PartyAccess::from_stored(row.parties.as_deref())
                .map_err(|e| StoreError::Query(format!("user {}: {e}", row.username)))?,
        })
    }
}

/// The sealer of TOTP secrets.
pub fn totp_sealer(keys: &Keys) -> Sealer {
    Sealer::new(keys.derive(Purpose::TOTP_SECRET_ENCRYPTION))
}

/// Adds a user; false when the username is taken (nothing changed).
pub async fn add_user(
    store: &Store,
    username: &Username,
    password: String,
    scopes: &ScopeSet,
    parties: &PartyAccess,
    actor: &str,
) -> StoreResult<bool> {
    // Argon2id takes tens of milliseconds of CPU: not on an async worker.
    let password_hash = tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| StoreError::Query(format!("hashing the password: {e}")))?;
    let row = UserRow {
        username: username.to_string(),
        password_hash,
        scopes: scopes.to_string(),
        totp_secret_sealed: None,
        totp_last_step: None,
        disabled: false,
        created_at: Utc::now().naive_utc(),
        parties: parties.to_stored(),
    };
    let parties_claim = parties.to_claim();
    let actor = actor.to_owned();
    store
        .write(move |conn| {
            if rows::find_user(conn, &row.username)?.is_some() {
                return Ok(false);
            }
            rows::insert_user(conn, &row)?;
            record_change(
                conn,
                &Change {
                    actor: &actor,
                    action: "user.add",
                    subject: &format!("user:{}", row.username),
                    before: None,
                    after: Some(
                        serde_json::json!({ "scopes": row.scopes, "parties": parties_claim }),
                    ),
                },
                row.created_at,
            )?;
            Ok(true)
        })
        .await
}

pub async fn list_users(store: &Store) -> StoreResult<Vec<User>> {
    let rows = store.read(rows::list_users).await?;
    rows.iter().map(User::try_from).collect()
}

/// Disables a user and revokes every refresh token it holds and the access tokens issued with
/// them (on every instance within `oauth.poll_ms`); false when there is no such user.
pub async fn disable_user(store: &Store, username: &str, actor: &str) -> StoreResult<bool> {
    let (username, actor) = (username.to_owned(), actor.to_owned());
    store
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            let changed = rows::disable_user(conn, &username, now)?;
            if changed {
                record_change(
                    conn,
                    &Change {
                        actor: &actor,
                        action: "user.disable",
                        subject: &format!("user:{username}"),
                        before: Some(serde_json::json!({ "disabled": false })),
                        after: Some(serde_json::json!({ "disabled": true })),
                    },
                    now,
                )?;
            }
            Ok(changed)
        })
        .await
}

/// Gives `username` a new TOTP secret and returns its `otpauth://` URI (shown once); `None` when
/// there is no such user. A secret set before stops working.
pub async fn enable_totp(
    store: &Store,
    keys: &Keys,
    issuer: &str,
    username: &str,
    actor: &str,
) -> StoreResult<Option<String>> {
    let secret = totp::new_secret();
    let sealed = totp_sealer(keys).seal(&hex::encode(&secret));
    let (user, actor) = (username.to_owned(), actor.to_owned());
    let found = store
        .write(move |conn| set_totp_logged(conn, &user, Some(&sealed), &actor))
        .await?;
    Ok(found.then(|| totp::otpauth_uri(issuer, username, &secret)))
}

/// Removes the second factor; false when there is no such user.
pub async fn disable_totp(store: &Store, username: &str, actor: &str) -> StoreResult<bool> {
    let (user, actor) = (username.to_owned(), actor.to_owned());
    store
        .write(move |conn| set_totp_logged(conn, &user, None, &actor))
        .await
}

fn set_totp_logged(
    conn: &mut crate::store::Conn<'_>,
    username: &str,
    sealed: Option<&str>,
    actor: &str,
) -> StoreResult<bool> {
    let found = rows::set_totp(conn, username, sealed)?;
    if found {
        record_change(
            conn,
            &Change {
                actor,
                action: if sealed.is_some() {
                    "user.totp_enable"
                } else {
                    "user.totp_disable"
                },
                subject: &format!("user:{username}"),
                before: None,
                after: Some(serde_json::json!({ "totp": sealed.is_some() })),
            },
            Utc::now().naive_utc(),
        )?;
    }
    Ok(found)
}

/// A person whose password checked out, with what the login page still needs.
pub struct LoggedIn {
    pub user: User,
    /// The TOTP secret when the second factor is on.
    pub totp_secret: Option<Vec<u8>>,
}

/// Checks a username and password. An unknown or disabled user costs the same Argon2id
/// verification as a wrong password and gets the same `None`: neither the answer nor its timing
/// says whether the username exists.
pub async fn check_password(
    store: &Store,
    keys: &Keys,
    username: &str,
    password: String,
) -> StoreResult<Option<LoggedIn>> {
    let row = match Username::parse(username) {
        Ok(name) => {
            let name = name.to_string();
            store.read(move |conn| rows::find_user(conn, &name)).await?
        }
        Err(_) => None,
    };
    let row = row.filter(|r| !r.disabled);
    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let matches = tokio::task::spawn_blocking(move || match stored {
        Some(stored) => verify_password(&password, &stored),
        None => {
            verify_against_dummy(&password);
            false
        }
    })
    .await
    .map_err(|e| StoreError::Query(format!("verifying a password: {e}")))?;
    let Some(row) = row.filter(|_| matches) else {
        return Ok(None);
    };
    let totp_secret = match &row.totp_secret_sealed {
        Some(sealed) => Some(open_totp(keys, &row.username, sealed)?),
        None => None,
    };
    Ok(Some(LoggedIn {
        user: User::try_from(&row)?,
        totp_secret,
    }))
}

fn open_totp(keys: &Keys, username: &str, sealed: &str) -> StoreResult<Vec<u8>> {
    totp_sealer(keys)
        .open(sealed)
        .ok()
        .and_then(|text| hex::decode(text).ok())
        .ok_or_else(|| StoreError::Query(format!("user {username}: the TOTP secret does not open")))
}

/// Whether `code` is a good TOTP code of `username` (enabled, second factor on) now, used for
/// the first time: a code accepted once is refused afterwards, within its window too.
pub async fn check_totp(
    store: &Store,
    keys: &Keys,
    username: &str,
    code: &str,
) -> StoreResult<bool> {
    let name = username.to_owned();
    let row = store.read(move |conn| rows::find_user(conn, &name)).await?;
    let Some(UserRow {
        totp_secret_sealed: Some(sealed),
        disabled: false,
        ..
    }) = row
    else {
        return Ok(false);
    };
    let secret = open_totp(keys, username, &sealed)?;
    let Some(step) = totp::verify(&secret, code, Utc::now().timestamp()) else {
        return Ok(false);
    };
    let name = username.to_owned();
    store
        .write(move |conn| rows::use_totp_step(conn, &name, step))
        .await
}

/// An enabled user, as the consent step reads it again (its scopes may have changed).
pub async fn find_enabled_user(store: &Store, username: &str) -> StoreResult<Option<User>> {
    let name = username.to_owned();
    let row = store.read(move |conn| rows::find_user(conn, &name)).await?;
    row.filter(|r| !r.disabled)
        .as_ref()
        .map(User::try_from)
        .transpose()
}
