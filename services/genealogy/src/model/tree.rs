//! Family trees, their collaborators and settings.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Millis;

/// Who may see a tree at all.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TreePrivacy {
    /// Owner and collaborators only.
    #[default]
    Private,
    /// Every signed-in user may read it (living people masked unless turned off).
    Public,
}

/// A collaborator's role, weakest first (so roles compare by power).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads everything in the tree.
    Viewer,
    /// Also changes people, events, relationships and sources.
    Editor,
    /// Also manages the tree and its collaborators.
    Admin,
}

/// A person invited to a tree, by user id or by email (matched when they sign in).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Collaborator {
    /// The user's id, when invited by id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// The invited email address (lower-cased), when invited by email.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// What they may do.
    pub role: Role,
    /// Who invited them.
    pub invited_by: String,
    /// When.
    pub invited_at: Millis,
}

impl Collaborator {
    /// Whether this entry names the user `user_id` with `email`.
    pub fn matches(&self, user_id: &str, email: Option<&str>) -> bool {
        self.user_id.as_deref() == Some(user_id)
            || matches!((&self.email, email), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
    }
}

/// Date formats a tree can display dates in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DateFormat {
    /// As GEDCOM writes them: `12 MAR 1850`.
    #[default]
    Gedcom,
    /// ISO 8601: `1850-03-12`.
    Iso,
}

/// Per-tree settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TreeSettings {
    /// Whether non-collaborators see living people as "Living" without dates or places.
    pub mask_living: bool,
    /// How the UI shows dates.
    #[serde(default)]
    pub date_format: DateFormat,
}

impl Default for TreeSettings {
    fn default() -> Self {
        Self {
            mask_living: true,
            date_format: DateFormat::Gedcom,
        }
    }
}

/// A family tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FamilyTree {
    /// Opaque id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// The owning user's id.
    pub owner_id: String,
    /// Who may see it.
    pub privacy: TreePrivacy,
    /// Invited users.
    #[serde(default)]
    pub collaborators: Vec<Collaborator>,
    /// Settings.
    #[serde(default)]
    pub settings: TreeSettings,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}

impl FamilyTree {
    /// The collaborator entry for a user, if any (the strongest, if invited twice).
    pub fn role_of(&self, user_id: &str, email: Option<&str>) -> Option<Role> {
        self.collaborators
            .iter()
            .filter(|c| c.matches(user_id, email))
            .map(|c| c.role)
            .max()
    }
}
