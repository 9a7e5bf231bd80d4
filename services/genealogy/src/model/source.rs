//! Sources, citations, repositories and shared notes: enough for a GEDCOM import to lose
//! nothing a user cares about.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Millis;

/// A source: a book, a register, a census, a web page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Source {
    /// Opaque id.
    pub id: String,
    /// The tree.
    pub tree_id: String,
    /// Title.
    pub title: String,
    /// Author or creator.
    #[serde(default)]
    pub author: Option<String>,
    /// Publication facts.
    #[serde(default)]
    pub publication: Option<String>,
    /// Abbreviation.
    #[serde(default)]
    pub abbreviation: Option<String>,
    /// Where it is held.
    #[serde(default)]
    pub repository_id: Option<String>,
    /// Call number in the repository.
    #[serde(default)]
    pub call_number: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}

/// A citation: where in a source a fact is supported, and how well.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Citation {
    /// Opaque id.
    pub id: String,
    /// The tree.
    pub tree_id: String,
    /// The source cited.
    pub source_id: String,
    /// Page or other detail within the source.
    #[serde(default)]
    pub page: Option<String>,
    /// Confidence 0 (unreliable) to 3 (direct, primary evidence), as GEDCOM `QUAY`.
    #[serde(default)]
    pub confidence: Option<u8>,
    /// Transcribed text.
    #[serde(default)]
    pub text: Option<String>,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}

/// A repository: an archive, a library, a website holding sources.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Repository {
    /// Opaque id.
    pub id: String,
    /// The tree.
    pub tree_id: String,
    /// Name.
    pub name: String,
    /// Postal address.
    #[serde(default)]
    pub address: Option<String>,
    /// Web address.
    #[serde(default)]
    pub url: Option<String>,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}

/// A shared note (GEDCOM `NOTE` record).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Note {
    /// Opaque id.
    pub id: String,
    /// The tree.
    pub tree_id: String,
    /// The text.
    pub text: String,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}
