//! The documents-port conformance suite on every adapter available here: SQLite (a file and
//! in memory) always, MongoDB when `DZINZA_TEST_MONGODB_URL` is set (`cargo xtask test` starts
//! the stand-in server; each run gets a database of its own, dropped afterwards).

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

mod suite;

use std::sync::Arc;

use dzinza_genealogy::model::Collection;
use dzinza_genealogy::store::mongo::MongoStore;
use dzinza_genealogy::store::sqlite::SqliteStore;
use dzinza_genealogy::store::{Changes, Document, DocumentStore, Write};
use serde_json::json;

#[tokio::test]
async fn sqlite_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&dir.path().join("genealogy.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    suite::run(Arc::new(store)).await;
}

#[tokio::test]
async fn sqlite_memory() {
    let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    suite::run(Arc::new(store)).await;
}

/// A migrated store on a fresh database of the test server, and a client to drop it with.
async fn mongodb() -> Option<(MongoStore, mongodb::Database)> {
    let url = dzinza_kit::testing::backend_url("mongodb", "DZINZA_TEST_MONGODB_URL")?;
    let name = format!("dzinza_genealogy_{}", uuid::Uuid::new_v4().simple());
    let store = MongoStore::connect_database(&url, &name).await.unwrap();
    store.migrate().await.unwrap();
    let db = mongodb::Client::with_uri_str(&url)
        .await
        .unwrap()
        .database(&name);
    Some((store, db))
}

#[tokio::test]
async fn mongodb_suite() {
    let Some((store, db)) = mongodb().await else {
        return;
    };
    suite::run(Arc::new(store)).await;
    db.drop().await.unwrap();
}

#[tokio::test]
async fn mongodb_migrate_creates_the_listing_indexes() {
    let Some((store, db)) = mongodb().await else {
        return;
    };
    for c in Collection::ALL {
        let names = db
            .collection::<mongodb::bson::Document>(c.as_str())
            .list_index_names()
            .await
            .unwrap();
        for want in ["_id_", "keys_sort", "keys_updated"] {
            assert!(names.iter().any(|n| n == want), "{c:?}: {names:?}");
        }
    }
    // Again, as `dzinza migrate` does on every deployment: nothing changes, nothing fails.
    store.migrate().await.unwrap();
    let names = db
        .collection::<mongodb::bson::Document>("persons")
        .list_index_names()
        .await
        .unwrap();
    assert_eq!(names.len(), 3, "{names:?}");
    db.drop().await.unwrap();
}

/// The change log keeps the latest 10,000 to 11,000 changes (trimmed when the numbers cross a
/// thousand); a mark older than what is kept gets "anything may have changed", a recent one the
/// exact list.
#[tokio::test]
async fn mongodb_change_log_is_trimmed_and_old_marks_get_anything() {
    let Some((store, db)) = mongodb().await else {
        return;
    };
    let Some(Changes::Any { mark }) = store.changes(Collection::Vitals, None).await.unwrap() else {
        panic!("a first look cannot know what changed");
    };
    for part in 0..6 {
        let writes = (0..2_000)
            .map(|n| {
                Write::put(
                    Collection::Vitals,
                    Document {
                        id: format!("v{part}-{n}"),
                        body: json!({ "n": n }),
                        keys: Vec::new(),
                        sort: String::new(),
                        updated_at: n,
                    },
                )
            })
            .collect();
        store.commit(writes).await.unwrap();
    }
    let kept = db
        .collection::<mongodb::bson::Document>("_dzinza_document_changes")
        .count_documents(mongodb::bson::doc! {})
        .await
        .unwrap();
    assert!((10_000..=11_000).contains(&kept), "{kept} kept");
    assert_eq!(
        store.changes(Collection::Vitals, Some(mark)).await.unwrap(),
        Some(Changes::Any {
            mark: mark + 12_000
        })
    );
    assert!(matches!(
        store.changes(Collection::Vitals, Some(mark + 12_000 - 500)).await.unwrap(),
        Some(Changes::Some { ids, mark: m }) if ids.len() == 500 && m == mark + 12_000
    ));
    db.drop().await.unwrap();
}
