//! OAuth clients: registered by the operator (`tokenhub client add`), authenticated by the token,
//! revocation and introspection endpoints. Known clients are cached a few seconds (and dropped
//! when the OAuth epoch moves), so that checking a secret costs an HMAC, not a query.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;

use crate::domain::access::PartyAccess;
use crate::domain::oauth::ScopeSet;
use crate::secrets::client_secrets::{new_client_id, new_client_secret, SecretHasher};
use crate::store::connections::{record_change, Change};
use crate::store::oauth::{self as rows, ClientRow};
use crate::store::{Store, StoreError, StoreResult};

/// A registered client, as the server uses it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    pub client_id: String,
    pub name: String,
    /// `None`: a public client (no secret; authorization-code grant with PKCE, part 2).
    pub secret_hash: Option<String>,
    pub scopes: ScopeSet,
    pub redirect_uris: Vec<String>,
    pub disabled: bool,
    pub created_at: NaiveDateTime,
    /// The parties its tokens may act for (a person's token through it: both restrictions).
    pub parties: PartyAccess,
}

impl Client {
    /// The client-credentials grant is for confidential clients without redirect URIs (DESIGN
    /// §3: with one, the client is for the authorization-code grant).
    pub fn may_use_client_credentials(&self) -> bool {
        self.secret_hash.is_some() && self.redirect_uris.is_empty()
    }
}

impl TryFrom<ClientRow> for Client {
    type Error = StoreError;

    fn try_from(row: ClientRow) -> Result<Self, Self::Error> {
        let bad = |why: String| StoreError::Query(format!("client {}: {why}", row.client_id));
        let scopes = ScopeSet::parse(&row.scopes).map_err(bad)?;
        let redirect_uris: Vec<String> =
            serde_json::from_str(&row.redirect_uris).map_err(|e| bad(e.to_string()))?;
        let parties =
            PartyAccess::from_stored(row.parties.as_deref()).map_err(|e| bad(e.to_string()))?;
        Ok(Client {
            client_id: row.client_id,
            name: row.name,
            secret_hash: row.secret_hash,
            scopes,
            redirect_uris,
            disabled: row.disabled,
            created_at: row.created_at,
            parties,
        })
    }
}

/// What `tokenhub client add` asks for, validated.
#[derive(Debug, Clone)]
pub struct NewClient {
    pub name: String,
    pub scopes: ScopeSet,
    pub redirect_uris: Vec<url::Url>,
    pub public: bool,
    pub parties: PartyAccess,
}

/// A new client's id and, unless public, its secret: shown once, stored only as a hash.
pub struct IssuedClient {
    pub client_id: String,
    pub client_secret: Option<String>,
}

/// Registers `new` and records it in the change log.
pub async fn add_client(
    store: &Store,
    hasher: &SecretHasher,
    new: NewClient,
    actor: &str,
) -> StoreResult<IssuedClient> {
    let client_id = new_client_id();
    let secret = (!new.public).then(new_client_secret);
    let uris: Vec<&str> = new.redirect_uris.iter().map(url::Url::as_str).collect();
    let row = ClientRow {
        client_id: client_id.clone(),
        name: new.name.clone(),
        secret_hash: secret.as_deref().map(|s| hasher.hash(s)),
        scopes: new.scopes.to_string(),
        redirect_uris: serde_json::to_string(&uris).expect("strings serialize"),
        disabled: false,
        created_at: chrono::Utc::now().naive_utc(),
        parties: new.parties.to_stored(),
    };
    let actor = actor.to_owned();
    store
        .write(move |conn| {
            rows::insert_client(conn, &row)?;
            record_change(
                conn,
                &Change {
                    actor: &actor,
                    action: "client.add",
                    subject: &format!("client:{}", row.client_id),
                    before: None,
                    after: Some(serde_json::json!({
                        "name": row.name,
                        "scopes": row.scopes,
                        "redirect_uris": serde_json::from_str::<serde_json::Value>(&row.redirect_uris).ok(),
                        "public": row.secret_hash.is_none(),
                        "parties": new.parties.to_claim(),
                    })),
                },
                row.created_at,
            )
        })
        .await?;
    Ok(IssuedClient {
        client_id,
        client_secret: secret,
    })
}

pub async fn list_clients(store: &Store) -> StoreResult<Vec<Client>> {
    let rows = store.read(rows::list_clients).await?;
    rows.into_iter().map(Client::try_from).collect()
}

/// Disables `client_id` (its secret stops working on every instance within the poll interval);
/// false when there is no such client.
pub async fn disable_client(store: &Store, client_id: &str, actor: &str) -> StoreResult<bool> {
    let (client_id, actor) = (client_id.to_owned(), actor.to_owned());
    store
        .write(move |conn| {
            let changed = rows::disable_client(conn, &client_id)?;
            if changed {
                record_change(
                    conn,
                    &Change {
                        actor: &actor,
                        action: "client.disable",
                        subject: &format!("client:{client_id}"),
                        before: Some(serde_json::json!({ "disabled": false })),
                        after: Some(serde_json::json!({ "disabled": true })),
                    },
                    chrono::Utc::now().naive_utc(),
                )?;
            }
            Ok(changed)
        })
        .await
}

/// Known clients by id, fresh for `ttl`; older entries, and all of them after a change anywhere,
/// say only "was known": a client that authenticated before is looked up again even from an
/// address over its failure budget, so a flood of bad secrets from its address does not lock it
/// out.
pub struct ClientCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, CachedClient>>,
    /// Bumped by every `clear`: a look-up that started before a clear (it may have read a row
    /// that was disabled meanwhile) must not put its answer back as fresh after it.
    generation: AtomicU64,
}

/// When the client was read (`None`: stale, look it up again before trusting it), and the client.
type CachedClient = (Option<Instant>, Arc<Client>);

const CACHE_CAPACITY: usize = 10_000;

/// What the cache and, when allowed, the database say about a client id.
pub enum ClientLookup {
    Found(Arc<Client>),
    Unknown,
    /// Not in the cache, and the database was not asked.
    NotLookedUp,
}

impl ClientCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// Makes every entry stale: a client changed here or on another instance.
    pub fn clear(&self) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        for (at, _) in entries.values_mut() {
            *at = None;
        }
    }

    fn get(&self, client_id: &str) -> (Option<Arc<Client>>, bool) {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        match entries.get(client_id) {
            Some((Some(at), client)) if at.elapsed() < self.ttl => (Some(Arc::clone(client)), true),
            Some(_) => (None, true),
            None => (None, false),
        }
    }

    /// Caches a client read at `generation`: as fresh if no clear came since, else as stale.
    fn put(&self, generation: u64, client: Arc<Client>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.clear();
        }
        let fresh = self.generation.load(Ordering::Acquire) == generation;
        entries.insert(client.client_id.clone(), (fresh.then(Instant::now), client));
    }

    fn forget(&self, client_id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(client_id);
    }

    /// The client `client_id`, from the cache or the database. With `may_query` false only a
    /// client seen before is looked up.
    pub async fn lookup(
        &self,
        store: &Store,
        client_id: &str,
        may_query: bool,
    ) -> StoreResult<ClientLookup> {
        let (fresh, seen) = self.get(client_id);
        if let Some(client) = fresh {
            return Ok(ClientLookup::Found(client));
        }
        if !may_query && !seen {
            return Ok(ClientLookup::NotLookedUp);
        }
        let generation = self.generation.load(Ordering::Acquire);
        let id = client_id.to_owned();
        let row = store.read(move |conn| rows::find_client(conn, &id)).await?;
        match row {
            Some(row) => {
                let client = Arc::new(Client::try_from(row)?);
                self.put(generation, Arc::clone(&client));
                Ok(ClientLookup::Found(client))
            }
            None => {
                self.forget(client_id);
                Ok(ClientLookup::Unknown)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(disabled: bool) -> Arc<Client> {
        Arc::new(Client {
            client_id: "th_a".into(),
            name: "a".into(),
            secret_hash: Some("h".into()),
            scopes: ScopeSet::parse("tokens:read").unwrap(),
            redirect_uris: Vec::new(),
            disabled,
            created_at: chrono::Utc::now().naive_utc(),
            parties: PartyAccess::All,
        })
    }

    /// A look-up that read the row before a clear (the client was disabled meanwhile) is kept
    /// only as "seen": the next look-up reads the row again.
    #[test]
    fn a_lookup_older_than_a_clear_is_not_fresh() {
        let cache = ClientCache::new(Duration::from_secs(60));
        let before = cache.generation.load(Ordering::Acquire);
        cache.clear();
        cache.put(before, client(false));
        assert_eq!(cache.get("th_a").0, None);
        assert!(cache.get("th_a").1, "seen");
        cache.put(cache.generation.load(Ordering::Acquire), client(true));
        assert!(cache.get("th_a").0.unwrap().disabled);
        cache.clear();
        assert_eq!(cache.get("th_a").0, None);
    }
}
