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

    /// Replaces the set with what the database holds (expired entries are not in it). A
    /// revocation this instance recorded meanwhile is in the database too: it was written first.
    pub fn replace(&self, live: impl IntoIterator<Item = (String, i64)>) {
        let fresh: HashMap<String, i64> = live.into_iter().collect();
        *self.revoked.write().unwrap_or_else(|e| e.into_inner()) = fresh;
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

    #[test]
    fn revoked_until_replaced_without_it() {
        let list = Revocations::default();
        assert!(!list.is_revoked("a"));
        list.insert("a".into(), 10);
        assert!(list.is_revoked("a"));
        list.replace([("b".to_owned(), 20)]);
        assert!(!list.is_revoked("a"));
        assert!(list.is_revoked("b"));
        assert_eq!(list.len(), 1);
    }
}
