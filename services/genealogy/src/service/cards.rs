//! The compact view of a person that a pedigree shows, built from the [`PersonCard`] their
//! vitals keep (one document per person) and judged by the same policy as a full person.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use dzinza_gedcom::date::GenDate;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::cache::{Kept, ReadAt};
use super::persons::{Vital, birth_and_death_events, living_as_stated, masked_names};
use super::{Genealogy, Result, unencodable};
use crate::model::{
    Collection, Event, Name, Person, PersonCard, PersonPrivacy, Place, RawJson, Sex, VitalEvent,
    Vitals,
};
use crate::policy::{self, Actor, Visibility};
use crate::store::Query;

/// Values by person id, on the pedigree path: a thousand ids are hashed several times each, and
/// aHash (randomly keyed, like the standard SipHash) costs a fraction of it.
pub(crate) type Ids<V> = HashMap<String, V, ahash::RandomState>;

/// A set of person ids (see [`Ids`]).
pub(crate) type IdSet = HashSet<String, ahash::RandomState>;

/// A person as a pedigree shows them: the fields of a full person view that a chart needs
/// (the rest is one `GET /persons/{id}` away).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
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

/// A [`PersonSummary`] as JSON, encoded straight from the card and vital events it shows: a
/// pedigree's thousand summaries are never built as values, and the summary of someone shown
/// in full is encoded once per kept document and shared, so a response copies the text.
#[derive(Debug)]
pub struct SharedSummary {
    json: Box<RawValue>,
}

impl SharedSummary {
    /// The summary itself, decoded from the JSON (for callers in this process, e.g. tests).
    pub fn summary(&self) -> serde_json::Result<PersonSummary> {
        serde_json::from_str(self.json.get())
    }

    /// The JSON.
    pub fn json(&self) -> &str {
        self.json.get()
    }
}

impl Serialize for SharedSummary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        self.json.serialize(s)
    }
}

/// A [`PersonSummary`] borrowed from what it shows; encodes exactly as the summary does (same
/// fields, same order).
#[derive(Serialize)]
struct SummaryOf<'a> {
    id: &'a str,
    tree_ids: &'a [String],
    names: &'a RawJson<Vec<Name>>,
    sex: Sex,
    living: bool,
    privacy: PersonPrivacy,
    birth: Option<VitalOf<'a>>,
    death: Option<VitalOf<'a>>,
    masked: bool,
}

/// A [`Vital`] borrowed from its event.
#[derive(Serialize)]
struct VitalOf<'a> {
    event_id: &'a str,
    date: Option<&'a RawJson<GenDate>>,
    place: Option<&'a RawJson<Place>>,
}

impl<'a> From<&'a VitalEvent> for VitalOf<'a> {
    fn from(e: &'a VitalEvent) -> Self {
        VitalOf {
            event_id: &e.event_id,
            date: e.date.as_ref(),
            place: e.place.as_ref(),
        }
    }
}

/// A person's vitals as the cache keeps them, with the summary everyone allowed the full
/// view gets (see [`FullSummary`]).
pub(crate) type KeptVitals = Kept<Vitals, FullSummary>;

/// The summary of a person for callers who see them in full, and the living flag it was made
/// with (inferred from the date of today: a summary made with another is made afresh).
pub(crate) type FullSummary = (bool, Arc<SharedSummary>);

/// A person's card and vital events: what summarising them needs. Their vitals, kept or
/// read; for data written before vitals kept cards, vitals made up from the person and their
/// events. Either way [`Vitals::card`] is present.
pub(crate) struct Carded(KeptVitals);

/// The summary of `id` for a caller with visibility `vis` (never `Hidden`), as
/// [`super::render`] renders a full view.
fn summary(
    id: &str,
    card: &PersonCard,
    events: &[VitalEvent],
    living: bool,
    vis: Visibility,
) -> Result<Arc<SharedSummary>> {
    let masked = vis != Visibility::Full;
    let (birth, death) = match masked {
        true => (None, None),
        false => birth_and_death_events(events),
    };
    let hidden;
    let names = match masked {
        true => {
            hidden = RawJson::new(&masked_names()).map_err(|e| unencodable(id, e))?;
            &hidden
        }
        false => &card.names,
    };
    let of = SummaryOf {
        id,
        tree_ids: &card.tree_ids,
        names,
        sex: card.sex,
        living: living || masked,
        privacy: card.privacy,
        birth: birth.map(VitalOf::from),
        death: death.map(VitalOf::from),
        masked,
    };
    let json = serde_json::value::to_raw_value(&of).map_err(|e| unencodable(id, e))?;
    Ok(Arc::new(SharedSummary { json }))
}

impl Genealogy {
    /// The cards and vital events of the persons `ids` that exist: from their vitals in
    /// `known` (or read) where those keep a card; else from the person document, and from
    /// their events where no vitals are stored (data written before either was kept).
    pub(crate) async fn cards(
        &self,
        ids: &[String],
        mut known: Ids<KeptVitals>,
        at: ReadAt,
    ) -> Result<Vec<Carded>> {
        let unread: Vec<String> = ids
            .iter()
            .filter(|id| !known.contains_key(*id))
            .cloned()
            .collect();
        for v in self.vitals_of(&unread, at).await? {
            known.insert(v.doc.id.clone(), v);
        }
        let mut out = Vec::with_capacity(ids.len());
        let mut no_card = Vec::new();
        for id in ids {
            match known.remove(id) {
                Some(v) if v.doc.card.is_some() => out.push(Carded(v)),
                other => no_card.push((id.clone(), other.map(|v| v.doc.events.clone()))),
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
            let vitals = match stored.remove(&person.id).flatten() {
                Some(v) => v,
                None => {
                    VitalEvent::of(&events, &person.id).map_err(|e| unencodable(&person.id, e))?
                }
            };
            out.push(Carded(Kept::new(Vitals {
                card: Some(PersonCard::of(&person).map_err(|e| unencodable(&person.id, e))?),
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
    ) -> Result<Ids<Arc<SharedSummary>>> {
        // Most share one tree: the distinct ids, in order, before any is copied.
        let tree_ids: Vec<String> = people
            .iter()
            .filter_map(|p| p.0.doc.card.as_ref())
            .flat_map(|c| c.tree_ids.iter().map(String::as_str))
            .collect::<BTreeSet<&str>>()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let trees = self.trees(&mut HashMap::new(), &tree_ids).await?;
        let now = self.now();
        let mut shown = Ids::default();
        for Carded(kept) in people {
            let v = &kept.doc;
            // Always present (see `Carded`).
            let Some(card) = v.card.as_ref() else {
                continue;
            };
            let living = living_as_stated(card.living, &v.events, now);
            let vis = policy::visibility(&card.tree_ids, card.privacy, living, &trees, actor);
            let summary = match (vis, kept.memo.get()) {
                (Visibility::Hidden, _) => continue,
                (Visibility::Full, Some((made_living, s))) if *made_living == living => {
                    Arc::clone(s)
                }
                (Visibility::Full, _) => {
                    let s = summary(&v.id, card, &v.events, living, vis)?;
                    // Another request may have set it meanwhile, to the same summary.
                    let _ = kept.memo.set((living, Arc::clone(&s)));
                    s
                }
                (Visibility::Masked, _) => summary(&v.id, card, &v.events, living, vis)?,
            };
            shown.insert(v.id.clone(), summary);
        }
        Ok(shown)
    }
}
