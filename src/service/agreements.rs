//! Roaming agreements as the operator manages them (`tokenhub agreement add|remove|list`,
//! docs/design.md §6): each change checks the two parties' roles, goes to the change log (actor
//! `operator`) in its transaction, moves both parties' hubclientinfo `last_updated`, and is
//! pushed to the two partners, whose view of each other it changes.

use chrono::Utc;

use crate::domain::access::PartyAccess;
use crate::domain::agreement::{Agreement, AgreementMode};
use crate::domain::ids::PartyKey;
use crate::domain::party::Role;
use crate::store::agreements::{self, AgreementRow};
use crate::store::connections::{self, Change};
use crate::store::{parties, Conn, Store, StoreError, StoreResult};

use super::AppState;

/// Why an agreement change was not made.
#[derive(Debug, thiserror::Error)]
pub enum AgreementError {
    /// `key` is not a party of the hub in `role` (the flag to correct follows from the role).
    #[error("{key} is not {} party of the hub", article(.role))]
    NotAParty { key: PartyKey, role: Role },
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn article(role: &Role) -> &'static str {
    match role {
        Role::Emsp => "an EMSP",
        Role::Cpo => "a CPO",
        _ => "a",
    }
}

/// Adds or removes an agreement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AgreementChange {
    Add,
    Remove,
}

impl AgreementChange {
    fn action(self) -> &'static str {
        match self {
            AgreementChange::Add => "agreement.add",
            AgreementChange::Remove => "agreement.remove",
        }
    }
}

fn ensure_party(
    conn: &mut Conn<'_>,
    key: &PartyKey,
    role: Role,
) -> StoreResult<Option<AgreementError>> {
    Ok(parties::find_party(conn, key, role)?
        .is_none()
        .then(|| AgreementError::NotAParty {
            key: key.clone(),
            role,
        }))
}

/// Adds or removes the agreement of `cpo` and `emsp`; true if that changed anything (adding an
/// agreement that exists, or removing one that does not, changes and records nothing).
pub async fn change(
    state: &AppState,
    change: AgreementChange,
    cpo: &PartyKey,
    emsp: &PartyKey,
) -> Result<bool, AgreementError> {
    change_as(state, change, cpo, emsp, "operator").await
}

/// [`change`] by `actor` (the management API names its caller in the change log).
pub async fn change_as(
    state: &AppState,
    change: AgreementChange,
    cpo: &PartyKey,
    emsp: &PartyKey,
    actor: &str,
) -> Result<bool, AgreementError> {
    let (cpo, emsp) = (cpo.clone(), emsp.clone());
    let actor = actor.to_owned();
    let (c, e) = (cpo.clone(), emsp.clone());
    let changed = state
        .store
        .write(move |conn| {
            for (key, role) in [(&c, Role::Cpo), (&e, Role::Emsp)] {
                if let Some(err) = ensure_party(conn, key, role)? {
                    return Ok(Err(err));
                }
            }
            let now = Utc::now().naive_utc();
            let changed = match change {
                AgreementChange::Add => agreements::add(conn, &c, &e, now)?,
                AgreementChange::Remove => agreements::remove(conn, &c, &e)?,
            };
            if !changed {
                return Ok(Ok(false));
            }
            let pair = serde_json::json!({ "cpo": c.to_string(), "emsp": e.to_string() });
            let (before, after) = match change {
                AgreementChange::Add => (None, Some(pair)),
                AgreementChange::Remove => (Some(pair), None),
            };
            connections::record_change(
                conn,
                &Change {
                    actor: &actor,
                    action: change.action(),
                    subject: &format!("agreement:{c}:{e}"),
                    before,
                    after,
                },
                now,
            )?;
            parties::touch(conn, &c, Role::Cpo, now)?;
            parties::touch(conn, &e, Role::Emsp, now)?;
            Ok(Ok(true))
        })
        .await??;
    // Under `open` nobody's view changed.
    if changed && state.agreements == AgreementMode::Explicit {
        state.client_info.push_agreement(cpo, emsp).await;
    }
    Ok(changed)
}

/// The agreements a caller restricted to `access` sees: those with one of its parties on a side.
pub async fn list_for(store: &Store, access: &PartyAccess) -> StoreResult<Vec<AgreementRow>> {
    let rows = list(store, None, None).await?;
    Ok(rows
        .into_iter()
        .filter(|row| access.permits(&row.agreement.cpo) || access.permits(&row.agreement.emsp))
        .collect())
}

/// The agreements, oldest first; only those of `cpo` and of `emsp` when given.
pub async fn list(
    store: &Store,
    cpo: Option<PartyKey>,
    emsp: Option<PartyKey>,
) -> StoreResult<Vec<AgreementRow>> {
    let rows = store.read(agreements::list).await?;
    Ok(rows
        .into_iter()
        .filter(|row| {
            let Agreement { cpo: c, emsp: e } = &row.agreement;
            cpo.as_ref().is_none_or(|k| k == c) && emsp.as_ref().is_none_or(|k| k == e)
        })
        .collect())
}
