//! The compact view of a person that a pedigree shows, built from the [`PersonCard`] their
//! vitals keep (one document per person) and judged by the same policy as a full person.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::cache::ReadAt;
use super::persons::{Vital, birth_and_death, living_as_stated, masked_names};
use super::{Genealogy, Result};
use crate::model::{
    Collection, Event, Name, Person, PersonCard, PersonPrivacy, Sex, VitalEvent, Vitals,
};
use crate::policy::{self, Actor, Visibility};
use crate::store::Query;

/// A person as a pedigree shows them: the fields of a full person view that a chart needs
/// (the rest is one `GET /persons/{id}` away).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonSummary {
    /// Id.
    pub id: String,
    /// Trees.
    pub tree_ids: Vec<String>,
    /// Names ("Living" when masked).
    pub names: Vec<Name>,
    /// Sex.
    pub sex: Sex,
    /// Whether living (stated or inferred).
    pub living: bool,
    /// Privacy.
    pub privacy: PersonPrivacy,
    /// Birth (or baptism when no birth is recorded).
    pub birth: Option<Vital>,
    /// Death (or burial when no death is recorded).
    pub death: Option<Vital>,
    /// Whether details are withheld (living person in a tree the caller does not belong to).
    pub masked: bool,
}

/// A person's card and vital events: what summarising them needs. Their vitals, kept or
/// read; for data written before vitals kept cards, vitals made up from the person and their
/// events. Either way [`Vitals::card`] is present.
pub(crate) struct Carded(Arc<Vitals>);

/// Renders a summary for a caller with visibility `vis` (never `Hidden`), as
/// [`super::render`] renders a full view.
fn summary(
    id: &str,
    card: &PersonCard,
    events: &[VitalEvent],
    living: bool,
    vis: Visibility,
) -> PersonSummary {
    let masked = vis != Visibility::Full;
    let (birth, death) = match masked {
        true => (None, None),
        false => birth_and_death(events),
    };
    PersonSummary {
        id: id.to_owned(),
        tree_ids: card.tree_ids.clone(),
        names: match masked {
            true => masked_names(),
            false => card.names.clone(),
        },
        sex: card.sex,
        living: living || masked,
        privacy: card.privacy,
        birth,
        death,
        masked,
    }
}

impl Genealogy {
    /// The cards and vital events of the persons `ids` that exist: from their vitals in
    /// `known` (or read) where those keep a card; else from the person document, and from
    /// their events where no vitals are stored (data written before either was kept).
    pub(crate) async fn cards(
        &self,
        ids: &[String],
        mut known: HashMap<String, Arc<Vitals>>,
        at: ReadAt,
    ) -> Result<Vec<Carded>> {
        let unread: Vec<String> = ids
            .iter()
            .filter(|id| !known.contains_key(*id))
            .cloned()
            .collect();
        for v in self.vitals_of(&unread, at).await? {
            known.insert(v.id.clone(), v);
        }
        let mut out = Vec::with_capacity(ids.len());
        let mut no_card = Vec::new();
        for id in ids {
            match known.remove(id) {
                Some(v) if v.card.is_some() => out.push(Carded(v)),
                other => no_card.push((id.clone(), other.map(|v| v.events.clone()))),
            }
        }
        if no_card.is_empty() {
            return Ok(out);
        }
        let persons: Vec<Person> = self
            .load_many(&no_card.iter().map(|(id, _)| id.clone()).collect::<Vec<_>>())
            .await?;
        let no_vitals: Vec<String> = no_card
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(id, _)| id.clone())
            .collect();
        let events: Vec<Event> = if no_vitals.is_empty() {
            Vec::new()
        } else {
            self.find::<Event>(&Query::by_keys(Collection::Events, "person", &no_vitals))
                .await?
                .0
        };
        let mut stored: HashMap<String, Option<Vec<VitalEvent>>> = no_card.into_iter().collect();
        for person in persons {
            let vitals = stored
                .remove(&person.id)
                .flatten()
                .unwrap_or_else(|| VitalEvent::of(&events, &person.id));
            out.push(Carded(Arc::new(Vitals {
                card: Some(PersonCard::of(&person)),
                id: person.id,
                events: vitals,
                version: 0,
                parents: None,
            })));
        }
        Ok(out)
    }

    /// What the caller sees of each of `people`, by id; those hidden from them are left out.
    pub(crate) async fn summarize(
        &self,
        actor: &Actor,
        people: Vec<Carded>,
    ) -> Result<HashMap<String, PersonSummary>> {
        // Most share one tree: the distinct ids before any is copied.
        let distinct: HashSet<&str> = people
            .iter()
            .filter_map(|p| p.0.card.as_ref())
            .flat_map(|c| c.tree_ids.iter().map(String::as_str))
            .collect();
        let mut tree_ids: Vec<String> = distinct.into_iter().map(str::to_owned).collect();
        tree_ids.sort();
        let trees = self.trees(&mut HashMap::new(), &tree_ids).await?;
        let now = self.now();
        Ok(people
            .into_iter()
            .filter_map(|Carded(v)| {
                // Always present (see `Carded`).
                let card = v.card.as_ref()?;
                let living = living_as_stated(card.living, &v.events, now);
                let vis = policy::visibility(&card.tree_ids, card.privacy, living, &trees, actor);
                (vis != Visibility::Hidden)
                    .then(|| (v.id.clone(), summary(&v.id, card, &v.events, living, vis)))
            })
            .collect())
    }
}
