//! What listings and pedigrees need of a person's events and parents, kept beside the person.

use dzinza_gedcom::date::GenDate;
use serde::{Deserialize, Serialize};

use super::raw::RawJson;
use super::{
    Event, EventType, Name, ParentKind, Person, PersonPrivacy, Place, Relationship,
    RelationshipKind, Sex,
};

/// A person's vital events (birth, baptism, death, burial, cremation as principal): what a
/// listing shows (birth and death) and what deciding whether they are living needs.
///
/// Derived from the events, rewritten by the service in the same commit as any change to a
/// vital event, and never recorded in history (reverting the events rewrites it). A listing
/// of a thousand people reads one of these per person instead of every event they took part
/// in. Absent for data written before it existed: readers then fall back to the events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Vitals {
    /// The person's id.
    pub id: String,
    /// The vital events, in no particular order.
    pub events: Vec<VitalEvent>,
    /// Bumped on every rewrite, so that two commits deriving it from different reads of the
    /// events cannot both succeed (the precondition is on the whole body).
    pub version: u64,
    /// The person's parent links (the parent–child relationships in which they are the
    /// child), so that a pedigree walks from document to document instead of querying the
    /// relationships generation by generation. `None` in documents written before the links
    /// were kept here: readers then query the relationships.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parents: Option<Vec<ParentLink>>,
    /// What a pedigree shows of the person and what deciding who may see them needs, so that
    /// a pedigree reads one document per person. `None` in documents written before cards
    /// were kept here: readers then read the person.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<PersonCard>,
}

/// The part of a [`Person`] a pedigree node shows and its privacy judgement needs, kept in
/// their [`Vitals`] and rewritten in the same commit as any change to the person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PersonCard {
    /// Trees the person belongs to.
    pub tree_ids: Vec<String>,
    /// Names, the first being the primary one, as JSON: a pedigree shows them as they are.
    pub names: RawJson<Vec<Name>>,
    /// Sex.
    #[serde(default)]
    pub sex: Sex,
    /// Living, when stated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub living: Option<bool>,
    /// Privacy.
    #[serde(default)]
    pub privacy: PersonPrivacy,
}

impl PersonCard {
    /// The card of `person` (names that cannot be encoded fail).
    pub fn of(person: &Person) -> serde_json::Result<Self> {
        Ok(PersonCard {
            tree_ids: person.tree_ids.clone(),
            names: RawJson::new(&person.names)?,
            sex: person.sex,
            living: person.living,
            privacy: person.privacy,
        })
    }
}

/// One parent of a person, as their [`Vitals`] keep it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ParentLink {
    /// The parent–child relationship's id.
    pub relationship_id: String,
    /// The parent.
    pub parent: String,
    /// How.
    pub kind: ParentKind,
    /// The relationship's sort string (its creation time and id), so that a pedigree lists
    /// parents in the order a query for the relationships returns them.
    pub sort: String,
}

impl ParentLink {
    /// The parent links among `rels` in which `child` is the child, in sort order.
    pub fn of<'a>(
        rels: impl IntoIterator<Item = (&'a Relationship, String)>,
        child: &str,
    ) -> Vec<ParentLink> {
        let mut links: Vec<ParentLink> = rels
            .into_iter()
            .filter_map(|(r, sort)| match &r.kind {
                RelationshipKind::ParentChild {
                    parent,
                    child: c,
                    kind,
                } if c == child => Some(ParentLink {
                    relationship_id: r.id.clone(),
                    parent: parent.clone(),
                    kind: *kind,
                    sort,
                }),
                _ => None,
            })
            .collect();
        links.sort_by(|a, b| a.sort.cmp(&b.sort));
        links
    }
}

/// One vital event of a person.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VitalEvent {
    /// The event's id.
    pub event_id: String,
    /// Its type.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When, as JSON: views show it as it is, and deciding who is living reads few dates.
    #[serde(default)]
    pub date: Option<RawJson<GenDate>>,
    /// Where, as JSON: views show it as it is.
    #[serde(default)]
    pub place: Option<RawJson<Place>>,
}

impl VitalEvent {
    /// The vital events among `events` in which `person` is a principal (a date or place that
    /// cannot be encoded fails).
    pub fn of<'a>(
        events: impl IntoIterator<Item = &'a Event>,
        person: &str,
    ) -> serde_json::Result<Vec<VitalEvent>> {
        events
            .into_iter()
            .filter(|e| e.event_type.is_vital() && e.is_principal(person))
            .map(|e| {
                Ok(VitalEvent {
                    event_id: e.id.clone(),
                    event_type: e.event_type.clone(),
                    date: e.date.as_ref().map(RawJson::new).transpose()?,
                    place: e.place.as_ref().map(RawJson::new).transpose()?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::model::{Participant, ParticipantRole};

    fn event(id: &str, t: EventType, who: &[(&str, ParticipantRole)]) -> Event {
        Event {
            id: id.into(),
            tree_id: "t".into(),
            event_type: t,
            date: None,
            place: None,
            description: None,
            participants: who
                .iter()
                .map(|(p, role)| Participant {
                    person_id: (*p).into(),
                    role: role.clone(),
                })
                .collect(),
            citation_ids: vec![],
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn only_vital_types_where_the_person_is_principal() {
        let p = ParticipantRole::Principal;
        let w = ParticipantRole::Witness;
        let events = [
            event("b", EventType::Birth, &[("a", p.clone())]),
            event("m", EventType::Marriage, &[("a", p.clone())]),
            event(
                "x",
                EventType::Baptism,
                &[("a", w.clone()), ("c", p.clone())],
            ),
            event("d", EventType::Cremation, &[("a", p.clone())]),
            event("o", EventType::Death, &[("c", p.clone())]),
        ];
        let ids: Vec<String> = VitalEvent::of(&events, "a")
            .unwrap()
            .into_iter()
            .map(|v| v.event_id)
            .collect();
        assert_eq!(ids, ["b", "d"]);
    }
}
