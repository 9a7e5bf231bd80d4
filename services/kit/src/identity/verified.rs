//! Tokens whose signature and claims have already been checked, so that a client sending the same
//! access token on every request costs one signature verification per token, not per request.
//!
//! An entry is keyed by the whole compact token (a forged or altered token is a different key and
//! is verified in full), remembers the key id that verified it (entries of keys that leave the
//! JWKS are dropped) and stops answering once the token's `exp` passes. The same pattern as
//! Envoy's JWT filter cache.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher, RandomState};
use std::sync::{Arc, Mutex};

use super::VerifiedIdentity;

/// How many verified tokens are remembered; at about 0.5 KiB each this bounds the cache near 8 MiB.
pub(super) const CAPACITY: usize = 16_384;

struct Entry {
    identity: Arc<VerifiedIdentity>,
    kid: String,
    exp: u64,
}

/// How many bytes from the end of each token are hashed.
const HASHED_TAIL: usize = 32;

/// Hashes only the last [`HASHED_TAIL`] bytes of each key: a token ends in its signature, whose
/// bytes differ between any two tokens, so the tail spreads keys as well as the whole token
/// would, for a ninth of the hashing of a 300-byte token per request. Keys still compare whole
/// (an altered copy of a token is a different entry), and only verified tokens are inserted, so
/// nobody can fill a bucket with chosen keys; the hash keys stay random per process.
#[derive(Default)]
struct TailHash(RandomState);

impl BuildHasher for TailHash {
    type Hasher = TailHasher<<RandomState as BuildHasher>::Hasher>;

    fn build_hasher(&self) -> Self::Hasher {
        TailHasher(self.0.build_hasher())
    }
}

struct TailHasher<H>(H);

impl<H: Hasher> Hasher for TailHasher<H> {
    fn finish(&self) -> u64 {
        self.0.finish()
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0
            .write(&bytes[bytes.len().saturating_sub(HASHED_TAIL)..]);
    }
}

/// A bounded map from token to the identity it established.
pub(super) struct VerifiedTokens {
    capacity: usize,
    entries: Mutex<HashMap<Box<str>, Entry, TailHash>>,
}

impl VerifiedTokens {
    /// An empty cache holding at most `capacity` tokens.
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            entries: Mutex::new(HashMap::default()),
        }
    }

    /// The identity of `token` if it was verified before and is still within `exp + leeway` at `now`.
    pub(super) fn get(&self, token: &str, now: u64, leeway: u64) -> Option<Arc<VerifiedIdentity>> {
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.get(token)?;
        if now <= entry.exp.saturating_add(leeway) {
            return Some(entry.identity.clone());
        }
        entries.remove(token);
        None
    }

    /// Remembers a token that passed full validation with key `kid`.
    pub(super) fn insert(
        &self,
        token: &str,
        kid: &str,
        exp: u64,
        identity: &Arc<VerifiedIdentity>,
        now: u64,
    ) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity {
            entries.retain(|_, e| e.exp >= now);
            // Still full of live tokens: forget an arbitrary quarter (HashMap order is random),
            // which costs those clients one more verification each.
            if entries.len() >= self.capacity {
                let drop: Vec<Box<str>> = entries
                    .keys()
                    .take(self.capacity / 4 + 1)
                    .cloned()
                    .collect();
                for k in drop {
                    entries.remove(&k);
                }
            }
        }
        entries.insert(
            token.into(),
            Entry {
                identity: identity.clone(),
                kid: kid.to_owned(),
                exp,
            },
        );
    }

    /// Forgets tokens verified by keys that are no longer published.
    pub(super) fn retain_keys(&self, still_published: impl Fn(&str) -> bool) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, e| still_published(&e.kid));
        }
    }

    /// How many tokens are remembered.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::Identity;

    fn id(user: &str) -> Arc<VerifiedIdentity> {
        Arc::new(VerifiedIdentity::new(Identity {
            user_id: user.into(),
            email: None,
            roles: vec![],
            token_id: None,
        }))
    }

    #[test]
    fn answers_until_expiry_plus_leeway_then_forgets() {
        let c = VerifiedTokens::new(8);
        c.insert("t", "k1", 100, &id("u"), 50);
        assert_eq!(
            c.get("t", 100, 0).map(|i| i.identity.user_id.clone()),
            Some("u".into())
        );
        assert_eq!(
            c.get("t", 105, 5).map(|i| i.identity.user_id.clone()),
            Some("u".into())
        );
        assert!(c.get("t", 106, 5).is_none());
        assert_eq!(c.len(), 0, "an expired entry is dropped when seen");
        assert!(c.get("other", 50, 0).is_none());
    }

    #[test]
    fn stays_bounded_and_prefers_dropping_expired_tokens() {
        let c = VerifiedTokens::new(4);
        c.insert("old", "k", 10, &id("a"), 5);
        for (i, t) in ["b", "c", "d"].iter().enumerate() {
            c.insert(t, "k", 1000, &id(t), 5 + i as u64);
        }
        c.insert("e", "k", 1000, &id("e"), 20);
        assert_eq!(c.len(), 4);
        assert!(c.get("old", 5, 0).is_none(), "the expired token made room");
        for i in 0..100 {
            c.insert(&format!("x{i}"), "k", 1000, &id("x"), 20);
            assert!(c.len() <= 4);
        }
    }

    #[test]
    fn tokens_sharing_their_hashed_tail_are_still_told_apart() {
        let c = VerifiedTokens::new(8);
        let tail = "s".repeat(HASHED_TAIL);
        c.insert(&format!("a.{tail}"), "k", 100, &id("a"), 0);
        c.insert(&format!("b.{tail}"), "k", 100, &id("b"), 0);
        assert_eq!(c.len(), 2);
        let user = |t: &str| c.get(t, 1, 0).map(|i| i.identity.user_id.clone());
        assert_eq!(user(&format!("a.{tail}")), Some("a".into()));
        assert_eq!(user(&format!("b.{tail}")), Some("b".into()));
        assert_eq!(user(&format!("c.{tail}")), None);
        assert_eq!(user("short"), None);
    }

    #[test]
    fn tail_hash_reads_only_the_tail_and_short_keys_whole() {
        let h = TailHash::default();
        let tail = "t".repeat(HASHED_TAIL);
        assert_eq!(
            h.hash_one(format!("x{tail}")),
            h.hash_one(format!("yy{tail}"))
        );
        assert_ne!(h.hash_one("ab"), h.hash_one("ba"));
    }

    #[test]
    fn tokens_of_withdrawn_keys_are_forgotten() {
        let c = VerifiedTokens::new(8);
        c.insert("t1", "k1", 100, &id("a"), 0);
        c.insert("t2", "k2", 100, &id("b"), 0);
        c.retain_keys(|kid| kid == "k2");
        assert!(c.get("t1", 1, 0).is_none());
        assert!(c.get("t2", 1, 0).is_some());
    }
}
