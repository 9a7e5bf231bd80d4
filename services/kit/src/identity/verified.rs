//! Tokens whose signature and claims have already been checked, so that a client sending the same
//! access token on every request costs one signature verification per token, not per request.
//!
//! An entry is keyed by the whole compact token (a forged or altered token is a different key and
//! is verified in full), remembers the key id that verified it (entries of keys that leave the
//! JWKS are dropped) and stops answering once the token's `exp` passes. The same pattern as
//! Envoy's JWT filter cache.
//!
//! The shared map is behind one lock; every thread also keeps a small read-through copy of the
//! tokens it has answered, so a repeated token is found without touching memory the other server
//! threads write (the lock's cache line moving between cores cost more than the lookup). A copy
//! honours `exp` itself and is ignored once the shared cache has dropped tokens of withdrawn keys
//! (the shared generation counter moved on).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::Identity;

/// How many verified tokens are remembered; at about 0.5 KiB each this bounds the cache near 8 MiB.
pub(super) const CAPACITY: usize = 16_384;

/// How many tokens each thread's copy holds (a thread's copy is emptied when it fills up with
/// live tokens; it refills from the shared map).
const LOCAL_CAPACITY: usize = 1_024;

struct Entry {
    /// Shared, so an answer is a reference count, not four string copies.
    identity: Arc<Identity>,
    kid: String,
    exp: u64,
}

/// A bounded map from token to the identity it established.
pub(super) struct VerifiedTokens {
    /// Tells this cache's per-thread copies from those of other caches (tests build many).
    id: u64,
    capacity: usize,
    /// Moves on whenever tokens are dropped because their key was withdrawn, so that per-thread
    /// copies made before stop answering.
    generation: AtomicU64,
    entries: Mutex<HashMap<Box<str>, Entry>>,
}

/// One thread's copy of the tokens it answered.
struct Local {
    /// The [`VerifiedTokens::id`] the copy belongs to; another cache's lookup empties it.
    owner: u64,
    entries: HashMap<Box<str>, LocalEntry>,
}

struct LocalEntry {
    identity: Arc<Identity>,
    exp: u64,
    generation: u64,
}

thread_local! {
    static LOCAL: RefCell<Local> = RefCell::new(Local {
        owner: u64::MAX,
        entries: HashMap::new(),
    });
}

impl VerifiedTokens {
    /// An empty cache holding at most `capacity` tokens.
    pub(super) fn new(capacity: usize) -> Self {
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            capacity,
            generation: AtomicU64::new(0),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The identity of `token` if it was verified before and is still within `exp + leeway` at `now`.
    pub(super) fn get(&self, token: &str, now: u64, leeway: u64) -> Option<Arc<Identity>> {
        let generation = self.generation.load(Ordering::Acquire);
        if let Some(identity) = self.local_get(token, now, leeway, generation) {
            return Some(identity);
        }
        let mut entries = self.entries.lock().ok()?;
        let entry = entries.get(token)?;
        if now <= entry.exp.saturating_add(leeway) {
            let identity = entry.identity.clone();
            let exp = entry.exp;
            // Read under the lock: withdrawals move it on while holding it, so this is the
            // generation the entry belongs to.
            let generation = self.generation.load(Ordering::Acquire);
            drop(entries);
            self.local_put(token, &identity, exp, generation, now);
            return Some(identity);
        }
        entries.remove(token);
        None
    }

    fn local_get(
        &self,
        token: &str,
        now: u64,
        leeway: u64,
        generation: u64,
    ) -> Option<Arc<Identity>> {
        LOCAL
            .try_with(|local| {
                let mut local = local.borrow_mut();
                if local.owner != self.id {
                    return None;
                }
                let entry = local.entries.get(token)?;
                if entry.generation == generation && now <= entry.exp.saturating_add(leeway) {
                    return Some(entry.identity.clone());
                }
                local.entries.remove(token);
                None
            })
            .ok()
            .flatten()
    }

    fn local_put(
        &self,
        token: &str,
        identity: &Arc<Identity>,
        exp: u64,
        generation: u64,
        now: u64,
    ) {
        // A thread that is exiting has no copy any more: the shared map answers alone.
        let _ = LOCAL.try_with(|local| {
            let mut local = local.borrow_mut();
            if local.owner != self.id {
                local.entries.clear();
                local.owner = self.id;
            }
            if local.entries.len() >= LOCAL_CAPACITY {
                local
                    .entries
                    .retain(|_, e| e.exp >= now && e.generation == generation);
                if local.entries.len() >= LOCAL_CAPACITY {
                    local.entries.clear();
                }
            }
            local.entries.insert(
                token.into(),
                LocalEntry {
                    identity: identity.clone(),
                    exp,
                    generation,
                },
            );
        });
    }

    /// Remembers a token that passed full validation with key `kid`.
    pub(super) fn insert(
        &self,
        token: &str,
        kid: &str,
        exp: u64,
        identity: &Arc<Identity>,
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
            // Under the lock, so a copy made from the map after this carries the new value.
            self.generation.fetch_add(1, Ordering::AcqRel);
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

    fn id(user: &str) -> Arc<Identity> {
        Arc::new(Identity {
            user_id: user.into(),
            email: None,
            roles: vec![],
            token_id: None,
        })
    }

    #[test]
    fn answers_until_expiry_plus_leeway_then_forgets() {
        let c = VerifiedTokens::new(8);
        c.insert("t", "k1", 100, &id("u"), 50);
        assert_eq!(
            c.get("t", 100, 0).map(|i| i.user_id.clone()),
            Some("u".into())
        );
        assert_eq!(
            c.get("t", 105, 5).map(|i| i.user_id.clone()),
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
    fn tokens_of_withdrawn_keys_are_forgotten() {
        let c = VerifiedTokens::new(8);
        c.insert("t1", "k1", 100, &id("a"), 0);
        c.insert("t2", "k2", 100, &id("b"), 0);
        c.retain_keys(|kid| kid == "k2");
        assert!(c.get("t1", 1, 0).is_none());
        assert!(c.get("t2", 1, 0).is_some());
    }

    #[test]
    fn a_threads_copy_honours_expiry() {
        let c = VerifiedTokens::new(8);
        c.insert("t", "k1", 100, &id("u"), 0);
        // The first answer fills this thread's copy; the next ones come from it.
        assert!(c.get("t", 10, 0).is_some());
        assert!(c.get("t", 100, 0).is_some());
        assert!(
            c.get("t", 101, 0).is_none(),
            "the copy stops answering at exp"
        );
        assert_eq!(c.len(), 0, "and the shared entry is dropped too");
    }

    #[test]
    fn a_threads_copy_forgets_tokens_of_withdrawn_keys() {
        let c = VerifiedTokens::new(8);
        c.insert("t1", "k1", 100, &id("a"), 0);
        c.insert("t2", "k2", 100, &id("b"), 0);
        assert!(c.get("t1", 1, 0).is_some(), "now in this thread's copy");
        assert!(c.get("t2", 1, 0).is_some());
        c.retain_keys(|kid| kid == "k2");
        assert!(c.get("t1", 1, 0).is_none(), "the copy no longer answers");
        assert!(c.get("t2", 1, 0).is_some());
    }

    #[test]
    fn copies_are_per_thread_and_per_cache() {
        let a = VerifiedTokens::new(8);
        let b = VerifiedTokens::new(8);
        a.insert("t", "k", 100, &id("a"), 0);
        assert!(a.get("t", 1, 0).is_some());
        assert!(
            b.get("t", 1, 0).is_none(),
            "another cache does not see a's copy"
        );
        std::thread::scope(|s| {
            s.spawn(|| {
                assert_eq!(
                    a.get("t", 1, 0).map(|i| i.user_id.clone()),
                    Some("a".into())
                );
                a.retain_keys(|_| false);
            });
        });
        assert!(
            a.get("t", 1, 0).is_none(),
            "a withdrawal on another thread reaches this thread's copy"
        );
    }
}
