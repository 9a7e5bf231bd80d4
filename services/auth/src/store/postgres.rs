//! PostgreSQL adapter: the cluster backend.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::StoreError;
use super::sql::{AuditRow, RefreshRow, UserRow, impl_auth_store};
use crate::model::{
    AuditEntry, AuditFilter, OneTimeToken, Page, RefreshToken, TokenKind, User, UserFilter,
};

/// Auth storage in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects to `url` (`postgres://user@host:port/db`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Applies this adapter's migrations.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        // A migrations table of its own: auth and jobs may share one PostgreSQL database.
        let mut migrator = sqlx::migrate!("migrations/postgres");
        migrator.dangerous_set_table_name("_sqlx_migrations_auth");
        migrator.run(&self.pool).await?;
        Ok(())
    }
}

impl_auth_store!(PostgresStore, Postgres);
