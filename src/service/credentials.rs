//! Who presents a credentials token: looked up by the token's hash, with a short cache so the hot
//! path does not query the database on every call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::party::Platform;
use crate::secrets::hash_token;
use crate::store::{connections, parties, Store, StoreResult};

/// Known platforms by token hash, kept a few seconds so the hot path does not query the database
/// on every call; a revoked or rotated token stops working within `ttl`, and sooner when the
/// cache is cleared (a change on this instance, or the credentials epoch moving).
pub struct CredentialsCache {
    ttl: Duration,
    entries: Mutex<Entries>,
}

struct Entries {
    /// Bumped by every `clear`: a lookup that started before a clear must not put its (possibly
    /// stale) answer back after it.
    generation: u64,
    by_hash: HashMap<String, (Instant, Arc<Platform>)>,
}

const CACHE_CAPACITY: usize = 10_000;

impl CredentialsCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(Entries {
                generation: 0,
                by_hash: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Forgets every cached lookup: a credentials token changed.
    pub fn clear(&self) {
        let mut entries = self.lock();
        entries.generation += 1;
        entries.by_hash.clear();
    }

    /// The current generation, to pass to [`put`](Self::put) after a lookup.
    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn get(&self, hash: &str) -> Option<Arc<Platform>> {
        let entries = self.lock();
        entries
            .by_hash
            .get(hash)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, p)| Arc::clone(p))
    }

    /// Caches a lookup that started at `generation`, unless the cache was cleared since.
    pub fn put(&self, generation: u64, hash: String, platform: Arc<Platform>) {
        let ttl = self.ttl;
        let mut entries = self.lock();
        if entries.generation != generation {
            return;
        }
        if entries.by_hash.len() >= CACHE_CAPACITY {
            entries.by_hash.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.by_hash.len() >= CACHE_CAPACITY {
                entries.by_hash.clear();
            }
        }
        entries.by_hash.insert(hash, (Instant::now(), platform));
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
    let generation = cache.generation();
    let lookup = hash.clone();
    let found = store
        .read(move |conn| parties::platform_by_token_hash(conn, &lookup))
        .await?;
    Ok(found.map(|platform| {
        let platform = Arc::new(platform);
        cache.put(generation, hash, Arc::clone(&platform));
        platform
    }))
}

/// Clears `cache` whenever the credentials epoch in the database moves (a token was issued,
/// rotated or revoked, or a party suspended, by any instance or CLI command), checking every
/// `every`: a change elsewhere reaches this instance within that time instead of the cache's TTL.
pub async fn watch_epoch(store: Store, cache: &CredentialsCache, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // None until read, and again after a failed read: the next epoch read then clears the cache,
    // since a change may have gone unseen meanwhile.
    let mut seen: Option<i64> = None;
    let mut failing = false;
    loop {
        ticks.tick().await;
        match store.read(connections::credentials_epoch).await {
            Ok(epoch) => {
                if seen != Some(epoch) {
                    cache.clear();
                    seen = Some(epoch);
                }
                if failing {
                    tracing::info!("credentials epoch readable again");
                    failing = false;
                }
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "cannot read the credentials epoch; cached token lookups expire by their TTL meanwhile");
                    failing = true;
                }
                seen = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::party::CredentialsKind;

    fn platform() -> Arc<Platform> {
        Arc::new(Platform {
            id: 1,
            name: "p".into(),
            kind: CredentialsKind::Registered,
            roles: vec![],
        })
    }

    /// A lookup that began before a clear (a rotation committed meanwhile) may have read the old
    /// row: its answer must not be cached after the clear.
    #[test]
    fn a_lookup_older_than_a_clear_is_not_cached() {
        let cache = CredentialsCache::new(Duration::from_secs(60));
        let before = cache.generation();
        cache.clear();
        cache.put(before, "h".into(), platform());
        assert!(cache.get("h").is_none());
        cache.put(cache.generation(), "h".into(), platform());
        assert!(cache.get("h").is_some());
        cache.clear();
        assert!(cache.get("h").is_none());
    }
}
