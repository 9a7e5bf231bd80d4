//! What happened to people: history with revert, notifications, merge suggestions.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{Collection, Millis};

/// One document changed by an action: what it was and what it became (`None`: absent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Change {
    /// The document's collection.
    pub collection: Collection,
    /// The document's id.
    pub id: String,
    /// Before the change.
    #[schema(value_type = Option<Object>)]
    pub before: Option<Value>,
    /// After the change.
    #[schema(value_type = Option<Object>)]
    pub after: Option<Value>,
}

/// A recorded change to a person (and its names, events, relationships).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HistoryEntry {
    /// Opaque id.
    pub id: String,
    /// The persons concerned.
    pub person_ids: Vec<String>,
    /// The trees concerned.
    pub tree_ids: Vec<String>,
    /// What was done, e.g. `person_updated`, `event_created`, `merged`, `reverted`.
    pub action: String,
    /// Who did it.
    pub actor_id: String,
    /// When.
    pub at: Millis,
    /// Every document it changed.
    pub changes: Vec<Change>,
    /// The entry this one reverted, for `reverted`.
    #[serde(default)]
    pub reverts: Option<String>,
    /// The entry that reverted this one, once reverted.
    #[serde(default)]
    pub reverted_by: Option<String>,
}

/// A message for one user.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Notification {
    /// Opaque id.
    pub id: String,
    /// Recipient.
    pub user_id: String,
    /// Kind, e.g. `person_added`, `person_changed`, `merge_suggested`.
    pub kind: String,
    /// Human text.
    pub message: String,
    /// The tree concerned.
    #[serde(default)]
    pub tree_id: Option<String>,
    /// The person concerned.
    #[serde(default)]
    pub person_id: Option<String>,
    /// Whether read.
    pub read: bool,
    /// Created.
    pub created_at: Millis,
}

/// Where a merge suggestion stands.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MergeStatus {
    /// Waiting for a decision.
    #[default]
    Pending,
    /// Merged.
    Accepted,
    /// Not the same person.
    Rejected,
}

/// Two persons that may be the same.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MergeSuggestion {
    /// Opaque id.
    pub id: String,
    /// The tree.
    pub tree_id: String,
    /// One person (the default survivor).
    pub person_a: String,
    /// The other.
    pub person_b: String,
    /// Similarity, 0 to 1.
    pub score: f64,
    /// Why they look alike.
    #[serde(default)]
    pub reasons: Vec<String>,
    /// Status.
    pub status: MergeStatus,
    /// The history entry of the merge, once accepted.
    #[serde(default)]
    pub merge_history_id: Option<String>,
    /// Who decided.
    #[serde(default)]
    pub decided_by: Option<String>,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}
