//! The relationship calculator: how one person is related to another, in words and as a path.
//!
//! Blood relationships come from the nearest common ancestor (generations up from the first
//! person, down to the second); in-laws from one partnership at either end. Step and foster
//! parent links are not descent, so they make no cousins (they make step-parents through the
//! partnership instead).

use std::collections::{HashMap, HashSet, VecDeque};

use serde::Serialize;
use utoipa::ToSchema;

use crate::model::Sex;

/// How far up the calculator looks for a common ancestor.
pub const MAX_GENERATIONS: usize = 16;

/// The part of a family the calculator needs: lineage parents, partners, sex.
#[derive(Debug, Default, Clone)]
pub struct FamilyGraph {
    parents: HashMap<String, Vec<String>>,
    partners: HashMap<String, Vec<String>>,
    sex: HashMap<String, Sex>,
}

impl FamilyGraph {
    /// An empty graph.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a person's sex.
    pub fn person(&mut self, id: &str, sex: Sex) {
        self.sex.insert(id.to_owned(), sex);
    }

    /// Records that `parent` is a (lineage) parent of `child`.
    pub fn parent(&mut self, parent: &str, child: &str) {
        let list = self.parents.entry(child.to_owned()).or_default();
        if !list.iter().any(|p| p == parent) {
            list.push(parent.to_owned());
        }
    }

    /// Records a partnership.
    pub fn partners(&mut self, a: &str, b: &str) {
        for (x, y) in [(a, b), (b, a)] {
            let list = self.partners.entry(x.to_owned()).or_default();
            if !list.iter().any(|p| p == y) {
                list.push(y.to_owned());
            }
        }
    }

    /// The person's recorded parents.
    pub fn parents_of(&self, id: &str) -> &[String] {
        self.parents.get(id).map_or(&[], Vec::as_slice)
    }

    /// The person's partners.
    pub fn partners_of(&self, id: &str) -> &[String] {
        self.partners.get(id).map_or(&[], Vec::as_slice)
    }

    fn sex_of(&self, id: &str) -> Sex {
        self.sex.get(id).copied().unwrap_or_default()
    }

    /// Every ancestor within `MAX_GENERATIONS`, with its distance and the next person towards
    /// `start` (for rebuilding the path).
    fn ancestors(&self, start: &str) -> HashMap<String, (usize, Option<String>)> {
        let mut seen = HashMap::from([(start.to_owned(), (0, None))]);
        let mut queue = VecDeque::from([start.to_owned()]);
        while let Some(id) = queue.pop_front() {
            let depth = seen.get(&id).map_or(0, |(d, _)| *d);
            if depth >= MAX_GENERATIONS {
                continue;
            }
            for p in self.parents_of(&id) {
                if !seen.contains_key(p) {
                    seen.insert(p.clone(), (depth + 1, Some(id.clone())));
                    queue.push_back(p.clone());
                }
            }
        }
        seen
    }
}

/// One step along a relationship path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// The person the path starts from.
    Start,
    /// Up to a parent of the previous person.
    Parent,
    /// Down to a child of the previous person.
    Child,
    /// Across to a partner of the previous person.
    Partner,
}

/// A person on the path and how it was reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Step {
    /// The person.
    pub person_id: String,
    /// How.
    pub step: StepKind,
}

/// The answer: what the second person is to the first, and the path between them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Kinship {
    /// E.g. "second cousin once removed", "great-grandmother", "no relation".
    pub description: String,
    /// From the first person to the second; empty when unrelated.
    pub path: Vec<Step>,
    /// Nearest common ancestors (blood relationships only).
    pub common_ancestors: Vec<String>,
}

struct Blood {
    up: usize,
    down: usize,
    half: bool,
    path: Vec<Step>,
    common: Vec<String>,
}

fn blood(g: &FamilyGraph, a: &str, b: &str) -> Option<Blood> {
    let from_a = g.ancestors(a);
    let from_b = g.ancestors(b);
    let best = from_a
        .iter()
        .filter_map(|(id, (da, _))| from_b.get(id).map(|(db, _)| (da + db, *da, id)))
        .min_by(|x, y| (x.0, x.1, x.2).cmp(&(y.0, y.1, y.2)))?;
    let (_, up, lca) = best;
    let down = from_b.get(lca).map_or(0, |(d, _)| *d);
    let mut common: Vec<String> = from_a
        .iter()
        .filter(|(id, (da, _))| *da == up && from_b.get(*id).is_some_and(|(db, _)| *db == down))
        .map(|(id, _)| id.clone())
        .collect();
    common.sort();
    // Path: a up to the ancestor, then down to b.
    let mut up_chain = vec![lca.clone()];
    while let Some((_, Some(next))) = from_a.get(up_chain.last().map_or("", String::as_str)) {
        up_chain.push(next.clone());
    }
    up_chain.reverse(); // a ... lca
    let mut down_chain = Vec::new();
    let mut cur = from_b.get(lca).and_then(|(_, n)| n.clone());
    while let Some(id) = cur {
        cur = from_b.get(&id).and_then(|(_, n)| n.clone());
        down_chain.push(id);
    } // child of lca ... b
    let mut path: Vec<Step> = up_chain
        .iter()
        .enumerate()
        .map(|(i, id)| Step {
            person_id: id.clone(),
            step: if i == 0 {
                StepKind::Start
            } else {
                StepKind::Parent
            },
        })
        .collect();
    path.extend(down_chain.iter().map(|id| Step {
        person_id: id.clone(),
        step: StepKind::Child,
    }));
    // Half relationships: the two children of the common ancestor on each side have both
    // parents recorded and do not share them all.
    let half = up >= 1 && down >= 1 && {
        let ca = &up_chain[up_chain.len().saturating_sub(2)];
        let cb = &down_chain[0];
        let pa: HashSet<&String> = g.parents_of(ca).iter().collect();
        let pb: HashSet<&String> = g.parents_of(cb).iter().collect();
        pa.len() >= 2 && pb.len() >= 2 && pa != pb
    };
    Some(Blood {
        up,
        down,
        half,
        path,
        common,
    })
}

fn gendered(sex: Sex, male: &str, female: &str, neutral: &str) -> String {
    match sex {
        Sex::Male => male,
        Sex::Female => female,
        Sex::Other | Sex::Unknown => neutral,
    }
    .to_owned()
}

fn ordinal(n: usize) -> String {
    const WORDS: [&str; 10] = [
        "first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth", "ninth",
        "tenth",
    ];
    match WORDS.get(n.wrapping_sub(1)) {
        Some(w) => (*w).to_owned(),
        None => format!("{n}th"),
    }
}

fn short_ordinal(n: usize) -> String {
    let suffix = match (n % 10, n % 100) {
        (_, 11..=13) => "th",
        (1, _) => "st",
        (2, _) => "nd",
        (3, _) => "rd",
        _ => "th",
    };
    format!("{n}{suffix}")
}

/// "", "great-", "great-great-", "3rd great-", ...
fn greats(n: usize) -> String {
    match n {
        0 => String::new(),
        1 => "great-".into(),
        2 => "great-great-".into(),
        n => format!("{} great-", short_ordinal(n)),
    }
}

fn times(n: usize) -> String {
    match n {
        1 => "once".into(),
        2 => "twice".into(),
        3 => "thrice".into(),
        n => format!("{n} times"),
    }
}

/// The word for someone `up` generations above the nearest common ancestor from the first
/// person and `down` below it towards them, of sex `sex`.
pub fn describe(up: usize, down: usize, half: bool, sex: Sex) -> String {
    let h = if half { "half-" } else { "" };
    match (up, down) {
        (0, 0) => "self".into(),
        (0, 1) => gendered(sex, "son", "daughter", "child"),
        (0, d) => format!(
            "{}{}",
            greats(d - 2),
            gendered(sex, "grandson", "granddaughter", "grandchild")
        ),
        (1, 0) => gendered(sex, "father", "mother", "parent"),
        (u, 0) => format!(
            "{}{}",
            greats(u - 2),
            gendered(sex, "grandfather", "grandmother", "grandparent")
        ),
        (1, 1) => format!("{h}{}", gendered(sex, "brother", "sister", "sibling")),
        (1, d) => format!(
            "{h}{}{}",
            greats(d - 2),
            gendered(sex, "nephew", "niece", "nibling")
        ),
        (u, 1) => format!(
            "{h}{}{}",
            greats(u - 2),
            gendered(sex, "uncle", "aunt", "pibling")
        ),
        (u, d) => {
            let degree = u.min(d) - 1;
            let removed = u.abs_diff(d);
            let half = if half { "half " } else { "" };
            let base = format!("{half}{} cousin", ordinal(degree));
            if removed == 0 {
                base
            } else {
                format!("{base} {} removed", times(removed))
            }
        }
    }
}

fn possessive(sex: Sex) -> String {
    gendered(sex, "husband's", "wife's", "partner's")
}

/// What `b` is to `a` in `graph`.
pub fn relationship(graph: &FamilyGraph, a: &str, b: &str) -> Kinship {
    if let Some(bl) = blood(graph, a, b) {
        return Kinship {
            description: describe(bl.up, bl.down, bl.half, graph.sex_of(b)),
            path: bl.path,
            common_ancestors: bl.common,
        };
    }
    let sex_b = graph.sex_of(b);
    if graph.partners_of(a).iter().any(|p| p == b) {
        return Kinship {
            description: gendered(sex_b, "husband", "wife", "partner"),
            path: vec![start(a), step(b, StepKind::Partner)],
            common_ancestors: vec![],
        };
    }
    // b is the partner of a's blood relative p.
    let mut candidates = Vec::new();
    for p in graph.partners_of(b) {
        if let Some(bl) = blood(graph, a, p) {
            let word = match (bl.up, bl.down) {
                (0, 1) => gendered(sex_b, "son-in-law", "daughter-in-law", "child-in-law"),
                (1, 1) => gendered(sex_b, "brother-in-law", "sister-in-law", "sibling-in-law"),
                (1, 0) => gendered(sex_b, "stepfather", "stepmother", "stepparent"),
                (u, d) => format!(
                    "{}'s {}",
                    describe(u, d, bl.half, graph.sex_of(p)),
                    gendered(sex_b, "husband", "wife", "partner")
                ),
            };
            let mut path = bl.path;
            path.push(step(b, StepKind::Partner));
            candidates.push((bl.up + bl.down, word, path));
        }
    }
    // b is a blood relative of a's partner p.
    for p in graph.partners_of(a) {
        if let Some(bl) = blood(graph, p, b) {
            let word = match (bl.up, bl.down) {
                (1, 0) => gendered(sex_b, "father-in-law", "mother-in-law", "parent-in-law"),
                (1, 1) => gendered(sex_b, "brother-in-law", "sister-in-law", "sibling-in-law"),
                (0, 1) => gendered(sex_b, "stepson", "stepdaughter", "stepchild"),
                (u, d) => format!(
                    "{} {}",
                    possessive(graph.sex_of(p)),
                    describe(u, d, bl.half, sex_b)
                ),
            };
            let mut path = vec![start(a)];
            path.extend(bl.path.into_iter().map(|mut s| {
                if s.step == StepKind::Start {
                    s.step = StepKind::Partner;
                }
                s
            }));
            candidates.push((bl.up + bl.down, word, path));
        }
    }
    match candidates.into_iter().min_by_key(|c| c.0) {
        Some((_, description, path)) => Kinship {
            description,
            path,
            common_ancestors: vec![],
        },
        None => Kinship {
            description: "no relation".into(),
            path: vec![],
            common_ancestors: vec![],
        },
    }
}

fn start(id: &str) -> Step {
    step(id, StepKind::Start)
}

fn step(id: &str, step: StepKind) -> Step {
    Step {
        person_id: id.to_owned(),
        step,
    }
}

#[cfg(test)]
mod tests;
