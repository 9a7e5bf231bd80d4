//! Decoded documents kept between requests, for a store that says what changed.
//!
//! A ten-generation pedigree reads and decodes a thousand vitals documents, most of them the
//! same from one request to the next (relatives share ancestors, a user walks around one
//! family). Before every use the cache asks the store which documents changed since its last
//! look ([`DocumentStore::changes`]) and drops those, so a read after a commit, in this process
//! or another one, never sees what the commit replaced. Both adapters keep a change log for
//! vitals (see [`crate::store::changes`]); a store that cannot tell gets no caching at all.

use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use dzinza_kit::metrics::Metrics;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::Result;
use super::codec::{Stored, parse_text};
use crate::store::{Changes, DocumentStore};

/// A kept document is charged this many times its JSON size, plus [`OVERHEAD`]: its decoded
/// form and the memo (for vitals, the summary's JSON) take about that much memory. Measured with
/// vitals (~1.35 KB of JSON each): 17,338 kept raised resident memory by 69–74 MB, ~4.1 KB each;
/// since names, dates and places stay JSON ([`crate::model::RawJson`]), ~3.3 KB each, so the
/// charge now errs on the safe side.
const PER_JSON_BYTE: u32 = 3;
/// Bytes a kept document is charged beyond its JSON (key, slot, reference counts).
const OVERHEAD: u32 = 256;

/// Decoded documents of one collection, in about `capacity` bytes of memory, each
/// with a memo `M` that callers derive from it once for everyone.
pub(crate) struct Decoded<T, M> {
    /// `None` when the capacity is zero.
    entries: Option<Cache<String, Entry<T, M>, ByWeight>>,
    /// The store's mark up to which changes have been dropped from `entries`; `None` before
    /// the first look. Insertions hold it for reading and check it, so that a document read
    /// before a change that another request has just dropped is not put back.
    mark: RwLock<Option<u64>>,
    /// What the cache does, for `/metrics`.
    stats: CacheStats,
}

/// Counters and gauges of a [`Decoded`] cache (cheap to clone: they share their values).
#[derive(Clone, Debug, Default)]
pub struct CacheStats {
    /// Documents found kept.
    pub hits: Counter,
    /// Documents read from the store (not kept, or no cache).
    pub misses: Counter,
    /// Times everything was dropped (no exact answer from the store about what changed).
    pub cleared: Counter,
    /// Requests that read without the cache because asking the store what changed failed.
    pub unanswered: Counter,
    /// Documents kept now (after the latest request).
    pub entries: Gauge,
    /// Their weight now: the memory they are estimated to take.
    pub weight_bytes: Gauge,
}

impl CacheStats {
    /// Registers these under `genealogy_<name>_cache_*` in `metrics`.
    pub fn register(&self, metrics: &Metrics, name: &str) {
        let prefix = format!("genealogy_{name}_cache");
        let counters = [
            (
                "hits",
                format!("Documents ({name}) a request found in the cache"),
                &self.hits,
            ),
            (
                "misses",
                format!("Documents ({name}) a request read from the store"),
                &self.misses,
            ),
            (
                "cleared",
                format!(
                    "Times the {name} cache dropped everything (the store could not say exactly what changed)"
                ),
                &self.cleared,
            ),
            (
                "unanswered",
                format!(
                    "Requests that read {name} without the cache because the store could not say what changed"
                ),
                &self.unanswered,
            ),
        ];
        for (what, help, counter) in counters {
            metrics.register(&format!("{prefix}_{what}"), &help, counter.clone());
        }
        let gauges = [
            (
                "entries",
                format!("Documents ({name}) kept in the cache"),
                &self.entries,
            ),
            (
                "weight_bytes",
                format!(
                    "Estimated memory of the kept {name} documents, against the configured capacity"
                ),
                &self.weight_bytes,
            ),
        ];
        for (what, help, gauge) in gauges {
            metrics.register(&format!("{prefix}_{what}"), &help, gauge.clone());
        }
    }
}

/// A document and its memo: whoever derives something from the document first sets the memo,
/// and every later reader of the same kept document finds it. A memo belongs to its document,
/// so dropping the document drops it too.
pub(crate) struct Kept<T, M> {
    /// The document.
    pub doc: Arc<T>,
    /// What was derived from it, once set.
    pub memo: Arc<OnceLock<M>>,
}

impl<T, M> Kept<T, M> {
    /// `doc` with no memo yet.
    pub fn new(doc: T) -> Self {
        Kept {
            doc: Arc::new(doc),
            memo: Arc::new(OnceLock::new()),
        }
    }
}

// Derived `Clone` would ask `T: Clone` and `M: Clone`; only the `Arc`s are cloned.
impl<T, M> Clone for Kept<T, M> {
    fn clone(&self) -> Self {
        Kept {
            doc: Arc::clone(&self.doc),
            memo: Arc::clone(&self.memo),
        }
    }
}

/// A kept document and what it is charged against the capacity.
struct Entry<T, M> {
    kept: Kept<T, M>,
    weight: u32,
}

impl<T, M> Clone for Entry<T, M> {
    fn clone(&self) -> Self {
        Entry {
            kept: self.kept.clone(),
            weight: self.weight,
        }
    }
}

/// Charges an entry its own weight.
#[derive(Clone, Copy)]
struct ByWeight;

impl<T, M> Weighter<String, Entry<T, M>> for ByWeight {
    fn weight(&self, _: &String, entry: &Entry<T, M>) -> u64 {
        u64::from(entry.weight)
    }
}

/// When documents are read: after the changes up to this mark were dropped (`None`: nothing
/// read may be kept).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReadAt(Option<u64>);

impl<T: Stored + 'static, M: Send + Sync + 'static> Decoded<T, M> {
    /// A cache of about `capacity` bytes (0: none).
    pub fn new(capacity: u64) -> Self {
        // The item estimate sizes the tables up front: a kept vitals document is charged ~4 KB.
        let items = usize::try_from(capacity / 4000)
            .unwrap_or(usize::MAX)
            .max(16);
        let entries = (capacity > 0).then(|| Cache::with_weighter(items, capacity, ByWeight));
        Decoded {
            entries,
            mark: RwLock::new(None),
            stats: CacheStats::default(),
        }
    }

    /// What the cache does.
    pub fn stats(&self) -> &CacheStats {
        &self.stats
    }

    /// Drops what changed in the store since the last look, before a use: what is read after
    /// this (from the cache or the store) is at least as new as every commit before it. When the
    /// store cannot answer, the use reads without the cache.
    pub async fn refresh(&self, store: &dyn DocumentStore) -> ReadAt {
        let Some(entries) = &self.entries else {
            return ReadAt(None);
        };
        let since = *self.mark.read().unwrap_or_else(PoisonError::into_inner);
        let changes = match store.changes(T::COLLECTION, since).await {
            Ok(Some(changes)) => changes,
            Ok(None) => return ReadAt(None),
            Err(e) => {
                // The cache only saves work: without an answer this request reads everything
                // from the store and keeps nothing, and the next one asks again. A store that
                // is down fails the reads that follow, with their own error.
                tracing::warn!(
                    collection = T::COLLECTION.as_str(),
                    error = %e,
                    "the store could not say what changed; reading without the cache"
                );
                self.stats.unanswered.inc();
                return ReadAt(None);
            }
        };
        let mut mark = self.mark.write().unwrap_or_else(PoisonError::into_inner);
        let seen = match changes {
            Changes::Some { mark: seen, ids } => {
                for id in &ids {
                    entries.remove(id);
                }
                seen
            }
            Changes::Any { mark: seen } => {
                entries.clear();
                self.stats.cleared.inc();
                // The mark may go back (another database): it is the store's from now on.
                *mark = Some(seen);
                return ReadAt(Some(seen));
            }
        };
        // Another request may have dropped later changes already; its mark stands.
        if mark.is_none_or(|m| m < seen) {
            *mark = Some(seen);
        }
        ReadAt(*mark)
    }

    /// The documents `ids` that exist (in no particular order): kept ones from the cache, the
    /// rest read from `store`, decoded, and kept; `at` is the caller's [`Decoded::refresh`].
    pub async fn get_many(
        &self,
        store: &dyn DocumentStore,
        ids: &[String],
        at: ReadAt,
    ) -> Result<Vec<Kept<T, M>>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let (mut found, missing) = match (&self.entries, at.0) {
            (Some(entries), Some(_)) => {
                let mut found = Vec::with_capacity(ids.len());
                let mut missing = Vec::new();
                for id in ids {
                    match entries.get(id) {
                        Some(entry) => found.push(entry.kept),
                        None => missing.push(id.clone()),
                    }
                }
                (found, missing)
            }
            _ => (Vec::new(), ids.to_vec()),
        };
        self.stats.hits.inc_by(found.len() as u64);
        self.stats.misses.inc_by(missing.len() as u64);
        if missing.is_empty() {
            return Ok(found);
        }
        let read = store.get_many_text(T::COLLECTION, &missing).await?;
        let mut decoded = Vec::with_capacity(read.len());
        for doc in &read {
            let weight = u32::try_from(doc.body.len())
                .unwrap_or(u32::MAX)
                .saturating_mul(PER_JSON_BYTE)
                .saturating_add(OVERHEAD);
            decoded.push((Kept::new(parse_text::<T>(doc)?), weight));
        }
        self.keep(at, &decoded);
        found.extend(decoded.into_iter().map(|(doc, _)| doc));
        Ok(found)
    }

    /// Keeps documents read at `at`, unless changes after it have been dropped since (one of
    /// them might be among these, read before it).
    fn keep(&self, at: ReadAt, docs: &[(Kept<T, M>, u32)]) {
        let (Some(entries), Some(read_at)) = (&self.entries, at.0) else {
            return;
        };
        let mark = self.mark.read().unwrap_or_else(PoisonError::into_inner);
        if *mark != Some(read_at) {
            return;
        }
        for (kept, weight) in docs {
            let entry = Entry {
                kept: kept.clone(),
                weight: *weight,
            };
            entries.insert(kept.doc.id().to_owned(), entry);
        }
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.stats.entries.set(gauge(entries.len() as u64));
        self.stats.weight_bytes.set(gauge(entries.weight()));
    }
}
