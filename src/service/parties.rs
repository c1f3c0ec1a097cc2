//! Registering trusted parties: the hub issues the credentials token, keeps only its hash, and
//! hands the token back once, to be shown to whoever runs the command.

use chrono::Utc;

use crate::domain::ids::PartyKey;
use crate::domain::party::{CredentialsKind, Role};
use crate::secrets::{hash_token, new_credentials_token};
use crate::store::connections::{self, Change, InviteOutcome};
use crate::store::parties::{self, AddOutcome, NewParty};
use crate::store::{Store, StoreResult};

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

/// Invites `key` in `role`: a new token A, good only for the versions and credentials modules
/// until the partner registers with it (`POST credentials`). Returns the outcome and the token;
/// with `AlreadyConnected` the token was not stored and must not be shown.
pub async fn invite_party(
    store: &Store,
    key: &PartyKey,
    role: Role,
    name: &str,
) -> StoreResult<(InviteOutcome, String)> {
    let token = new_credentials_token();
    let hash = hash_token(&token);
    let (key, name) = (key.clone(), name.to_owned());
    let outcome = store
        .write(move |conn| {
            let now = Utc::now().naive_utc();
            let outcome = connections::invite(conn, &key, role, &name, &hash, now)?;
            if outcome != InviteOutcome::AlreadyConnected {
                connections::record_change(
                    conn,
                    &Change {
                        actor: "operator",
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
