//! Events, their participants and places.

use dzinza_gedcom::date::GenDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Millis;

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    /// Birth.
    Birth,
    /// Baptism or christening.
    Baptism,
    /// Death.
    Death,
    /// Burial.
    Burial,
    /// Cremation.
    Cremation,
    /// Marriage.
    Marriage,
    /// Divorce.
    Divorce,
    /// Engagement.
    Engagement,
    /// Residence.
    Residence,
    /// Occupation.
    Occupation,
    /// Immigration.
    Immigration,
    /// Emigration.
    Emigration,
    /// Census.
    Census,
    /// Education.
    Education,
    /// Military service.
    Military,
    /// Religious affiliation.
    Religion,
    /// Anything else, named.
    Custom(String),
}

impl EventType {
    /// Whether listings need it to show or judge a person (see [`super::Vitals`]).
    pub fn is_vital(&self) -> bool {
        matches!(self, EventType::Birth | EventType::Baptism) || self.implies_death()
    }

    /// Whether the event shows the person has died.
    pub fn implies_death(&self) -> bool {
        matches!(
            self,
            EventType::Death | EventType::Burial | EventType::Cremation
        )
    }
}

/// A participant's role in an event.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ParticipantRole {
    /// The person the event is about (the one born, the couple married).
    #[default]
    Principal,
    /// A witness.
    Witness,
    /// A godparent.
    Godparent,
    /// The officiant.
    Officiant,
    /// An informant.
    Informant,
    /// Any other role, named.
    Other(String),
}

/// A person taking part in an event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Participant {
    /// The person.
    pub person_id: String,
    /// Their role.
    #[serde(default)]
    pub role: ParticipantRole,
}

/// A place with its hierarchy, smallest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Place {
    /// The place as written, e.g. "Harare, Mashonaland, Zimbabwe".
    pub name: String,
    /// Town or village.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub town: Option<String>,
    /// County or district.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub county: Option<String>,
    /// State or province.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
    /// Country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// Latitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude in degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
}

impl Place {
    /// A place from its written form; the hierarchy is read from comma-separated parts
    /// (town, county, state, country) the way GEDCOM `PLAC` writes it.
    pub fn from_text(name: &str) -> Place {
        let parts: Vec<String> = name
            .split(',')
            .map(|p| p.trim().to_owned())
            .filter(|p| !p.is_empty())
            .collect();
        let at = |i: usize| parts.get(i).cloned();
        let mut place = Place {
            name: name.trim().to_owned(),
            ..Place::default()
        };
        match parts.len() {
            0 => {}
            1 => place.town = at(0),
            2 => (place.town, place.country) = (at(0), at(1)),
            3 => (place.town, place.state, place.country) = (at(0), at(1), at(2)),
            _ => {
                place.town = at(0);
                place.county = at(parts.len() - 3);
                place.state = at(parts.len() - 2);
                place.country = at(parts.len() - 1);
            }
        }
        place
    }
}

/// An event recorded in a tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Event {
    /// Opaque id.
    pub id: String,
    /// The tree it was recorded in.
    pub tree_id: String,
    /// What happened.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// When (with the text it was entered as).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub date: Option<GenDate>,
    /// Where.
    #[serde(default)]
    pub place: Option<Place>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Who took part.
    pub participants: Vec<Participant>,
    /// Supporting citations.
    #[serde(default)]
    pub citation_ids: Vec<String>,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}

impl Event {
    /// Whether `person_id` is a principal.
    pub fn is_principal(&self, person_id: &str) -> bool {
        self.participants
            .iter()
            .any(|p| p.person_id == person_id && p.role == ParticipantRole::Principal)
    }
}
