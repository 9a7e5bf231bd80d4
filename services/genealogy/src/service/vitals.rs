//! Keeping each person's [`Vitals`] in step with their events, parent links and card, in the
//! same commit.

use std::collections::{BTreeSet, HashMap};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::codec::Stored;
use super::{Genealogy, Result, doc_of, unencodable};
use crate::model::{
    Change, Collection, Event, ParentLink, Person, PersonCard, Relationship, RelationshipKind,
    VitalEvent, Vitals,
};
use crate::store::{Expect, Query, Write};

/// The record a stored body holds, if it is one (bodies of this service always are).
fn stored_as<T: DeserializeOwned>(body: &Option<Value>) -> Option<T> {
    // Deserialised from the borrowed value: an import's commit holds hundreds of thousands.
    body.as_ref().and_then(|v| T::deserialize(v).ok())
}

/// The records `stored` by id, with this commit's `changed` ones put in or taken out.
fn overlaid<T: Stored>(stored: Vec<T>, changed: Vec<(&str, Option<T>)>) -> HashMap<String, T> {
    let mut by_id: HashMap<String, T> =
        stored.into_iter().map(|t| (t.id().to_owned(), t)).collect();
    for (id, after) in changed {
        match after {
            Some(t) => {
                by_id.insert(id.to_owned(), t);
            }
            None => {
                by_id.remove(id);
            }
        }
    }
    by_id
}

/// The child of a parent–child relationship.
fn child_of(r: &Relationship) -> Option<&str> {
    match &r.kind {
        RelationshipKind::ParentChild { child, .. } => Some(child),
        RelationshipKind::Partnership { .. } => None,
    }
}

impl Genealogy {
    /// The writes that bring the [`Vitals`] of everyone whose person document, vital events or
    /// parent links `changes` touch up to date (and remove those of deleted persons). Every
    /// rewrite derives all three parts, so a document written before parent links or cards
    /// were kept gains them.
    ///
    /// Each rewrite expects the vitals as read *before* the events are read and bumps their
    /// version, so two commits that derive them from different states of the events cannot
    /// both succeed: one fails as a conflict, as concurrent edits of one document do.
    pub(crate) async fn vitals_writes(&self, changes: &[Change]) -> Result<Vec<Write>> {
        let mut touched: BTreeSet<String> = BTreeSet::new();
        let mut deleted: BTreeSet<String> = BTreeSet::new();
        let mut changed_events: Vec<(&str, Option<Event>)> = Vec::new();
        let mut changed_rels: Vec<(&str, Option<Relationship>)> = Vec::new();
        let mut changed_persons: Vec<(&str, Option<Person>)> = Vec::new();
        for c in changes {
            match c.collection {
                Collection::Relationships => {
                    let before: Option<Relationship> = stored_as(&c.before);
                    let after: Option<Relationship> = stored_as(&c.after);
                    for r in before.iter().chain(after.iter()) {
                        touched.extend(child_of(r).map(str::to_owned));
                    }
                    changed_rels.push((&c.id, after));
                }
                Collection::Events => {
                    let before: Option<Event> = stored_as(&c.before);
                    let after: Option<Event> = stored_as(&c.after);
                    for e in before.iter().chain(after.iter()) {
                        if e.event_type.is_vital() {
                            touched.extend(e.participants.iter().map(|p| p.person_id.clone()));
                        }
                    }
                    changed_events.push((&c.id, after));
                }
                Collection::Persons if c.after.is_none() => {
                    deleted.insert(c.id.clone());
                }
                Collection::Persons => {
                    deleted.remove(&c.id);
                    // The card follows the person.
                    touched.insert(c.id.clone());
                    changed_persons.push((&c.id, stored_as(&c.after)));
                }
                _ => {}
            }
        }
        let mut writes: Vec<Write> = deleted
            .iter()
            .map(|id| Write::delete(Collection::Vitals, id))
            .collect();
        let ids: Vec<String> = touched.difference(&deleted).cloned().collect();
        if ids.is_empty() {
            return Ok(writes);
        }
        // Read the vitals first (see above), then the events, the parent links and whether the
        // persons exist.
        let current: HashMap<String, Vitals> = self
            .load_many::<Vitals>(&ids)
            .await?
            .into_iter()
            .map(|v| (v.id.clone(), v))
            .collect();
        let (stored, _) = self
            .find::<Event>(&Query::by_keys(Collection::Events, "person", &ids))
            .await?;
        let events = overlaid(stored, changed_events);
        let (stored, _) = self
            .find::<Relationship>(&Query::by_keys(Collection::Relationships, "child", &ids))
            .await?;
        let rels = overlaid(stored, changed_rels);
        let mut parents_of: HashMap<&str, Vec<&Relationship>> = HashMap::new();
        for r in rels.values() {
            if let Some(child) = child_of(r) {
                parents_of.entry(child).or_default().push(r);
            }
        }
        // The persons as this commit leaves them: those it does not change as stored, those
        // it creates or changes as changed (a person absent from both does not exist).
        let persons = overlaid(self.load_many::<Person>(&ids).await?, changed_persons);
        let mut by_person: HashMap<&str, Vec<&Event>> = HashMap::new();
        for e in events.values() {
            for p in &e.participants {
                by_person.entry(p.person_id.as_str()).or_default().push(e);
            }
        }
        for (id, person) in ids.iter().filter_map(|id| Some((id, persons.get(id)?))) {
            let mine = by_person.get(id.as_str()).map_or(&[][..], Vec::as_slice);
            let old = current.get(id);
            let new = Vitals {
                id: id.clone(),
                events: VitalEvent::of(mine.iter().copied(), id).map_err(|e| unencodable(id, e))?,
                version: old.map_or(0, |v| v.version + 1),
                parents: Some(ParentLink::of(
                    parents_of
                        .get(id.as_str())
                        .into_iter()
                        .flatten()
                        .map(|r| (*r, r.sort())),
                    id,
                )),
                card: Some(PersonCard::of(person).map_err(|e| unencodable(id, e))?),
            };
            let expect = match old {
                Some(v) => Expect::Body(super::codec::value_of(v)),
                None => Expect::Absent,
            };
            writes.push(Write::put(Collection::Vitals, doc_of(&new)).expecting(expect));
        }
        Ok(writes)
    }
}
