//! The genealogy use cases: every read and write goes through here, and every one applies the
//! authorization policy ([`crate::policy`]) before touching or returning data.

mod activity;
pub(crate) mod cache;
mod cards;
mod codec;
mod import;
mod persons;
mod records;
mod trees;
mod views;
mod vitals;

pub use activity::{MergeOutcome, NewMergeSuggestion, NotificationFilter};
pub use cache::CacheStats;
pub use cards::{PersonSummary, SharedSummary};
pub use codec::{Stored, doc_of};
pub use import::{ImportBatch, ImportEvent, ImportOutcome, ImportPerson};
pub use persons::{
    NewPerson, PersonFilter, PersonPatch, PersonSort, PersonView, Vital, is_living, render,
};
pub use records::{
    CitationInput, EventInput, NewRelationship, NoteInput, PlaceInput, RelationshipPatch,
    RepositoryInput, SourceInput,
};
pub use trees::{CollaboratorInput, NewTree, TreePatch, TreeScope, TreeView};
pub use views::{AncestorNode, Family, FamilyMember, KinshipView, PathStep, Pedigree};

use std::collections::HashMap;
use std::sync::Arc;

use dzinza_kit::problem::FieldError;
use serde::de::DeserializeOwned;

use crate::model::{
    Change, Collection, FamilyTree, HistoryEntry, Millis, Notification, Vitals, new_id,
};
use crate::policy::{Actor, TreeAccess, tree_access};
use crate::store::{DocumentStore, Expect, Query, StoreError, Write};

/// Largest page a list returns.
pub const MAX_PAGE: u64 = 200;

/// Why a use case failed.
#[derive(Debug, thiserror::Error)]
pub enum GenealogyError {
    /// Some input fields are invalid.
    #[error("invalid input")]
    Validation(Vec<FieldError>),
    /// Nothing there, or nothing the caller may see.
    #[error("{0} not found")]
    NotFound(&'static str),
    /// The caller sees it but may not do this.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The request conflicts with the current state.
    #[error("conflict: {0}")]
    Conflict(String),
    /// Storage failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for GenealogyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict { .. } => GenealogyError::Conflict(
                "someone else changed this at the same time; reload and try again".into(),
            ),
            other => GenealogyError::Store(other),
        }
    }
}

/// The recipient id of notifications for someone invited by `email` who has no user id yet.
pub fn email_recipient(email: &str) -> String {
    format!("email:{}", email.to_lowercase())
}

/// A record of `id` that cannot be encoded as JSON. Strings, numbers and enums always can, so
/// this is not expected; were it to happen, the record cannot be shown or kept, and the caller
/// hears of it.
pub(crate) fn unencodable(id: &str, e: serde_json::Error) -> GenealogyError {
    GenealogyError::Store(StoreError::Corrupt(
        id.to_owned(),
        format!("cannot be encoded: {e}"),
    ))
}

/// A 422 naming one field.
pub fn invalid(field: &str, message: &str) -> GenealogyError {
    GenealogyError::Validation(vec![FieldError {
        field: field.to_owned(),
        message: message.to_owned(),
    }])
}

/// Shorthand.
pub type Result<T> = std::result::Result<T, GenealogyError>;

/// Where "now" comes from (tests pin it).
pub type Clock = Arc<dyn Fn() -> Millis + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| jiff::Timestamp::now().as_millisecond())
}

/// A page of results with the total count.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    /// This page.
    pub items: Vec<T>,
    /// Matching items in all.
    pub total: u64,
    /// Items skipped.
    pub offset: u64,
    /// Page size asked for.
    pub limit: u64,
}

/// Offset and limit of a listing.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    /// Skip.
    pub offset: u64,
    /// Take (clamped to 1..=[`MAX_PAGE`]).
    pub limit: u64,
}

impl PageRequest {
    /// Clamped page request (default 50).
    pub fn new(offset: Option<u64>, limit: Option<u64>) -> PageRequest {
        PageRequest {
            offset: offset.unwrap_or(0),
            limit: limit.unwrap_or(50).clamp(1, MAX_PAGE),
        }
    }
}

/// Memory for decoded vitals the service keeps unless told otherwise, in bytes: about 31,000
/// persons' worth (see `cache.rs` for what a kept document is charged).
pub const DEFAULT_VITALS_CACHE: u64 = 128 << 20;

/// The genealogy service.
#[derive(Clone)]
pub struct Genealogy {
    store: Arc<dyn DocumentStore>,
    clock: Clock,
    /// Decoded vitals, for pedigrees (kept only on stores that report changes).
    vitals: Arc<cache::Decoded<Vitals, cards::FullSummary>>,
}

/// Writes and recorded changes gathered by one use case, committed together.
pub(crate) struct ChangeSet {
    writes: Vec<Write>,
    changes: Vec<Change>,
    notifications: Vec<Notification>,
}

impl ChangeSet {
    pub(crate) fn new() -> Self {
        Self {
            writes: Vec::new(),
            changes: Vec::new(),
            notifications: Vec::new(),
        }
    }

    /// Records `before` → `after` for a document, conditional on `before` still being current.
    pub(crate) fn put<T: Stored>(&mut self, before: Option<&T>, after: &T) {
        let doc = doc_of(after);
        let before = before.map(codec::value_of);
        self.writes.push(
            Write::put(T::COLLECTION, doc.clone()).expecting(match &before {
                Some(v) => Expect::Body(v.clone()),
                None => Expect::Absent,
            }),
        );
        self.changes.push(Change {
            collection: T::COLLECTION,
            id: doc.id,
            before,
            after: Some(doc.body),
        });
    }

    /// Records the deletion of a document, conditional on it being unchanged.
    pub(crate) fn delete<T: Stored>(&mut self, before: &T) {
        let v = codec::value_of(before);
        self.writes
            .push(Write::delete(T::COLLECTION, before.id()).expecting(Expect::Body(v.clone())));
        self.changes.push(Change {
            collection: T::COLLECTION,
            id: before.id().to_owned(),
            before: Some(v),
            after: None,
        });
    }

    /// A write that is not part of the person's history (trees, sources, notifications).
    pub(crate) fn untracked(&mut self, write: Write) {
        self.writes.push(write);
    }

    pub(crate) fn notify(&mut self, n: Notification) {
        self.notifications.push(n);
    }
}

impl Genealogy {
    /// A service over `store`.
    pub fn new(store: Arc<dyn DocumentStore>, clock: Clock) -> Self {
        Self {
            store,
            clock,
            vitals: Arc::new(cache::Decoded::new(DEFAULT_VITALS_CACHE)),
        }
    }

    /// The service with a cache of decoded vitals of about `bytes` (0: none) instead of
    /// [`DEFAULT_VITALS_CACHE`].
    #[must_use]
    pub fn with_vitals_cache(mut self, bytes: u64) -> Self {
        self.vitals = Arc::new(cache::Decoded::new(bytes));
        self
    }

    /// The store (for health checks).
    pub fn store(&self) -> &Arc<dyn DocumentStore> {
        &self.store
    }

    pub(crate) fn now(&self) -> Millis {
        (self.clock)()
    }

    pub(crate) async fn load<T: Stored>(&self, id: &str) -> Result<Option<T>> {
        match self.store.get(T::COLLECTION, id).await? {
            Some(d) => Ok(Some(codec::parse(d)?)),
            None => Ok(None),
        }
    }

    // Lists decode the stored JSON text straight into the model type: building a
    // `serde_json::Value` first was most of the time of a large pedigree.
    pub(crate) async fn load_many<T: Stored>(&self, ids: &[String]) -> Result<Vec<T>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.store
            .get_many_text(T::COLLECTION, ids)
            .await?
            .iter()
            .map(codec::parse_text)
            .collect()
    }

    /// What the vitals cache does (hits, misses, size).
    pub fn vitals_cache_stats(&self) -> &cache::CacheStats {
        self.vitals.stats()
    }

    /// Brings the vitals cache up to date before a use (once per request: it asks the store).
    pub(crate) async fn vitals_now(&self) -> cache::ReadAt {
        self.vitals.refresh(self.store.as_ref()).await
    }

    /// The vitals of the persons `ids` that have them, through the cache brought up to date
    /// at `at`.
    pub(crate) async fn vitals_of(
        &self,
        ids: &[String],
        at: cache::ReadAt,
    ) -> Result<Vec<cache::Kept<Vitals, cards::FullSummary>>> {
        self.vitals.get_many(self.store.as_ref(), ids, at).await
    }

    pub(crate) async fn find<T: Stored + DeserializeOwned>(
        &self,
        q: &Query,
    ) -> Result<(Vec<T>, u64)> {
        if matches!(&q.select, crate::store::Select::Any(pairs) if pairs.is_empty()) {
            return Ok((Vec::new(), 0));
        }
        let page = self.store.find_text(q).await?;
        let items = page
            .items
            .iter()
            .map(codec::parse_text)
            .collect::<Result<Vec<T>>>()?;
        Ok((items, page.total))
    }

    /// The tree and the caller's access, or not found when the caller may not see it.
    pub(crate) async fn tree_for(
        &self,
        actor: &Actor,
        tree_id: &str,
    ) -> Result<(FamilyTree, TreeAccess)> {
        let tree: FamilyTree = self
            .load(tree_id)
            .await?
            .ok_or(GenealogyError::NotFound("tree"))?;
        let access = tree_access(&tree, actor);
        if !access.can_read() {
            return Err(GenealogyError::NotFound("tree"));
        }
        Ok((tree, access))
    }

    /// A tree the caller may edit in.
    pub(crate) async fn editable_tree(&self, actor: &Actor, tree_id: &str) -> Result<FamilyTree> {
        let (tree, access) = self.tree_for(actor, tree_id).await?;
        if !access.can_edit() {
            return Err(GenealogyError::Forbidden(
                "editing this tree needs the editor role".into(),
            ));
        }
        Ok(tree)
    }

    /// Trees by id, cached across one request.
    pub(crate) async fn trees(
        &self,
        cache: &mut HashMap<String, FamilyTree>,
        ids: &[String],
    ) -> Result<Vec<FamilyTree>> {
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !cache.contains_key(*id))
            .cloned()
            .collect();
        for t in self.load_many::<FamilyTree>(&missing).await? {
            cache.insert(t.id.clone(), t);
        }
        Ok(ids.iter().filter_map(|id| cache.get(id).cloned()).collect())
    }

    /// Commits a change set, recording a history entry when it changed person data.
    pub(crate) async fn commit(
        &self,
        mut set: ChangeSet,
        action: &str,
        actor: &Actor,
        person_ids: Vec<String>,
        tree_ids: Vec<String>,
    ) -> Result<Option<HistoryEntry>> {
        self.commit_as(
            &mut set,
            new_id(),
            action,
            actor,
            person_ids,
            tree_ids,
            None,
        )
        .await
    }

    #[allow(
        clippy::too_many_arguments,
        reason = "internal; every argument is distinct"
    )]
    pub(crate) async fn commit_as(
        &self,
        set: &mut ChangeSet,
        entry_id: String,
        action: &str,
        actor: &Actor,
        mut person_ids: Vec<String>,
        mut tree_ids: Vec<String>,
        reverts: Option<String>,
    ) -> Result<Option<HistoryEntry>> {
        person_ids.sort();
        person_ids.dedup();
        tree_ids.sort();
        tree_ids.dedup();
        let vitals = self.vitals_writes(&set.changes).await?;
        let entry = (!set.changes.is_empty() && !person_ids.is_empty()).then(|| HistoryEntry {
            id: entry_id,
            person_ids,
            tree_ids,
            action: action.to_owned(),
            actor_id: actor.user_id.clone(),
            at: self.now(),
            changes: std::mem::take(&mut set.changes),
            reverts,
            reverted_by: None,
        });
        let mut writes = std::mem::take(&mut set.writes);
        writes.extend(vitals);
        if let Some(e) = &entry {
            writes.push(Write::put(Collection::History, doc_of(e)).expecting(Expect::Absent));
        }
        for n in std::mem::take(&mut set.notifications) {
            writes.push(Write::put(Collection::Notifications, doc_of(&n)));
        }
        self.store.commit(writes).await?;
        Ok(entry)
    }

    /// Notifications for everyone else in a shared tree.
    pub(crate) fn notify_members(
        &self,
        set: &mut ChangeSet,
        tree: &FamilyTree,
        actor: &Actor,
        kind: &str,
        message: String,
        person_id: Option<&str>,
    ) {
        // Collaborators invited by email have no user id yet; their notifications are addressed
        // to the email and found through the email claim of their token.
        let me = actor.email.as_deref().map(email_recipient);
        let mut users: Vec<String> = std::iter::once(tree.owner_id.clone())
            .chain(tree.collaborators.iter().filter_map(|c| {
                c.user_id
                    .clone()
                    .or_else(|| c.email.as_deref().map(email_recipient))
            }))
            .filter(|u| *u != actor.user_id && Some(u) != me.as_ref())
            .collect();
        users.sort();
        users.dedup();
        for user in users {
            set.notify(Notification {
                id: new_id(),
                user_id: user.clone(),
                kind: kind.to_owned(),
                message: message.clone(),
                tree_id: Some(tree.id.clone()),
                person_id: person_id.map(str::to_owned),
                read: false,
                created_at: self.now(),
            });
        }
    }
}
