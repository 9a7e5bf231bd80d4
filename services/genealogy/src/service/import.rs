//! Bulk import: many persons, events and relationships validated together and written in one
//! commit with one history entry. What a GEDCOM import (or any large load) uses instead of one
//! request per record; the checks are those of the single-record use cases.

use std::collections::{HashMap, HashSet};

use dzinza_kit::problem::FieldError;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::persons::{check_names, clean_list};
use super::records::{EventInput, NewRelationship, parse_date, parse_place};
use super::{ChangeSet, Genealogy, GenealogyError, Result, invalid};
use crate::model::{
    Collection, Event, EventType, ParentKind, Person, Relationship, RelationshipKind,
};
use crate::policy::Actor;
use crate::store::Query;

/// A person of an import, with the id the importer chose (e.g. [`crate::model::new_id`]), so
/// that events and relationships of the same batch can refer to them.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ImportPerson {
    /// Id of the new person: unused so far, at most 100 characters.
    pub id: String,
    /// The person.
    #[serde(flatten)]
    pub person: super::NewPerson,
}

/// An event of an import, with its chosen id (relationships may name it as start or end).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ImportEvent {
    /// Id of the new event.
    pub id: String,
    /// The event (its `tree_id` is ignored: the batch's tree is used).
    #[serde(flatten)]
    pub event: EventInput,
}

/// One batch: new persons, and events and relationships among them and the tree's persons.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
pub struct ImportBatch {
    /// New persons.
    #[serde(default)]
    pub persons: Vec<ImportPerson>,
    /// New events; participants are persons of this batch or of the tree.
    #[serde(default)]
    pub events: Vec<ImportEvent>,
    /// New relationships (their `tree_id` must be the batch's tree).
    #[serde(default)]
    pub relationships: Vec<NewRelationship>,
}

/// What a batch wrote.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ImportOutcome {
    /// Persons created.
    pub persons: usize,
    /// Events created.
    pub events: usize,
    /// Relationships created.
    pub relationships: usize,
    /// The history entry recording the batch (revert it to undo the whole batch).
    pub history_id: Option<String>,
}

/// Puts `prefix` in front of the field names of a validation error.
fn within(prefix: &str, e: GenealogyError) -> GenealogyError {
    match e {
        GenealogyError::Validation(fields) => GenealogyError::Validation(
            fields
                .into_iter()
                .map(|f| FieldError {
                    field: format!("{prefix}.{}", f.field),
                    message: f.message,
                })
                .collect(),
        ),
        other => other,
    }
}

fn check_id(field: &str, id: &str, seen: &mut HashSet<String>) -> Result<()> {
    if id.trim().is_empty() || id.len() > 100 {
        return Err(invalid(field, "give an id of 1 to 100 characters"));
    }
    if !seen.insert(id.to_owned()) {
        return Err(invalid(field, "used twice in this batch"));
    }
    Ok(())
}

fn biological(r: &Relationship) -> bool {
    matches!(
        r.kind,
        RelationshipKind::ParentChild {
            kind: ParentKind::Biological,
            ..
        }
    )
}

impl Genealogy {
    /// Imports a batch into a tree (editors): every record is checked as the single-record use
    /// cases check it (names, dates, places, citations, persons in the tree, no self links, no
    /// duplicate links, at most two biological parents, nobody their own ancestor), then all of
    /// it is written in one commit, recorded as one history entry (`import`) that reverts the
    /// whole batch. Ids already in use make the commit fail with a conflict.
    pub async fn import_batch(
        &self,
        actor: &Actor,
        tree_id: &str,
        batch: ImportBatch,
    ) -> Result<ImportOutcome> {
        let tree = self.editable_tree(actor, tree_id).await?;
        let now = self.now();
        let mut ids = HashSet::new();
        let mut persons = Vec::with_capacity(batch.persons.len());
        for (i, p) in batch.persons.into_iter().enumerate() {
            let field = format!("persons.{i}");
            check_id(&format!("{field}.id"), &p.id, &mut ids)?;
            let input = p.person;
            persons.push(Person {
                id: p.id,
                tree_ids: vec![tree.id.clone()],
                names: check_names(&input.names).map_err(|e| within(&field, e))?,
                sex: input.sex.unwrap_or_default(),
                living: input.living,
                privacy: input.privacy.unwrap_or_default(),
                notes: clean_list(input.notes),
                tags: clean_list(input.tags),
                external_ids: input.external_ids,
                citation_ids: input.citation_ids,
                attributes: input.attributes,
                created_at: now,
                updated_at: now,
            });
        }
        let new_persons: HashSet<&str> = persons.iter().map(|p| p.id.as_str()).collect();

        // Persons named by events and relationships that are not new must be in the tree.
        let mut referenced: Vec<(String, String)> = Vec::new();
        for (i, e) in batch.events.iter().enumerate() {
            for (j, p) in e.event.participants.iter().enumerate() {
                referenced.push((
                    format!("events.{i}.participants.{j}.person_id"),
                    p.person_id.clone(),
                ));
            }
        }
        for (i, r) in batch.relationships.iter().enumerate() {
            let (fx, fy, x, y) = match &r.kind {
                RelationshipKind::ParentChild { parent, child, .. } => {
                    ("parent", "child", parent, child)
                }
                RelationshipKind::Partnership { a, b, .. } => ("a", "b", a, b),
            };
            referenced.push((format!("relationships.{i}.{fx}"), x.clone()));
            referenced.push((format!("relationships.{i}.{fy}"), y.clone()));
        }
        let mut existing_ids: Vec<String> = referenced
            .iter()
            .map(|(_, id)| id.clone())
            .filter(|id| !new_persons.contains(id.as_str()))
            .collect();
        existing_ids.sort();
        existing_ids.dedup();
        let existing: HashSet<String> = self
            .load_many::<Person>(&existing_ids)
            .await?
            .into_iter()
            .filter(|p| p.tree_ids.contains(&tree.id))
            .map(|p| p.id)
            .collect();
        for (field, id) in &referenced {
            if !new_persons.contains(id.as_str()) && !existing.contains(id) {
                return Err(invalid(field, "no such person in this tree"));
            }
        }

        // Citations, all at once.
        let mut cited: Vec<(String, String)> = Vec::new();
        for (i, p) in persons.iter().enumerate() {
            for (j, c) in p.citation_ids.iter().enumerate() {
                cited.push((format!("persons.{i}.citation_ids.{j}"), c.clone()));
            }
        }
        for (i, e) in batch.events.iter().enumerate() {
            for (j, c) in e.event.citation_ids.iter().enumerate() {
                cited.push((format!("events.{i}.citation_ids.{j}"), c.clone()));
            }
        }
        for (i, r) in batch.relationships.iter().enumerate() {
            for (j, c) in r.citation_ids.iter().enumerate() {
                cited.push((format!("relationships.{i}.citation_ids.{j}"), c.clone()));
            }
        }
        if !cited.is_empty() {
            let mut list: Vec<String> = cited.iter().map(|(_, c)| c.clone()).collect();
            list.sort();
            list.dedup();
            let found: HashSet<String> = self
                .load_many::<crate::model::Citation>(&list)
                .await?
                .into_iter()
                .filter(|c| c.tree_id == tree.id)
                .map(|c| c.id)
                .collect();
            for (field, id) in &cited {
                if !found.contains(id) {
                    return Err(invalid(field, "no such citation in this tree"));
                }
            }
        }

        // Events.
        let mut events = Vec::with_capacity(batch.events.len());
        let mut event_ids = HashSet::new();
        for (i, e) in batch.events.into_iter().enumerate() {
            let field = format!("events.{i}");
            check_id(&format!("{field}.id"), &e.id, &mut event_ids)?;
            let input = e.event;
            if input.participants.is_empty() {
                return Err(invalid(
                    &format!("{field}.participants"),
                    "give at least one participant",
                ));
            }
            if let EventType::Custom(name) = &input.event_type
                && name.trim().is_empty()
            {
                return Err(invalid(
                    &format!("{field}.type"),
                    "a custom event type needs a name",
                ));
            }
            events.push(Event {
                id: e.id,
                tree_id: tree.id.clone(),
                event_type: input.event_type,
                date: parse_date(input.date).map_err(|e| within(&field, e))?,
                place: parse_place(input.place).map_err(|e| within(&field, e))?,
                description: input.description.filter(|d| !d.trim().is_empty()),
                participants: input.participants,
                citation_ids: input.citation_ids,
                created_at: now,
                updated_at: now,
            });
        }

        let rels = self
            .import_relationships(&tree.id, batch.relationships, &new_persons, &event_ids, now)
            .await?;

        let mut set = ChangeSet::new();
        let mut touched: Vec<String> = persons.iter().map(|p| p.id.clone()).collect();
        touched.extend(existing);
        for p in &persons {
            set.put(None, p);
        }
        for e in &events {
            set.put(None, e);
        }
        for r in &rels {
            set.put(None, r);
        }
        let outcome = ImportOutcome {
            persons: persons.len(),
            events: events.len(),
            relationships: rels.len(),
            history_id: None,
        };
        if !persons.is_empty() {
            self.notify_members(
                &mut set,
                &tree,
                actor,
                "persons_imported",
                format!(
                    "{} {} imported into \"{}\".",
                    persons.len(),
                    if persons.len() == 1 {
                        "person was"
                    } else {
                        "persons were"
                    },
                    tree.name
                ),
                None,
            );
        }
        let entry = self
            .commit(set, "import", actor, touched, vec![tree.id.clone()])
            .await?;
        Ok(ImportOutcome {
            history_id: entry.map(|e| e.id),
            ..outcome
        })
    }

    /// Checks and builds the relationships of a batch.
    async fn import_relationships(
        &self,
        tree_id: &str,
        inputs: Vec<NewRelationship>,
        new_persons: &HashSet<&str>,
        event_ids: &HashSet<String>,
        now: i64,
    ) -> Result<Vec<Relationship>> {
        let is_new = |id: &str| new_persons.contains(id);
        // Start and end events: of this batch, or already in the tree.
        let mut other_events: Vec<String> = inputs
            .iter()
            .flat_map(|r| [&r.start_event_id, &r.end_event_id])
            .flatten()
            .filter(|e| !event_ids.contains(*e))
            .cloned()
            .collect();
        other_events.sort();
        other_events.dedup();
        let stored_events: HashSet<String> = self
            .load_many::<Event>(&other_events)
            .await?
            .into_iter()
            .filter(|e| e.tree_id == tree_id)
            .map(|e| e.id)
            .collect();
        // Stored relationships of the existing persons the batch links (new persons have none).
        let mut linked: Vec<String> = inputs
            .iter()
            .flat_map(|r| match &r.kind {
                RelationshipKind::ParentChild { parent, child, .. } => [parent, child],
                RelationshipKind::Partnership { a, b, .. } => [a, b],
            })
            .filter(|id| !is_new(id))
            .cloned()
            .collect();
        linked.sort();
        linked.dedup();
        let mut stored: Vec<Relationship> = Vec::new();
        if !linked.is_empty() {
            stored = self
                .find::<Relationship>(&Query::by_keys(
                    Collection::Relationships,
                    "person",
                    &linked,
                ))
                .await?
                .0;
        }
        let mut rels: Vec<Relationship> = Vec::with_capacity(inputs.len());
        let mut bio_parents: HashMap<String, usize> = HashMap::new();
        for r in stored.iter().filter(|r| biological(r)) {
            if let RelationshipKind::ParentChild { child, .. } = &r.kind {
                *bio_parents.entry(child.clone()).or_default() += 1;
            }
        }
        let mut links: HashSet<(String, String, bool)> = HashSet::new();
        let link_of = |r: &Relationship| match &r.kind {
            RelationshipKind::ParentChild { parent, child, .. } => {
                (parent.clone(), child.clone(), true)
            }
            RelationshipKind::Partnership { a, b, .. } => {
                let (x, y) = if a <= b { (a, b) } else { (b, a) };
                (x.clone(), y.clone(), false)
            }
        };
        for r in &stored {
            links.insert(link_of(r));
        }
        for (i, input) in inputs.into_iter().enumerate() {
            let field = format!("relationships.{i}");
            if input.tree_id != tree_id {
                return Err(invalid(
                    &format!("{field}.tree_id"),
                    "must be the tree being imported into",
                ));
            }
            let [x, y] = match &input.kind {
                RelationshipKind::ParentChild { parent, child, .. } => [parent, child],
                RelationshipKind::Partnership { a, b, .. } => [a, b],
            };
            if x == y {
                return Err(invalid(
                    &format!(
                        "{field}.{}",
                        if matches!(input.kind, RelationshipKind::Partnership { .. }) {
                            "b"
                        } else {
                            "child"
                        }
                    ),
                    "a person cannot be related to themselves",
                ));
            }
            for (f, ev) in [
                ("start_event_id", &input.start_event_id),
                ("end_event_id", &input.end_event_id),
            ] {
                if let Some(ev) = ev
                    && !event_ids.contains(ev)
                    && !stored_events.contains(ev)
                {
                    return Err(invalid(
                        &format!("{field}.{f}"),
                        "no such event in this tree",
                    ));
                }
            }
            let rel = Relationship {
                id: crate::model::new_id(),
                tree_id: tree_id.to_owned(),
                kind: input.kind,
                start_event_id: input.start_event_id,
                end_event_id: input.end_event_id,
                citation_ids: input.citation_ids,
                created_at: now,
                updated_at: now,
            };
            if !links.insert(link_of(&rel)) {
                return Err(GenealogyError::Conflict(format!(
                    "{field}: these persons are already linked this way"
                )));
            }
            if biological(&rel)
                && let RelationshipKind::ParentChild { child, .. } = &rel.kind
            {
                let n = bio_parents.entry(child.clone()).or_default();
                *n += 1;
                if *n > 2 {
                    return Err(invalid(
                        &format!("{field}.child"),
                        "already has two biological parents",
                    ));
                }
            }
            rels.push(rel);
        }
        if let Some(i) = self.first_cycle(&rels, new_persons).await? {
            return Err(invalid(
                &format!("relationships.{i}.parent"),
                "would make a person their own ancestor",
            ));
        }
        Ok(rels)
    }

    /// The index of a parent–child link of `rels` that closes a cycle of descent, counting the
    /// stored links too. A cycle leaves the batch's links only through stored descent between
    /// existing persons: from one that is a child in the batch down to one that is a parent in
    /// it. Those stored paths are found by walking down from the former (new persons have no
    /// stored links, so a batch of new persons costs no queries); then a topological sort of
    /// the batch's links plus those paths finds any cycle.
    async fn first_cycle(
        &self,
        rels: &[Relationship],
        new_persons: &HashSet<&str>,
    ) -> Result<Option<usize>> {
        let edges: Vec<(usize, &str, &str)> = rels
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match &r.kind {
                RelationshipKind::ParentChild { parent, child, .. } => {
                    Some((i, parent.as_str(), child.as_str()))
                }
                RelationshipKind::Partnership { .. } => None,
            })
            .collect();
        let mut graph: HashMap<&str, Vec<(Option<usize>, String)>> = HashMap::new();
        let batch_parents: HashSet<&str> = edges
            .iter()
            .map(|e| e.1)
            .filter(|p| !new_persons.contains(p))
            .collect();
        for (i, parent, child) in &edges {
            graph
                .entry(parent)
                .or_default()
                .push((Some(*i), (*child).to_owned()));
        }
        let stored_children: Vec<&str> = edges
            .iter()
            .map(|e| e.2)
            .filter(|c| !new_persons.contains(c))
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut extra: Vec<(&str, String)> = Vec::new();
        for start in stored_children {
            for reached in self.stored_descendants(start, &batch_parents).await? {
                extra.push((start, reached));
            }
        }
        for (from, to) in extra {
            graph.entry(from).or_default().push((None, to));
        }
        // Kahn's algorithm: whatever cannot be ordered lies on (or after) a cycle.
        let mut indegree: HashMap<&str, usize> = HashMap::new();
        for (from, outs) in &graph {
            indegree.entry(from).or_default();
            for (_, to) in outs {
                *indegree.entry(to.as_str()).or_default() += 1;
            }
        }
        let mut ready: Vec<&str> = indegree
            .iter()
            .filter(|(_, d)| **d == 0)
            .map(|(n, _)| *n)
            .collect();
        let mut done: HashSet<&str> = HashSet::new();
        while let Some(n) = ready.pop() {
            done.insert(n);
            for (_, to) in graph.get(n).into_iter().flatten() {
                if let Some(d) = indegree.get_mut(to.as_str()) {
                    *d -= 1;
                    if *d == 0 {
                        ready.push(to.as_str());
                    }
                }
            }
        }
        // What is left is on a cycle or downstream of one; drop the downstream part the same
        // way from the other end.
        let mut left: HashSet<&str> = indegree
            .keys()
            .copied()
            .filter(|n| !done.contains(n))
            .collect();
        loop {
            let sinks: Vec<&str> = left
                .iter()
                .copied()
                .filter(|n| {
                    !graph
                        .get(n)
                        .into_iter()
                        .flatten()
                        .any(|(_, to)| left.contains(to.as_str()))
                })
                .collect();
            if sinks.is_empty() {
                break;
            }
            for s in sinks {
                left.remove(s);
            }
        }
        Ok(edges
            .iter()
            .filter(|(_, p, c)| left.contains(p) && left.contains(c))
            .map(|(i, _, _)| *i)
            .min())
    }

    /// Which of `targets` are stored descendants of `start` (any kind of parent–child link).
    async fn stored_descendants(
        &self,
        start: &str,
        targets: &HashSet<&str>,
    ) -> Result<Vec<String>> {
        let mut found = Vec::new();
        let mut seen: HashSet<String> = HashSet::from([start.to_owned()]);
        let mut frontier = vec![start.to_owned()];
        for _ in 0..64 {
            if frontier.is_empty() {
                break;
            }
            let (rels, _) = self
                .find::<Relationship>(&Query::by_keys(
                    Collection::Relationships,
                    "parent",
                    &frontier,
                ))
                .await?;
            frontier = rels
                .iter()
                .filter_map(|r| match &r.kind {
                    RelationshipKind::ParentChild { child, .. } => Some(child.clone()),
                    RelationshipKind::Partnership { .. } => None,
                })
                .filter(|c| seen.insert(c.clone()))
                .collect();
            found.extend(
                frontier
                    .iter()
                    .filter(|c| targets.contains(c.as_str()))
                    .cloned(),
            );
        }
        Ok(found)
    }
}
