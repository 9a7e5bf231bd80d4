//! The views a family-tree UI needs: immediate family, pedigree (ancestors and descendants)
//! and the relationship between two people.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use utoipa::ToSchema;

use super::cache::ReadAt;
use super::cards::{IdSet, Ids, KeptVitals, PersonSummary, SharedSummary};
use super::persons::{PersonView, Seen};
use super::{Genealogy, Result, Stored as _, invalid};
use crate::kinship::{self, FamilyGraph, StepKind};
use crate::model::{Collection, ParentKind, Person, Relationship, RelationshipKind};
use crate::policy::{Actor, Visibility};
use crate::store::Query;

/// Largest `generations` of a pedigree request.
pub const MAX_PEDIGREE: u32 = 25;

/// A relative in a family view.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FamilyMember {
    /// The relative.
    pub person: PersonView,
    /// The relationship linking them (for siblings: the link to a shared parent).
    pub relationship_id: String,
    /// Kind of link: `biological`, `adopted`, `married`, ...
    pub kind: String,
    /// For siblings: whether they share only some parents.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub half: Option<bool>,
}

/// Parents, partners, children and siblings of one person.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Family {
    /// The person.
    pub person: PersonView,
    /// Parents.
    pub parents: Vec<FamilyMember>,
    /// Partners.
    pub partners: Vec<FamilyMember>,
    /// Children.
    pub children: Vec<FamilyMember>,
    /// Siblings (full and half).
    pub siblings: Vec<FamilyMember>,
}

/// One person in a pedigree.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AncestorNode {
    /// The person, summarised (shared with the cache: the summary of someone shown in full is
    /// made once per kept document).
    #[schema(value_type = PersonSummary)]
    pub person: Arc<SharedSummary>,
    /// Generations from the root (parents are 1).
    pub generation: u32,
    /// The person one generation nearer the root (the child for ancestors, the parent for
    /// descendants).
    pub via: String,
    /// Kind of the parent–child link.
    pub kind: String,
}

/// A pedigree.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Pedigree {
    /// The root person.
    pub root: PersonView,
    /// Everyone reached, generation by generation.
    pub nodes: Vec<AncestorNode>,
}

/// A step of a relationship path as the caller may see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct PathStep {
    /// The person (absent for people the caller may not see).
    pub person_id: Option<String>,
    /// Their name ("Living" when masked, "Private" when hidden).
    pub name: String,
    /// How the step was taken.
    pub step: StepKind,
}

/// How two people are related.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct KinshipView {
    /// What the other person is to this one, e.g. "second cousin once removed".
    pub description: String,
    /// From this person to the other.
    pub path: Vec<PathStep>,
}

/// One parent–child link a pedigree walk follows, from `via` to `to`.
struct Step {
    relationship_id: String,
    to: String,
    via: String,
    kind: ParentKind,
    sort: String,
}

/// What a pedigree walk reached: the links by the person they lead from, everyone reached
/// but the root, and their vitals where stored.
struct Walk {
    links: Ids<Vec<Step>>,
    reached: Vec<String>,
    vitals: Ids<KeptVitals>,
}

/// The steps parent–child relationships make, upwards (child to parent) or down.
fn step_of(rels: &[Relationship], up: bool) -> impl Iterator<Item = Step> + '_ {
    rels.iter().filter_map(move |r| match &r.kind {
        RelationshipKind::ParentChild {
            parent,
            child,
            kind,
        } => {
            let (to, via) = if up { (parent, child) } else { (child, parent) };
            Some(Step {
                relationship_id: r.id.clone(),
                to: to.clone(),
                via: via.clone(),
                kind: *kind,
                sort: r.sort(),
            })
        }
        RelationshipKind::Partnership { .. } => None,
    })
}

fn kind_name<T: Serialize>(k: &T) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

impl Genealogy {
    async fn rels(&self, key: &str, ids: &[String]) -> Result<Vec<Relationship>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .find::<Relationship>(&Query::by_keys(Collection::Relationships, key, ids))
            .await?
            .0)
    }

    async fn seen_by_id(&self, actor: &Actor, ids: Vec<String>) -> Result<HashMap<String, Seen>> {
        let persons: Vec<Person> = self.load_many(&ids).await?;
        Ok(self
            .see_many(actor, persons, &mut HashMap::new())
            .await?
            .into_iter()
            .filter(|s| s.vis != Visibility::Hidden)
            .map(|s| (s.person.id.clone(), s))
            .collect())
    }

    /// Parents, partners, children and siblings in one call.
    pub async fn family(&self, actor: &Actor, id: &str) -> Result<Family> {
        let me = self.see(actor, id).await?;
        let mine = self.rels("person", &[id.to_owned()]).await?;
        let mut parents = Vec::new();
        let mut children = Vec::new();
        let mut partners = Vec::new();
        for r in &mine {
            match &r.kind {
                RelationshipKind::ParentChild {
                    parent,
                    child,
                    kind,
                } if child == id => parents.push((parent.clone(), r.id.clone(), kind_name(kind))),
                RelationshipKind::ParentChild { child, kind, .. } => {
                    children.push((child.clone(), r.id.clone(), kind_name(kind)));
                }
                RelationshipKind::Partnership { a, b, kind } => {
                    let other = if a == id { b } else { a };
                    partners.push((other.clone(), r.id.clone(), kind_name(kind)));
                }
            }
        }
        let parent_ids: Vec<String> = parents.iter().map(|p| p.0.clone()).collect();
        let my_parents: HashSet<&String> = parent_ids.iter().collect();
        let via_parents = self.rels("parent", &parent_ids).await?;
        let mut sibling_links: HashMap<String, (String, String)> = HashMap::new();
        for r in &via_parents {
            if let RelationshipKind::ParentChild { child, kind, .. } = &r.kind
                && child != id
            {
                sibling_links
                    .entry(child.clone())
                    .or_insert((r.id.clone(), kind_name(kind)));
            }
        }
        let sibling_ids: Vec<String> = sibling_links.keys().cloned().collect();
        let sibling_parents = self.rels("child", &sibling_ids).await?;
        let mut all: Vec<String> = parent_ids.clone();
        all.extend(children.iter().map(|c| c.0.clone()));
        all.extend(partners.iter().map(|c| c.0.clone()));
        all.extend(sibling_ids.iter().cloned());
        let seen = self.seen_by_id(actor, all).await?;
        let member = |(pid, rid, kind): &(String, String, String), half: Option<bool>| {
            seen.get(pid).map(|s| FamilyMember {
                person: s.view(),
                relationship_id: rid.clone(),
                kind: kind.clone(),
                half,
            })
        };
        let mut siblings: Vec<FamilyMember> = sibling_links
            .iter()
            .filter_map(|(sid, (rid, kind))| {
                let theirs: HashSet<&String> = sibling_parents
                    .iter()
                    .filter_map(|r| match &r.kind {
                        RelationshipKind::ParentChild { parent, child, .. } if child == sid => {
                            Some(parent)
                        }
                        _ => None,
                    })
                    .collect();
                member(
                    &(sid.clone(), rid.clone(), kind.clone()),
                    Some(theirs != my_parents),
                )
            })
            .collect();
        siblings.sort_by(|a, b| a.person.id.cmp(&b.person.id));
        Ok(Family {
            person: me.view(),
            parents: parents.iter().filter_map(|p| member(p, None)).collect(),
            partners: partners.iter().filter_map(|p| member(p, None)).collect(),
            children: children.iter().filter_map(|p| member(p, None)).collect(),
            siblings,
        })
    }

    /// `generations` of ancestors (`up`) or descendants.
    pub async fn pedigree(
        &self,
        actor: &Actor,
        id: &str,
        generations: u32,
        up: bool,
    ) -> Result<Pedigree> {
        if generations == 0 || generations > MAX_PEDIGREE {
            return Err(invalid(
                "generations",
                &format!("must be between 1 and {MAX_PEDIGREE}"),
            ));
        }
        // The root is judged with every event (as `get_person`) while the walk runs; a root
        // the caller may not see ends both.
        let (root, (walked, at)) = tokio::try_join!(self.see(actor, id), async {
            let at = self.vitals_now().await;
            Ok((self.walk(id, generations, up, at).await?, at))
        })?;
        let Walk {
            links,
            reached,
            vitals,
        } = walked;
        let people = self.cards(&reached, vitals, at).await?;
        let mut seen = self.summarize(actor, people).await?;
        let mut nodes = Vec::new();
        let mut visited = IdSet::default();
        visited.insert(id.to_owned());
        let mut frontier = vec![id.to_owned()];
        for generation in 1..=generations {
            // This generation's links in the order one query for the frontier returns them.
            let mut steps: Vec<&Step> = frontier
                .iter()
                .filter_map(|p| links.get(p))
                .flatten()
                .collect();
            steps.sort_by(|a, b| a.sort.cmp(&b.sort));
            steps.dedup_by(|a, b| a.relationship_id == b.relationship_id);
            let mut next_frontier = Vec::new();
            for step in steps {
                if !visited.insert(step.to.clone()) {
                    continue;
                }
                // People the caller may not see end the line: going through them would
                // reveal who they connect.
                // Each person is reached once (`visited`): their summary moves into the node.
                if let Some(s) = seen.remove(&step.to) {
                    nodes.push(AncestorNode {
                        person: s,
                        generation,
                        via: step.via.clone(),
                        kind: step.kind.as_str().to_owned(),
                    });
                    next_frontier.push(step.to.clone());
                }
            }
            frontier = next_frontier;
            if frontier.is_empty() {
                break;
            }
        }
        Ok(Pedigree {
            root: root.view(),
            nodes,
        })
    }

    /// Everyone `generations` up (or down) from `id` regardless of visibility, with the links
    /// followed and each person's vitals (not the root's).
    ///
    /// The walk reads links alone first and everyone is judged in one batch afterwards: a load
    /// and judgement per generation was most of a deep pedigree's time. Each person's vitals
    /// are one read by id and keep what the judging and the node need (their card and vital
    /// events) and, going up, their parent links; going down, and for persons whose vitals do
    /// not keep links yet, the links come from the relationships, read while the vitals are.
    async fn walk(&self, id: &str, generations: u32, up: bool, at: ReadAt) -> Result<Walk> {
        let mut walk = Walk {
            links: Ids::default(),
            reached: Vec::new(),
            vitals: Ids::default(),
        };
        let mut reached = IdSet::default();
        reached.insert(id.to_owned());
        let mut frontier = vec![id.to_owned()];
        for generation in 0..=generations {
            let last = generation == generations;
            let (read, down) = tokio::try_join!(self.vitals_of(&frontier, at), async {
                match up || last {
                    true => Ok(Vec::new()),
                    false => self.rels("parent", &frontier).await,
                }
            })?;
            let mut steps = Vec::new();
            if !last && up {
                let linked: HashSet<&str> = read
                    .iter()
                    .filter(|v| v.doc.parents.is_some())
                    .map(|v| v.doc.id.as_str())
                    .collect();
                let unlinked: Vec<String> = frontier
                    .iter()
                    .filter(|p| !linked.contains(p.as_str()))
                    .cloned()
                    .collect();
                for v in read.iter().map(|k| &k.doc) {
                    steps.extend(v.parents.iter().flatten().map(|l| Step {
                        relationship_id: l.relationship_id.clone(),
                        to: l.parent.clone(),
                        via: v.id.clone(),
                        kind: l.kind,
                        sort: l.sort.clone(),
                    }));
                }
                steps.extend(step_of(&self.rels("child", &unlinked).await?, up));
            }
            steps.extend(step_of(&down, up));
            if generation > 0 {
                walk.vitals
                    .extend(read.into_iter().map(|v| (v.doc.id.clone(), v)));
            }
            let mut next = Vec::new();
            for step in steps {
                if reached.insert(step.to.clone()) {
                    next.push(step.to.clone());
                }
                walk.links.entry(step.via.clone()).or_default().push(step);
            }
            if next.is_empty() {
                break;
            }
            walk.reached.extend(next.iter().cloned());
            frontier = next;
        }
        Ok(walk)
    }

    async fn lineage_up(
        &self,
        graph: &mut FamilyGraph,
        starts: Vec<String>,
        ids: &mut HashSet<String>,
    ) -> Result<()> {
        let mut frontier = starts;
        ids.extend(frontier.iter().cloned());
        for _ in 0..kinship::MAX_GENERATIONS {
            if frontier.is_empty() {
                break;
            }
            let rels = self.rels("child", &frontier).await?;
            let mut next = Vec::new();
            for r in &rels {
                if let RelationshipKind::ParentChild {
                    parent,
                    child,
                    kind,
                } = &r.kind
                    && kind.is_lineage()
                {
                    graph.parent(parent, child);
                    if ids.insert(parent.clone()) {
                        next.push(parent.clone());
                    }
                }
            }
            frontier = next;
        }
        Ok(())
    }

    /// What `other` is to `id`, with the path between them.
    pub async fn relationship_to(
        &self,
        actor: &Actor,
        id: &str,
        other: &str,
    ) -> Result<KinshipView> {
        self.see(actor, id).await?;
        self.see(actor, other).await?;
        let mut graph = FamilyGraph::new();
        let mut ids = HashSet::new();
        let ends = vec![id.to_owned(), other.to_owned()];
        let mut partner_ids = Vec::new();
        for r in self.rels("partner", &ends).await? {
            if let RelationshipKind::Partnership { a, b, .. } = &r.kind {
                graph.partners(a, b);
                partner_ids.push(a.clone());
                partner_ids.push(b.clone());
            }
        }
        let mut starts = ends.clone();
        starts.extend(partner_ids);
        starts.sort();
        starts.dedup();
        self.lineage_up(&mut graph, starts, &mut ids).await?;
        let persons: Vec<Person> = self
            .load_many(&ids.iter().cloned().collect::<Vec<_>>())
            .await?;
        for p in &persons {
            graph.person(&p.id, p.sex);
        }
        let k = kinship::relationship(&graph, id, other);
        let on_path: Vec<String> = k.path.iter().map(|s| s.person_id.clone()).collect();
        let seen: HashMap<String, Seen> = self
            .see_many(
                actor,
                persons
                    .into_iter()
                    .filter(|p| on_path.contains(&p.id))
                    .collect(),
                &mut HashMap::new(),
            )
            .await?
            .into_iter()
            .map(|s| (s.person.id.clone(), s))
            .collect();
        let path = k
            .path
            .into_iter()
            .map(|s| match seen.get(&s.person_id) {
                Some(v) if v.vis == Visibility::Full => PathStep {
                    name: v.person.display_name(),
                    person_id: Some(s.person_id),
                    step: s.step,
                },
                Some(v) if v.vis == Visibility::Masked => PathStep {
                    name: "Living".into(),
                    person_id: Some(s.person_id),
                    step: s.step,
                },
                _ => PathStep {
                    name: "Private".into(),
                    person_id: None,
                    step: s.step,
                },
            })
            .collect();
        Ok(KinshipView {
            description: k.description,
            path,
        })
    }
}
