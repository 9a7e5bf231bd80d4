//! The SQL both adapters run. The statements are portable between SQLite and PostgreSQL
//! (`$N` parameters, `RETURNING`, lower-cased shadow columns for case-insensitive uniqueness),
//! so each adapter instantiates the same implementation over its own pool type; what differs
//! (connection, migrations, column types) lives in the adapter modules.

use crate::model::{AuditEntry, Role, User};

use super::StoreError;

/// A `users` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct UserRow {
    id: String,
    email: String,
    username: String,
    first_name: Option<String>,
    last_name: Option<String>,
    display_name: Option<String>,
    role: String,
    is_active: bool,
    email_verified: bool,
    preferences: String,
    password_hash: String,
    mfa_enabled: bool,
    mfa_secret: Option<String>,
    failed_logins: i64,
    lockout_count: i64,
    locked_until: Option<i64>,
    created_at: i64,
    updated_at: i64,
    last_login_at: Option<i64>,
}

impl TryFrom<UserRow> for User {
    type Error = StoreError;

    fn try_from(r: UserRow) -> Result<Self, StoreError> {
        Ok(User {
            role: Role::parse(&r.role)
                .ok_or_else(|| StoreError::Corrupt(format!("role {:?}", r.role)))?,
            preferences: serde_json::from_str(&r.preferences)
                .map_err(|e| StoreError::Corrupt(format!("preferences: {e}")))?,
            id: r.id,
            email: r.email,
            username: r.username,
            first_name: r.first_name,
            last_name: r.last_name,
            display_name: r.display_name,
            is_active: r.is_active,
            email_verified: r.email_verified,
            password_hash: r.password_hash,
            mfa_enabled: r.mfa_enabled,
            mfa_secret: r.mfa_secret,
            failed_logins: r.failed_logins,
            lockout_count: r.lockout_count,
            locked_until: r.locked_until,
            created_at: r.created_at,
            updated_at: r.updated_at,
            last_login_at: r.last_login_at,
        })
    }
}

/// An `audit_logs` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct AuditRow {
    id: String,
    at: i64,
    action: String,
    outcome: String,
    actor_id: Option<String>,
    target_id: Option<String>,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: String,
}

impl TryFrom<AuditRow> for AuditEntry {
    type Error = StoreError;

    fn try_from(r: AuditRow) -> Result<Self, StoreError> {
        Ok(AuditEntry {
            detail: serde_json::from_str(&r.detail)
                .map_err(|e| StoreError::Corrupt(format!("audit detail: {e}")))?,
            id: r.id,
            at: r.at,
            action: r.action,
            outcome: r.outcome,
            actor_id: r.actor_id,
            target_id: r.target_id,
            ip: r.ip,
            user_agent: r.user_agent,
        })
    }
}

/// A `refresh_tokens` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct RefreshRow {
    pub id: String,
    pub user_id: String,
    pub family_id: String,
    pub token_hash: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub rotated_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// Turns unique violations into `Conflict` naming the field.
pub(super) fn map_insert_error(e: sqlx::Error) -> StoreError {
    if let Some(db) = e.as_database_error()
        && db.is_unique_violation()
    {
        let what = format!("{} {}", db.constraint().unwrap_or(""), db.message());
        if what.contains("username") {
            return StoreError::Conflict("username");
        }
        if what.contains("email") {
            return StoreError::Conflict("email");
        }
    }
    StoreError::Database(e)
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
pub(super) fn like_contains(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('%');
    for c in s.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// The `UPDATE users` statement of `update_user`, bound to `$u`.
macro_rules! update_user_query {
    ($db:ty, $u:expr) => {
        sqlx::query::<$db>(
            "UPDATE users SET email = $2, email_lower = $3, username = $4, \
             username_lower = $5, first_name = $6, last_name = $7, display_name = $8, \
             role = $9, is_active = $10, email_verified = $11, preferences = $12, \
             password_hash = $13, mfa_enabled = $14, mfa_secret = $15, updated_at = $16 \
             WHERE id = $1",
        )
        .bind(&$u.id)
        .bind(&$u.email)
        .bind($u.email.to_lowercase())
        .bind(&$u.username)
        .bind($u.username.to_lowercase())
        .bind(&$u.first_name)
        .bind(&$u.last_name)
        .bind(&$u.display_name)
        .bind($u.role.as_str())
        .bind($u.is_active)
        .bind($u.email_verified)
        .bind($u.preferences.to_string())
        .bind(&$u.password_hash)
        .bind($u.mfa_enabled)
        .bind(&$u.mfa_secret)
        .bind($u.updated_at)
    };
}

pub(super) use update_user_query;

/// Implements [`super::AuthStore`] for `$store`, a struct with a `pool: $pool` field.
macro_rules! impl_auth_store {
    ($store:ty, $db:ty) => {
        #[async_trait::async_trait]
        impl $crate::store::AuthStore for $store {
            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query::<$db>("SELECT 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn insert_user(&self, u: &User) -> Result<(), StoreError> {
                sqlx::query::<$db>(
                    "INSERT INTO users (id, email, email_lower, username, username_lower, \
                     first_name, last_name, display_name, role, is_active, email_verified, \
                     preferences, password_hash, mfa_enabled, mfa_secret, failed_logins, \
                     lockout_count, locked_until, created_at, updated_at, last_login_at) \
                     VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19,$20,$21)",
                )
                .bind(&u.id)
                .bind(&u.email)
                .bind(u.email.to_lowercase())
                .bind(&u.username)
                .bind(u.username.to_lowercase())
                .bind(&u.first_name)
                .bind(&u.last_name)
                .bind(&u.display_name)
                .bind(u.role.as_str())
                .bind(u.is_active)
                .bind(u.email_verified)
                .bind(u.preferences.to_string())
                .bind(&u.password_hash)
                .bind(u.mfa_enabled)
                .bind(&u.mfa_secret)
                .bind(u.failed_logins)
                .bind(u.lockout_count)
                .bind(u.locked_until)
                .bind(u.created_at)
                .bind(u.updated_at)
                .bind(u.last_login_at)
                .execute(&self.pool)
                .await
                .map_err($crate::store::sql::map_insert_error)?;
                Ok(())
            }

            async fn user_by_id(&self, id: &str) -> Result<Option<User>, StoreError> {
                sqlx::query_as::<$db, UserRow>(
                    "SELECT id, email, username, first_name, last_name, display_name, role, \
                     is_active, email_verified, preferences, password_hash, mfa_enabled, \
                     mfa_secret, failed_logins, lockout_count, locked_until, created_at, \
                     updated_at, last_login_at FROM users WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .map(User::try_from)
                .transpose()
            }

            async fn user_by_email(&self, email: &str) -> Result<Option<User>, StoreError> {
                sqlx::query_as::<$db, UserRow>(
                    "SELECT id, email, username, first_name, last_name, display_name, role, \
                     is_active, email_verified, preferences, password_hash, mfa_enabled, \
                     mfa_secret, failed_logins, lockout_count, locked_until, created_at, \
                     updated_at, last_login_at FROM users WHERE email_lower = $1",
                )
                .bind(email.to_lowercase())
                .fetch_optional(&self.pool)
                .await?
                .map(User::try_from)
                .transpose()
            }

            async fn user_by_username(&self, username: &str) -> Result<Option<User>, StoreError> {
                sqlx::query_as::<$db, UserRow>(
                    "SELECT id, email, username, first_name, last_name, display_name, role, \
                     is_active, email_verified, preferences, password_hash, mfa_enabled, \
                     mfa_secret, failed_logins, lockout_count, locked_until, created_at, \
                     updated_at, last_login_at FROM users WHERE username_lower = $1",
                )
                .bind(username.to_lowercase())
                .fetch_optional(&self.pool)
                .await?
                .map(User::try_from)
                .transpose()
            }

            async fn update_user(&self, u: &User) -> Result<(), StoreError> {
                let done = $crate::store::sql::update_user_query!($db, u)
                    .execute(&self.pool)
                    .await
                    .map_err($crate::store::sql::map_insert_error)?;
                if done.rows_affected() == 0 {
                    return Err(StoreError::NotFound);
                }
                Ok(())
            }

            async fn update_user_keeping_admin(&self, u: &User) -> Result<(), StoreError> {
                let mut tx = Self::begin_admin_change(&self.pool).await?;
                let current = sqlx::query_as::<$db, (String, bool)>(
                    "SELECT role, is_active FROM users WHERE id = $1",
                )
                .bind(&u.id)
                .fetch_optional(&mut *tx)
                .await?
                .ok_or(StoreError::NotFound)?;
                let was_admin = current.0 == Role::Admin.as_str() && current.1;
                let stays_admin = u.role == Role::Admin && u.is_active;
                if was_admin && !stays_admin {
                    let others = sqlx::query_scalar::<$db, i64>(
                        "SELECT COUNT(*) FROM users WHERE role = 'ADMIN' AND is_active = $1 \
                         AND id <> $2",
                    )
                    .bind(true)
                    .bind(&u.id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if others == 0 {
                        return Err(StoreError::LastAdmin);
                    }
                }
                $crate::store::sql::update_user_query!($db, u)
                    .execute(&mut *tx)
                    .await
                    .map_err($crate::store::sql::map_insert_error)?;
                tx.commit().await?;
                Ok(())
            }

            async fn delete_user_keeping_admin(&self, id: &str) -> Result<bool, StoreError> {
                let mut tx = Self::begin_admin_change(&self.pool).await?;
                let Some((role, active)) = sqlx::query_as::<$db, (String, bool)>(
                    "SELECT role, is_active FROM users WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&mut *tx)
                .await?
                else {
                    return Ok(false);
                };
                if role == Role::Admin.as_str() && active {
                    let others = sqlx::query_scalar::<$db, i64>(
                        "SELECT COUNT(*) FROM users WHERE role = 'ADMIN' AND is_active = $1 \
                         AND id <> $2",
                    )
                    .bind(true)
                    .bind(id)
                    .fetch_one(&mut *tx)
                    .await?;
                    if others == 0 {
                        return Err(StoreError::LastAdmin);
                    }
                }
                let done = sqlx::query::<$db>("DELETE FROM users WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(done.rows_affected() > 0)
            }

            async fn unsealed_mfa_secrets(&self) -> Result<Vec<(String, String)>, StoreError> {
                Ok(sqlx::query_as::<$db, (String, String)>(
                    "SELECT id, mfa_secret FROM users WHERE mfa_secret IS NOT NULL \
                     AND mfa_secret NOT LIKE 'v1.%'",
                )
                .fetch_all(&self.pool)
                .await?)
            }

            async fn swap_mfa_secret(
                &self,
                id: &str,
                old: &str,
                new: &str,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query::<$db>(
                    "UPDATE users SET mfa_secret = $3 WHERE id = $1 AND mfa_secret = $2",
                )
                .bind(id)
                .bind(old)
                .bind(new)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn identifier_failures(
                &self,
                key: &str,
            ) -> Result<Option<IdentifierFailures>, StoreError> {
                let row = sqlx::query_as::<$db, (i64, i64, Option<i64>)>(
                    "SELECT failures, lockout_count, locked_until FROM login_failures \
                     WHERE identifier_hash = $1",
                )
                .bind(key)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|(failures, lockout_count, locked_until)| IdentifierFailures {
                    failures,
                    lockout_count,
                    locked_until,
                }))
            }

            async fn record_identifier_failure(
                &self,
                key: &str,
                now: i64,
            ) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar::<$db, i64>(
                    "INSERT INTO login_failures (identifier_hash, failures, lockout_count, \
                     updated_at) VALUES ($1, 1, 0, $2) ON CONFLICT (identifier_hash) DO UPDATE \
                     SET failures = login_failures.failures + 1, updated_at = $2 \
                     RETURNING failures",
                )
                .bind(key)
                .bind(now)
                .fetch_one(&self.pool)
                .await?)
            }

            async fn lock_identifier(&self, key: &str, until: i64) -> Result<(), StoreError> {
                sqlx::query::<$db>(
                    "UPDATE login_failures SET locked_until = $2, \
                     lockout_count = lockout_count + 1, failures = 0 WHERE identifier_hash = $1",
                )
                .bind(key)
                .bind(until)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn purge_identifier_failures(&self, before: i64) -> Result<u64, StoreError> {
                let done = sqlx::query::<$db>(
                    "DELETE FROM login_failures WHERE updated_at < $1 \
                     AND (locked_until IS NULL OR locked_until < $1)",
                )
                .bind(before)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn delete_user(&self, id: &str) -> Result<bool, StoreError> {
                let done = sqlx::query::<$db>("DELETE FROM users WHERE id = $1")
                    .bind(id)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn list_users(
                &self,
                f: &UserFilter,
                page: Page,
            ) -> Result<(Vec<User>, u64), StoreError> {
                let email = f.email.as_deref().map($crate::store::sql::like_contains);
                let role = f.role.map(|r| r.as_str());
                let total: i64 = sqlx::query_scalar::<$db, i64>(
                    "SELECT COUNT(*) FROM users WHERE ($1 IS NULL OR email_lower LIKE $1 ESCAPE '\\') \
                     AND ($2 IS NULL OR role = $2) AND ($3 IS NULL OR is_active = $3)",
                )
                .bind(&email)
                .bind(role)
                .bind(f.is_active)
                .fetch_one(&self.pool)
                .await?;
                let rows = sqlx::query_as::<$db, UserRow>(
                    "SELECT id, email, username, first_name, last_name, display_name, role, \
                     is_active, email_verified, preferences, password_hash, mfa_enabled, \
                     mfa_secret, failed_logins, lockout_count, locked_until, created_at, \
                     updated_at, last_login_at FROM users \
                     WHERE ($1 IS NULL OR email_lower LIKE $1 ESCAPE '\\') \
                     AND ($2 IS NULL OR role = $2) AND ($3 IS NULL OR is_active = $3) \
                     ORDER BY created_at, id LIMIT $4 OFFSET $5",
                )
                .bind(&email)
                .bind(role)
                .bind(f.is_active)
                .bind(i64::from(page.limit))
                .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                let users = rows.into_iter().map(User::try_from).collect::<Result<_, _>>()?;
                Ok((users, u64::try_from(total).unwrap_or(0)))
            }

            async fn count_active_admins(&self) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar::<$db, i64>(
                    "SELECT COUNT(*) FROM users WHERE role = 'ADMIN' AND is_active = $1",
                )
                .bind(true)
                .fetch_one(&self.pool)
                .await?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn record_failed_login(&self, id: &str) -> Result<i64, StoreError> {
                sqlx::query_scalar::<$db, i64>(
                    "UPDATE users SET failed_logins = failed_logins + 1 WHERE id = $1 \
                     RETURNING failed_logins",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?
                .ok_or(StoreError::NotFound)
            }

            async fn lock_user(&self, id: &str, until: i64) -> Result<(), StoreError> {
                sqlx::query::<$db>(
                    "UPDATE users SET locked_until = $2, lockout_count = lockout_count + 1, \
                     failed_logins = 0 WHERE id = $1",
                )
                .bind(id)
                .bind(until)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn record_successful_login(&self, id: &str, now: i64) -> Result<(), StoreError> {
                sqlx::query::<$db>(
                    "UPDATE users SET failed_logins = 0, lockout_count = 0, locked_until = NULL, \
                     last_login_at = $2 WHERE id = $1",
                )
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn claim_totp_step(&self, id: &str, step: i64) -> Result<bool, StoreError> {
                let done = sqlx::query::<$db>(
                    "UPDATE users SET mfa_last_step = $2 WHERE id = $1 \
                     AND (mfa_last_step IS NULL OR mfa_last_step < $2)",
                )
                .bind(id)
                .bind(step)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn replace_backup_codes(
                &self,
                user_id: &str,
                hashes: &[String],
            ) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query::<$db>("DELETE FROM backup_codes WHERE user_id = $1")
                    .bind(user_id)
                    .execute(&mut *tx)
                    .await?;
                for h in hashes {
                    sqlx::query::<$db>(
                        "INSERT INTO backup_codes (user_id, code_hash) VALUES ($1, $2)",
                    )
                    .bind(user_id)
                    .bind(h)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn use_backup_code(
                &self,
                user_id: &str,
                hash: &str,
                now: i64,
            ) -> Result<bool, StoreError> {
                let done = sqlx::query::<$db>(
                    "UPDATE backup_codes SET used_at = $3 WHERE user_id = $1 AND code_hash = $2 \
                     AND used_at IS NULL",
                )
                .bind(user_id)
                .bind(hash)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn remaining_backup_codes(&self, user_id: &str) -> Result<u64, StoreError> {
                let n: i64 = sqlx::query_scalar::<$db, i64>(
                    "SELECT COUNT(*) FROM backup_codes WHERE user_id = $1 AND used_at IS NULL",
                )
                .bind(user_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(u64::try_from(n).unwrap_or(0))
            }

            async fn insert_refresh_token(&self, t: &RefreshToken) -> Result<(), StoreError> {
                sqlx::query::<$db>(
                    "INSERT INTO refresh_tokens (id, user_id, family_id, token_hash, created_at, \
                     expires_at, rotated_at, revoked_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8)",
                )
                .bind(&t.id)
                .bind(&t.user_id)
                .bind(&t.family_id)
                .bind(&t.token_hash)
                .bind(t.created_at)
                .bind(t.expires_at)
                .bind(t.rotated_at)
                .bind(t.revoked_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn refresh_token_by_hash(
                &self,
                hash: &str,
            ) -> Result<Option<RefreshToken>, StoreError> {
                let row = sqlx::query_as::<$db, RefreshRow>(
                    "SELECT id, user_id, family_id, token_hash, created_at, expires_at, \
                     rotated_at, revoked_at FROM refresh_tokens WHERE token_hash = $1",
                )
                .bind(hash)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| RefreshToken {
                    id: r.id,
                    user_id: r.user_id,
                    family_id: r.family_id,
                    token_hash: r.token_hash,
                    created_at: r.created_at,
                    expires_at: r.expires_at,
                    rotated_at: r.rotated_at,
                    revoked_at: r.revoked_at,
                }))
            }

            async fn mark_refresh_rotated(&self, id: &str, now: i64) -> Result<bool, StoreError> {
                let done = sqlx::query::<$db>(
                    "UPDATE refresh_tokens SET rotated_at = $2 WHERE id = $1 \
                     AND rotated_at IS NULL AND revoked_at IS NULL",
                )
                .bind(id)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn revoke_family(&self, family_id: &str, now: i64) -> Result<u64, StoreError> {
                let done = sqlx::query::<$db>(
                    "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 \
                     AND revoked_at IS NULL",
                )
                .bind(family_id)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn revoke_user_sessions(
                &self,
                user_id: &str,
                except_family: Option<&str>,
                now: i64,
            ) -> Result<u64, StoreError> {
                let done = sqlx::query::<$db>(
                    "UPDATE refresh_tokens SET revoked_at = $3 WHERE user_id = $1 \
                     AND revoked_at IS NULL AND ($2 IS NULL OR family_id <> $2)",
                )
                .bind(user_id)
                .bind(except_family)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn insert_one_time_token(&self, t: &OneTimeToken) -> Result<(), StoreError> {
                sqlx::query::<$db>(
                    "INSERT INTO one_time_tokens (token_hash, kind, user_id, created_at, \
                     expires_at) VALUES ($1,$2,$3,$4,$5)",
                )
                .bind(&t.token_hash)
                .bind(t.kind.as_str())
                .bind(&t.user_id)
                .bind(t.created_at)
                .bind(t.expires_at)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn peek_one_time_token(
                &self,
                hash: &str,
                kind: TokenKind,
                now: i64,
            ) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar::<$db, String>(
                    "SELECT user_id FROM one_time_tokens WHERE token_hash = $1 AND kind = $2 \
                     AND used_at IS NULL AND expires_at > $3",
                )
                .bind(hash)
                .bind(kind.as_str())
                .bind(now)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn consume_one_time_token(
                &self,
                hash: &str,
                kind: TokenKind,
                now: i64,
            ) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar::<$db, String>(
                    "UPDATE one_time_tokens SET used_at = $3 WHERE token_hash = $1 AND kind = $2 \
                     AND used_at IS NULL AND expires_at > $3 RETURNING user_id",
                )
                .bind(hash)
                .bind(kind.as_str())
                .bind(now)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn consume_user_tokens(
                &self,
                user_id: &str,
                kind: TokenKind,
                now: i64,
            ) -> Result<u64, StoreError> {
                let done = sqlx::query::<$db>(
                    "UPDATE one_time_tokens SET used_at = $3 WHERE user_id = $1 AND kind = $2 \
                     AND used_at IS NULL",
                )
                .bind(user_id)
                .bind(kind.as_str())
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn append_audit(&self, e: &AuditEntry) -> Result<(), StoreError> {
                sqlx::query::<$db>(
                    "INSERT INTO audit_logs (id, at, action, outcome, actor_id, target_id, ip, \
                     user_agent, detail) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9)",
                )
                .bind(&e.id)
                .bind(e.at)
                .bind(&e.action)
                .bind(&e.outcome)
                .bind(&e.actor_id)
                .bind(&e.target_id)
                .bind(&e.ip)
                .bind(&e.user_agent)
                .bind(e.detail.to_string())
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn list_audit(
                &self,
                f: &AuditFilter,
                page: Page,
            ) -> Result<(Vec<AuditEntry>, u64), StoreError> {
                let total: i64 = sqlx::query_scalar::<$db, i64>(
                    "SELECT COUNT(*) FROM audit_logs WHERE ($1 IS NULL OR action = $1) \
                     AND ($2 IS NULL OR actor_id = $2) AND ($3 IS NULL OR target_id = $3) \
                     AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5)",
                )
                .bind(&f.action)
                .bind(&f.actor_id)
                .bind(&f.target_id)
                .bind(f.since)
                .bind(f.until)
                .fetch_one(&self.pool)
                .await?;
                let rows = sqlx::query_as::<$db, AuditRow>(
                    "SELECT id, at, action, outcome, actor_id, target_id, ip, user_agent, detail \
                     FROM audit_logs WHERE ($1 IS NULL OR action = $1) \
                     AND ($2 IS NULL OR actor_id = $2) AND ($3 IS NULL OR target_id = $3) \
                     AND ($4 IS NULL OR at >= $4) AND ($5 IS NULL OR at < $5) \
                     ORDER BY at DESC, id DESC LIMIT $6 OFFSET $7",
                )
                .bind(&f.action)
                .bind(&f.actor_id)
                .bind(&f.target_id)
                .bind(f.since)
                .bind(f.until)
                .bind(i64::from(page.limit))
                .bind(i64::try_from(page.offset).unwrap_or(i64::MAX))
                .fetch_all(&self.pool)
                .await?;
                let entries = rows
                    .into_iter()
                    .map(AuditEntry::try_from)
                    .collect::<Result<_, _>>()?;
                Ok((entries, u64::try_from(total).unwrap_or(0)))
            }
        }
    };
}

pub(super) use impl_auth_store;
