//! SQLite adapter: the embedded default, one file in the data directory.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};

use super::StoreError;
use super::sql::{AuditRow, RefreshRow, UserRow, impl_auth_store};
use crate::model::{
    AuditEntry, AuditFilter, IdentifierFailures, OneTimeToken, Page, RefreshToken, Role, TokenKind,
    User, UserFilter,
};

/// Auth storage in SQLite.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file at `path`.
    pub async fn open(path: &Path) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true);
        Self::connect(options).await
    }

    /// Opens a database from a `sqlite:` URL (`sqlite::memory:` for a private in-memory one).
    pub async fn open_url(url: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(url)?.create_if_missing(true);
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> Result<Self, StoreError> {
        // WAL lets readers proceed while one writer commits; the busy timeout queues writers
        // instead of failing them under concurrent logins.
        let options = options
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let in_memory = options.get_filename() == Path::new(":memory:");
        let pool = SqlitePoolOptions::new()
            // An in-memory database lives in one connection; more would each see an empty one.
            .max_connections(if in_memory { 1 } else { 8 })
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Applies this adapter's migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        sqlx::migrate!("migrations/sqlite").run(&self.pool).await?;
        Ok(())
    }
}

impl SqliteStore {
    /// A transaction that holds SQLite's write lock from its first statement, so a last-admin
    /// check and the change it guards cannot interleave with another writer's.
    async fn begin_admin_change(
        pool: &SqlitePool,
    ) -> Result<sqlx::Transaction<'static, Sqlite>, StoreError> {
        Ok(pool.begin_with("BEGIN IMMEDIATE").await?)
    }
}

impl_auth_store!(SqliteStore, Sqlite);
