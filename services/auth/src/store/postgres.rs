//! PostgreSQL adapter: the cluster backend.

use std::str::FromStr;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres};

use super::StoreError;
use super::sql::{AuditRow, RefreshRow, UserRow, impl_auth_store};
use crate::model::{
    AuditEntry, AuditFilter, IdentifierFailures, OneTimeToken, Page, RefreshToken, Role, TokenKind,
    User, UserFilter,
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

impl PostgresStore {
    /// A transaction that first locks every active administrator's row, so concurrent
    /// last-admin checks queue behind each other; under READ COMMITTED the waiting one then
    /// re-reads the rows and sees the change that went first.
    async fn begin_admin_change(
        pool: &PgPool,
    ) -> Result<sqlx::Transaction<'static, Postgres>, StoreError> {
        let mut tx = pool.begin().await?;
        sqlx::query::<Postgres>(
            "SELECT id FROM users WHERE role = 'ADMIN' AND is_active = TRUE FOR UPDATE",
        )
        .execute(&mut *tx)
        .await?;
        Ok(tx)
    }
}

impl_auth_store!(PostgresStore, Postgres);
