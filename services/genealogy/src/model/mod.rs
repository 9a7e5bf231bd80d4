//! The genealogy domain model: plain data, free of HTTP and storage.
//!
//! Every stored entity is a document in one [`Collection`]; the documents port stores them as
//! JSON with a few index keys (see [`crate::store`]).

pub mod activity;
pub mod event;
pub mod person;
pub mod raw;
pub mod relationship;
pub mod source;
pub mod tree;
pub mod vitals;

pub use activity::{Change, HistoryEntry, MergeStatus, MergeSuggestion, Notification};
pub use event::{Event, EventType, Participant, ParticipantRole, Place};
pub use person::{ExternalId, NAME_PREFIX_CHARS, Name, NameType, Person, PersonPrivacy, Sex};
pub use raw::RawJson;
pub use relationship::{ParentKind, PartnerKind, Relationship, RelationshipKind};
pub use source::{Citation, Note, Repository, Source};
pub use tree::{Collaborator, FamilyTree, Role, TreePrivacy, TreeSettings};
pub use vitals::{ParentLink, PersonCard, VitalEvent, Vitals};

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// A new opaque, time-ordered id.
pub fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The kinds of stored documents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Collection {
    /// [`FamilyTree`].
    Trees,
    /// [`Person`].
    Persons,
    /// [`Relationship`].
    Relationships,
    /// [`Event`].
    Events,
    /// [`Source`].
    Sources,
    /// [`Citation`].
    Citations,
    /// [`Repository`].
    Repositories,
    /// [`Note`].
    Notes,
    /// [`HistoryEntry`].
    History,
    /// [`Notification`].
    Notifications,
    /// [`MergeSuggestion`].
    MergeSuggestions,
    /// [`Vitals`], one per person (same id).
    Vitals,
}

impl Collection {
    /// Every collection, for adapters that create one table or collection each.
    pub const ALL: [Collection; 12] = [
        Collection::Trees,
        Collection::Persons,
        Collection::Relationships,
        Collection::Events,
        Collection::Sources,
        Collection::Citations,
        Collection::Repositories,
        Collection::Notes,
        Collection::History,
        Collection::Notifications,
        Collection::MergeSuggestions,
        Collection::Vitals,
    ];

    /// Stable storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Collection::Trees => "trees",
            Collection::Persons => "persons",
            Collection::Relationships => "relationships",
            Collection::Events => "events",
            Collection::Sources => "sources",
            Collection::Citations => "citations",
            Collection::Repositories => "repositories",
            Collection::Notes => "notes",
            Collection::History => "history",
            Collection::Notifications => "notifications",
            Collection::MergeSuggestions => "merge_suggestions",
            Collection::Vitals => "vitals",
        }
    }
}

/// Lower-cased, accent-insensitive enough form of a name for sorting and prefix search.
pub fn fold(s: &str) -> String {
    s.trim().to_lowercase()
}
