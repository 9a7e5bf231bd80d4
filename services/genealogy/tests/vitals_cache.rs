//! Pedigrees read vitals through a cache of decoded documents that asks the store what
//! changed before every use. These checks run on a database file shared by two services, as
//! two processes would share it: what one writes, the other's next pedigree shows; and what
//! nobody reports changing is served from the cache.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use dzinza_genealogy::model::Collection;
use dzinza_genealogy::policy::Actor;
use dzinza_genealogy::service::{
    Clock, EventInput, Genealogy, NewPerson, NewRelationship, NewTree, Pedigree, PersonPatch,
};
use dzinza_genealogy::store::mongo::MongoStore;
use dzinza_genealogy::store::sqlite::SqliteStore;
use dzinza_genealogy::store::{Changes, Document, DocumentStore, Page, Query, StoreError, Write};
use serde_json::json;

/// The database file in `dir`, created and migrated by the first to open it.
async fn migrated(dir: &Path) -> SqliteStore {
    let store = SqliteStore::open(&dir.join("genealogy.db")).await.unwrap();
    store.migrate().await.unwrap();
    store
}

/// A service on the database file in `dir` (see [`migrated`]).
async fn open(dir: &Path) -> Genealogy {
    let clock: Clock = Arc::new(|| 1_767_225_600_000);
    Genealogy::new(Arc::new(migrated(dir).await), clock)
}

async fn person(g: &Genealogy, a: &Actor, tree: &str, given: &str) -> String {
    let p: NewPerson =
        serde_json::from_value(json!({"names": [{"given": given, "surname": "Moyo"}]})).unwrap();
    g.create_person(a, tree, p).await.unwrap().id
}

async fn parent(g: &Genealogy, a: &Actor, tree: &str, parent: &str, child: &str) -> String {
    let r: NewRelationship = serde_json::from_value(json!({
        "tree_id": tree, "type": "parent_child", "parent": parent, "child": child,
    }))
    .unwrap();
    g.create_relationship(a, r).await.unwrap().id
}

/// `root`'s ancestors as (given name, generation), in pedigree order.
async fn ancestors(g: &Genealogy, a: &Actor, root: &str) -> Vec<(String, u32)> {
    g.pedigree(a, root, 5, true)
        .await
        .unwrap()
        .nodes
        .into_iter()
        .map(|n| {
            (
                n.person.summary().unwrap().names[0].given.clone(),
                n.generation,
            )
        })
        .collect()
}

fn named(given: &[(&str, u32)]) -> Vec<(String, u32)> {
    given.iter().map(|(n, g)| ((*n).to_owned(), *g)).collect()
}

/// A family of child, father and grandfather in a new tree, written through `g`.
async fn family(g: &Genealogy, owner: &Actor) -> (String, String, String, String) {
    let tree: NewTree = serde_json::from_value(json!({"name": "T"})).unwrap();
    let tree = g.create_tree(owner, tree).await.unwrap().tree.id;
    let c = person(g, owner, &tree, "Child").await;
    let f = person(g, owner, &tree, "Father").await;
    let gf = person(g, owner, &tree, "Grandfather").await;
    parent(g, owner, &tree, &f, &c).await;
    parent(g, owner, &tree, &gf, &f).await;
    (tree, c, f, gf)
}

#[tokio::test]
async fn pedigrees_show_what_another_process_wrote() {
    let dir = tempfile::tempdir().unwrap();
    let (one, other) = (open(dir.path()).await, open(dir.path()).await);
    show_what_the_other_wrote(&one, &other).await;
}

/// The same on MongoDB (the cluster's store), with two stores on one database as two replicas
/// of the service would have, when `DZINZA_TEST_MONGODB_URL` is set (`cargo xtask test`).
#[tokio::test]
async fn mongodb_pedigrees_show_what_another_replica_wrote() {
    let Some(url) = dzinza_kit::testing::backend_url("mongodb", "DZINZA_TEST_MONGODB_URL") else {
        return;
    };
    let name = format!("dzinza_vitals_cache_{}", uuid::Uuid::new_v4().simple());
    let mut services = Vec::new();
    for _ in 0..2 {
        let store = MongoStore::connect_database(&url, &name).await.unwrap();
        store.migrate().await.unwrap();
        let clock: Clock = Arc::new(|| 1_767_225_600_000);
        services.push(Genealogy::new(Arc::new(store), clock));
    }
    show_what_the_other_wrote(&services[0], &services[1]).await;
    mongodb::Client::with_uri_str(&url)
        .await
        .unwrap()
        .database(&name)
        .drop()
        .await
        .unwrap();
}

/// What `other` writes, `one`'s next pedigree shows, and a pedigree read twice with nothing
/// written between comes from `one`'s cache.
async fn show_what_the_other_wrote(one: &Genealogy, other: &Genealogy) {
    let (one, other) = (one.clone(), other.clone());
    let o = Actor::user("owner");
    let (tree, c, f, gf) = family(&one, &o).await;
    let before = named(&[("Father", 1), ("Grandfather", 2)]);
    assert_eq!(ancestors(&one, &o, &c).await, before);
    let hits = one.vitals_cache_stats().hits.get();
    assert_eq!(
        ancestors(&one, &o, &c).await,
        before,
        "read again, from the cache"
    );
    assert_eq!(
        one.vitals_cache_stats().hits.get(),
        hits + 3,
        "the child's vitals (for their parent links) and both ancestors' came from the cache"
    );

    // A rename by the other process.
    let patch: PersonPatch =
        serde_json::from_value(json!({"names": [{"given": "Tichaona", "surname": "Moyo"}]}))
            .unwrap();
    other.update_person(&o, &f, patch).await.unwrap();
    assert_eq!(
        ancestors(&one, &o, &c).await,
        named(&[("Tichaona", 1), ("Grandfather", 2)])
    );

    // A new great-grandparent (the grandfather's parent links change).
    let ggm = person(&other, &o, &tree, "Great-grandmother").await;
    let link = parent(&other, &o, &tree, &ggm, &gf).await;
    assert_eq!(
        ancestors(&one, &o, &c).await,
        named(&[
            ("Tichaona", 1),
            ("Grandfather", 2),
            ("Great-grandmother", 3)
        ])
    );

    // The link removed, then the grandfather deleted.
    other.delete_relationship(&o, &link).await.unwrap();
    assert_eq!(
        ancestors(&one, &o, &c).await,
        named(&[("Tichaona", 1), ("Grandfather", 2)])
    );
    other.delete_person(&o, &gf).await.unwrap();
    assert_eq!(ancestors(&one, &o, &c).await, named(&[("Tichaona", 1)]));
}

/// Rewrites the stored card name of `id`'s vitals to `given` without recording the change
/// (the update trigger dropped for good), as no writer of Dzinza would.
fn rename_unrecorded(dir: &Path, id: &str, given: &str) {
    let conn = rusqlite::Connection::open(dir.join("genealogy.db")).unwrap();
    conn.execute_batch("DROP TRIGGER document_changes_update;")
        .unwrap();
    let changed = conn
        .execute(
            "UPDATE documents SET body = json_set(body, '$.card.names[0].given', ?1) \
             WHERE collection = 'vitals' AND id = ?2",
            rusqlite::params![given, id],
        )
        .unwrap();
    assert_eq!(changed, 1);
}

/// Records a change of `id`'s vitals, as the triggers do.
fn record_change(dir: &Path, id: &str) {
    let conn = rusqlite::Connection::open(dir.join("genealogy.db")).unwrap();
    conn.execute(
        "INSERT INTO document_changes (collection, id) VALUES ('vitals', ?1)",
        [id],
    )
    .unwrap();
}

#[tokio::test]
async fn pedigrees_come_from_the_cache_until_a_change_is_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let cached = open(dir.path()).await;
    let uncached = open(dir.path()).await.with_vitals_cache(0);
    let o = Actor::user("owner");
    let (_, c, f, _) = family(&cached, &o).await;
    let before = named(&[("Father", 1), ("Grandfather", 2)]);
    assert_eq!(ancestors(&cached, &o, &c).await, before);

    rename_unrecorded(dir.path(), &f, "Unrecorded");
    let after = named(&[("Unrecorded", 1), ("Grandfather", 2)]);
    assert_eq!(
        ancestors(&uncached, &o, &c).await,
        after,
        "a service without the cache reads the stored vitals"
    );
    assert_eq!(
        ancestors(&cached, &o, &c).await,
        before,
        "a change nobody recorded is not seen through the cache"
    );

    record_change(dir.path(), &f);
    assert_eq!(ancestors(&cached, &o, &c).await, after);
}

#[tokio::test]
async fn a_cache_too_far_behind_drops_everything() {
    let dir = tempfile::tempdir().unwrap();
    let cached = open(dir.path()).await;
    let o = Actor::user("owner");
    let (_, c, f, _) = family(&cached, &o).await;
    assert_eq!(
        ancestors(&cached, &o, &c).await,
        named(&[("Father", 1), ("Grandfather", 2)])
    );
    rename_unrecorded(dir.path(), &f, "Unrecorded");
    // Changes of other documents, then the oldest ones trimmed (as the triggers trim): the
    // cache's mark is older than anything kept.
    for _ in 0..3 {
        record_change(dir.path(), "someone-else");
    }
    let conn = rusqlite::Connection::open(dir.path().join("genealogy.db")).unwrap();
    conn.execute(
        "DELETE FROM document_changes WHERE seq < (SELECT MAX(seq) FROM document_changes)",
        [],
    )
    .unwrap();
    let cleared = cached.vitals_cache_stats().cleared.get();
    assert_eq!(
        ancestors(&cached, &o, &c).await,
        named(&[("Unrecorded", 1), ("Grandfather", 2)])
    );
    assert_eq!(cached.vitals_cache_stats().cleared.get(), cleared + 1);
}

#[tokio::test]
async fn a_kept_summary_follows_the_date_of_today() {
    // Someone born in 1920 with no death recorded is living in 2026 and, 110 years on, no
    // longer: the summary made while their vitals are kept must not outlive that.
    let dir = tempfile::tempdir().unwrap();
    let store = migrated(dir.path()).await;
    let now = Arc::new(AtomicI64::new(1_767_225_600_000)); // 2026-01-01
    let clock: Clock = {
        let now = Arc::clone(&now);
        Arc::new(move || now.load(Ordering::Relaxed))
    };
    let g = Genealogy::new(Arc::new(store), clock);
    let o = Actor::user("owner");
    let (tree, c, f, _) = family(&g, &o).await;
    let birth: EventInput = serde_json::from_value(json!({
        "tree_id": tree, "type": "birth", "date": "3 MAR 1920",
        "participants": [{"person_id": f, "role": "principal"}],
    }))
    .unwrap();
    g.create_event(&o, birth).await.unwrap();
    let living = |p: Pedigree| {
        p.nodes
            .iter()
            .map(|n| n.person.summary().unwrap())
            .find(|s| s.id == f)
            .map(|s| s.living)
            .unwrap()
    };
    assert!(living(g.pedigree(&o, &c, 3, true).await.unwrap()));
    assert!(living(g.pedigree(&o, &c, 3, true).await.unwrap()), "kept");
    now.store(1_956_528_000_000, Ordering::Relaxed); // 2032-01-01
    assert!(!living(g.pedigree(&o, &c, 3, true).await.unwrap()));
}

#[tokio::test]
async fn a_kept_summary_encodes_as_the_summary_itself() {
    let dir = tempfile::tempdir().unwrap();
    let g = open(dir.path()).await;
    let o = Actor::user("owner");
    let (_, c, _, _) = family(&g, &o).await;
    for _ in 0..2 {
        // The first pedigree makes the shared summaries, the second reuses them.
        let p = g.pedigree(&o, &c, 3, true).await.unwrap();
        assert_eq!(p.nodes.len(), 2);
        for n in &p.nodes {
            // Encoded straight from the vitals, the JSON holds every field of the summary and
            // nothing else.
            let shared: serde_json::Value =
                serde_json::from_str(&serde_json::to_string(&n.person).unwrap()).unwrap();
            let own = serde_json::to_value(n.person.summary().unwrap()).unwrap();
            assert_eq!(shared, own);
            assert_eq!(shared["names"][0]["surname"], "Moyo");
            let view = g
                .get_person(&o, shared["id"].as_str().unwrap())
                .await
                .unwrap();
            assert_eq!(shared["names"], serde_json::to_value(&view.names).unwrap());
            assert_eq!(shared["birth"], serde_json::to_value(&view.birth).unwrap());
            assert_eq!(shared["death"], serde_json::to_value(&view.death).unwrap());
            assert_eq!(shared["living"], view.living);
        }
    }
}

#[tokio::test]
async fn the_cache_reports_hits_misses_and_size_as_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let g = open(dir.path()).await;
    let metrics = dzinza_kit::metrics::Metrics::new();
    g.vitals_cache_stats().register(&metrics, "vitals");
    let o = Actor::user("owner");
    let (_, c, _, _) = family(&g, &o).await;
    let stats = g.vitals_cache_stats();
    let misses = stats.misses.get();
    ancestors(&g, &o, &c).await;
    // The root, father and grandfather read once (the walk reads one generation further).
    assert_eq!(stats.misses.get() - misses, 3);
    let hits = stats.hits.get();
    ancestors(&g, &o, &c).await;
    assert_eq!(stats.hits.get() - hits, 3, "read again, all kept");
    assert_eq!(stats.entries.get(), 3);
    assert_eq!(
        stats.cleared.get(),
        1,
        "only the first look drops everything"
    );
    // Charged about three times their JSON (a few hundred bytes each here) plus 256.
    assert!(stats.weight_bytes.get() > 3 * (3 * 200 + 256));
    let text = metrics.render();
    for name in [
        "genealogy_vitals_cache_hits_total",
        "genealogy_vitals_cache_misses_total",
        "genealogy_vitals_cache_cleared_total",
        "genealogy_vitals_cache_unanswered_total",
        "genealogy_vitals_cache_entries",
        "genealogy_vitals_cache_weight_bytes",
    ] {
        assert!(text.contains(name), "{name} missing from {text}");
    }
}

/// A SQLite store whose `changes` fails while `failing` is set (as a MongoDB snapshot read can).
struct Unanswering {
    inner: SqliteStore,
    failing: std::sync::atomic::AtomicBool,
}

#[async_trait::async_trait]
impl DocumentStore for Unanswering {
    async fn migrate(&self) -> Result<(), StoreError> {
        self.inner.migrate().await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
    async fn get(&self, c: Collection, id: &str) -> Result<Option<Document>, StoreError> {
        self.inner.get(c, id).await
    }
    async fn get_many(&self, c: Collection, ids: &[String]) -> Result<Vec<Document>, StoreError> {
        self.inner.get_many(c, ids).await
    }
    async fn find(&self, q: &Query) -> Result<Page, StoreError> {
        self.inner.find(q).await
    }
    async fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        self.inner.commit(writes).await
    }
    async fn changes(
        &self,
        c: Collection,
        since: Option<u64>,
    ) -> Result<Option<Changes>, StoreError> {
        if self.failing.load(Ordering::Relaxed) {
            return Err(StoreError::Config("snapshot unavailable".into()));
        }
        self.inner.changes(c, since).await
    }
}

#[tokio::test]
async fn pedigrees_read_without_the_cache_while_the_store_cannot_say_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Unanswering {
        inner: migrated(dir.path()).await,
        failing: std::sync::atomic::AtomicBool::new(false),
    });
    let clock: Clock = Arc::new(|| 1_767_225_600_000);
    let g = Genealogy::new(Arc::clone(&store) as Arc<dyn DocumentStore>, clock);
    let o = Actor::user("owner");
    let (_, c, f, _) = family(&g, &o).await;
    let before = named(&[("Father", 1), ("Grandfather", 2)]);
    assert_eq!(ancestors(&g, &o, &c).await, before);

    store.failing.store(true, Ordering::Relaxed);
    let hits = g.vitals_cache_stats().hits.get();
    assert_eq!(
        ancestors(&g, &o, &c).await,
        before,
        "the pedigree still answers"
    );
    // A rename the cache would not know of is read from the store.
    let patch: PersonPatch =
        serde_json::from_value(json!({"names": [{"given": "Tichaona", "surname": "Moyo"}]}))
            .unwrap();
    g.update_person(&o, &f, patch).await.unwrap();
    let renamed = named(&[("Tichaona", 1), ("Grandfather", 2)]);
    assert_eq!(ancestors(&g, &o, &c).await, renamed);
    let stats = g.vitals_cache_stats();
    assert_eq!(stats.hits.get(), hits, "nothing came from the cache");
    assert_eq!(stats.unanswered.get(), 2);

    store.failing.store(false, Ordering::Relaxed);
    assert_eq!(ancestors(&g, &o, &c).await, renamed);
    assert_eq!(ancestors(&g, &o, &c).await, renamed);
    assert!(
        g.vitals_cache_stats().hits.get() > hits,
        "the cache is used again"
    );
}
