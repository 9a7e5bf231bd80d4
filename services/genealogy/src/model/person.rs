//! Persons and their names.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Millis;

/// What kind of name this is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum NameType {
    /// The name given at birth.
    #[default]
    Birth,
    /// A name taken at marriage.
    Married,
    /// Any other name the person was known by.
    Alias,
}

/// One name of a person.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Name {
    /// Given names.
    #[serde(default)]
    pub given: String,
    /// Family name.
    #[serde(default)]
    pub surname: String,
    /// Prefix such as "Dr.".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// Suffix such as "Jr.".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
    /// Nickname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// Kind of name.
    #[serde(default, rename = "type")]
    pub name_type: NameType,
}

impl Name {
    /// "Given Surname", for messages and sorting.
    pub fn display(&self) -> String {
        let s = format!("{} {}", self.given.trim(), self.surname.trim());
        s.trim().to_owned()
    }
}

/// Sex as recorded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Sex {
    /// Male.
    Male,
    /// Female.
    Female,
    /// Intersex or other.
    Other,
    /// Not known.
    #[default]
    Unknown,
}

/// Who may see a person.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PersonPrivacy {
    /// Follow the tree: readable where the tree is, living details masked per the tree setting.
    #[default]
    TreeDefault,
    /// Readable where the tree is, with details shown even while living (the person agreed).
    Public,
    /// Collaborators of one of the person's trees only.
    Private,
}

/// An identifier the person has in another system (GEDCOM xref, `_UID`, FamilySearch id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExternalId {
    /// The system, e.g. `gedcom_xref`, `gedcom_uid`.
    pub system: String,
    /// The id there.
    pub value: String,
}

/// A person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Person {
    /// Opaque id.
    pub id: String,
    /// Trees the person belongs to (at least one).
    pub tree_ids: Vec<String>,
    /// Names, the first being the primary one.
    pub names: Vec<Name>,
    /// Sex.
    #[serde(default)]
    pub sex: Sex,
    /// Living, when stated; otherwise inferred from events.
    #[serde(default)]
    pub living: Option<bool>,
    /// Privacy.
    #[serde(default)]
    pub privacy: PersonPrivacy,
    /// Free-text notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Labels.
    #[serde(default)]
    pub tags: Vec<String>,
    /// Ids elsewhere.
    #[serde(default)]
    pub external_ids: Vec<ExternalId>,
    /// Citations supporting the person as a whole.
    #[serde(default)]
    pub citation_ids: Vec<String>,
    /// Extra attributes kept from imports.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}

impl Person {
    /// The primary name's display form ("Unnamed" when there is none).
    pub fn display_name(&self) -> String {
        self.names
            .first()
            .map(Name::display)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "Unnamed".to_owned())
    }

    /// The sort key: primary surname then given names, folded.
    pub fn sort_key(&self) -> String {
        self.names
            .first()
            .map(|n| super::fold(&format!("{}\u{1}{}", n.surname, n.given)))
            .unwrap_or_default()
    }

    /// Every folded name token (given names, surnames, nicknames), for prefix search.
    pub fn search_tokens(&self) -> Vec<String> {
        let mut tokens: Vec<String> = self
            .names
            .iter()
            .flat_map(|n| {
                let full = super::fold(&n.display());
                let words: Vec<String> = [&n.given, &n.surname]
                    .into_iter()
                    .chain(n.nickname.as_ref())
                    .flat_map(|p| p.split_whitespace().map(super::fold).collect::<Vec<_>>())
                    .collect();
                std::iter::once(full).chain(words)
            })
            .filter(|t| !t.is_empty())
            .collect();
        tokens.sort();
        tokens.dedup();
        tokens
    }

    /// Every distinct prefix of one to [`NAME_PREFIX_CHARS`] characters of the search tokens.
    pub fn name_prefixes(&self) -> Vec<String> {
        let mut out: Vec<String> = self
            .search_tokens()
            .iter()
            .flat_map(|t| {
                t.char_indices()
                    .take(NAME_PREFIX_CHARS)
                    .map(|(i, c)| t[..i + c.len_utf8()].to_owned())
                    .collect::<Vec<_>>()
            })
            .collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Name prefixes up to this many characters are index keys of their own (per tree): a short
/// prefix matches a large part of a tree, often through several tokens of one person, and a
/// key per distinct prefix makes such a search one index range with one entry per person,
/// already in name order, instead of grouping every matching token before paging.
pub const NAME_PREFIX_CHARS: usize = 4;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_prefixes_are_char_wise_distinct_and_short() {
        let p = Person {
            names: vec![Name {
                given: "Łukasz Jan".into(),
                surname: "Ło".into(),
                ..Name::default()
            }],
            ..serde_json::from_value(serde_json::json!({
                "id": "x", "tree_ids": [], "names": [], "created_at": 0, "updated_at": 0
            }))
            .expect("a minimal person")
        };
        assert_eq!(
            p.name_prefixes(),
            ["j", "ja", "jan", "ł", "ło", "łu", "łuk", "łuka"],
            "from \"łukasz jan ło\", \"łukasz\", \"jan\" and \"ło\", at most 4 characters"
        );
    }
}
