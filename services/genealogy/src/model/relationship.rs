//! Parent–child links and partnerships.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Millis;

/// How a child is the child of a parent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParentKind {
    /// By birth.
    #[default]
    Biological,
    /// By adoption.
    Adopted,
    /// Through a parent's partner.
    Step,
    /// Fostered.
    Foster,
    /// Not known.
    Unknown,
}

impl ParentKind {
    /// The name it is written with (its JSON string).
    pub fn as_str(self) -> &'static str {
        match self {
            ParentKind::Biological => "biological",
            ParentKind::Adopted => "adopted",
            ParentKind::Step => "step",
            ParentKind::Foster => "foster",
            ParentKind::Unknown => "unknown",
        }
    }

    /// Whether the link counts as descent for the relationship calculator (step and foster
    /// links do not make cousins).
    pub fn is_lineage(self) -> bool {
        matches!(
            self,
            ParentKind::Biological | ParentKind::Adopted | ParentKind::Unknown
        )
    }
}

/// How two people are partners.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PartnerKind {
    /// Married.
    Married,
    /// Partners, not married.
    Partners,
    /// Divorced.
    Divorced,
    /// Separated.
    Separated,
    /// Not known.
    #[default]
    Unknown,
}

/// The kind of a relationship and what it links.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RelationshipKind {
    /// `parent` is a parent of `child`.
    ParentChild {
        /// The parent.
        parent: String,
        /// The child.
        child: String,
        /// How.
        #[serde(default)]
        kind: ParentKind,
    },
    /// Two partners.
    Partnership {
        /// One partner.
        a: String,
        /// The other.
        b: String,
        /// How.
        #[serde(default)]
        kind: PartnerKind,
    },
}

/// A relationship recorded in a tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Relationship {
    /// Opaque id.
    pub id: String,
    /// The tree it was recorded in.
    pub tree_id: String,
    /// What it links.
    #[serde(flatten)]
    pub kind: RelationshipKind,
    /// Event that started it (e.g. the marriage).
    #[serde(default)]
    pub start_event_id: Option<String>,
    /// Event that ended it (e.g. the divorce).
    #[serde(default)]
    pub end_event_id: Option<String>,
    /// Supporting citations.
    #[serde(default)]
    pub citation_ids: Vec<String>,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}

impl Relationship {
    /// The two persons it links.
    pub fn persons(&self) -> [&str; 2] {
        match &self.kind {
            RelationshipKind::ParentChild { parent, child, .. } => [parent, child],
            RelationshipKind::Partnership { a, b, .. } => [a, b],
        }
    }

    /// The same relationship with `from` replaced by `to` wherever it appears.
    pub fn repointed(&self, from: &str, to: &str) -> Relationship {
        let swap = |s: &String| if s == from { to.to_owned() } else { s.clone() };
        let mut r = self.clone();
        r.kind = match &self.kind {
            RelationshipKind::ParentChild {
                parent,
                child,
                kind,
            } => RelationshipKind::ParentChild {
                parent: swap(parent),
                child: swap(child),
                kind: *kind,
            },
            RelationshipKind::Partnership { a, b, kind } => RelationshipKind::Partnership {
                a: swap(a),
                b: swap(b),
                kind: *kind,
            },
        };
        r
    }

    /// Whether two relationships link the same persons the same way (duplicates after a merge).
    pub fn same_link(&self, other: &Relationship) -> bool {
        match (&self.kind, &other.kind) {
            (
                RelationshipKind::ParentChild {
                    parent: p1,
                    child: c1,
                    ..
                },
                RelationshipKind::ParentChild {
                    parent: p2,
                    child: c2,
                    ..
                },
            ) => p1 == p2 && c1 == c2,
            (
                RelationshipKind::Partnership { a: a1, b: b1, .. },
                RelationshipKind::Partnership { a: a2, b: b2, .. },
            ) => (a1 == a2 && b1 == b2) || (a1 == b2 && b1 == a2),
            _ => false,
        }
    }
}

#[cfg(test)]
mod parent_kind_tests {
    #![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

    use super::ParentKind;

    #[test]
    fn each_kind_is_named_as_json_writes_it() {
        for k in [
            ParentKind::Biological,
            ParentKind::Adopted,
            ParentKind::Step,
            ParentKind::Foster,
            ParentKind::Unknown,
        ] {
            assert_eq!(serde_json::to_value(k).unwrap(), k.as_str());
        }
    }
}
