//! The documents-port conformance suite on every adapter available here: SQLite (a file and
//! in memory) always, MongoDB when `DZINZA_TEST_MONGODB_URL` is set (`cargo xtask test` starts
//! the stand-in server; each run gets a database of its own, dropped afterwards).

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

mod suite;

use std::sync::Arc;

use dzinza_genealogy::model::Collection;
use dzinza_genealogy::store::DocumentStore;
use dzinza_genealogy::store::mongo::MongoStore;
use dzinza_genealogy::store::sqlite::SqliteStore;

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
