//! The compact view of a person that a pedigree shows, built from the [`PersonCard`] their
//! vitals keep (one document per person) and judged by the same policy as a full person.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use serde_json::value::RawValue;
use utoipa::ToSchema;

use super::cache::{Kept, ReadAt};
use super::persons::{Vital, birth_and_death, living_as_stated, masked_names};
use super::{Genealogy, Result};
use crate::model::{
    Collection, Event, Name, Person, PersonCard, PersonPrivacy, Sex, VitalEvent, Vitals,
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

/// A summary as pedigrees share it: made once per kept document for everyone who sees the
/// person in full, with its JSON, so that a response copies the text instead of encoding the
/// summary again (a thousand of them were a third of a pedigree's time).
#[derive(Debug)]
pub struct SharedSummary {
    summary: PersonSummary,
    /// The summary as JSON (absent for one-off summaries, e.g. masked ones).
    json: Option<Box<RawValue>>,
}

impl SharedSummary {
    /// `summary`, its JSON made now when `encode`.
    fn new(summary: PersonSummary, encode: bool) -> Self {
        // Encoding a struct of strings, numbers and enums into memory cannot fail; were it to,
        // the summary is encoded with the response instead.
        let json = encode
            .then(|| serde_json::value::to_raw_value(&summary).ok())
            .flatten();
        SharedSummary { summary, json }
    }
}

impl std::ops::Deref for SharedSummary {
    type Target = PersonSummary;

    fn deref(&self) -> &PersonSummary {
        &self.summary
    }
}

impl Serialize for SharedSummary {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match &self.json {
            Some(json) => json.serialize(s),
            None => self.summary.serialize(s),
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
            let vitals = stored
                .remove(&person.id)
                .flatten()
                .unwrap_or_else(|| VitalEvent::of(&events, &person.id));
            out.push(Carded(Kept::new(Vitals {
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
        Ok(people
            .into_iter()
            .filter_map(|Carded(kept)| {
                let v = &kept.doc;
                // Always present (see `Carded`).
                let card = v.card.as_ref()?;
                let living = living_as_stated(card.living, &v.events, now);
                let vis = policy::visibility(&card.tree_ids, card.privacy, living, &trees, actor);
                let made = |keep: bool| {
                    let s = summary(&v.id, card, &v.events, living, vis);
                    Arc::new(SharedSummary::new(s, keep))
                };
                let shown = match (vis, kept.memo.get()) {
                    (Visibility::Hidden, _) => return None,
                    (Visibility::Full, Some((made_living, s))) if *made_living == living => {
                        Arc::clone(s)
                    }
                    (Visibility::Full, _) => {
                        let s = made(true);
                        // Another request may have set it meanwhile, to the same summary.
                        let _ = kept.memo.set((living, Arc::clone(&s)));
                        s
                    }
                    (Visibility::Masked, _) => made(false),
                };
                Some((v.id.clone(), shown))
            })
            .collect())
    }
}
