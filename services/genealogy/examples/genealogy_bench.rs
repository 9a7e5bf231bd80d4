//! Read-path benchmark of the genealogy service on the embedded SQLite store.
//!
//! Builds a tree of `--persons` people (default 100,000) over many generations (births,
//! baptisms, marriages, occupations, residences, deaths and burials with dates and places;
//! birth and married names, nicknames) through `Genealogy::import_batch`, then times the
//! service calls the HTTP handlers make, as the tree's owner: a page of persons by name, a
//! person's family, 10 generations of ancestors, and name-prefix searches. Each operation is
//! timed as the service call alone and with the JSON encoding of its response.
//!
//! ```text
//! cargo run --release -p dzinza-genealogy --example genealogy_bench -- [--persons N] [--samples N]
//!     [--vitals-cache-mib N] [--keep DIR | --reuse DIR-or-NAME] [--mongodb URL] [--only TEXT]
//! ```

#![allow(
    clippy::unwrap_used,
    clippy::print_stdout,
    reason = "a benchmark program"
)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use dzinza_genealogy::model::{
    EventType, ExternalId, Name, NameType, ParentKind, Participant, ParticipantRole, PartnerKind,
    RelationshipKind, Sex, new_id,
};
use dzinza_genealogy::policy::Actor;
use dzinza_genealogy::service::{
    DEFAULT_VITALS_CACHE, EventInput, Genealogy, ImportBatch, ImportEvent, ImportPerson, NewPerson,
    NewRelationship, NewTree, PageRequest, Paged, Pedigree, PersonFilter, PersonSort, PersonView,
    PlaceInput, TreeScope, system_clock,
};
use dzinza_genealogy::store::DocumentStore;
use dzinza_genealogy::store::mongo::MongoStore;

/// The allocator `dzinza serve` runs with (services/dzinza/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const GIVEN_M: &[&str] = &[
    "John",
    "William",
    "James",
    "Tendai",
    "Tafadzwa",
    "Farai",
    "Tatenda",
    "José",
    "Jürgen",
    "Łukasz",
    "François",
    "Søren",
    "Mikołaj",
    "Thomas",
    "Henry",
    "Kudakwashe",
    "Takudzwa",
    "Alejandro",
    "Heinrich",
    "Pieter",
    "Émile",
    "Nnamdi",
    "Chidi",
    "Oluwaseun",
    "Arthur",
    "George",
    "Samuel",
    "Joseph",
    "Robert",
    "Charles",
    "Edward",
    "Walter",
    "Blessing",
];
const GIVEN_F: &[&str] = &[
    "Mary",
    "Elizabeth",
    "Anna",
    "Rudo",
    "Chipo",
    "Nyasha",
    "Rumbidzai",
    "María",
    "Zoë",
    "Małgorzata",
    "Françoise",
    "Ingrid",
    "Agnieszka",
    "Margaret",
    "Sarah",
    "Tsitsi",
    "Ngozi",
    "Chiamaka",
    "Gertrud",
    "Hélène",
    "Catherine",
    "Jane",
    "Alice",
    "Emma",
    "Clara",
    "Dorothy",
    "Florence",
    "Grace",
    "Ruth",
    "Esther",
    "Tariro",
    "Vimbai",
    "Precious",
];
const SURNAMES: &[&str] = &[
    "Moyo",
    "Ncube",
    "Sibanda",
    "Dube",
    "Nyathi",
    "Mutasa",
    "Chikore",
    "Mlambo",
    "Smith",
    "Johnson",
    "Brown",
    "Müller",
    "Schröder",
    "García",
    "Núñez",
    "Kowalski",
    "Wiśniewski",
    "Dubois",
    "Lefèvre",
    "Okafor",
    "Adeyemi",
    "Van der Merwe",
    "O'Brien",
    "MacDonald",
    "Jørgensen",
    "Nakamura",
    "Rossi",
    "Esposito",
    "Novák",
    "Dvořák",
    "Horváth",
    "Ivanov",
];
const NICK: &[(&str, &str)] = &[
    ("William", "Bill"),
    ("Elizabeth", "Betty"),
    ("James", "Jim"),
    ("Robert", "Bob"),
    ("Margaret", "Peggy"),
    ("Thomas", "Tom"),
    ("Charles", "Charlie"),
    ("Edward", "Ted"),
    ("Catherine", "Kate"),
    ("Joseph", "Joe"),
];
const PLACES: &[&str] = &[
    "Harare, Harare Province, Zimbabwe",
    "Bulawayo, Bulawayo Province, Zimbabwe",
    "Mutare, Manicaland, Zimbabwe",
    "Masvingo, Masvingo Province, Zimbabwe",
    "Boston, Suffolk, Massachusetts, USA",
    "Salem, Essex, Massachusetts, USA",
    "Hamburg, Hamburg, Germany",
    "München, Bayern, Germany",
    "Kraków, Małopolskie, Poland",
    "Lyon, Rhône, France",
    "Sevilla, Andalucía, Spain",
    "Cork, County Cork, Ireland",
    "Lagos, Lagos State, Nigeria",
    "Enugu, Enugu State, Nigeria",
    "Aarhus, Midtjylland, Denmark",
    "Brno, Jihomoravský kraj, Czech Republic",
    "Cape Town, Western Cape, South Africa",
];
const MONTHS: &[&str] = &[
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const OCCUPATIONS: &[&str] = &[
    "Farmer",
    "Teacher",
    "Blacksmith",
    "Nurse",
    "Miner",
    "Clerk",
    "Carpenter",
    "Merchant",
    "Weaver",
    "Engineer",
    "Midwife",
    "Fisherman",
    "Tailor",
    "Minister",
];
const GENERATIONS: usize = 14;
const FIRST_YEAR: i64 = 1620;
const PERSONS_PER_BATCH: usize = 2_000;

/// splitmix64: deterministic, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % (n as u64)).unwrap()
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            v.swap(i, self.below(i + 1));
        }
    }
}

/// A generated person, before import.
struct Gen {
    id: String,
    sex: Sex,
    given: String,
    surname: String,
    born: i64,
    generation: usize,
    parents: Option<(usize, usize)>,
}

fn date(rng: &mut Rng, year: i64) -> String {
    match rng.below(20) {
        0..=10 => format!("{} {} {year}", 1 + rng.below(28), rng.pick(MONTHS)),
        11..=13 => format!("{} {year}", rng.pick(MONTHS)),
        14..=15 => format!("ABT {year}"),
        16 => format!("BET {} AND {}", year - 2, year + 2),
        17 => format!("BEF {}", year + 1),
        18 => format!("EST {year}"),
        _ => format!("{year}"),
    }
}

fn place(rng: &mut Rng) -> Option<PlaceInput> {
    Some(PlaceInput {
        name: rng.pick(PLACES).to_owned(),
        ..PlaceInput::default()
    })
}

fn event(
    rng: &mut Rng,
    event_type: EventType,
    year: Option<i64>,
    who: &[&str],
    description: Option<String>,
) -> ImportEvent {
    ImportEvent {
        id: new_id(),
        event: EventInput {
            tree_id: None,
            event_type,
            date: year.map(|y| date(rng, y)),
            place: place(rng),
            description,
            participants: who
                .iter()
                .map(|p| Participant {
                    person_id: (*p).to_owned(),
                    role: ParticipantRole::Principal,
                })
                .collect(),
            citation_ids: vec![],
        },
    }
}

/// The population, generation by generation; each generation about 1.2 times the last.
fn generate(rng: &mut Rng, total: usize) -> (Vec<Gen>, Vec<(usize, usize)>) {
    let r: f64 = 1.2;
    let g = GENERATIONS as i32;
    let first = total as f64 * (r - 1.0) / (r.powi(g) - 1.0);
    let mut sizes: Vec<usize> = (0..g)
        .map(|i| (first * r.powi(i)).round() as usize)
        .collect();
    let sum: usize = sizes.iter().sum();
    *sizes.last_mut().unwrap() = sizes.last().unwrap() + total - sum.min(total);
    let mut people: Vec<Gen> = Vec::with_capacity(total);
    let mut couples: Vec<(usize, usize)> = Vec::new();
    let mut prev_couples: Vec<usize> = Vec::new();
    for (generation, size) in sizes.into_iter().enumerate() {
        let start = people.len();
        for _ in 0..size {
            let sex = if rng.chance(0.5) {
                Sex::Male
            } else {
                Sex::Female
            };
            // Spouses who married in have no recorded parents (5%), as in real trees.
            let parents = if prev_couples.is_empty() || rng.chance(0.05) {
                None
            } else {
                Some(couples[prev_couples[rng.below(prev_couples.len())]])
            };
            let surname = match parents {
                Some((father, _)) => people[father].surname.clone(),
                None => rng.pick(SURNAMES).to_owned(),
            };
            let base = FIRST_YEAR + 27 * generation as i64;
            let born = match parents {
                Some((_, mother)) => people[mother].born + 20 + rng.below(20) as i64,
                None => base + rng.below(10) as i64,
            };
            let given = match sex {
                Sex::Female => rng.pick(GIVEN_F),
                _ => rng.pick(GIVEN_M),
            };
            let given = if rng.chance(0.3) {
                let second = match sex {
                    Sex::Female => rng.pick(GIVEN_F),
                    _ => rng.pick(GIVEN_M),
                };
                format!("{given} {second}")
            } else {
                given.to_owned()
            };
            people.push(Gen {
                id: new_id(),
                sex,
                given,
                surname,
                born,
                generation,
                parents,
            });
        }
        // Couples of this generation: 90% of the smaller sex finds a partner.
        let mut men: Vec<usize> = (start..people.len())
            .filter(|i| people[*i].sex == Sex::Male)
            .collect();
        let mut women: Vec<usize> = (start..people.len())
            .filter(|i| people[*i].sex == Sex::Female)
            .collect();
        rng.shuffle(&mut men);
        rng.shuffle(&mut women);
        let n = men.len().min(women.len()) * 9 / 10;
        prev_couples = Vec::with_capacity(n);
        for (m, w) in men.into_iter().zip(women).take(n) {
            prev_couples.push(couples.len());
            couples.push((m, w));
        }
    }
    (people, couples)
}

fn nickname(given: &str) -> Option<String> {
    let first = given.split_whitespace().next()?;
    NICK.iter()
        .find(|(g, _)| *g == first)
        .map(|(_, n)| (*n).to_owned())
}

/// Imports the population in batches: each batch a slice of one generation with its own events
/// and its links to parents; then the generation's couples and marriages.
async fn build(service: &Genealogy, actor: &Actor, tree: &str, rng: &mut Rng, total: usize) {
    let (people, couples) = generate(rng, total);
    let mut spouse: BTreeMap<usize, usize> = BTreeMap::new();
    for (m, w) in &couples {
        spouse.insert(*m, *w);
        spouse.insert(*w, *m);
    }
    let mut events = 0;
    let mut rels = 0;
    for generation in 0..GENERATIONS {
        let members: Vec<usize> = (0..people.len())
            .filter(|i| people[*i].generation == generation)
            .collect();
        for chunk in members.chunks(PERSONS_PER_BATCH) {
            let mut batch = ImportBatch::default();
            for &i in chunk {
                let p = &people[i];
                let mut names = vec![Name {
                    given: p.given.clone(),
                    surname: p.surname.clone(),
                    nickname: nickname(&p.given),
                    ..Name::default()
                }];
                if p.sex == Sex::Female
                    && let Some(h) = spouse.get(&i)
                {
                    names.push(Name {
                        given: p.given.clone(),
                        surname: people[*h].surname.clone(),
                        name_type: NameType::Married,
                        ..Name::default()
                    });
                }
                batch.persons.push(ImportPerson {
                    id: p.id.clone(),
                    person: NewPerson {
                        names,
                        sex: Some(p.sex),
                        living: None,
                        privacy: None,
                        notes: if rng.chance(0.1) {
                            vec![format!(
                                "Family tradition holds that {} moved several times before \
                                 settling; the parish register is partly illegible.",
                                p.given
                            )]
                        } else {
                            vec![]
                        },
                        tags: vec![],
                        external_ids: vec![ExternalId {
                            system: "gedcom".into(),
                            value: format!("@I{i}@"),
                        }],
                        citation_ids: vec![],
                        attributes: BTreeMap::new(),
                    },
                });
                let who = [p.id.as_str()];
                batch
                    .events
                    .push(event(rng, EventType::Birth, Some(p.born), &who, None));
                if rng.chance(0.3) {
                    batch
                        .events
                        .push(event(rng, EventType::Baptism, Some(p.born), &who, None));
                }
                if rng.chance(0.4) {
                    let job = rng.pick(OCCUPATIONS).to_owned();
                    batch.events.push(event(
                        rng,
                        EventType::Occupation,
                        Some(p.born + 25),
                        &who,
                        Some(job),
                    ));
                }
                if rng.chance(0.2) {
                    batch.events.push(event(
                        rng,
                        EventType::Residence,
                        Some(p.born + 30),
                        &who,
                        None,
                    ));
                }
                let died = p.born + 40 + rng.below(50) as i64;
                if died < 2020 {
                    batch
                        .events
                        .push(event(rng, EventType::Death, Some(died), &who, None));
                    if rng.chance(0.2) {
                        batch
                            .events
                            .push(event(rng, EventType::Burial, Some(died), &who, None));
                    }
                }
                if let Some((father, mother)) = p.parents {
                    for parent in [father, mother] {
                        batch.relationships.push(NewRelationship {
                            tree_id: tree.to_owned(),
                            kind: RelationshipKind::ParentChild {
                                parent: people[parent].id.clone(),
                                child: p.id.clone(),
                                kind: ParentKind::Biological,
                            },
                            start_event_id: None,
                            end_event_id: None,
                            citation_ids: vec![],
                        });
                    }
                }
            }
            events += batch.events.len();
            rels += batch.relationships.len();
            service.import_batch(actor, tree, batch).await.unwrap();
        }
        // The generation's couples, once all of it is stored.
        let mine: Vec<&(usize, usize)> = couples
            .iter()
            .filter(|(m, _)| people[*m].generation == generation)
            .collect();
        for chunk in mine.chunks(PERSONS_PER_BATCH / 2) {
            let mut batch = ImportBatch::default();
            for (m, w) in chunk {
                let (m, w) = (&people[*m], &people[*w]);
                let married = ImportEvent {
                    ..event(
                        rng,
                        EventType::Marriage,
                        Some(m.born.max(w.born) + 22),
                        &[&m.id, &w.id],
                        None,
                    )
                };
                batch.relationships.push(NewRelationship {
                    tree_id: tree.to_owned(),
                    kind: RelationshipKind::Partnership {
                        a: m.id.clone(),
                        b: w.id.clone(),
                        kind: PartnerKind::Married,
                    },
                    start_event_id: Some(married.id.clone()),
                    end_event_id: None,
                    citation_ids: vec![],
                });
                batch.events.push(married);
            }
            events += batch.events.len();
            rels += batch.relationships.len();
            service.import_batch(actor, tree, batch).await.unwrap();
        }
    }
    println!(
        "tree: {} persons in {GENERATIONS} generations, {events} events, {rels} relationships \
         ({} couples)",
        people.len(),
        couples.len()
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

struct Timing {
    name: String,
    service: Vec<Duration>,
    json: Vec<Duration>,
    items: usize,
    /// Bytes the timed samples read from storage rather than the page cache, where the system
    /// says (`/proc/self/io`): on a machine that reclaims page cache, "cold" can mean the disk.
    storage_bytes: Option<u64>,
}

/// Bytes this process has had read from storage so far (Linux only).
fn storage_read_bytes() -> Option<u64> {
    std::fs::read_to_string("/proc/self/io")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("read_bytes:"))?
        .trim()
        .parse()
        .ok()
}

impl Timing {
    fn row(&mut self) -> String {
        self.service.sort();
        self.json.sort();
        let s = &self.service;
        let j = &self.json;
        let met = if percentile(j, 0.95) < Duration::from_millis(20) {
            "met"
        } else {
            "not met"
        };
        let storage = self
            .storage_bytes
            .map_or("–".to_owned(), |b| format!("{:.1}", b as f64 / 1e6));
        format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            self.name,
            s.len(),
            self.items / s.len().max(1),
            ms(percentile(s, 0.5)),
            ms(percentile(s, 0.95)),
            ms(percentile(s, 0.99)),
            ms(percentile(j, 0.5)),
            ms(percentile(j, 0.95)),
            ms(percentile(j, 0.99)),
            storage,
            met
        )
    }
}

/// Times `samples` calls of `f` (after a few warm-up calls), each also encoded as JSON.
/// Bytes of the service's cache of decoded vitals: `--vitals-cache-mib N` (0: none), else the
/// service's default.
fn vitals_cache() -> u64 {
    std::env::args()
        .skip_while(|a| a != "--vitals-cache-mib")
        .nth(1)
        .map_or(DEFAULT_VITALS_CACHE, |n| n.parse::<u64>().unwrap() << 20)
}

async fn time<F, Fut, T>(name: &str, samples: usize, mut f: F) -> Timing
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = (T, usize)>,
    T: serde::Serialize,
{
    let mut t = Timing {
        name: name.to_owned(),
        service: Vec::with_capacity(samples),
        json: Vec::with_capacity(samples),
        items: 0,
        storage_bytes: None,
    };
    // `--only TEXT`: just the operations whose name contains it (for profiling one).
    if let Some(only) = std::env::args().skip_while(|a| a != "--only").nth(1)
        && !name.contains(&only)
    {
        return t;
    }
    for i in 0..samples.min(5) {
        f(i).await;
    }
    let read_before = storage_read_bytes();
    for i in 0..samples {
        let start = Instant::now();
        let (value, n) = f(i).await;
        let called = start.elapsed();
        let body = serde_json::to_vec(&value).unwrap();
        std::hint::black_box(body);
        t.service.push(called);
        t.json.push(start.elapsed());
        t.items += n;
    }
    t.storage_bytes = read_before
        .zip(storage_read_bytes())
        .map(|(before, after)| after.saturating_sub(before));
    t
}

/// A pedigree and the service that made it, which is dropped with it after the timing: a
/// server's cache outlives a request, and dropping a thousand kept documents is no part of a
/// first visit.
struct Cold {
    pedigree: Pedigree,
    _service: Genealogy,
}

impl serde::Serialize for Cold {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.pedigree.serialize(s)
    }
}

/// Ten generations of `id`'s ancestors, and how many people they hold.
async fn ten_generations(s: &Genealogy, a: &Actor, id: &str) -> (Pedigree, usize) {
    let p = s.pedigree(a, id, 10, true).await.unwrap();
    let n = p.nodes.len();
    (p, n)
}

/// A page of the tree's persons in name order, and how many it holds.
async fn name_page(
    s: &Genealogy,
    a: &Actor,
    tree: &str,
    offset: u64,
    limit: u64,
) -> (Paged<PersonView>, usize) {
    let p = s
        .list_persons(
            a,
            tree,
            PersonFilter::default(),
            PageRequest::new(Some(offset), Some(limit)),
        )
        .await
        .unwrap();
    let n = p.items.len();
    (p, n)
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map_or(default, |v| v.parse().unwrap())
}

#[tokio::main]
async fn main() {
    let total = arg("--persons", 100_000);
    let samples = arg("--samples", 200);
    let only_build = std::env::args().any(|a| a == "--build-only");
    // `--mongodb URL`: build and measure on MongoDB instead, in a database of its own (left
    // behind; the CI stand-in keeps its data in memory).
    let mongodb = std::env::args().skip_while(|a| a != "--mongodb").nth(1);
    let actor = Actor::user("bench-owner");
    // `--reuse DIR`: measure a database an earlier `--keep DIR` run built (with `--mongodb`,
    // `--reuse NAME` names the database of an earlier run).
    let reuse = std::env::args()
        .skip_while(|a| a != "--reuse")
        .nth(1)
        .map(std::path::PathBuf::from);
    if let Some(dir) = &reuse {
        let store: Arc<dyn DocumentStore> = match &mongodb {
            Some(url) => Arc::new(
                MongoStore::connect_database(url, &dir.to_string_lossy())
                    .await
                    .unwrap(),
            ),
            None => dzinza_genealogy::open_embedded(dir).await.unwrap(),
        };
        let service = Genealogy::new(store, system_clock()).with_vitals_cache(vitals_cache());
        let trees = service
            .list_trees(&actor, TreeScope::Mine, PageRequest::new(None, None))
            .await
            .unwrap();
        let tree = trees.items[0].tree.id.clone();
        let total = service
            .list_persons(
                &actor,
                &tree,
                PersonFilter::default(),
                PageRequest::new(None, Some(1)),
            )
            .await
            .unwrap()
            .total as usize;
        println!("reusing {} ({total} persons)", dir.display());
        measure(&service, &actor, &tree, total, samples, &mut Rng(2)).await;
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    // `--keep DIR` builds the database there instead, and leaves it (for EXPLAIN and sqlite3).
    let keep = std::env::args()
        .skip_while(|a| a != "--keep")
        .nth(1)
        .map(std::path::PathBuf::from);
    let path = keep.clone().unwrap_or_else(|| dir.path().to_owned());
    std::fs::create_dir_all(&path).unwrap();
    let store: Arc<dyn DocumentStore> = match &mongodb {
        Some(url) => {
            let name = format!("genealogy_bench_{}", new_id().replace('-', ""));
            let store = MongoStore::connect_database(url, &name).await.unwrap();
            store.migrate().await.unwrap();
            println!("MongoDB database {name}");
            Arc::new(store)
        }
        None => dzinza_genealogy::open_embedded(&path).await.unwrap(),
    };
    let service = Genealogy::new(store, system_clock()).with_vitals_cache(vitals_cache());
    let tree = service
        .create_tree(
            &actor,
            serde_json::from_value::<NewTree>(serde_json::json!({"name": "Benchmark"})).unwrap(),
        )
        .await
        .unwrap()
        .tree
        .id;
    let mut rng = Rng(1);
    let started = Instant::now();
    build(&service, &actor, &tree, &mut rng, total).await;
    let setup = started.elapsed();
    let db = match mongodb {
        Some(_) => "on MongoDB".to_owned(),
        None => {
            let bytes = std::fs::metadata(path.join("genealogy.db")).map_or(0, |m| m.len());
            format!("database {} MB", bytes / 1_000_000)
        }
    };
    println!(
        "setup: {:.1} s (import through Genealogy::import_batch), {db}",
        setup.as_secs_f64(),
    );

    if only_build {
        return;
    }
    measure(&service, &actor, &tree, total, samples, &mut rng).await;
}

async fn measure(
    service: &Genealogy,
    actor: &Actor,
    tree: &str,
    total: usize,
    samples: usize,
    rng: &mut Rng,
) {
    let (service, actor, tree) = (service.clone(), actor.clone(), tree.to_owned());
    // Samples: persons with 10 generations of ancestors (the last generation), and anyone.
    let all = service
        .list_persons(
            &actor,
            &tree,
            PersonFilter {
                sort: PersonSort::Updated,
                ..PersonFilter::default()
            },
            PageRequest::new(Some(0), Some(200)),
        )
        .await
        .unwrap();
    let youngest: Vec<String> = all.items.iter().map(|p| p.id.clone()).collect();
    let mut anyone = Vec::new();
    for k in 0..samples {
        let offset = rng.below(total.saturating_sub(1).max(1)) as u64;
        let page = service
            .list_persons(
                &actor,
                &tree,
                PersonFilter::default(),
                PageRequest::new(Some(offset), Some(1)),
            )
            .await
            .unwrap();
        anyone.push(page.items[0].id.clone());
        std::hint::black_box(k);
    }

    let mut rows = Vec::new();
    let page_size = 50;
    let last = (total as u64).saturating_sub(page_size);
    for (name, offset) in [
        ("list persons by name, first page", 0),
        ("list persons by name, middle page", total as u64 / 2),
        ("list persons by name, last page", last),
    ] {
        rows.push(
            time(name, samples, |_| {
                let s = &service;
                let (a, t) = (&actor, &tree);
                async move { name_page(s, a, t, offset, page_size).await }
            })
            .await,
        );
    }
    rows.push(
        time("list persons, random page", samples, |i| {
            let s = &service;
            let (a, t) = (&actor, &tree);
            let offset = (i as u64 * 7919 * page_size) % last.max(1);
            async move { name_page(s, a, t, offset, page_size).await }
        })
        .await,
    );
    rows.push(
        time("family of a random person", samples, |i| {
            let s = &service;
            let a = &actor;
            let id = anyone[i % anyone.len()].clone();
            async move {
                let f = s.family(a, &id).await.unwrap();
                let n =
                    1 + f.parents.len() + f.partners.len() + f.children.len() + f.siblings.len();
                (f, n)
            }
        })
        .await,
    );
    // Pedigrees read vitals through the service's cache of decoded documents: timed with an
    // empty cache on every call (a service of its own, as after a restart or for a family
    // nobody has looked at), and with the cache holding every sampled pedigree.
    let cache = vitals_cache();
    rows.push(
        time(
            "10 generations of ancestors (youngest generation), cold cache",
            samples,
            |i| {
                let s = Genealogy::new(Arc::clone(service.store()), system_clock())
                    .with_vitals_cache(cache);
                let id = youngest[i % youngest.len()].clone();
                let a = &actor;
                async move {
                    let (pedigree, n) = ten_generations(&s, a, &id).await;
                    (
                        Cold {
                            pedigree,
                            _service: s,
                        },
                        n,
                    )
                }
            },
        )
        .await,
    );
    let warm = "10 generations of ancestors (youngest generation), warm cache";
    if std::env::args()
        .skip_while(|a| a != "--only")
        .nth(1)
        .is_none_or(|only| warm.contains(&only))
    {
        for id in youngest.iter().take(samples) {
            ten_generations(&service, &actor, id).await;
        }
    }
    rows.push(
        time(warm, samples, |i| {
            let (s, a) = (&service, &actor);
            let id = youngest[i % youngest.len()].clone();
            async move { ten_generations(s, a, &id).await }
        })
        .await,
    );
    for prefix in ["m", "mo", "moyo", "tend", "van der", "jürgen m", "zzz"] {
        rows.push(
            time(&format!("search \"{prefix}\" in the tree"), samples, |_| {
                let s = &service;
                let (a, t) = (&actor, &tree);
                async move {
                    let p = s
                        .search_persons(a, prefix, Some(t), PageRequest::new(None, Some(page_size)))
                        .await
                        .unwrap();
                    let n = p.items.len();
                    (p, n)
                }
            })
            .await,
        );
    }
    rows.push(
        time("search \"moyo\" in all my trees", samples, |_| {
            let s = &service;
            let a = &actor;
            async move {
                let p = s
                    .search_persons(a, "moyo", None, PageRequest::new(None, Some(page_size)))
                    .await
                    .unwrap();
                let n = p.items.len();
                (p, n)
            }
        })
        .await,
    );

    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!();
    println!("load average after the run: {}", load.trim());
    let stats = service.vitals_cache_stats();
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .map(|l| l.trim_start_matches("VmRSS:").trim().to_owned())
        .unwrap_or_default();
    println!(
        "vitals cache: {} kept, weight {:.1} MB, {} hits, {} misses; resident memory {rss}",
        stats.entries.get(),
        stats.weight_bytes.get() as f64 / 1e6,
        stats.hits.get(),
        stats.misses.get(),
    );
    println!();
    println!(
        "| operation | samples | items | p50 ms | p95 ms | p99 ms | +JSON p50 | +JSON p95 | +JSON p99 | MB from disk | p95 < 20 ms |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for r in rows.iter_mut().filter(|r| !r.service.is_empty()) {
        println!("{}", r.row());
    }
}
