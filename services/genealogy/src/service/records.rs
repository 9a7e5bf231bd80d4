//! Relationships, events, and the tree records: sources, citations, repositories, notes.

use std::collections::HashMap;

use dzinza_gedcom::date::GenDate;
use serde::Deserialize;
use utoipa::ToSchema;

use super::codec::Stored;
use super::{ChangeSet, Genealogy, GenealogyError, PageRequest, Paged, Result, invalid};
use crate::model::{
    Citation, Collection, Event, EventType, FamilyTree, Note, ParentKind, Participant, PartnerKind,
    Person, Place, Relationship, RelationshipKind, Repository, Source, new_id,
};
use crate::policy::{Actor, Visibility};
use crate::store::{Expect, Query, Write};

/// Creating a relationship.
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct NewRelationship {
    /// The tree it is recorded in (both persons must be in it).
    pub tree_id: String,
    /// What it links.
    #[serde(flatten)]
    pub kind: RelationshipKind,
    /// Event that started it.
    #[serde(default)]
    pub start_event_id: Option<String>,
    /// Event that ended it.
    #[serde(default)]
    pub end_event_id: Option<String>,
    /// Citations.
    #[serde(default)]
    pub citation_ids: Vec<String>,
}

/// Changing a relationship: its kind and events; the persons it links do not change.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RelationshipPatch {
    /// New kind of a parent–child link.
    pub parent_kind: Option<ParentKind>,
    /// New kind of a partnership.
    pub partner_kind: Option<PartnerKind>,
    /// Start event.
    pub start_event_id: Option<String>,
    /// End event.
    pub end_event_id: Option<String>,
    /// Citations (replaces all).
    pub citation_ids: Option<Vec<String>>,
}

/// A place as entered: the hierarchy is read from the name when not given.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceInput {
    /// As written, e.g. "Harare, Mashonaland, Zimbabwe".
    pub name: String,
    /// Town.
    pub town: Option<String>,
    /// County.
    pub county: Option<String>,
    /// State.
    pub state: Option<String>,
    /// Country.
    pub country: Option<String>,
    /// Latitude, -90 to 90.
    pub latitude: Option<f64>,
    /// Longitude, -180 to 180.
    pub longitude: Option<f64>,
}

/// Creating or replacing an event.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventInput {
    /// The tree (on create; ignored on replace).
    #[serde(default)]
    pub tree_id: Option<String>,
    /// Type: `birth`, `death`, ... or `{"custom": "Graduation"}`.
    #[serde(rename = "type")]
    pub event_type: EventType,
    /// A genealogical date in GEDCOM syntax: `12 MAR 1850`, `ABT 1850`, `BET 1850 AND 1860`,
    /// `FROM 1850 TO 1860`, `@#DJULIAN@ 1701/02`, `(phrase)`.
    #[serde(default)]
    pub date: Option<String>,
    /// Where.
    #[serde(default)]
    pub place: Option<PlaceInput>,
    /// Free text.
    #[serde(default)]
    pub description: Option<String>,
    /// Who took part (at least one).
    pub participants: Vec<Participant>,
    /// Citations.
    #[serde(default)]
    pub citation_ids: Vec<String>,
}

/// Creating or replacing a source.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SourceInput {
    /// Title.
    pub title: String,
    /// Author.
    #[serde(default)]
    pub author: Option<String>,
    /// Publication facts.
    #[serde(default)]
    pub publication: Option<String>,
    /// Abbreviation.
    #[serde(default)]
    pub abbreviation: Option<String>,
    /// Repository holding it.
    #[serde(default)]
    pub repository_id: Option<String>,
    /// Call number.
    #[serde(default)]
    pub call_number: Option<String>,
    /// Notes.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// Creating or replacing a citation.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CitationInput {
    /// The source cited.
    pub source_id: String,
    /// Page or detail.
    #[serde(default)]
    pub page: Option<String>,
    /// Confidence 0 to 3.
    #[serde(default)]
    pub confidence: Option<u8>,
    /// Transcription.
    #[serde(default)]
    pub text: Option<String>,
}

/// Creating or replacing a repository.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositoryInput {
    /// Name.
    pub name: String,
    /// Address.
    #[serde(default)]
    pub address: Option<String>,
    /// Web address.
    #[serde(default)]
    pub url: Option<String>,
}

/// Creating or replacing a note.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteInput {
    /// The text.
    pub text: String,
}

fn required(field: &str, v: &str) -> Result<String> {
    let v = v.trim();
    if v.is_empty() {
        return Err(invalid(field, "must not be empty"));
    }
    Ok(v.to_owned())
}

pub(super) fn parse_date(text: Option<String>) -> Result<Option<GenDate>> {
    match text {
        None => Ok(None),
        Some(t) if t.trim().is_empty() => Ok(None),
        Some(t) => {
            let d = GenDate::parse_owned(t);
            if !d.is_valid() {
                return Err(invalid(
                    "date",
                    "is not a genealogical date (e.g. 12 MAR 1850, ABT 1850, BET 1850 AND 1860)",
                ));
            }
            Ok(Some(d))
        }
    }
}

pub(super) fn parse_place(p: Option<PlaceInput>) -> Result<Option<Place>> {
    let Some(p) = p else { return Ok(None) };
    let name = required("place.name", &p.name)?;
    if p.latitude.is_some_and(|l| !(-90.0..=90.0).contains(&l)) {
        return Err(invalid("place.latitude", "must be between -90 and 90"));
    }
    if p.longitude.is_some_and(|l| !(-180.0..=180.0).contains(&l)) {
        return Err(invalid("place.longitude", "must be between -180 and 180"));
    }
    let given = p.town.is_some() || p.county.is_some() || p.state.is_some() || p.country.is_some();
    let mut place = if given {
        Place {
            name,
            town: p.town,
            county: p.county,
            state: p.state,
            country: p.country,
            ..Place::default()
        }
    } else {
        Place::from_text(&name)
    };
    place.latitude = p.latitude;
    place.longitude = p.longitude;
    Ok(Some(place))
}

/// A tree-scoped record with a plain create/read/replace/delete life.
pub trait TreeRecord: Stored + Clone {
    /// Its name in messages.
    const NAME: &'static str;
    /// Its tree.
    fn tree_id(&self) -> &str;
}

macro_rules! tree_record {
    ($t:ty, $name:literal) => {
        impl TreeRecord for $t {
            const NAME: &'static str = $name;
            fn tree_id(&self) -> &str {
                &self.tree_id
            }
        }
    };
}
tree_record!(Source, "source");
tree_record!(Citation, "citation");
tree_record!(Repository, "repository");
tree_record!(Note, "note");

/// Input that becomes a record.
pub trait RecordInput<T> {
    /// Validates and builds the record.
    fn build(self, id: String, tree_id: String, created_at: i64, now: i64) -> Result<T>;
}

impl RecordInput<Source> for SourceInput {
    fn build(self, id: String, tree_id: String, created_at: i64, now: i64) -> Result<Source> {
        Ok(Source {
            id,
            tree_id,
            title: required("title", &self.title)?,
            author: self.author,
            publication: self.publication,
            abbreviation: self.abbreviation,
            repository_id: self.repository_id,
            call_number: self.call_number,
            notes: self.notes,
            created_at,
            updated_at: now,
        })
    }
}

impl RecordInput<Citation> for CitationInput {
    fn build(self, id: String, tree_id: String, created_at: i64, now: i64) -> Result<Citation> {
        if self.confidence.is_some_and(|c| c > 3) {
            return Err(invalid("confidence", "must be 0, 1, 2 or 3"));
        }
        Ok(Citation {
            id,
            tree_id,
            source_id: required("source_id", &self.source_id)?,
            page: self.page,
            confidence: self.confidence,
            text: self.text,
            created_at,
            updated_at: now,
        })
    }
}

impl RecordInput<Repository> for RepositoryInput {
    fn build(self, id: String, tree_id: String, created_at: i64, now: i64) -> Result<Repository> {
        Ok(Repository {
            id,
            tree_id,
            name: required("name", &self.name)?,
            address: self.address,
            url: self.url,
            created_at,
            updated_at: now,
        })
    }
}

impl RecordInput<Note> for NoteInput {
    fn build(self, id: String, tree_id: String, created_at: i64, now: i64) -> Result<Note> {
        Ok(Note {
            id,
            tree_id,
            text: required("text", &self.text)?,
            created_at,
            updated_at: now,
        })
    }
}

impl Genealogy {
    /// Checks that the records `ids` of type `T` exist in `tree_id`.
    async fn exist_in<T: TreeRecord>(
        &self,
        tree_id: &str,
        ids: &[String],
        field: &str,
    ) -> Result<()> {
        let found: Vec<T> = self.load_many(ids).await?;
        for (i, id) in ids.iter().enumerate() {
            if !found.iter().any(|r| r.id() == id && r.tree_id() == tree_id) {
                let f = if ids.len() == 1 && !field.ends_with('s') {
                    field.to_owned()
                } else {
                    format!("{field}.{i}")
                };
                return Err(invalid(&f, &format!("no such {} in this tree", T::NAME)));
            }
        }
        Ok(())
    }

    async fn check_record_refs<T: TreeRecord + 'static>(&self, r: &T) -> Result<()> {
        // Taken out before any await: a `&dyn Any` held across one would make the future !Send.
        let (source, repository) = {
            let any: &(dyn std::any::Any + Send + Sync) = r;
            (
                any.downcast_ref::<Citation>()
                    .map(|c| (c.tree_id.clone(), c.source_id.clone())),
                any.downcast_ref::<Source>()
                    .and_then(|s| Some((s.tree_id.clone(), s.repository_id.clone()?))),
            )
        };
        if let Some((tree, id)) = source {
            self.exist_in::<Source>(&tree, &[id], "source_id").await?;
        }
        if let Some((tree, id)) = repository {
            self.exist_in::<Repository>(&tree, &[id], "repository_id")
                .await?;
        }
        Ok(())
    }

    /// Creates a record in a tree (editors).
    pub async fn create_record<T: TreeRecord + 'static, I: RecordInput<T>>(
        &self,
        actor: &Actor,
        tree_id: &str,
        input: I,
    ) -> Result<T> {
        let tree = self.editable_tree(actor, tree_id).await?;
        let now = self.now();
        let record = input.build(new_id(), tree.id, now, now)?;
        self.check_record_refs(&record).await?;
        self.store
            .commit(vec![
                Write::put(T::COLLECTION, super::doc_of(&record)).expecting(Expect::Absent),
            ])
            .await?;
        Ok(record)
    }

    async fn readable_record<T: TreeRecord>(&self, actor: &Actor, id: &str) -> Result<(T, bool)> {
        let r: T = self
            .load(id)
            .await?
            .ok_or(GenealogyError::NotFound(T::NAME))?;
        let (_, access) = self
            .tree_for(actor, r.tree_id())
            .await
            .map_err(|_| GenealogyError::NotFound(T::NAME))?;
        Ok((r, access.can_edit()))
    }

    /// One record (readers of its tree).
    pub async fn get_record<T: TreeRecord>(&self, actor: &Actor, id: &str) -> Result<T> {
        Ok(self.readable_record(actor, id).await?.0)
    }

    /// A tree's records of one kind, paged.
    pub async fn list_records<T: TreeRecord>(
        &self,
        actor: &Actor,
        tree_id: &str,
        page: PageRequest,
    ) -> Result<Paged<T>> {
        let (tree, _) = self.tree_for(actor, tree_id).await?;
        let q = Query::by_key(T::COLLECTION, "tree", &tree.id).page(page.offset, page.limit);
        let (items, total) = self.find::<T>(&q).await?;
        Ok(Paged {
            items,
            total,
            offset: page.offset,
            limit: page.limit,
        })
    }

    /// Replaces a record (editors).
    pub async fn replace_record<T: TreeRecord + 'static, I: RecordInput<T>>(
        &self,
        actor: &Actor,
        id: &str,
        input: I,
    ) -> Result<T> {
        let (before, can_edit) = self.readable_record::<T>(actor, id).await?;
        if !can_edit {
            return Err(GenealogyError::Forbidden("needs the editor role".into()));
        }
        let created_at = super::codec::value_of(&before)["created_at"]
            .as_i64()
            .unwrap_or_default();
        let after = input.build(
            id.to_owned(),
            before.tree_id().to_owned(),
            created_at,
            self.now(),
        )?;
        self.check_record_refs(&after).await?;
        self.store
            .commit(vec![
                Write::put(T::COLLECTION, super::doc_of(&after))
                    .expecting(Expect::Body(super::codec::value_of(&before))),
            ])
            .await?;
        Ok(after)
    }

    /// Deletes a record (editors); refused while something still refers to it.
    pub async fn delete_record<T: TreeRecord>(&self, actor: &Actor, id: &str) -> Result<()> {
        let (before, can_edit) = self.readable_record::<T>(actor, id).await?;
        if !can_edit {
            return Err(GenealogyError::Forbidden("needs the editor role".into()));
        }
        let referrers: &[(Collection, &str)] = match T::COLLECTION {
            Collection::Sources => &[(Collection::Citations, "source")],
            Collection::Repositories => &[(Collection::Sources, "repository")],
            Collection::Citations => &[
                (Collection::Persons, "citation"),
                (Collection::Events, "citation"),
                (Collection::Relationships, "citation"),
            ],
            _ => &[],
        };
        for (coll, key) in referrers {
            let used = self
                .store
                .find(&Query::by_key(*coll, key, id).page(0, 1))
                .await?;
            if used.total > 0 {
                return Err(GenealogyError::Conflict(format!(
                    "this {} is still used by {} {}",
                    T::NAME,
                    used.total,
                    coll.as_str()
                )));
            }
        }
        self.store
            .commit(vec![
                Write::delete(T::COLLECTION, id)
                    .expecting(Expect::Body(super::codec::value_of(&before))),
            ])
            .await?;
        Ok(())
    }

    // ---- relationships

    /// Persons by id that are all in `tree`; 422 naming `fields[i]` otherwise.
    async fn persons_in(&self, tree: &FamilyTree, ids: &[(&str, String)]) -> Result<Vec<Person>> {
        let list: Vec<String> = ids.iter().map(|(_, id)| id.clone()).collect();
        let found: Vec<Person> = self.load_many(&list).await?;
        for (field, id) in ids {
            if !found
                .iter()
                .any(|p| &p.id == id && p.tree_ids.contains(&tree.id))
            {
                return Err(invalid(field, "no such person in this tree"));
            }
        }
        Ok(found)
    }

    async fn is_ancestor(&self, ancestor: &str, of: &str) -> Result<bool> {
        let mut frontier = vec![of.to_owned()];
        let mut seen = std::collections::HashSet::new();
        for _ in 0..64 {
            if frontier.is_empty() {
                break;
            }
            let (rels, _) = self
                .find::<Relationship>(&Query::by_keys(
                    Collection::Relationships,
                    "child",
                    &frontier,
                ))
                .await?;
            frontier = rels
                .iter()
                .filter_map(|r| match &r.kind {
                    RelationshipKind::ParentChild { parent, .. } => Some(parent.clone()),
                    RelationshipKind::Partnership { .. } => None,
                })
                .filter(|p| seen.insert(p.clone()))
                .collect();
            if frontier.iter().any(|p| p == ancestor) {
                return Ok(true);
            }
        }
        Ok(false)
    }

    /// Records a relationship (editors of its tree).
    pub async fn create_relationship(
        &self,
        actor: &Actor,
        input: NewRelationship,
    ) -> Result<Relationship> {
        let tree = self.editable_tree(actor, &input.tree_id).await?;
        let (fields, (x, y)) = match &input.kind {
            RelationshipKind::ParentChild { parent, child, .. } => {
                (("parent", "child"), (parent.clone(), child.clone()))
            }
            RelationshipKind::Partnership { a, b, .. } => (("a", "b"), (a.clone(), b.clone())),
        };
        if x == y {
            return Err(invalid(
                fields.1,
                "a person cannot be related to themselves",
            ));
        }
        self.persons_in(&tree, &[(fields.0, x.clone()), (fields.1, y.clone())])
            .await?;
        self.check_citations(
            std::slice::from_ref(&tree.id),
            &input.citation_ids,
            "citation_ids",
        )
        .await?;
        for (field, ev) in [
            ("start_event_id", &input.start_event_id),
            ("end_event_id", &input.end_event_id),
        ] {
            if let Some(ev) = ev {
                let e: Option<Event> = self.load(ev).await?;
                if e.is_none_or(|e| e.tree_id != tree.id) {
                    return Err(invalid(field, "no such event in this tree"));
                }
            }
        }
        let now = self.now();
        let rel = Relationship {
            id: new_id(),
            tree_id: tree.id.clone(),
            kind: input.kind,
            start_event_id: input.start_event_id,
            end_event_id: input.end_event_id,
            citation_ids: input.citation_ids,
            created_at: now,
            updated_at: now,
        };
        let (existing, _) = self
            .find::<Relationship>(&Query::by_key(Collection::Relationships, "person", &x))
            .await?;
        if existing.iter().any(|r| r.same_link(&rel)) {
            return Err(GenealogyError::Conflict(
                "these persons are already linked this way".into(),
            ));
        }
        if let RelationshipKind::ParentChild { parent, child, .. } = &rel.kind {
            if self.is_ancestor(child, parent).await? {
                return Err(invalid("parent", "would make a person their own ancestor"));
            }
            let (current, _) = self
                .find::<Relationship>(&Query::by_key(Collection::Relationships, "child", child))
                .await?;
            let adding_biological = matches!(
                rel.kind,
                RelationshipKind::ParentChild {
                    kind: ParentKind::Biological,
                    ..
                }
            );
            if adding_biological && parents_biological(&current) >= 2 {
                return Err(invalid("child", "already has two biological parents"));
            }
        }
        let mut set = ChangeSet::new();
        set.put(None, &rel);
        let persons = rel.persons().map(str::to_owned).to_vec();
        self.commit(set, "relationship_created", actor, persons, vec![tree.id])
            .await?;
        Ok(rel)
    }

    async fn visible_relationship(&self, actor: &Actor, id: &str) -> Result<(Relationship, bool)> {
        let r: Relationship = self
            .load(id)
            .await?
            .ok_or(GenealogyError::NotFound("relationship"))?;
        let (_, access) = self
            .tree_for(actor, &r.tree_id)
            .await
            .map_err(|_| GenealogyError::NotFound("relationship"))?;
        for p in r.persons() {
            if self.see(actor, p).await.is_err() {
                return Err(GenealogyError::NotFound("relationship"));
            }
        }
        Ok((r, access.can_edit()))
    }

    /// One relationship (both persons must be visible).
    pub async fn get_relationship(&self, actor: &Actor, id: &str) -> Result<Relationship> {
        Ok(self.visible_relationship(actor, id).await?.0)
    }

    /// A person's relationships.
    pub async fn person_relationships(
        &self,
        actor: &Actor,
        person_id: &str,
    ) -> Result<Vec<Relationship>> {
        self.see(actor, person_id).await?;
        let (rels, _) = self
            .find::<Relationship>(&Query::by_key(
                Collection::Relationships,
                "person",
                person_id,
            ))
            .await?;
        let others: Vec<Person> = self
            .load_many(
                &rels
                    .iter()
                    .flat_map(|r| r.persons().map(str::to_owned))
                    .collect::<Vec<_>>(),
            )
            .await?;
        let seen = self.see_many(actor, others, &mut HashMap::new()).await?;
        let visible: std::collections::HashSet<&str> = seen
            .iter()
            .filter(|s| s.vis != Visibility::Hidden)
            .map(|s| s.person.id.as_str())
            .collect();
        Ok(rels
            .into_iter()
            .filter(|r| r.persons().iter().all(|p| visible.contains(p)))
            .collect())
    }

    /// Changes a relationship's kind, events or citations (editors).
    pub async fn update_relationship(
        &self,
        actor: &Actor,
        id: &str,
        patch: RelationshipPatch,
    ) -> Result<Relationship> {
        let (before, can_edit) = self.visible_relationship(actor, id).await?;
        if !can_edit {
            return Err(GenealogyError::Forbidden("needs the editor role".into()));
        }
        let mut r = before.clone();
        match &mut r.kind {
            RelationshipKind::ParentChild { kind, .. } => {
                if patch.partner_kind.is_some() {
                    return Err(invalid("partner_kind", "this is a parent–child link"));
                }
                if let Some(k) = patch.parent_kind {
                    *kind = k;
                }
            }
            RelationshipKind::Partnership { kind, .. } => {
                if patch.parent_kind.is_some() {
                    return Err(invalid("parent_kind", "this is a partnership"));
                }
                if let Some(k) = patch.partner_kind {
                    *kind = k;
                }
            }
        }
        if patch.start_event_id.is_some() {
            r.start_event_id = patch.start_event_id;
        }
        if patch.end_event_id.is_some() {
            r.end_event_id = patch.end_event_id;
        }
        if let Some(c) = patch.citation_ids {
            self.check_citations(std::slice::from_ref(&r.tree_id), &c, "citation_ids")
                .await?;
            r.citation_ids = c;
        }
        r.updated_at = self.now();
        let mut set = ChangeSet::new();
        set.put(Some(&before), &r);
        let persons = r.persons().map(str::to_owned).to_vec();
        self.commit(
            set,
            "relationship_updated",
            actor,
            persons,
            vec![r.tree_id.clone()],
        )
        .await?;
        Ok(r)
    }

    /// Deletes a relationship (editors).
    pub async fn delete_relationship(&self, actor: &Actor, id: &str) -> Result<()> {
        let (before, can_edit) = self.visible_relationship(actor, id).await?;
        if !can_edit {
            return Err(GenealogyError::Forbidden("needs the editor role".into()));
        }
        let mut set = ChangeSet::new();
        set.delete(&before);
        let persons = before.persons().map(str::to_owned).to_vec();
        self.commit(
            set,
            "relationship_deleted",
            actor,
            persons,
            vec![before.tree_id],
        )
        .await?;
        Ok(())
    }

    // ---- events

    async fn build_event(
        &self,
        tree: &FamilyTree,
        input: EventInput,
        id: String,
        created_at: i64,
    ) -> Result<Event> {
        if input.participants.is_empty() {
            return Err(invalid("participants", "give at least one participant"));
        }
        let fields: Vec<(String, String)> = input
            .participants
            .iter()
            .enumerate()
            .map(|(i, p)| (format!("participants.{i}.person_id"), p.person_id.clone()))
            .collect();
        let refs: Vec<(&str, String)> = fields
            .iter()
            .map(|(f, id)| (f.as_str(), id.clone()))
            .collect();
        self.persons_in(tree, &refs).await?;
        self.check_citations(
            std::slice::from_ref(&tree.id),
            &input.citation_ids,
            "citation_ids",
        )
        .await?;
        if let EventType::Custom(name) = &input.event_type
            && name.trim().is_empty()
        {
            return Err(invalid("type", "a custom event type needs a name"));
        }
        Ok(Event {
            id,
            tree_id: tree.id.clone(),
            event_type: input.event_type,
            date: parse_date(input.date)?,
            place: parse_place(input.place)?,
            description: input.description.filter(|d| !d.trim().is_empty()),
            participants: input.participants,
            citation_ids: input.citation_ids,
            created_at,
            updated_at: self.now(),
        })
    }

    /// Records an event (editors of its tree).
    pub async fn create_event(&self, actor: &Actor, input: EventInput) -> Result<Event> {
        let tree_id = input
            .tree_id
            .clone()
            .ok_or_else(|| invalid("tree_id", "is required"))?;
        let tree = self.editable_tree(actor, &tree_id).await?;
        let event = self.build_event(&tree, input, new_id(), self.now()).await?;
        let mut set = ChangeSet::new();
        set.put(None, &event);
        let persons = event
            .participants
            .iter()
            .map(|p| p.person_id.clone())
            .collect();
        self.commit(set, "event_created", actor, persons, vec![tree.id])
            .await?;
        Ok(event)
    }

    /// Whether every participant is fully visible: an event shows dates and places, which a
    /// masked living participant's must not.
    async fn event_visible(&self, actor: &Actor, e: &Event) -> Result<bool> {
        let ids: Vec<String> = e.participants.iter().map(|p| p.person_id.clone()).collect();
        let persons: Vec<Person> = self.load_many(&ids).await?;
        let seen = self.see_many(actor, persons, &mut HashMap::new()).await?;
        Ok(seen.len() == ids.len() && seen.iter().all(|s| s.vis == Visibility::Full))
    }

    async fn visible_event(&self, actor: &Actor, id: &str) -> Result<(Event, FamilyTree, bool)> {
        let e: Event = self
            .load(id)
            .await?
            .ok_or(GenealogyError::NotFound("event"))?;
        let (tree, access) = self
            .tree_for(actor, &e.tree_id)
            .await
            .map_err(|_| GenealogyError::NotFound("event"))?;
        if !self.event_visible(actor, &e).await? {
            return Err(GenealogyError::NotFound("event"));
        }
        Ok((e, tree, access.can_edit()))
    }

    /// One event.
    pub async fn get_event(&self, actor: &Actor, id: &str) -> Result<Event> {
        Ok(self.visible_event(actor, id).await?.0)
    }

    /// A person's events, in date order (undated last).
    pub async fn person_events(&self, actor: &Actor, person_id: &str) -> Result<Vec<Event>> {
        let seen = self.see(actor, person_id).await?;
        if seen.vis != Visibility::Full {
            return Ok(Vec::new());
        }
        let (events, _) = self
            .find::<Event>(&Query::by_key(Collection::Events, "person", person_id))
            .await?;
        let mut out = Vec::new();
        for e in events {
            if self.tree_for(actor, &e.tree_id).await.is_ok()
                && self.event_visible(actor, &e).await?
            {
                out.push(e);
            }
        }
        Ok(out)
    }

    /// Replaces an event's type, date, place, description, participants and citations.
    pub async fn replace_event(&self, actor: &Actor, id: &str, input: EventInput) -> Result<Event> {
        let (before, tree, can_edit) = self.visible_event(actor, id).await?;
        if !can_edit {
            return Err(GenealogyError::Forbidden("needs the editor role".into()));
        }
        let after = self
            .build_event(&tree, input, before.id.clone(), before.created_at)
            .await?;
        let mut set = ChangeSet::new();
        set.put(Some(&before), &after);
        let persons = before
            .participants
            .iter()
            .chain(&after.participants)
            .map(|p| p.person_id.clone())
            .collect();
        self.commit(set, "event_updated", actor, persons, vec![tree.id])
            .await?;
        Ok(after)
    }

    /// Deletes an event.
    pub async fn delete_event(&self, actor: &Actor, id: &str) -> Result<()> {
        let (before, tree, can_edit) = self.visible_event(actor, id).await?;
        if !can_edit {
            return Err(GenealogyError::Forbidden("needs the editor role".into()));
        }
        let mut set = ChangeSet::new();
        set.delete(&before);
        let persons = before
            .participants
            .iter()
            .map(|p| p.person_id.clone())
            .collect();
        self.commit(set, "event_deleted", actor, persons, vec![tree.id])
            .await?;
        Ok(())
    }
}

fn parents_biological(rels: &[Relationship]) -> usize {
    rels.iter()
        .filter(|r| {
            matches!(
                r.kind,
                RelationshipKind::ParentChild {
                    kind: ParentKind::Biological,
                    ..
                }
            )
        })
        .count()
}
