//! Who presents a credentials token: looked up by the token's hash, with short caches of known
//! and of unknown tokens so that neither the hot path nor a flood of bad tokens queries the
//! database on every call.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::domain::party::Platform;
use crate::secrets::hash_token;
use crate::store::{connections, parties, Store, StoreResult};

/// Counts the credentials tokens this process has issued. A token remembered as unknown before
/// it was issued (a partner trying too early) is then looked up again at once rather than after
/// the TTL; process-wide because issuing (`register_party`) does not reach the caches.
static TOKENS_ISSUED: AtomicU64 = AtomicU64::new(0);

/// Forgets every token remembered as unknown, in every cache of this process.
pub fn forget_unknown_tokens() {
    TOKENS_ISSUED.fetch_add(1, Ordering::Relaxed);
}

const CACHE_CAPACITY: usize = 10_000;

/// Known platforms by token hash, kept a few seconds so the hot path does not query the database
/// on every call; a revoked or rotated token stops working within `ttl`. Unknown hashes are kept
/// `unknown_ttl`, so a token registered by another process (the CLI) works within that time.
pub struct CredentialsCache {
    ttl: Duration,
    unknown_ttl: Duration,
    /// Entries older than `ttl` stay (until the capacity is reached) as "was valid": they let a
    /// partner through to the database even from an address over its failure budget.
    known: Mutex<HashMap<String, (Instant, Arc<Platform>)>>,
    unknown: Mutex<HashMap<String, (Instant, u64)>>,
    /// `TOKENS_ISSUED`, or a counter of a test's own.
    issued: &'static AtomicU64,
    lookups: AtomicU64,
    /// Bumped by every `clear`: a lookup that started before a clear (it may have read a row a
    /// rotation changed meanwhile) must not put its answer back after it.
    generation: AtomicU64,
}

/// What the cache and, when allowed, the database say about a token.
pub enum TokenLookup {
    Found(Arc<Platform>),
    Unknown,
    /// Not in the caches, and the database was not asked.
    NotLookedUp,
}

fn insert_bounded<V>(
    map: &mut HashMap<String, (Instant, V)>,
    ttl: Duration,
    key: String,
    value: V,
) {
    if map.len() >= CACHE_CAPACITY {
        map.retain(|_, (at, _)| at.elapsed() < ttl);
        if map.len() >= CACHE_CAPACITY {
            map.clear();
        }
    }
    map.insert(key, (Instant::now(), value));
}

impl CredentialsCache {
    pub fn new(ttl: Duration, unknown_ttl: Duration) -> Self {
        Self {
            ttl,
            unknown_ttl,
            known: Mutex::new(HashMap::new()),
            unknown: Mutex::new(HashMap::new()),
            issued: &TOKENS_ISSUED,
            lookups: AtomicU64::new(0),
            generation: AtomicU64::new(0),
        }
    }

    /// The current generation, to pass to [`put`](Self::put) after a lookup.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Forgets every cached lookup, known and unknown: a credentials token changed (rotated,
    /// revoked or issued) here or on another instance.
    pub fn clear(&self) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        self.generation.fetch_add(1, Ordering::AcqRel);
        known.clear();
        drop(known);
        self.unknown
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    pub fn get(&self, hash: &str) -> Option<Arc<Platform>> {
        let entries = self.known.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, p)| Arc::clone(p))
    }

    /// Whether the token was valid when last looked up, however long ago.
    pub fn was_valid(&self, hash: &str) -> bool {
        let entries = self.known.lock().unwrap_or_else(|e| e.into_inner());
        entries.contains_key(hash)
    }

    /// Caches a lookup that started at `generation`, unless the cache was cleared since.
    pub fn put(&self, generation: u64, hash: String, platform: Arc<Platform>) {
        let mut entries = self.known.lock().unwrap_or_else(|e| e.into_inner());
        if self.generation.load(Ordering::Acquire) != generation {
            return;
        }
        insert_bounded(&mut entries, self.ttl, hash, platform);
    }

    /// Whether the token was looked up and unknown within `unknown_ttl`, and no token has been
    /// issued since.
    pub fn is_unknown(&self, hash: &str) -> bool {
        let issued = self.issued.load(Ordering::Relaxed);
        let entries = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        entries
            .get(hash)
            .is_some_and(|(at, seen)| at.elapsed() < self.unknown_ttl && *seen == issued)
    }

    pub fn put_unknown(&self, hash: String) {
        self.known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&hash);
        let issued = self.issued.load(Ordering::Relaxed);
        let mut entries = self.unknown.lock().unwrap_or_else(|e| e.into_inner());
        insert_bounded(&mut entries, self.unknown_ttl, hash, issued);
    }

    /// Credentials tokens this cache has looked up in the database so far.
    pub fn database_lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }
}

/// The platform that holds `token`, from the caches or the database. With `may_query` false the
/// database is asked only for a token that was valid before (a partner behind an address that
/// is over its failure budget); any other token not in the caches is `NotLookedUp`.
pub async fn platform_for_token(
    store: &Store,
    cache: &CredentialsCache,
    token: &str,
    may_query: bool,
) -> StoreResult<TokenLookup> {
    let hash = hash_token(token);
    if let Some(platform) = cache.get(&hash) {
        return Ok(TokenLookup::Found(platform));
    }
    if cache.is_unknown(&hash) {
        return Ok(TokenLookup::Unknown);
    }
    if !may_query && !cache.was_valid(&hash) {
        return Ok(TokenLookup::NotLookedUp);
    }
    cache.lookups.fetch_add(1, Ordering::Relaxed);
    let generation = cache.generation();
    let lookup = hash.clone();
    let found = store
        .read(move |conn| parties::platform_by_token_hash(conn, &lookup))
        .await?;
    Ok(match found {
        Some(platform) => {
            crate::ops::metrics::record_credentials_lookup("found");
            let platform = Arc::new(platform);
            cache.put(generation, hash, Arc::clone(&platform));
            TokenLookup::Found(platform)
        }
        None => {
            crate::ops::metrics::record_credentials_lookup("unknown");
            cache.put_unknown(hash);
            TokenLookup::Unknown
        }
    })
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
            roles: Vec::new(),
        })
    }

    /// A cache that other tests issuing tokens at the same time leave alone.
    fn isolated(ttl: Duration, unknown_ttl: Duration) -> CredentialsCache {
        static ISSUED: AtomicU64 = AtomicU64::new(0);
        CredentialsCache {
            issued: &ISSUED,
            ..CredentialsCache::new(ttl, unknown_ttl)
        }
    }

    #[test]
    fn unknown_tokens_are_remembered_until_the_ttl() {
        let cache = isolated(Duration::from_secs(60), Duration::from_secs(60));
        cache.put_unknown("h".into());
        assert!(cache.is_unknown("h"));
        assert!(!cache.is_unknown("other"));
        let expired = isolated(Duration::from_secs(60), Duration::ZERO);
        expired.put_unknown("h".into());
        assert!(!expired.is_unknown("h"));
    }

    #[test]
    fn issuing_a_token_forgets_the_unknown_ones() {
        let cache = CredentialsCache::new(Duration::from_secs(60), Duration::from_secs(60));
        cache.put_unknown("h".into());
        forget_unknown_tokens();
        assert!(!cache.is_unknown("h"));
    }

    #[test]
    fn a_known_token_past_its_ttl_was_valid_until_found_unknown() {
        let cache = CredentialsCache::new(Duration::ZERO, Duration::from_secs(60));
        cache.put(cache.generation(), "h".into(), platform());
        assert!(cache.get("h").is_none());
        assert!(cache.was_valid("h"));
        cache.put_unknown("h".into());
        assert!(!cache.was_valid("h"));
    }

    /// A lookup that began before a clear (a rotation committed meanwhile) may have read the old
    /// row: its answer must not be cached after the clear.
    #[test]
    fn a_lookup_older_than_a_clear_is_not_cached() {
        let cache = CredentialsCache::new(Duration::from_secs(60), Duration::from_secs(60));
        let before = cache.generation();
        cache.clear();
        cache.put(before, "h".into(), platform());
        assert!(cache.get("h").is_none());
        cache.put(cache.generation(), "h".into(), platform());
        assert!(cache.get("h").is_some());
        cache.clear();
        assert!(cache.get("h").is_none());
    }

    #[test]
    fn the_caches_are_bounded() {
        let cache = CredentialsCache::new(Duration::from_secs(60), Duration::from_secs(60));
        for i in 0..CACHE_CAPACITY + 10 {
            cache.put_unknown(format!("h{i}"));
        }
        assert!(cache.unknown.lock().unwrap().len() <= CACHE_CAPACITY);
    }
}
