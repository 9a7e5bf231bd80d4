//! Persons: create, read (masked as the policy says), change, delete, link to trees, search.

use std::collections::{BTreeMap, HashMap};

use dzinza_gedcom::date::GenDate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    ChangeSet, Genealogy, GenealogyError, PageRequest, Paged, Result, invalid, unencodable,
};
use crate::model::{
    Collection, Event, EventType, ExternalId, FamilyTree, Millis, NAME_PREFIX_CHARS, Name, Person,
    PersonPrivacy, Place, Relationship, Sex, VitalEvent, Vitals, fold, new_id,
};
use crate::policy::{self, Actor, Visibility, tree_access};
use crate::store::{Order, Query, Select};

/// People born longer ago than this, with no death recorded, are presumed dead.
pub const LIVING_YEARS: i64 = 110;

/// Creating a person.
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPerson {
    /// At least one name.
    pub names: Vec<Name>,
    /// Sex.
    #[serde(default)]
    pub sex: Option<Sex>,
    /// Living, when known; otherwise inferred.
    #[serde(default)]
    pub living: Option<bool>,
    /// Privacy.
    #[serde(default)]
    pub privacy: Option<PersonPrivacy>,
    /// Notes.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Tags.
    #[serde(default)]
    pub tags: Vec<String>,
    /// External ids.
    #[serde(default)]
    pub external_ids: Vec<ExternalId>,
    /// Citations.
    #[serde(default)]
    pub citation_ids: Vec<String>,
    /// Extra attributes.
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// Changing a person: absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PersonPatch {
    /// Names (replaces all).
    pub names: Option<Vec<Name>>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Living: `true`/`false` states it; send `"living": null` via `clear_living` to infer.
    pub living: Option<bool>,
    /// Go back to inferring the living flag.
    #[serde(default)]
    pub clear_living: bool,
    /// Privacy.
    pub privacy: Option<PersonPrivacy>,
    /// Notes (replaces all).
    pub notes: Option<Vec<String>>,
    /// Tags (replaces all).
    pub tags: Option<Vec<String>>,
    /// External ids (replaces all).
    pub external_ids: Option<Vec<ExternalId>>,
    /// Citations (replaces all).
    pub citation_ids: Option<Vec<String>>,
    /// Attributes (replaces all).
    pub attributes: Option<BTreeMap<String, String>>,
}

/// A birth or death as shown with a person.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Vital {
    /// The event.
    pub event_id: String,
    /// When.
    #[schema(value_type = Option<Object>)]
    pub date: Option<GenDate>,
    /// Where.
    pub place: Option<Place>,
}

/// A person as the caller may see them.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PersonView {
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
    /// The stated living flag, if any.
    pub living_stated: Option<bool>,
    /// Privacy.
    pub privacy: PersonPrivacy,
    /// Notes.
    pub notes: Vec<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// External ids.
    pub external_ids: Vec<ExternalId>,
    /// Citations.
    pub citation_ids: Vec<String>,
    /// Attributes.
    pub attributes: BTreeMap<String, String>,
    /// Birth (or baptism when no birth is recorded).
    pub birth: Option<Vital>,
    /// Death (or burial when no death is recorded).
    pub death: Option<Vital>,
    /// Whether details are withheld (living person in a tree the caller does not belong to).
    pub masked: bool,
    /// Created.
    pub created_at: Millis,
    /// Last changed.
    pub updated_at: Millis,
}

/// Sort orders of a person listing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PersonSort {
    /// Surname, then given names.
    #[default]
    Name,
    /// Reverse name order.
    NameDesc,
    /// Most recently changed first.
    Updated,
}

/// Filters of a person listing.
#[derive(Debug, Clone, Default)]
pub struct PersonFilter {
    /// Name prefix (any given name, surname, nickname or full name).
    pub name: Option<String>,
    /// Exact surname.
    pub surname: Option<String>,
    /// Sex.
    pub sex: Option<Sex>,
    /// Tag.
    pub tag: Option<String>,
    /// Order.
    pub sort: PersonSort,
}

/// The starting set and narrowing of persons with a name token starting with `prefix` (folded)
/// among `trees` (`("tree" | "open_tree", tree id)` pairs). A prefix of up to
/// [`NAME_PREFIX_CHARS`] characters selects the `tree_name` keys, one per person, in name
/// order, so the page and the total are plain index ranges; outsiders (`open_tree`) are further
/// narrowed to the tree's non-private persons. Longer prefixes match few tokens and select the
/// `name` keys directly.
fn name_select(
    prefix: String,
    trees: &[(String, String)],
) -> (Select, Option<Vec<(String, String)>>) {
    if prefix.chars().count() <= NAME_PREFIX_CHARS {
        let select = Select::Any(
            trees
                .iter()
                .map(|(_, t)| ("tree_name".to_owned(), super::codec::tree_name(t, &prefix)))
                .collect(),
        );
        let open: Vec<(String, String)> = trees
            .iter()
            .filter(|(key, _)| key != "tree")
            .cloned()
            .collect();
        // Only outsiders need the `open_tree` check; a member's `tree` key is implied by
        // `tree_name`. Mixed lists do not occur (an outsider searches one tree).
        (select, (!open.is_empty()).then_some(open))
    } else {
        (
            Select::Prefix {
                key: "name".into(),
                prefix,
            },
            Some(trees.to_vec()),
        )
    }
}

/// Julian Day Number of the Unix epoch.
const JDN_UNIX_EPOCH: i64 = 2_440_588;

/// Whether a person is living: stated, or no death-like event and born less than
/// [`LIVING_YEARS`] ago. With no birth date either, the person counts as living: masking someone
/// long dead is a smaller harm than exposing someone alive. `vitals` are the person's own
/// ([`VitalEvent::of`]).
pub fn is_living(person: &Person, vitals: &[VitalEvent], now: Millis) -> bool {
    living_as_stated(person.living, vitals, now)
}

/// [`is_living`] from the person's stated living flag (`stated`).
pub fn living_as_stated(stated: Option<bool>, vitals: &[VitalEvent], now: Millis) -> bool {
    if let Some(stated) = stated {
        return stated;
    }
    if vitals.iter().any(|e| e.event_type.implies_death()) {
        return false;
    }
    let born = vitals
        .iter()
        .filter(|e| matches!(e.event_type, EventType::Birth | EventType::Baptism))
        // A kept date that no longer decodes counts as none (the person may then count as
        // living: masking is the smaller harm).
        .filter_map(|e| e.date.as_ref()?.value().ok())
        .filter_map(|d| {
            let (a, b) = d.range();
            b.or(a)
        })
        .min();
    let today = now.div_euclid(86_400_000) + JDN_UNIX_EPOCH;
    let limit = today - LIVING_YEARS * 36_525 / 100;
    born.is_none_or(|jdn| jdn > limit)
}

/// What a masked person shows as their names.
pub(super) fn masked_names() -> Vec<Name> {
    vec![Name {
        given: "Living".into(),
        ..Name::default()
    }]
}

/// A person's birth (baptism when no birth is recorded) and death (burial likewise), as views
/// show them.
pub(super) fn birth_and_death(vitals: &[VitalEvent]) -> (Option<Vital>, Option<Vital>) {
    let (birth, death) = birth_and_death_events(vitals);
    // A kept date or place that no longer decodes is left out rather than failing the view.
    let shown = |e: &VitalEvent| Vital {
        event_id: e.event_id.clone(),
        date: e.date.as_ref().and_then(|d| d.value().ok()),
        place: e.place.as_ref().and_then(|p| p.value().ok()),
    };
    (birth.map(shown), death.map(shown))
}

/// The events [`birth_and_death`] shows.
pub(super) fn birth_and_death_events(
    vitals: &[VitalEvent],
) -> (Option<&VitalEvent>, Option<&VitalEvent>) {
    (
        vital(vitals, [EventType::Birth, EventType::Baptism]),
        vital(vitals, [EventType::Death, EventType::Burial]),
    )
}

fn vital(vitals: &[VitalEvent], types: [EventType; 2]) -> Option<&VitalEvent> {
    let [first, second] = types;
    let pick = |t: &EventType| {
        vitals
            .iter()
            .filter(|e| &e.event_type == t)
            // Ties (same date) go to the lower id, whatever order the events came in.
            .min_by(|a, b| {
                let date = |e: &VitalEvent| e.date.as_ref().and_then(|d| d.value().ok());
                date(a)
                    .cmp(&date(b))
                    .then_with(|| a.event_id.cmp(&b.event_id))
            })
    };
    pick(&first).or_else(|| pick(&second))
}

/// Renders a person for a caller with visibility `vis` (never `Hidden`).
pub fn render(person: &Person, vitals: &[VitalEvent], living: bool, vis: Visibility) -> PersonView {
    let masked = vis != Visibility::Full;
    if masked {
        return PersonView {
            id: person.id.clone(),
            tree_ids: person.tree_ids.clone(),
            names: masked_names(),
            sex: person.sex,
            living: true,
            living_stated: None,
            privacy: person.privacy,
            notes: vec![],
            tags: vec![],
            external_ids: vec![],
            citation_ids: vec![],
            attributes: BTreeMap::new(),
            birth: None,
            death: None,
            masked: true,
            created_at: person.created_at,
            updated_at: person.updated_at,
        };
    }
    let (birth, death) = birth_and_death(vitals);
    PersonView {
        id: person.id.clone(),
        tree_ids: person.tree_ids.clone(),
        names: person.names.clone(),
        sex: person.sex,
        living,
        living_stated: person.living,
        privacy: person.privacy,
        notes: person.notes.clone(),
        tags: person.tags.clone(),
        external_ids: person.external_ids.clone(),
        citation_ids: person.citation_ids.clone(),
        attributes: person.attributes.clone(),
        birth,
        death,
        masked: false,
        created_at: person.created_at,
        updated_at: person.updated_at,
    }
}

pub(super) fn check_names(names: &[Name]) -> Result<Vec<Name>> {
    if names.is_empty() {
        return Err(invalid("names", "give at least one name"));
    }
    let mut out = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        let mut n = n.clone();
        n.given = n.given.trim().to_owned();
        n.surname = n.surname.trim().to_owned();
        if n.given.is_empty() && n.surname.is_empty() {
            return Err(invalid(
                &format!("names.{i}.given"),
                "a name needs a given name or a surname",
            ));
        }
        if n.given.chars().count() > 200 || n.surname.chars().count() > 200 {
            return Err(invalid(&format!("names.{i}"), "at most 200 characters"));
        }
        out.push(n);
    }
    Ok(out)
}

pub(super) fn clean_list(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = items
        .into_iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .collect();
    out.dedup();
    out
}

/// A person with what deciding on them needs.
pub(crate) struct Seen {
    pub person: Person,
    /// Every event they take part in: only from [`Genealogy::see`], empty in lists.
    pub events: Vec<Event>,
    /// Their vital events.
    pub vitals: Vec<VitalEvent>,
    pub trees: Vec<FamilyTree>,
    pub living: bool,
    pub vis: Visibility,
}

impl Seen {
    pub(crate) fn view(&self) -> PersonView {
        render(&self.person, &self.vitals, self.living, self.vis)
    }
}

impl Genealogy {
    /// Loads persons' vital events and trees and decides what the caller sees of each.
    pub(crate) async fn see_many(
        &self,
        actor: &Actor,
        persons: Vec<Person>,
        cache: &mut HashMap<String, FamilyTree>,
    ) -> Result<Vec<Seen>> {
        self.judge(actor, persons, cache, false).await
    }

    /// [`Genealogy::see_many`], with every event of each person when `all_events` (else only
    /// their stored [`Vitals`], falling back to the events for persons that have none yet).
    async fn judge(
        &self,
        actor: &Actor,
        persons: Vec<Person>,
        cache: &mut HashMap<String, FamilyTree>,
        all_events: bool,
    ) -> Result<Vec<Seen>> {
        let ids: Vec<String> = persons.iter().map(|p| p.id.clone()).collect();
        let mut vitals: HashMap<String, Vec<VitalEvent>> = HashMap::new();
        if !all_events {
            vitals.extend(
                self.load_many::<Vitals>(&ids)
                    .await?
                    .into_iter()
                    .map(|v| (v.id, v.events)),
            );
        }
        let missing: Vec<String> = ids
            .iter()
            .filter(|id| !vitals.contains_key(*id))
            .cloned()
            .collect();
        let (events, _) = self
            .find::<Event>(&Query::by_keys(Collection::Events, "person", &missing))
            .await?;
        let mut tree_ids: Vec<String> = persons.iter().flat_map(|p| p.tree_ids.clone()).collect();
        tree_ids.sort();
        tree_ids.dedup();
        self.trees(cache, &tree_ids).await?;
        let now = self.now();
        // Each person's events through an index, not a scan of all events per person (a
        // pedigree page has thousands of each).
        let mut by_person: HashMap<&str, Vec<&Event>> = HashMap::new();
        for e in &events {
            for p in &e.participants {
                let list = by_person.entry(p.person_id.as_str()).or_default();
                if !list.last().is_some_and(|last| std::ptr::eq(*last, e)) {
                    list.push(e);
                }
            }
        }
        persons
            .into_iter()
            .map(|person| {
                let mine: &[&Event] = by_person.get(person.id.as_str()).map_or(&[], Vec::as_slice);
                let vitals = match vitals.remove(&person.id) {
                    Some(v) => v,
                    None => VitalEvent::of(mine.iter().copied(), &person.id)
                        .map_err(|e| unencodable(&person.id, e))?,
                };
                let events = if all_events {
                    mine.iter().map(|e| (*e).clone()).collect()
                } else {
                    Vec::new()
                };
                let trees: Vec<FamilyTree> = person
                    .tree_ids
                    .iter()
                    .filter_map(|t| cache.get(t).cloned())
                    .collect();
                let living = is_living(&person, &vitals, now);
                let vis = policy::person_visibility(&person, living, &trees, actor);
                Ok(Seen {
                    person,
                    events,
                    vitals,
                    trees,
                    living,
                    vis,
                })
            })
            .collect()
    }

    /// One person as the caller sees them; not found when hidden.
    pub(crate) async fn see(&self, actor: &Actor, id: &str) -> Result<Seen> {
        let person: Person = self
            .load(id)
            .await?
            .ok_or(GenealogyError::NotFound("person"))?;
        let seen = self
            .judge(actor, vec![person], &mut HashMap::new(), true)
            .await?
            .pop()
            .ok_or(GenealogyError::NotFound("person"))?;
        if seen.vis == Visibility::Hidden {
            return Err(GenealogyError::NotFound("person"));
        }
        Ok(seen)
    }

    /// A person the caller may change.
    pub(crate) async fn editable_person(&self, actor: &Actor, id: &str) -> Result<Seen> {
        let seen = self.see(actor, id).await?;
        if !policy::can_edit_person(&seen.person, &seen.trees, actor) {
            return Err(GenealogyError::Forbidden(
                "changing this person needs the editor role in one of their trees".into(),
            ));
        }
        Ok(seen)
    }

    /// Adds a person to a tree.
    pub async fn create_person(
        &self,
        actor: &Actor,
        tree_id: &str,
        input: NewPerson,
    ) -> Result<PersonView> {
        let tree = self.editable_tree(actor, tree_id).await?;
        let now = self.now();
        let person = Person {
            id: new_id(),
            tree_ids: vec![tree.id.clone()],
            names: check_names(&input.names)?,
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
        };
        self.check_citations(&person.tree_ids, &person.citation_ids, "citation_ids")
            .await?;
        let mut set = ChangeSet::new();
        set.put(None, &person);
        self.notify_members(
            &mut set,
            &tree,
            actor,
            "person_added",
            format!("{} was added to \"{}\".", person.display_name(), tree.name),
            Some(&person.id),
        );
        self.commit(
            set,
            "person_created",
            actor,
            vec![person.id.clone()],
            vec![tree.id.clone()],
        )
        .await?;
        let living = is_living(&person, &[], now);
        Ok(render(&person, &[], living, Visibility::Full))
    }

    /// One person.
    pub async fn get_person(&self, actor: &Actor, id: &str) -> Result<PersonView> {
        Ok(self.see(actor, id).await?.view())
    }

    /// Changes a person.
    pub async fn update_person(
        &self,
        actor: &Actor,
        id: &str,
        patch: PersonPatch,
    ) -> Result<PersonView> {
        let seen = self.editable_person(actor, id).await?;
        let before = seen.person.clone();
        let mut p = before.clone();
        if let Some(names) = patch.names {
            p.names = check_names(&names)?;
        }
        if let Some(sex) = patch.sex {
            p.sex = sex;
        }
        if patch.clear_living {
            p.living = None;
        }
        if let Some(l) = patch.living {
            p.living = Some(l);
        }
        if let Some(v) = patch.privacy {
            p.privacy = v;
        }
        if let Some(v) = patch.notes {
            p.notes = clean_list(v);
        }
        if let Some(v) = patch.tags {
            p.tags = clean_list(v);
        }
        if let Some(v) = patch.external_ids {
            p.external_ids = v;
        }
        if let Some(v) = patch.citation_ids {
            self.check_citations(&p.tree_ids, &v, "citation_ids")
                .await?;
            p.citation_ids = v;
        }
        if let Some(v) = patch.attributes {
            p.attributes = v;
        }
        p.updated_at = self.now();
        let mut set = ChangeSet::new();
        set.put(Some(&before), &p);
        for tree in &seen.trees {
            self.notify_members(
                &mut set,
                tree,
                actor,
                "person_changed",
                format!("{} was changed in \"{}\".", p.display_name(), tree.name),
                Some(&p.id),
            );
        }
        self.commit(
            set,
            "person_updated",
            actor,
            vec![p.id.clone()],
            p.tree_ids.clone(),
        )
        .await?;
        let living = is_living(&p, &seen.vitals, self.now());
        Ok(render(&p, &seen.vitals, living, Visibility::Full))
    }

    /// Deletes a person with their relationships; events they alone took part in go too, and
    /// they are taken off shared events. Recorded in history, so it can be reverted.
    pub async fn delete_person(&self, actor: &Actor, id: &str) -> Result<()> {
        let seen = self.editable_person(actor, id).await?;
        let mut set = ChangeSet::new();
        let (rels, _) = self
            .find::<Relationship>(&Query::by_key(Collection::Relationships, "person", id))
            .await?;
        let mut persons = vec![id.to_owned()];
        for r in &rels {
            persons.extend(r.persons().iter().map(|p| (*p).to_owned()));
            set.delete(r);
        }
        for e in &seen.events {
            let mut after = e.clone();
            after.participants.retain(|p| p.person_id != id);
            if after.participants.is_empty() {
                set.delete(e);
            } else {
                after.updated_at = self.now();
                set.put(Some(e), &after);
            }
        }
        set.delete(&seen.person);
        for tree in &seen.trees {
            self.notify_members(
                &mut set,
                tree,
                actor,
                "person_deleted",
                format!(
                    "{} was deleted from \"{}\".",
                    seen.person.display_name(),
                    tree.name
                ),
                Some(id),
            );
        }
        self.commit(
            set,
            "person_deleted",
            actor,
            persons,
            seen.person.tree_ids.clone(),
        )
        .await?;
        Ok(())
    }

    /// Lists a tree's persons, paged with the total; outsiders never see private people.
    pub async fn list_persons(
        &self,
        actor: &Actor,
        tree_id: &str,
        filter: PersonFilter,
        page: PageRequest,
    ) -> Result<Paged<PersonView>> {
        let (tree, access) = self.tree_for(actor, tree_id).await?;
        let tree_key = if access.is_member() {
            "tree"
        } else {
            "open_tree"
        };
        let mut q =
            Query::by_key(Collection::Persons, tree_key, &tree.id).page(page.offset, page.limit);
        if let Some(name) = filter.name.as_deref().map(fold).filter(|n| !n.is_empty()) {
            let (select, narrow) = name_select(name, &[(tree_key.to_owned(), tree.id.clone())]);
            q.select = select;
            q.narrow.extend(narrow);
        }
        if let Some(s) = filter
            .surname
            .as_deref()
            .map(fold)
            .filter(|n| !n.is_empty())
        {
            q.narrow.push(vec![("surname".into(), s)]);
        }
        if let Some(t) = filter.tag.as_deref().map(fold).filter(|n| !n.is_empty()) {
            q.narrow.push(vec![("tag".into(), t)]);
        }
        if let Some(sex) = filter.sex {
            q.fields.push(("sex".into(), super::codec::value_of(&sex)));
        }
        q.order = match filter.sort {
            PersonSort::Name => Order::Sort,
            PersonSort::NameDesc => Order::SortDesc,
            PersonSort::Updated => Order::UpdatedDesc,
        };
        let (persons, total) = self.find::<Person>(&q).await?;
        let mut cache = HashMap::from([(tree.id.clone(), tree)]);
        let seen = self.see_many(actor, persons, &mut cache).await?;
        Ok(Paged {
            items: seen
                .iter()
                .filter(|s| s.vis != Visibility::Hidden)
                .map(Seen::view)
                .collect(),
            total,
            offset: page.offset,
            limit: page.limit,
        })
    }

    /// Searches persons by name prefix in one tree, or in every tree the caller belongs to.
    pub async fn search_persons(
        &self,
        actor: &Actor,
        name: &str,
        tree_id: Option<&str>,
        page: PageRequest,
    ) -> Result<Paged<PersonView>> {
        let prefix = fold(name);
        if prefix.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        let narrow = match tree_id {
            Some(t) => {
                let (tree, access) = self.tree_for(actor, t).await?;
                let key = if access.is_member() {
                    "tree"
                } else {
                    "open_tree"
                };
                vec![(key.to_owned(), tree.id)]
            }
            None => {
                let mine = self
                    .list_trees(
                        actor,
                        super::TreeScope::Mine,
                        PageRequest::new(None, Some(200)),
                    )
                    .await?;
                mine.items
                    .into_iter()
                    .map(|t| ("tree".to_owned(), t.tree.id))
                    .collect()
            }
        };
        if narrow.is_empty() {
            return Ok(Paged {
                items: vec![],
                total: 0,
                offset: page.offset,
                limit: page.limit,
            });
        }
        let mut q = Query::by_key(Collection::Persons, "", "").page(page.offset, page.limit);
        let (select, narrow) = name_select(prefix, &narrow);
        q.select = select;
        q.narrow.extend(narrow);
        let (persons, total) = self.find::<Person>(&q).await?;
        let seen = self.see_many(actor, persons, &mut HashMap::new()).await?;
        Ok(Paged {
            items: seen
                .iter()
                .filter(|s| s.vis != Visibility::Hidden)
                .map(Seen::view)
                .collect(),
            total,
            offset: page.offset,
            limit: page.limit,
        })
    }

    /// Adds an existing person to another tree (editor in both).
    pub async fn link_person(
        &self,
        actor: &Actor,
        person_id: &str,
        tree_id: &str,
    ) -> Result<PersonView> {
        let seen = self.editable_person(actor, person_id).await?;
        let tree = self.editable_tree(actor, tree_id).await?;
        if seen.person.tree_ids.contains(&tree.id) {
            return Ok(seen.view());
        }
        let mut p = seen.person.clone();
        p.tree_ids.push(tree.id.clone());
        p.updated_at = self.now();
        let mut set = ChangeSet::new();
        set.put(Some(&seen.person), &p);
        self.commit(
            set,
            "person_linked",
            actor,
            vec![p.id.clone()],
            p.tree_ids.clone(),
        )
        .await?;
        Ok(render(&p, &seen.vitals, seen.living, Visibility::Full))
    }

    /// Takes a person out of a tree (editor there); a person's last tree cannot be unlinked.
    pub async fn unlink_person(&self, actor: &Actor, person_id: &str, tree_id: &str) -> Result<()> {
        let seen = self.see(actor, person_id).await?;
        let tree = self.editable_tree(actor, tree_id).await?;
        if !seen.person.tree_ids.contains(&tree.id) {
            return Err(GenealogyError::NotFound("person in this tree"));
        }
        if seen.person.tree_ids.len() == 1 {
            return Err(GenealogyError::Conflict(
                "this is the person's only tree; delete the person instead".into(),
            ));
        }
        let mut p = seen.person.clone();
        p.tree_ids.retain(|t| t != &tree.id);
        p.updated_at = self.now();
        let mut set = ChangeSet::new();
        set.put(Some(&seen.person), &p);
        self.commit(
            set,
            "person_unlinked",
            actor,
            vec![p.id.clone()],
            seen.person.tree_ids.clone(),
        )
        .await?;
        Ok(())
    }

    /// Whether every citation exists in one of `tree_ids` (422 on `field` otherwise).
    pub(crate) async fn check_citations(
        &self,
        tree_ids: &[String],
        ids: &[String],
        field: &str,
    ) -> Result<()> {
        let found: Vec<crate::model::Citation> = self.load_many(ids).await?;
        for (i, id) in ids.iter().enumerate() {
            if !found
                .iter()
                .any(|c| &c.id == id && tree_ids.contains(&c.tree_id))
            {
                return Err(invalid(
                    &format!("{field}.{i}"),
                    "no such citation in this tree",
                ));
            }
        }
        Ok(())
    }

    /// Whether the caller belongs to (not just reads) one of these trees.
    pub(crate) fn member_of_any(trees: &[FamilyTree], actor: &Actor) -> bool {
        trees.iter().any(|t| tree_access(t, actor).is_member())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]

    use super::*;
    use crate::model::RawJson;

    /// 2026-12-07 in milliseconds since the epoch.
    const NOW: Millis = 1_796_601_600_000;

    fn vital(id: &str, t: EventType, date: Option<&str>) -> VitalEvent {
        VitalEvent {
            event_id: id.into(),
            event_type: t,
            date: date.map(|d| RawJson::new(&GenDate::parse_owned(d.to_owned())).unwrap()),
            place: None,
        }
    }

    #[test]
    fn living_is_inferred_from_the_kept_dates() {
        let young = [vital("b", EventType::Birth, Some("1950"))];
        let old = [vital("b", EventType::Birth, Some("1850"))];
        let dead = [
            vital("b", EventType::Birth, Some("1950")),
            vital("d", EventType::Death, None),
        ];
        assert!(living_as_stated(None, &young, NOW));
        assert!(!living_as_stated(None, &old, NOW));
        assert!(!living_as_stated(None, &dead, NOW));
        assert!(!living_as_stated(Some(false), &young, NOW));
        assert!(living_as_stated(None, &[], NOW));
    }

    #[test]
    fn a_kept_date_that_does_not_decode_counts_as_none() {
        let mut broken = vital("b", EventType::Birth, None);
        broken.date = Some(serde_json::from_str("{\"not\": \"a date\"}").unwrap());
        // No birth date known: counted as living (masked), never shown as a date.
        assert!(living_as_stated(None, std::slice::from_ref(&broken), NOW));
        let (birth, _) = birth_and_death(&[broken]);
        assert!(birth.unwrap().date.is_none());
    }

    #[test]
    fn the_earliest_of_several_births_is_shown() {
        let births = [
            vital("x", EventType::Birth, Some("ABT 1852")),
            vital("y", EventType::Birth, Some("3 MAR 1850")),
            vital("z", EventType::Baptism, Some("1849")),
        ];
        let (birth, death) = birth_and_death(&births);
        assert_eq!(birth.unwrap().event_id, "y");
        assert!(death.is_none());
    }
}
