//! Registering trusted parties: the hub issues the credentials token, keeps only its hash, and
//! hands the token back once, to be shown to whoever runs the command. And the operator's view
//! and settings of every party: list, suspend, resume, set.

use chrono::Utc;

use crate::domain::access::PartyAccess;
use crate::domain::ids::PartyKey;
use crate::domain::partner::ConnectionStatus;
use crate::domain::party::{CredentialsKind, PartySettings, Role};
use crate::secrets::{hash_token, new_credentials_token};
use crate::store::connections::{self, Change, InviteOutcome};
use crate::store::parties::{self, AddOutcome, NewParty};
use crate::store::{outbox, tokens, Store, StoreError, StoreResult};

use super::AppState;

/// Registers `key` in `role` with a new credentials token, or (with `rotate`) issues the existing
/// party a new one. Returns the outcome and the token; with `AlreadyExists` the token was not
/// stored and must not be shown.
pub async fn register_party(
    store: &Store,
    key: &PartyKey,
    role: Role,
    name: &str,
    rotate: bool,
) -> StoreResult<(AddOutcome, String)> {
    let token = new_credentials_token();
    let hash = hash_token(&token);
    let (key, name) = (key.clone(), name.to_owned());
    let outcome = store
        .write(move |conn| {
            parties::add_party(
                conn,
                NewParty {
                    key: &key,
                    role,
                    name: &name,
                },
                &hash,
                CredentialsKind::Registered,
                rotate,
                Utc::now().naive_utc(),
            )
        })
        .await?;
    super::credentials::forget_unknown_tokens();
    Ok((outcome, token))
}

/// Why a rotation did not happen.
#[derive(Debug)]
pub enum RotateError {
    NoSuchParty(String),
    AmbiguousRole { key: PartyKey, roles: Vec<Role> },
    Store(StoreError),
}

impl From<StoreError> for RotateError {
    fn from(e: StoreError) -> Self {
        RotateError::Store(e)
    }
}

/// Gives the party `key` (in `role`, needed only when it has several) a new credentials token,
/// as `party add --rotate` does, and records it in the change log as `actor`'s. The old token
/// stops working at once: here the credentials cache is cleared, and every other instance drops
/// its lookups when it sees the credentials epoch move (same transaction). Returns the role and
/// the new token, to be shown once.
pub async fn rotate_credentials_as(
    state: &AppState,
    key: &PartyKey,
    role: Option<Role>,
    actor: &str,
) -> Result<(Role, String), RotateError> {
    let rows = {
        let key = key.clone();
        state
            .store
            .read(move |conn| parties::settings_of(conn, &key))
            .await?
    };
    let roles: Vec<Role> = rows.iter().filter_map(|r| r.role.parse().ok()).collect();
    let role = match (role, roles.as_slice()) {
        (Some(role), _) if roles.contains(&role) => role,
        (Some(role), _) => return Err(RotateError::NoSuchParty(format!("{key} with role {role}"))),
        (None, []) => return Err(RotateError::NoSuchParty(key.to_string())),
        (None, [only]) => *only,
        (None, _) => {
            return Err(RotateError::AmbiguousRole {
                key: key.clone(),
                roles,
            })
        }
    };
    let token = new_credentials_token();
    let hash = hash_token(&token);
    let (key, actor) = (key.clone(), actor.to_owned());
    let outcome = state
        .store
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            let outcome = parties::add_party(
                conn,
                NewParty {
                    key: &key,
                    role,
                    name: "",
                },
                &hash,
                CredentialsKind::Registered,
                true,
                now,
            )?;
            if outcome == AddOutcome::Rotated {
                connections::record_change(
                    conn,
                    &Change {
                        actor: &actor,
                        action: "party.rotate",
                        subject: &format!("party:{key}:{role}"),
                        before: None,
                        // Never the token, nor its hash.
                        after: Some(serde_json::json!({ "credentials": "rotated" })),
                    },
                    now,
                )?;
            }
            Ok((outcome, key))
        })
        .await?;
    match outcome {
        (AddOutcome::Rotated, _) => {
            state.credentials.clear();
            super::credentials::forget_unknown_tokens();
            Ok((role, token))
        }
        (_, key) => Err(RotateError::NoSuchParty(format!("{key} with role {role}"))),
    }
}

/// Invites `key` in `role`: a new token A, good only for the versions and credentials modules
/// until the partner registers with it (`POST credentials`). Returns the outcome and the token;
/// with `AlreadyConnected` the token was not stored and must not be shown.
pub async fn invite_party(
    store: &Store,
    key: &PartyKey,
    role: Role,
    name: &str,
) -> StoreResult<(InviteOutcome, String)> {
    invite_party_as(store, key, role, name, "operator").await
}

/// [`invite_party`] by `actor` (the management API names its caller in the change log).
pub async fn invite_party_as(
    store: &Store,
    key: &PartyKey,
    role: Role,
    name: &str,
    actor: &str,
) -> StoreResult<(InviteOutcome, String)> {
    let token = new_credentials_token();
    let hash = hash_token(&token);
    let (key, name, actor) = (key.clone(), name.to_owned(), actor.to_owned());
    let outcome = store
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            let outcome = connections::invite(conn, &key, role, &name, &hash, now)?;
            if outcome != InviteOutcome::AlreadyConnected {
                connections::record_change(
                    conn,
                    &Change {
                        actor: &actor,
                        action: "party.invite",
                        subject: &format!("party:{key}:{role}"),
                        before: None,
                        after: Some(serde_json::json!({ "status": "PLANNED", "name": name })),
                    },
                    now,
                )?;
            }
            Ok(outcome)
        })
        .await?;
    Ok((outcome, token))
}

/// A party as `party list` shows it.
#[derive(Clone, Debug)]
pub struct PartyListing {
    pub key: PartyKey,
    pub role: Role,
    pub name: String,
    pub status: ConnectionStatus,
    pub settings: PartySettings,
}

/// The parties a caller restricted to `access` sees, with status and settings, oldest first.
pub async fn list_parties_for(
    store: &Store,
    access: &PartyAccess,
) -> StoreResult<Vec<PartyListing>> {
    let all = list_parties(store).await?;
    Ok(all.into_iter().filter(|p| access.permits(&p.key)).collect())
}

/// Every party with its status and settings, oldest first.
pub async fn list_parties(store: &Store) -> StoreResult<Vec<PartyListing>> {
    let (rows, statuses) = store
        .read(|conn| {
            Ok((
                parties::all_settings(conn)?,
                connections::client_infos(conn)?,
            ))
        })
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|row| {
            let key = PartyKey::parse(&row.country_code, &row.party_id).ok()?;
            let role: Role = row.role.parse().ok()?;
            let status = statuses
                .iter()
                .find(|s| s.info.key == key && s.info.role == role)?
                .info
                .status;
            Some(PartyListing {
                settings: row.settings(),
                key,
                role,
                name: row.name,
                status,
            })
        })
        .collect())
}

/// A change of some of a party's settings; `None` leaves a setting as it is.
#[derive(Clone, Copy, Debug, Default)]
pub struct SettingsChange {
    pub suspended: Option<bool>,
    /// `Some(None)` removes the party's limit (the global default applies).
    pub max_concurrent: Option<Option<u32>>,
    pub forward_allowed: Option<bool>,
    pub delegate_realtime: Option<bool>,
    /// `Some(None)` removes the party's budget (the hub's default applies).
    pub time_budget_ms: Option<Option<u32>>,
}

impl SettingsChange {
    fn apply(&self, to: PartySettings) -> PartySettings {
        PartySettings {
            suspended: self.suspended.unwrap_or(to.suspended),
            max_concurrent: self.max_concurrent.unwrap_or(to.max_concurrent),
            forward_allowed: self.forward_allowed.unwrap_or(to.forward_allowed),
            delegate_realtime: self.delegate_realtime.unwrap_or(to.delegate_realtime),
            time_budget_ms: self.time_budget_ms.unwrap_or(to.time_budget_ms),
        }
    }

    /// The settings this change touches that only eMSPs have (they steer the authorization of
    /// an eMSP's tokens), by name.
    fn emsp_only(&self) -> Option<&'static str> {
        [
            ("max_concurrent", self.max_concurrent.is_some()),
            ("forward_allowed", self.forward_allowed.is_some()),
            ("delegate_realtime", self.delegate_realtime.is_some()),
            ("time_budget_ms", self.time_budget_ms.is_some()),
        ]
        .into_iter()
        .find(|(_, given)| *given)
        .map(|(name, _)| name)
    }
}

/// Why a settings change was not applied.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("the hub has no party {0}")]
    NoSuchParty(String),
    /// Several roles share the country code and party id, and none was named.
    #[error("{key} has several roles ({}): name one", .roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", "))]
    AmbiguousRole { key: PartyKey, roles: Vec<Role> },
    /// `setting` only applies to eMSPs.
    #[error("only eMSPs have this setting; {key} is a {role}")]
    NotForRole {
        setting: &'static str,
        key: PartyKey,
        role: Role,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a settings change did.
#[derive(Clone, Debug)]
pub struct SettingsOutcome {
    pub key: PartyKey,
    pub role: Role,
    pub before: PartySettings,
    pub after: PartySettings,
}

impl SettingsOutcome {
    pub fn changed(&self) -> bool {
        self.before != self.after
    }
}

/// Applies `change` to the party `key` (in `role`, which may be left out when the party has one
/// role) as `action` (`party.suspend`, `party.resume`, `party.set`), with the change-log entry
/// (actor `operator`, before and after) in the same transaction. A suspension or resumption also
/// moves the credentials epoch, so no instance keeps serving a cached view of the party, and is
/// pushed to the partners that take hubclientinfo. A change that changes nothing writes nothing.
pub async fn change_settings(
    state: &AppState,
    key: &PartyKey,
    role: Option<Role>,
    change: SettingsChange,
    action: &'static str,
) -> Result<SettingsOutcome, SettingsError> {
    change_settings_as(state, key, role, change, action, "operator").await
}

/// [`change_settings`] by `actor` (the management API names its caller in the change log).
pub async fn change_settings_as(
    state: &AppState,
    key: &PartyKey,
    role: Option<Role>,
    change: SettingsChange,
    action: &'static str,
    actor: &str,
) -> Result<SettingsOutcome, SettingsError> {
    let key = key.clone();
    let actor = actor.to_owned();
    let outcome = state
        .store
        .write(move |conn| {
            let rows = parties::settings_of(conn, &key)?;
            let row = match role {
                Some(role) => rows
                    .into_iter()
                    .find(|r| r.role.parse::<Role>().ok() == Some(role)),
                None if rows.len() > 1 => {
                    let roles = rows.iter().filter_map(|r| r.role.parse().ok()).collect();
                    return Ok(Err(SettingsError::AmbiguousRole { key, roles }));
                }
                None => rows.into_iter().next(),
            };
            let Some(row) = row else {
                let shown = match role {
                    Some(role) => format!("{key} with role {role}"),
                    None => key.to_string(),
                };
                return Ok(Err(SettingsError::NoSuchParty(shown)));
            };
            let Ok(role) = row.role.parse::<Role>() else {
                return Err(StoreError::Query(format!(
                    "party {} has a bad role",
                    row.id
                )));
            };
            if role != Role::Emsp {
                if let Some(setting) = change.emsp_only() {
                    return Ok(Err(SettingsError::NotForRole { setting, key, role }));
                }
            }
            let before = row.settings();
            let after = change.apply(before);
            let outcome = SettingsOutcome {
                key,
                role,
                before,
                after,
            };
            if !outcome.changed() {
                return Ok(Ok(outcome));
            }
            let now = Utc::now().naive_utc();
            parties::set_settings(conn, row.id, &after, now)?;
            connections::record_change(
                conn,
                &Change {
                    actor: &actor,
                    action,
                    subject: &format!("party:{}:{}", outcome.key, outcome.role),
                    before: Some(serde_json::to_value(before).unwrap_or_default()),
                    after: Some(serde_json::to_value(after).unwrap_or_default()),
                },
                now,
            )?;
            if before.suspended != after.suspended {
                connections::bump_credentials_epoch(conn)?;
                if role == Role::Emsp {
                    // Every token of the eMSP changes `valid` in its effective form: one UPDATE
                    // of its N tokens, and N rows per CPO receiving tokens in the outbox (rows
                    // already pending are coalesced, not added).
                    let now = Utc::now();
                    tokens::touch_owner(conn, &outcome.key, now)?;
                    outbox::enqueue_owner_tokens(conn, &outcome.key, now)?;
                }
            }
            Ok(Ok(outcome))
        })
        .await??;
    if outcome.before.suspended != outcome.after.suspended {
        state.credentials.clear();
        state
            .client_info
            .push(vec![(outcome.key.clone(), outcome.role)])
            .await;
    }
    Ok(outcome)
}
