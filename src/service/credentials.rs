//! Who presents a credentials token: looked up by the token's hash, with a short cache so the hot
//! path does not query the database on every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::party::Platform;
use crate::secrets::hash_token;
use crate::store::{parties, Store, StoreResult};

/// Known platforms by token hash, kept a few seconds so the hot path does not query the database
/// on every call; a revoked or rotated token stops working within `ttl`.
pub struct CredentialsCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (Instant, Arc<Platform>)>>,
}

const CACHE_CAPACITY: usize = 10_000;

impl CredentialsCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Forgets every cached lookup: a credentials token changed.
    pub fn clear(&self) {
        self.entries
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn get(&self, hash: &str) -> Option<Arc<Platform>> {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, p)| Arc::clone(p))
    }

    pub fn put(&self, hash: String, platform: Arc<Platform>) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= CACHE_CAPACITY {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= CACHE_CAPACITY {
                entries.clear();
            }
        }
        entries.insert(hash, (Instant::now(), platform));
    }
}

/// The platform that holds `token`, if any.
pub async fn platform_for_token(
    store: &Store,
    cache: &CredentialsCache,
    token: &str,
) -> StoreResult<Option<Arc<Platform>>> {
    let hash = hash_token(token);
    if let Some(platform) = cache.get(&hash) {
        return Ok(Some(platform));
    }
    let lookup = hash.clone();
    let found = store
        .read(move |conn| parties::platform_by_token_hash(conn, &lookup))
        .await?;
    Ok(found.map(|platform| {
        let platform = Arc::new(platform);
        cache.put(hash, Arc::clone(&platform));
        platform
    }))
}
