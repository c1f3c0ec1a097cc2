//! The console is a confidential OAuth client of the hub itself, `tokenhub-console`, ensured at
//! start with the redirect URI `{public_url}/console/callback` and every scope (what a person gets
//! is still the intersection with their own scopes).
//!
//! Its secret is derived from the master key (HKDF, [`Purpose::CONSOLE_CLIENT_SECRET`]): every
//! instance derives the same one, so nothing is configured or stored in plain text, and only its
//! keyed hash is in the clients table like any other client's. The console exchanges its codes
//! in-process (it is the hub), but a code stolen from a redirect still cannot be exchanged at
//! `/oauth/token` by anyone without the master key (and PKCE's verifier).

use base64::Engine;

use crate::domain::oauth::{Scope, ScopeSet};
use crate::secrets::client_secrets::SecretHasher;
use crate::secrets::{Keys, Purpose};
use crate::store::oauth::ClientRow;
use crate::store::{Store, StoreResult};

pub const CLIENT_ID: &str = "tokenhub-console";
const CLIENT_NAME: &str = "tokenhub console";

pub fn redirect_uri(public_url: &str) -> String {
    format!("{}/console/callback", public_url.trim_end_matches('/'))
}

/// The console's client secret; the same on every instance of one master key.
pub fn client_secret(keys: &Keys) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(keys.derive(Purpose::CONSOLE_CLIENT_SECRET))
}

/// Registers the console's client, or brings it up to date (a new public URL); an operator's
/// `client disable` stays in force. Called before each console login (a read; a write only when
/// something changed), so no start-up step can be missed. True when it changed.
pub async fn ensure(store: &Store, keys: &Keys, public_url: &str) -> StoreResult<bool> {
    let scopes = ScopeSet::known(Scope::ALL.iter().map(|s| s.as_str()));
    let row = ClientRow {
        client_id: CLIENT_ID.to_owned(),
        name: CLIENT_NAME.to_owned(),
        secret_hash: Some(SecretHasher::new(keys).hash(&client_secret(keys))),
        scopes: scopes.to_string(),
        redirect_uris: serde_json::to_string(&[redirect_uri(public_url)])
            .expect("strings serialize"),
        disabled: false,
        // The console may act for every party; a person's own restriction narrows their tokens.
        parties: None,
        created_at: chrono::Utc::now().naive_utc(),
    };
    store
        .write(move |conn| crate::store::console::ensure_client(conn, &row))
        .await
}
