//! Revoked access tokens by `jti`, in memory until they expire: the management API's extractor
//! checks here, never the database. Each instance reloads the set when the OAuth epoch moves.

use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Default)]
pub struct Revocations {
    /// jti → expiry (seconds since the epoch): past it the token fails on its `exp` anyway.
    revoked: RwLock<HashMap<String, i64>>,
}

impl Revocations {
    pub fn is_revoked(&self, jti: &str) -> bool {
        self.revoked
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(jti)
    }

    pub fn insert(&self, jti: String, expires_at: i64) {
        self.revoked
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(jti, expires_at);
    }

    /// Adds what the database holds and forgets what expired before `now`. A merge, never a
    /// replacement: a reload that read the table just before this instance recorded a revocation
    /// would otherwise drop it until the next change. Revocations are never undone, so keeping
    /// every unexpired entry is always right.
    pub fn merge(&self, live: impl IntoIterator<Item = (String, i64)>, now: i64) {
        let mut revoked = self.revoked.write().unwrap_or_else(|e| e.into_inner());
        revoked.retain(|_, expires_at| *expires_at > now);
        revoked.extend(live.into_iter().filter(|(_, expires_at)| *expires_at > now));
    }

    /// How many revoked tokens are kept (for tests and, later, a gauge).
    pub fn len(&self) -> usize {
        self.revoked.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reload that does not hold a revocation recorded meanwhile keeps it; expiry drops it.
    #[test]
    fn revoked_until_expired_whatever_a_reload_read() {
        let list = Revocations::default();
        assert!(!list.is_revoked("a"));
        list.insert("a".into(), 100);
        assert!(list.is_revoked("a"));
        list.merge([("b".to_owned(), 200)], 50);
        assert!(list.is_revoked("a") && list.is_revoked("b"));
        assert_eq!(list.len(), 2);
        list.merge([("c".to_owned(), 10)], 150);
        assert!(!list.is_revoked("a") && list.is_revoked("b") && !list.is_revoked("c"));
        assert_eq!(list.len(), 1);
    }
}
