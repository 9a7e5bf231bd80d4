//! Setup shared by the service-level tests.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

use std::sync::Arc;

use dzinza_genealogy::policy::Actor;
use dzinza_genealogy::service::{Clock, Genealogy, NewTree};
use dzinza_genealogy::store::DocumentStore;
use dzinza_genealogy::store::sqlite::SqliteStore;
use serde_json::json;

/// A service on a fresh in-memory store at 2026-01-01, its owner, and the owner's tree "T".
pub async fn service() -> (Genealogy, Actor, String) {
    let store = SqliteStore::open_url("sqlite::memory:").await.unwrap();
    store.migrate().await.unwrap();
    let clock: Clock = Arc::new(|| 1_767_225_600_000);
    let g = Genealogy::new(Arc::new(store), clock);
    let owner = Actor::user("owner");
    let tree: NewTree = serde_json::from_value(json!({"name": "T"})).unwrap();
    let tree = g.create_tree(&owner, tree).await.unwrap().tree.id;
    (g, owner, tree)
}
