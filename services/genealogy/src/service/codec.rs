//! How each model type is stored: its collection, index keys and sort string.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::{GenealogyError, Result};
use crate::model::{
    Citation, Collection, Event, FamilyTree, HistoryEntry, MergeSuggestion, Millis, Note,
    Notification, Person, PersonPrivacy, Relationship, RelationshipKind, Repository, Source,
    TreePrivacy, Vitals, fold,
};
use crate::store::{Document, StoreError};

/// A model type stored as a document.
pub trait Stored: Serialize + DeserializeOwned + Send + Sync {
    /// Its collection.
    const COLLECTION: Collection;
    /// Its id.
    fn id(&self) -> &str;
    /// Its index keys.
    fn keys(&self) -> Vec<(String, String)>;
    /// Its sort string.
    fn sort(&self) -> String;
    /// Its last change.
    fn updated(&self) -> Millis;
}

fn k(key: &str, value: &str) -> (String, String) {
    (key.to_owned(), value.to_owned())
}

/// The value of a `tree_name` key: a person of `tree` has a name token starting with
/// `prefix` (at most [`crate::model::NAME_PREFIX_CHARS`] characters).
pub(crate) fn tree_name(tree: &str, prefix: &str) -> String {
    format!("{tree}\u{1}{prefix}")
}

/// Milliseconds as a string that sorts like the number.
fn time_key(ms: Millis, id: &str) -> String {
    format!("{:020}{id}", ms.saturating_add(1 << 62))
}

pub(crate) fn value_of<T: Serialize>(t: &T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

/// The document for `t`.
pub fn doc_of<T: Stored>(t: &T) -> Document {
    let mut keys = t.keys();
    keys.sort();
    keys.dedup();
    Document {
        id: t.id().to_owned(),
        body: value_of(t),
        keys,
        sort: t.sort(),
        updated_at: t.updated(),
    }
}

pub(crate) fn parse<T: DeserializeOwned>(d: Document) -> Result<T> {
    serde_json::from_value(d.body)
        .map_err(|e| GenealogyError::Store(StoreError::Corrupt(d.id, e.to_string())))
}

pub(crate) fn parse_text<T: DeserializeOwned>(d: &crate::store::TextDocument) -> Result<T> {
    serde_json::from_str(&d.body)
        .map_err(|e| GenealogyError::Store(StoreError::Corrupt(d.id.clone(), e.to_string())))
}

/// The document for a stored body of `collection` (used by revert, which only has JSON).
pub(crate) fn doc_from_value(collection: Collection, body: Value) -> Result<Document> {
    fn typed<T: Stored>(body: Value) -> Result<Document> {
        let t: T = serde_json::from_value(body).map_err(|e| {
            GenealogyError::Store(StoreError::Corrupt("revert".into(), e.to_string()))
        })?;
        Ok(doc_of(&t))
    }
    match collection {
        Collection::Trees => typed::<FamilyTree>(body),
        Collection::Persons => typed::<Person>(body),
        Collection::Relationships => typed::<Relationship>(body),
        Collection::Events => typed::<Event>(body),
        Collection::Sources => typed::<Source>(body),
        Collection::Citations => typed::<Citation>(body),
        Collection::Repositories => typed::<Repository>(body),
        Collection::Notes => typed::<Note>(body),
        Collection::History => typed::<HistoryEntry>(body),
        Collection::Notifications => typed::<Notification>(body),
        Collection::MergeSuggestions => typed::<MergeSuggestion>(body),
        Collection::Vitals => typed::<Vitals>(body),
    }
}

impl Stored for FamilyTree {
    const COLLECTION: Collection = Collection::Trees;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        let mut keys = vec![k("member", &self.owner_id)];
        for c in &self.collaborators {
            if let Some(u) = &c.user_id {
                keys.push(k("member", u));
            }
            if let Some(e) = &c.email {
                keys.push(k("member_email", &e.to_lowercase()));
            }
        }
        if self.privacy == TreePrivacy::Public {
            keys.push(k("privacy", "public"));
        }
        keys
    }
    fn sort(&self) -> String {
        format!("{}\u{1}{}", fold(&self.name), self.id)
    }
    fn updated(&self) -> Millis {
        self.updated_at
    }
}

impl Stored for Person {
    const COLLECTION: Collection = Collection::Persons;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        let mut keys = Vec::new();
        for t in &self.tree_ids {
            keys.push(k("tree", t));
            // Outsiders of a tree list it through this key, so private people are never
            // counted or paged for them.
            if self.privacy != PersonPrivacy::Private {
                keys.push(k("open_tree", t));
            }
        }
        keys.extend(self.search_tokens().into_iter().map(|t| k("name", &t)));
        let prefixes = self.name_prefixes();
        for t in &self.tree_ids {
            keys.extend(prefixes.iter().map(|p| k("tree_name", &tree_name(t, p))));
        }
        keys.extend(
            self.names
                .iter()
                .map(|n| fold(&n.surname))
                .filter(|s| !s.is_empty())
                .map(|s| k("surname", &s)),
        );
        keys.extend(self.tags.iter().map(|t| k("tag", &fold(t))));
        keys.extend(
            self.external_ids
                .iter()
                .map(|x| k("external", &format!("{}:{}", x.system, x.value))),
        );
        keys.extend(self.citation_ids.iter().map(|c| k("citation", c)));
        keys
    }
    fn sort(&self) -> String {
        format!("{}\u{1}{}", self.sort_key(), self.id)
    }
    fn updated(&self) -> Millis {
        self.updated_at
    }
}

impl Stored for Relationship {
    const COLLECTION: Collection = Collection::Relationships;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        let mut keys = vec![k("tree", &self.tree_id)];
        match &self.kind {
            RelationshipKind::ParentChild { parent, child, .. } => {
                keys.push(k("parent", parent));
                keys.push(k("child", child));
            }
            RelationshipKind::Partnership { a, b, .. } => {
                keys.push(k("partner", a));
                keys.push(k("partner", b));
            }
        }
        keys.extend(self.persons().iter().map(|p| k("person", p)));
        keys.extend(self.citation_ids.iter().map(|c| k("citation", c)));
        keys
    }
    fn sort(&self) -> String {
        time_key(self.created_at, &self.id)
    }
    fn updated(&self) -> Millis {
        self.updated_at
    }
}

impl Stored for Vitals {
    const COLLECTION: Collection = Collection::Vitals;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        // Read by person id only.
        Vec::new()
    }
    fn sort(&self) -> String {
        self.id.clone()
    }
    fn updated(&self) -> Millis {
        0
    }
}

impl Stored for Event {
    const COLLECTION: Collection = Collection::Events;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        let mut keys = vec![k("tree", &self.tree_id)];
        keys.extend(self.participants.iter().map(|p| k("person", &p.person_id)));
        keys.extend(self.citation_ids.iter().map(|c| k("citation", c)));
        keys
    }
    fn sort(&self) -> String {
        // Chronological, undated last.
        match self.date.as_ref().and_then(|d| d.sort_key()) {
            Some(jdn) => format!("{:020}{}", jdn.saturating_add(1 << 40), self.id),
            None => format!("~{}", self.id),
        }
    }
    fn updated(&self) -> Millis {
        self.updated_at
    }
}

impl Stored for Source {
    const COLLECTION: Collection = Collection::Sources;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        let mut keys = vec![k("tree", &self.tree_id)];
        if let Some(r) = &self.repository_id {
            keys.push(k("repository", r));
        }
        keys
    }
    fn sort(&self) -> String {
        format!("{}\u{1}{}", fold(&self.title), self.id)
    }
    fn updated(&self) -> Millis {
        self.updated_at
    }
}

impl Stored for Citation {
    const COLLECTION: Collection = Collection::Citations;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        vec![k("tree", &self.tree_id), k("source", &self.source_id)]
    }
    fn sort(&self) -> String {
        time_key(self.created_at, &self.id)
    }
    fn updated(&self) -> Millis {
        self.updated_at
    }
}

impl Stored for Repository {
    const COLLECTION: Collection = Collection::Repositories;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        vec![k("tree", &self.tree_id)]
    }
    fn sort(&self) -> String {
        format!("{}\u{1}{}", fold(&self.name), self.id)
    }
    fn updated(&self) -> Millis {
        self.updated_at
    }
}

impl Stored for Note {
    const COLLECTION: Collection = Collection::Notes;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        vec![k("tree", &self.tree_id)]
    }
    fn sort(&self) -> String {
        time_key(self.created_at, &self.id)
    }
    fn updated(&self) -> Millis {
        self.updated_at
    }
}

impl Stored for HistoryEntry {
    const COLLECTION: Collection = Collection::History;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        let mut keys: Vec<_> = self.person_ids.iter().map(|p| k("person", p)).collect();
        keys.extend(self.tree_ids.iter().map(|t| k("tree", t)));
        keys
    }
    fn sort(&self) -> String {
        time_key(self.at, &self.id)
    }
    fn updated(&self) -> Millis {
        self.at
    }
}

impl Stored for Notification {
    const COLLECTION: Collection = Collection::Notifications;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        let mut keys = vec![k("user", &self.user_id)];
        if !self.read {
            keys.push(k("unread", &self.user_id));
        }
        keys
    }
    fn sort(&self) -> String {
        time_key(self.created_at, &self.id)
    }
    fn updated(&self) -> Millis {
        self.created_at
    }
}

impl Stored for MergeSuggestion {
    const COLLECTION: Collection = Collection::MergeSuggestions;
    fn id(&self) -> &str {
        &self.id
    }
    fn keys(&self) -> Vec<(String, String)> {
        let status = serde_json::to_value(self.status)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        vec![
            k("tree", &self.tree_id),
            k("tree_status", &format!("{}:{status}", self.tree_id)),
            k("person", &self.person_a),
            k("person", &self.person_b),
        ]
    }
    fn sort(&self) -> String {
        time_key(self.created_at, &self.id)
    }
    fn updated(&self) -> Millis {
        self.updated_at
    }
}
