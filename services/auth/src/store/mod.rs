//! The storage port: everything auth persists, behind one trait with an adapter per backend.
//!
//! Adapters: [`sqlite::SqliteStore`] (embedded default) and [`postgres::PostgresStore`]
//! (cluster). Both pass the same conformance suite (`tests/store_conformance.rs`).

use async_trait::async_trait;

use crate::model::{
    AuditEntry, AuditFilter, IdentifierFailures, OneTimeToken, Page, RefreshToken, TokenKind, User,
    UserFilter,
};

pub mod postgres;
mod sql;
pub mod sqlite;

/// Storage failures.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique field (`email` or `username`) is already taken.
    #[error("{0} is already taken")]
    Conflict(&'static str),
    /// The record to change does not exist.
    #[error("not found")]
    NotFound,
    /// The change would leave no active administrator; nothing was written.
    #[error("the last active administrator must stay")]
    LastAdmin,
    /// A stored value could not be understood.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The database failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// What auth persists. Every method is atomic on its own; conditional updates (`mark_*`,
/// `claim_*`, `consume_*`, `use_*`) return whether this caller won, so concurrent requests
/// cannot both redeem the same token or code.
#[async_trait]
pub trait AuthStore: Send + Sync + std::fmt::Debug + 'static {
    /// Checks the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Inserts a new user; `Conflict("email"|"username")` when taken (case-insensitively).
    async fn insert_user(&self, user: &User) -> Result<(), StoreError>;
    /// A user by id.
    async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError>;
    /// A user by email, case-insensitively.
    async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError>;
    /// A user by username, case-insensitively.
    async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError>;
    /// Writes profile, role, flags, password and MFA fields (not the login counters).
    async fn update_user(&self, user: &User) -> Result<(), StoreError>;
    /// Deletes a user with their tokens and codes; false when there was none.
    async fn delete_user(&self, id: &str) -> Result<bool, StoreError>;
    /// Users matching `filter`, oldest first, and how many match in all.
    async fn list_users(
        &self,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, u64), StoreError>;
    /// Active administrators.
    async fn count_active_admins(&self) -> Result<u64, StoreError>;
    /// Like [`AuthStore::update_user`], but refuses (`LastAdmin`) to turn the last active
    /// administrator into a non-administrator or disable them. Check and write are one
    /// transaction that serialises with every other such change.
    async fn update_user_keeping_admin(&self, user: &User) -> Result<(), StoreError>;
    /// Like [`AuthStore::delete_user`], but refuses (`LastAdmin`) to delete the last active
    /// administrator, in one serialised transaction.
    async fn delete_user_keeping_admin(&self, id: &str) -> Result<bool, StoreError>;

    /// `(id, stored value)` of every user whose TOTP secret is not in the sealed format.
    async fn unsealed_mfa_secrets(&self) -> Result<Vec<(String, String)>, StoreError>;
    /// Replaces a user's stored TOTP secret if it still is `old`; true when replaced.
    async fn swap_mfa_secret(&self, id: &str, old: &str, new: &str) -> Result<bool, StoreError>;

    /// Failed-login state of a login identifier that names no account (by its hash).
    async fn identifier_failures(
        &self,
        key: &str,
    ) -> Result<Option<IdentifierFailures>, StoreError>;
    /// Adds one failed login for an identifier and returns the new count.
    async fn record_identifier_failure(&self, key: &str, now: i64) -> Result<i64, StoreError>;
    /// Locks an identifier until `until`, counts the lockout and clears the failure count.
    async fn lock_identifier(&self, key: &str, until: i64) -> Result<(), StoreError>;
    /// Forgets identifiers with no failed login since `before`; returns how many.
    async fn purge_identifier_failures(&self, before: i64) -> Result<u64, StoreError>;

    /// Adds one failed login and returns the new count.
    async fn record_failed_login(&self, id: &str) -> Result<i64, StoreError>;
    /// Locks the account until `until`, counts the lockout and clears the failure count.
    async fn lock_user(&self, id: &str, until: i64) -> Result<(), StoreError>;
    /// Clears failures and lockouts and stamps the last login.
    async fn record_successful_login(&self, id: &str, now: i64) -> Result<(), StoreError>;
    /// Claims TOTP time step `step`: true only if no equal or later step was used before.
    async fn claim_totp_step(&self, id: &str, step: i64) -> Result<bool, StoreError>;

    /// Replaces the user's backup codes by these hashes.
    async fn replace_backup_codes(
        &self,
        user_id: &str,
        hashes: &[String],
    ) -> Result<(), StoreError>;
    /// Marks a backup code used: true only for an unused code of this user.
    async fn use_backup_code(
        &self,
        user_id: &str,
        hash: &str,
        now: i64,
    ) -> Result<bool, StoreError>;
    /// Unused backup codes left.
    async fn remaining_backup_codes(&self, user_id: &str) -> Result<u64, StoreError>;

    /// Stores a refresh token.
    async fn insert_refresh_token(&self, token: &RefreshToken) -> Result<(), StoreError>;
    /// A refresh token by hash, whatever its state.
    async fn refresh_token_by_hash(&self, hash: &str) -> Result<Option<RefreshToken>, StoreError>;
    /// Marks a live token rotated: true only if it was neither rotated nor revoked before.
    async fn mark_refresh_rotated(&self, id: &str, now: i64) -> Result<bool, StoreError>;
    /// Revokes every live token of a family; returns how many.
    async fn revoke_family(&self, family_id: &str, now: i64) -> Result<u64, StoreError>;
    /// Revokes every live token of a user, except one family; returns how many.
    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        except_family: Option<&str>,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// Stores a one-time token.
    async fn insert_one_time_token(&self, token: &OneTimeToken) -> Result<(), StoreError>;
    /// The owner of an unused, unexpired token, without using it up.
    async fn peek_one_time_token(
        &self,
        hash: &str,
        kind: TokenKind,
        now: i64,
    ) -> Result<Option<String>, StoreError>;
    /// Uses up an unused, unexpired token and returns its owner; None if it was not redeemable.
    async fn consume_one_time_token(
        &self,
        hash: &str,
        kind: TokenKind,
        now: i64,
    ) -> Result<Option<String>, StoreError>;
    /// Uses up every open token of `kind` for a user (e.g. older reset links after a reset).
    async fn consume_user_tokens(
        &self,
        user_id: &str,
        kind: TokenKind,
        now: i64,
    ) -> Result<u64, StoreError>;

    /// Appends an audit entry.
    async fn append_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// Audit entries matching `filter`, newest first, and how many match in all.
    async fn list_audit(
        &self,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditEntry>, u64), StoreError>;
}
