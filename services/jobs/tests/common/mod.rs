//! Backends for the tests: SQLite in a temporary file, PostgreSQL in a fresh database.
#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test support: each test binary uses part of it; a failed setup step should panic"
)]

use std::sync::Arc;

use dzinza_jobs::{JobStore, PostgresStore, SqliteStore};
use sqlx::Connection as _;

/// Two independent handles (separate pools) on one fresh database, like two worker processes.
pub struct Backend {
    pub a: Arc<dyn JobStore>,
    pub b: Arc<dyn JobStore>,
    _dir: Option<tempfile::TempDir>,
}

pub async fn sqlite() -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jobs.db");
    let a = SqliteStore::open(&path, 4).await.unwrap();
    a.migrate().await.unwrap();
    let b = SqliteStore::open(&path, 4).await.unwrap();
    Backend {
        a: Arc::new(a),
        b: Arc::new(b),
        _dir: Some(dir),
    }
}

/// A fresh database on the test server, or `None` (skip) when no server is configured.
pub async fn postgres() -> Option<Backend> {
    let url = fresh_postgres_database().await?;
    let a = PostgresStore::connect(&url, 8).await.unwrap();
    a.migrate().await.unwrap();
    let b = PostgresStore::connect(&url, 8).await.unwrap();
    Some(Backend {
        a: Arc::new(a),
        b: Arc::new(b),
        _dir: None,
    })
}

/// Creates `jobs_test_<uuid>` on the server from `DZINZA_TEST_POSTGRES_URL`; returns its URL.
pub async fn fresh_postgres_database() -> Option<String> {
    let base = dzinza_kit::testing::backend_url("postgres", "DZINZA_TEST_POSTGRES_URL")?;
    let name = format!("jobs_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{name}"));
    Some(url.to_string())
}
