//! What each person allowed each client: remembered per (user, client) as the union of the scope
//! sets allowed so far, so a later request within it skips the consent page.

use chrono::Utc;

use crate::domain::oauth::ScopeSet;
use crate::store::login as rows;
use crate::store::{Store, StoreResult};

/// Whether `username` allowed `client_id` every scope of `scopes` before.
pub async fn covers(
    store: &Store,
    username: &str,
    client_id: &str,
    scopes: &ScopeSet,
) -> StoreResult<bool> {
    let (name, client) = (username.to_owned(), client_id.to_owned());
    let allowed = store
        .read(move |conn| rows::consent(conn, &name, &client))
        .await?
        .and_then(|text| ScopeSet::parse(&text).ok());
    Ok(allowed.is_some_and(|allowed| scopes.is_subset(&allowed)))
}

/// Remembers that `username` allowed `client_id` `scopes` (added to what it allowed before).
pub async fn remember(
    store: &Store,
    username: &str,
    client_id: &str,
    scopes: &ScopeSet,
) -> StoreResult<()> {
    let (name, client, scopes) = (username.to_owned(), client_id.to_owned(), scopes.clone());
    store
        .write(move |conn| {
            let before = rows::consent(conn, &name, &client)?
                .and_then(|text| ScopeSet::parse(&text).ok())
                .unwrap_or_default();
            let all = before.union(&scopes);
            rows::save_consent(
                conn,
                &name,
                &client,
                &all.to_string(),
                Utc::now().naive_utc(),
            )
        })
        .await
}
