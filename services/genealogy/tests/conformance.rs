//! The documents-port conformance suite on every adapter available here.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

mod suite;

use std::sync::Arc;

use dzinza_genealogy::store::DocumentStore;
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
