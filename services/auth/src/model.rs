//! The records auth keeps: users, refresh tokens, one-time tokens and audit entries.
//!
//! Timestamps are Unix seconds; ids are opaque strings (UUIDv7, so they sort by creation).

use serde::{Deserialize, Serialize};

/// A user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum Role {
    /// Ordinary user.
    User,
    /// Moderator.
    Moderator,
    /// Administrator.
    Admin,
}

impl Role {
    /// The stored and token form (`USER`, `MODERATOR`, `ADMIN`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => dzinza_kit::identity::roles::USER,
            Role::Moderator => dzinza_kit::identity::roles::MODERATOR,
            Role::Admin => dzinza_kit::identity::roles::ADMIN,
        }
    }

    /// Parses the stored form.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "USER" => Some(Role::User),
            "MODERATOR" => Some(Role::Moderator),
            "ADMIN" => Some(Role::Admin),
            _ => None,
        }
    }
}

/// A user account, including its credential state.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    /// Opaque id.
    pub id: String,
    /// Email as entered (compared case-insensitively).
    pub email: String,
    /// Username (unique case-insensitively).
    pub username: String,
    /// Given name.
    pub first_name: Option<String>,
    /// Family name.
    pub last_name: Option<String>,
    /// Name shown to others.
    pub display_name: Option<String>,
    /// Role.
    pub role: Role,
    /// Whether the account may sign in.
    pub is_active: bool,
    /// Whether the email address has been verified.
    pub email_verified: bool,
    /// Free-form client preferences.
    pub preferences: serde_json::Value,
    /// PHC-format Argon2id hash.
    pub password_hash: String,
    /// Whether TOTP is required at login.
    pub mfa_enabled: bool,
    /// Base32 TOTP secret (pending while `mfa_enabled` is false).
    pub mfa_secret: Option<String>,
    /// Consecutive failed logins since the last success or lock.
    pub failed_logins: i64,
    /// Lockouts since the last successful login (lock length grows with it).
    pub lockout_count: i64,
    /// Locked until this time, if locked.
    pub locked_until: Option<i64>,
    /// Created.
    pub created_at: i64,
    /// Last changed.
    pub updated_at: i64,
    /// Last successful login.
    pub last_login_at: Option<i64>,
}

/// A stored refresh token (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshToken {
    /// Opaque id.
    pub id: String,
    /// Owner.
    pub user_id: String,
    /// The login this token descends from; re-use of a rotated token revokes the whole family.
    pub family_id: String,
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Issued.
    pub created_at: i64,
    /// Expires.
    pub expires_at: i64,
    /// When it was exchanged for a successor.
    pub rotated_at: Option<i64>,
    /// When it was revoked.
    pub revoked_at: Option<i64>,
}

/// What a one-time token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    /// Email verification link.
    VerifyEmail,
    /// Password reset link.
    ResetPassword,
    /// Second step of a login with MFA.
    MfaChallenge,
}

impl TokenKind {
    /// Stored form.
    pub fn as_str(self) -> &'static str {
        match self {
            TokenKind::VerifyEmail => "verify_email",
            TokenKind::ResetPassword => "reset_password",
            TokenKind::MfaChallenge => "mfa_challenge",
        }
    }
}

/// A single-use token (only its hash is kept).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OneTimeToken {
    /// SHA-256 of the token, hex.
    pub token_hash: String,
    /// Purpose.
    pub kind: TokenKind,
    /// Whose it is.
    pub user_id: String,
    /// Issued.
    pub created_at: i64,
    /// Expires.
    pub expires_at: i64,
}

/// One audit log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    /// Opaque id.
    pub id: String,
    /// When (Unix seconds).
    pub at: i64,
    /// What happened, e.g. `login_failed`.
    pub action: String,
    /// `success` or `failure`.
    pub outcome: String,
    /// Who did it.
    pub actor_id: Option<String>,
    /// Whom it concerned.
    pub target_id: Option<String>,
    /// Client IP.
    pub ip: Option<String>,
    /// Client user agent.
    pub user_agent: Option<String>,
    /// Extra facts (never secrets).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// Filters of the admin user list.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    /// Email contains this (case-insensitive).
    pub email: Option<String>,
    /// Exact role.
    pub role: Option<Role>,
    /// Active flag.
    pub is_active: Option<bool>,
}

/// Filters of the audit log.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Exact action.
    pub action: Option<String>,
    /// Actor id.
    pub actor_id: Option<String>,
    /// Target id.
    pub target_id: Option<String>,
    /// At or after (Unix seconds).
    pub since: Option<i64>,
    /// Before (Unix seconds).
    pub until: Option<i64>,
}

/// A page request: `limit` rows after skipping `offset`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// Rows to return.
    pub limit: u32,
    /// Rows to skip.
    pub offset: u64,
}

/// Failed-login state of a login identifier that names no account, kept so unknown accounts
/// lock exactly like known ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct IdentifierFailures {
    /// Failures since the last lock.
    pub failures: i64,
    /// Locks so far (each doubles the next).
    pub lockout_count: i64,
    /// Locked until this time, if at all.
    pub locked_until: Option<i64>,
}
