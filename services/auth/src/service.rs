//! The auth domain: registration, login (with lockout, throttling and MFA), session rotation,
//! email flows, MFA management, profile, admin and audit. Knows nothing of HTTP or SQL.

use std::net::IpAddr;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use dzinza_kit::identity::{AccessClaims, Identity};
use dzinza_kit::problem::FieldError;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};

use crate::clock::Clock;
use crate::error::AuthError;
use crate::keys::KeyRing;
use crate::mail::{Mail, Mailer};
use crate::mfa;
use crate::model::{
    AuditEntry, AuditFilter, OneTimeToken, Page, RefreshToken, Role, TokenKind, User, UserFilter,
};
use crate::password::{self, Passwords, Verified};
use crate::sealing::Sealer;
use crate::store::{AuthStore, StoreError};
use crate::throttle::IpThrottle;

/// Tunables of the auth domain.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `iss` of issued tokens.
    pub issuer: String,
    /// `aud` of issued tokens.
    pub audience: String,
    /// Access-token lifetime, seconds.
    pub access_ttl: i64,
    /// Refresh-token lifetime, seconds.
    pub refresh_ttl: i64,
    /// MFA challenge lifetime, seconds.
    pub mfa_challenge_ttl: i64,
    /// Email-verification link lifetime, seconds.
    pub verify_ttl: i64,
    /// Password-reset link lifetime, seconds.
    pub reset_ttl: i64,
    /// Failed logins that lock an account.
    pub lockout_threshold: i64,
    /// First lock length, seconds; doubles with each further lock.
    pub lockout_base: i64,
    /// Longest lock, seconds.
    pub lockout_max: i64,
    /// Failed logins allowed per client address per window.
    pub ip_max_failures: u32,
    /// The per-address window, seconds.
    pub ip_window: i64,
    /// Base URL of the web app, for links in mail.
    pub public_url: String,
    /// Issuer name shown in authenticator apps.
    pub totp_issuer: String,
    /// Pauses before each further delivery attempt of a mail whose sending failed transiently.
    pub mail_retry_delays: Vec<std::time::Duration>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            issuer: "dzinza".into(),
            audience: "dzinza".into(),
            access_ttl: 15 * 60,
            refresh_ttl: 30 * 24 * 3600,
            mfa_challenge_ttl: 5 * 60,
            verify_ttl: 24 * 3600,
            reset_ttl: 3600,
            lockout_threshold: 5,
            lockout_base: 15 * 60,
            lockout_max: 24 * 3600,
            ip_max_failures: 50,
            ip_window: 15 * 60,
            public_url: "http://127.0.0.1:8080".into(),
            totp_issuer: "Dzinza".into(),
            mail_retry_delays: [5, 30, 120].map(std::time::Duration::from_secs).to_vec(),
        }
    }
}

/// Who is asking, for throttling and audit.
#[derive(Debug, Clone, Default)]
pub struct RequestMeta {
    /// Client address.
    pub ip: Option<IpAddr>,
    /// Client user agent.
    pub user_agent: Option<String>,
}

/// A signed-in session.
#[derive(Debug, Clone)]
pub struct Session {
    /// Signed JWT.
    pub access_token: String,
    /// Seconds the access token lives.
    pub expires_in: i64,
    /// Opaque refresh token.
    pub refresh_token: String,
    /// Seconds the refresh token lives.
    pub refresh_expires_in: i64,
    /// The user.
    pub user_id: String,
}

/// What a login produced.
#[derive(Debug, Clone)]
pub enum LoginOutcome {
    /// Signed in.
    Session(Session),
    /// The password was right; a TOTP or backup code must follow with this token.
    MfaRequired {
        /// Short-lived challenge token.
        mfa_token: String,
    },
}

/// What enabling MFA starts with.
#[derive(Debug, Clone)]
pub struct MfaSetup {
    /// Base32 secret.
    pub secret: String,
    /// `otpauth://` URI.
    pub otpauth_url: String,
    /// The URI as an SVG QR code.
    pub qr_svg: String,
}

/// Changes to one's own profile.
#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    /// New username.
    pub username: Option<String>,
    /// New given name (empty clears).
    pub first_name: Option<String>,
    /// New family name (empty clears).
    pub last_name: Option<String>,
    /// New display name (empty clears).
    pub display_name: Option<String>,
    /// New preferences object.
    pub preferences: Option<serde_json::Value>,
}

/// Changes an administrator may make to any user.
#[derive(Debug, Clone, Default)]
pub struct AdminPatch {
    /// Profile fields.
    pub profile: ProfilePatch,
    /// New role.
    pub role: Option<Role>,
    /// Enable or disable the account.
    pub is_active: Option<bool>,
    /// Mark the email verified or not.
    pub email_verified: Option<bool>,
}

/// The auth domain service.
#[derive(Debug)]
pub struct AuthService {
    store: Arc<dyn AuthStore>,
    clock: Arc<dyn Clock>,
    keys: Arc<KeyRing>,
    passwords: Passwords,
    mailer: Arc<dyn Mailer>,
    sealer: Arc<Sealer>,
    throttle: IpThrottle,
    config: AuthConfig,
}

/// Identifiers of unknown accounts idle this long are forgotten (30 days).
const IDENTIFIER_FAILURES_KEPT: i64 = 30 * 24 * 3600;

/// How a login identifier is keyed when it names no account: SHA-256 of the trimmed,
/// lower-cased text (the stores look accounts up case-insensitively too).
fn identifier_key(identifier: &str) -> String {
    token_hash(&identifier.trim().to_lowercase())
}

/// Random URL-safe token with 256 bits of entropy.
fn random_token() -> String {
    let bytes: [u8; 32] = rand::random();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// How tokens are stored: SHA-256, hex. Tokens are random, so no salt or stretching is needed.
fn token_hash(token: &str) -> String {
    mfa::hex(&Sha256::digest(token.as_bytes()))
}

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Checks an email address's shape (one `@`, a dotted domain, no spaces), at most 254 bytes.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    email.len() <= 254
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Checks a username: 3–32 characters of letters, digits, `.`, `_`, `-`.
pub fn valid_username(username: &str) -> bool {
    (3..=32).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn check_name(errors: &mut Vec<FieldError>, field: &str, value: &Option<String>) {
    if let Some(v) = value
        && (v.chars().count() > 100 || v.chars().any(char::is_control))
    {
        errors.push(FieldError {
            field: field.into(),
            message: "must be at most 100 characters without control characters".into(),
        });
    }
}

fn empty_to_none(v: String) -> Option<String> {
    let t = v.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

impl AuthService {
    /// Assembles the service.
    pub fn new(
        store: Arc<dyn AuthStore>,
        clock: Arc<dyn Clock>,
        keys: Arc<KeyRing>,
        passwords: Passwords,
        mailer: Arc<dyn Mailer>,
        sealer: Arc<Sealer>,
        config: AuthConfig,
    ) -> Self {
        let throttle = IpThrottle::new(config.ip_max_failures, config.ip_window, clock.clone());
        Self {
            store,
            clock,
            keys,
            passwords,
            mailer,
            sealer,
            throttle,
            config,
        }
    }

    /// Encrypts TOTP secrets still stored in clear (rows written before secrets were sealed);
    /// run at start. Returns how many were sealed. Idempotent and safe to run from several
    /// replicas at once: each row is replaced only if it still holds the plaintext read.
    pub async fn seal_plaintext_mfa_secrets(&self) -> Result<u64, AuthError> {
        let mut sealed = 0;
        for (id, plain) in self.store.unsealed_mfa_secrets().await? {
            let new = self.sealer.seal(&id, &plain)?;
            if self.store.swap_mfa_secret(&id, &plain, &new).await? {
                sealed += 1;
            }
        }
        if sealed > 0 {
            tracing::info!(
                count = sealed,
                "encrypted TOTP secrets that were stored in clear"
            );
        }
        Ok(sealed)
    }

    /// The TOTP secret of `user` in clear, if one is stored.
    fn mfa_secret(&self, user: &User) -> Result<Option<String>, AuthError> {
        match &user.mfa_secret {
            None => Ok(None),
            Some(stored) => Ok(Some(self.sealer.open(&user.id, stored)?)),
        }
    }

    /// The lock length after `lockout_count` earlier locks: the base, doubling, capped.
    fn lock_length(&self, lockout_count: i64) -> i64 {
        let exponent = u32::try_from(lockout_count.clamp(0, 16)).unwrap_or(16);
        self.config
            .lockout_base
            .saturating_mul(1_i64 << exponent)
            .min(self.config.lockout_max)
    }

    /// The signing keys.
    pub fn keys(&self) -> &Arc<KeyRing> {
        &self.keys
    }

    /// The store (for readiness checks).
    pub fn store(&self) -> &Arc<dyn AuthStore> {
        &self.store
    }

    /// The configuration.
    pub fn config(&self) -> &AuthConfig {
        &self.config
    }

    async fn audit(
        &self,
        action: &str,
        success: bool,
        actor: Option<&str>,
        target: Option<&str>,
        meta: &RequestMeta,
        detail: serde_json::Value,
    ) {
        let entry = AuditEntry {
            id: new_id(),
            at: self.clock.now(),
            action: action.to_owned(),
            outcome: if success { "success" } else { "failure" }.to_owned(),
            actor_id: actor.map(str::to_owned),
            target_id: target.map(str::to_owned),
            ip: meta.ip.map(|ip| ip.to_string()),
            user_agent: meta.user_agent.clone(),
            detail,
        };
        // An audit write failing must be loud but must not turn a done change into an error.
        if let Err(e) = self.store.append_audit(&entry).await {
            tracing::error!(error = %e, action, "cannot write audit entry");
        }
    }

    /// Sends in the background so the response time does not reveal whether mail was sent.
    /// Transient failures are retried; a message that cannot be delivered is logged (the
    /// user id and purpose, not the address or the link) and audited as
    /// `mail_delivery_failed`, so it is not lost silently while the answer to the request
    /// still does not reveal whether the address is registered.
    fn send_mail_later(&self, mail: Mail, user_id: &str, purpose: &'static str) {
        let mailer = self.mailer.clone();
        let store = self.store.clone();
        let clock = self.clock.clone();
        let delays = self.config.mail_retry_delays.clone();
        let user_id = user_id.to_owned();
        tokio::spawn(async move {
            let mut attempt = 0;
            let error = loop {
                attempt += 1;
                let err = match mailer.send(mail.clone()).await {
                    Ok(()) => return,
                    Err(e) => e,
                };
                match delays.get(attempt - 1) {
                    Some(delay) if err.is_transient() => {
                        tracing::warn!(error = %err, user_id, purpose, attempt, "mail delivery failed; retrying");
                        tokio::time::sleep(*delay).await;
                    }
                    _ => break err,
                }
            };
            tracing::error!(error = %error, user_id, purpose, attempts = attempt, "mail delivery failed; giving up");
            let entry = AuditEntry {
                id: new_id(),
                at: clock.now(),
                action: "mail_delivery_failed".into(),
                outcome: "failure".into(),
                actor_id: None,
                target_id: Some(user_id),
                ip: None,
                user_agent: None,
                detail: serde_json::json!({"purpose": purpose, "attempts": attempt, "error": error.to_string()}),
            };
            if let Err(e) = store.append_audit(&entry).await {
                tracing::error!(error = %e, "cannot write audit entry");
            }
        });
    }

    /// Creates an account (self-service): validates, hashes, stores and mails a verification
    /// link. An already registered email answers exactly like a new one (and its owner gets a
    /// notice instead), so registration does not reveal who has an account.
    pub async fn register(
        &self,
        email: &str,
        username: &str,
        password: SecretString,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let email = email.trim();
        let username = username.trim();
        self.validate_new_account(email, username, &password)?;
        let hash = self.passwords.hash(password).await?;
        let user = self.new_user(email, username, hash, Role::User, false);
        match self.store.insert_user(&user).await {
            Ok(()) => {
                self.audit(
                    "user_registered",
                    true,
                    Some(&user.id),
                    Some(&user.id),
                    meta,
                    serde_json::json!({}),
                )
                .await;
                self.issue_verification(&user).await?;
                Ok(())
            }
            Err(StoreError::Conflict("email")) => {
                if let Some(existing) = self.store.user_by_email(email).await? {
                    self.send_mail_later(
                        Mail {
                            to: existing.email.clone(),
                            subject: "Someone tried to register with your email".into(),
                            body: format!(
                                "Someone tried to create a Dzinza account with this address, which \
                             already has one. If it was you, sign in or reset your password at \
                             {}/reset-password.\n\nIf not, you can ignore this message.\n",
                                self.config.public_url
                            ),
                            link: None,
                        },
                        &existing.id,
                        "registration_notice",
                    );
                }
                Ok(())
            }
            Err(StoreError::Conflict(field)) => Err(AuthError::field(
                field,
                format!("this {field} is already taken"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Creates an account directly (bootstrap and admin tooling): email counts as verified.
    pub async fn create_user(
        &self,
        email: &str,
        username: &str,
        password: SecretString,
        role: Role,
    ) -> Result<User, AuthError> {
        self.validate_new_account(email.trim(), username.trim(), &password)?;
        let hash = self.passwords.hash(password).await?;
        let user = self.new_user(email.trim(), username.trim(), hash, role, true);
        self.store.insert_user(&user).await.map_err(|e| match e {
            StoreError::Conflict(field) => {
                AuthError::field(field, format!("this {field} is already taken"))
            }
            other => other.into(),
        })?;
        self.audit(
            "user_created",
            true,
            None,
            Some(&user.id),
            &RequestMeta::default(),
            serde_json::json!({"role": role.as_str(), "via": "cli"}),
        )
        .await;
        Ok(user)
    }

    fn validate_new_account(
        &self,
        email: &str,
        username: &str,
        password: &SecretString,
    ) -> Result<(), AuthError> {
        let mut errors = Vec::new();
        if !valid_email(email) {
            errors.push(FieldError {
                field: "email".into(),
                message: "must be an email address".into(),
            });
        }
        if !valid_username(username) {
            errors.push(FieldError {
                field: "username".into(),
                message: "must be 3 to 32 letters, digits, '.', '_' or '-'".into(),
            });
        }
        if let Err(message) = password::check_policy(password.expose_secret(), email, username) {
            errors.push(FieldError {
                field: "password".into(),
                message,
            });
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(AuthError::Validation(errors))
        }
    }

    fn new_user(
        &self,
        email: &str,
        username: &str,
        hash: String,
        role: Role,
        verified: bool,
    ) -> User {
        let now = self.clock.now();
        User {
            id: new_id(),
            email: email.to_owned(),
            username: username.to_owned(),
            first_name: None,
            last_name: None,
            display_name: None,
            role,
            is_active: true,
            email_verified: verified,
            preferences: serde_json::json!({}),
            password_hash: hash,
            mfa_enabled: false,
            mfa_secret: None,
            failed_logins: 0,
            lockout_count: 0,
            locked_until: None,
            created_at: now,
            updated_at: now,
            last_login_at: None,
        }
    }

    async fn find_login(&self, identifier: &str) -> Result<Option<User>, AuthError> {
        let identifier = identifier.trim();
        Ok(if identifier.contains('@') {
            self.store.user_by_email(identifier).await?
        } else {
            self.store.user_by_username(identifier).await?
        })
    }

    /// Password login by email or username.
    pub async fn login(
        &self,
        identifier: &str,
        password: SecretString,
        meta: &RequestMeta,
    ) -> Result<LoginOutcome, AuthError> {
        if let Err(retry_after) = self.throttle.check(meta.ip) {
            self.audit(
                "login_throttled",
                false,
                None,
                None,
                meta,
                serde_json::json!({}),
            )
            .await;
            return Err(AuthError::Throttled { retry_after });
        }
        let user = self.find_login(identifier).await?;
        let now = self.clock.now();
        let Some(user) = user else {
            return Err(self
                .unknown_account_failure(identifier, password, meta)
                .await?);
        };
        if let Some(until) = user.locked_until.filter(|u| *u > now) {
            // Same work as a real check, and the same answer whatever the password was.
            self.passwords.verify(password, None).await?;
            self.throttle.record_failure(meta.ip);
            self.audit(
                "login_failed",
                false,
                None,
                Some(&user.id),
                meta,
                serde_json::json!({"reason": "locked"}),
            )
            .await;
            return Err(AuthError::Locked {
                retry_after: until - now,
            });
        }
        let verified = self
            .passwords
            .verify(
                SecretString::from(password.expose_secret().to_owned()),
                Some(user.password_hash.clone()),
            )
            .await?;
        let Verified::Yes { rehash } = verified else {
            return Err(self.login_failure(&user, meta, "bad_password").await?);
        };
        if !user.is_active {
            self.audit(
                "login_failed",
                false,
                None,
                Some(&user.id),
                meta,
                serde_json::json!({"reason": "inactive"}),
            )
            .await;
            return Err(AuthError::InvalidCredentials);
        }
        if rehash {
            let mut updated = user.clone();
            updated.password_hash = self.passwords.hash(password).await?;
            updated.updated_at = now;
            self.store.update_user(&updated).await?;
            tracing::info!(user_id = %user.id, "password rehashed with current parameters");
        }
        if user.mfa_enabled {
            let mfa_token = random_token();
            self.store
                .insert_one_time_token(&OneTimeToken {
                    token_hash: token_hash(&mfa_token),
                    kind: TokenKind::MfaChallenge,
                    user_id: user.id.clone(),
                    created_at: now,
                    expires_at: now + self.config.mfa_challenge_ttl,
                })
                .await?;
            self.audit(
                "login_mfa_required",
                true,
                Some(&user.id),
                Some(&user.id),
                meta,
                serde_json::json!({}),
            )
            .await;
            return Ok(LoginOutcome::MfaRequired { mfa_token });
        }
        self.store.record_successful_login(&user.id, now).await?;
        self.audit(
            "login_succeeded",
            true,
            Some(&user.id),
            Some(&user.id),
            meta,
            serde_json::json!({"mfa": false}),
        )
        .await;
        Ok(LoginOutcome::Session(
            self.issue_session(&user, None).await?,
        ))
    }

    /// A login naming no account. Failures are counted per identifier and lock it exactly like
    /// an account (same threshold, lengths, answers and one Argon2id verification each), so the
    /// lockout does not tell who has an account. Returns the error to give.
    async fn unknown_account_failure(
        &self,
        identifier: &str,
        password: SecretString,
        meta: &RequestMeta,
    ) -> Result<AuthError, AuthError> {
        let key = identifier_key(identifier);
        let now = self.clock.now();
        let state = self
            .store
            .identifier_failures(&key)
            .await?
            .unwrap_or_default();
        self.passwords.verify(password, None).await?;
        self.throttle.record_failure(meta.ip);
        if let Some(until) = state.locked_until.filter(|u| *u > now) {
            self.audit(
                "login_failed",
                false,
                None,
                None,
                meta,
                serde_json::json!({"reason": "unknown_account_locked"}),
            )
            .await;
            return Ok(AuthError::Locked {
                retry_after: until - now,
            });
        }
        let failures = self.store.record_identifier_failure(&key, now).await?;
        self.audit(
            "login_failed",
            false,
            None,
            None,
            meta,
            serde_json::json!({"reason": "unknown_account"}),
        )
        .await;
        if failures < self.config.lockout_threshold {
            return Ok(AuthError::InvalidCredentials);
        }
        let length = self.lock_length(state.lockout_count);
        self.store.lock_identifier(&key, now + length).await?;
        self.store
            .purge_identifier_failures(now - IDENTIFIER_FAILURES_KEPT)
            .await?;
        self.audit(
            "account_locked",
            true,
            None,
            None,
            meta,
            serde_json::json!({
                "seconds": length,
                "lockouts": state.lockout_count + 1,
                "unknown_account": true,
            }),
        )
        .await;
        Ok(AuthError::Locked {
            retry_after: length,
        })
    }

    /// Counts a failed attempt, locking the account at the threshold; returns the error to give.
    async fn login_failure(
        &self,
        user: &User,
        meta: &RequestMeta,
        reason: &str,
    ) -> Result<AuthError, AuthError> {
        self.throttle.record_failure(meta.ip);
        let failures = self.store.record_failed_login(&user.id).await?;
        self.audit(
            "login_failed",
            false,
            None,
            Some(&user.id),
            meta,
            serde_json::json!({"reason": reason}),
        )
        .await;
        if failures < self.config.lockout_threshold {
            return Ok(match reason {
                "bad_code" => AuthError::InvalidCode,
                _ => AuthError::InvalidCredentials,
            });
        }
        let length = self.lock_length(user.lockout_count);
        self.store
            .lock_user(&user.id, self.clock.now() + length)
            .await?;
        self.audit(
            "account_locked",
            true,
            None,
            Some(&user.id),
            meta,
            serde_json::json!({"seconds": length, "lockouts": user.lockout_count + 1}),
        )
        .await;
        Ok(AuthError::Locked {
            retry_after: length,
        })
    }

    /// Second login step: a TOTP or backup code with the challenge token.
    pub async fn complete_mfa_login(
        &self,
        mfa_token: &str,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<Session, AuthError> {
        if let Err(retry_after) = self.throttle.check(meta.ip) {
            return Err(AuthError::Throttled { retry_after });
        }
        let now = self.clock.now();
        let hash = token_hash(mfa_token);
        let user_id = self
            .store
            .peek_one_time_token(&hash, TokenKind::MfaChallenge, now)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let user = self
            .store
            .user_by_id(&user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        if let Some(until) = user.locked_until.filter(|u| *u > now) {
            return Err(AuthError::Locked {
                retry_after: until - now,
            });
        }
        if !user.is_active || !user.mfa_enabled {
            return Err(AuthError::InvalidToken);
        }
        let Some(method) = self.check_second_factor(&user, code).await? else {
            return Err(self.login_failure(&user, meta, "bad_code").await?);
        };
        if self
            .store
            .consume_one_time_token(&hash, TokenKind::MfaChallenge, now)
            .await?
            .is_none()
        {
            return Err(AuthError::InvalidToken);
        }
        self.store.record_successful_login(&user.id, now).await?;
        self.audit(
            "login_succeeded",
            true,
            Some(&user.id),
            Some(&user.id),
            meta,
            serde_json::json!({"mfa": method}),
        )
        .await;
        self.issue_session(&user, None).await
    }

    /// Checks a TOTP code (claiming its step, so it cannot be replayed) or else a backup code
    /// (using it up). Returns which one matched.
    async fn check_second_factor(
        &self,
        user: &User,
        code: &str,
    ) -> Result<Option<&'static str>, AuthError> {
        let Some(secret) = self.mfa_secret(user)? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if let Some(step) = mfa::matching_step(&secret, code, now)? {
            return Ok(self
                .store
                .claim_totp_step(&user.id, step)
                .await?
                .then_some("totp"));
        }
        let code = code.trim();
        if code.len() >= 10 && user.mfa_enabled {
            let hash = mfa::backup_code_hash(&user.id, code);
            if self.store.use_backup_code(&user.id, &hash, now).await? {
                return Ok(Some("backup_code"));
            }
        }
        Ok(None)
    }

    async fn issue_session(&self, user: &User, family: Option<&str>) -> Result<Session, AuthError> {
        let now = self.clock.now();
        let family_id = family.map_or_else(new_id, str::to_owned);
        let refresh_token = random_token();
        self.store
            .insert_refresh_token(&RefreshToken {
                id: new_id(),
                user_id: user.id.clone(),
                family_id: family_id.clone(),
                token_hash: token_hash(&refresh_token),
                created_at: now,
                expires_at: now + self.config.refresh_ttl,
                rotated_at: None,
                revoked_at: None,
            })
            .await?;
        let iat = u64::try_from(now).unwrap_or(0);
        let claims = AccessClaims {
            sub: user.id.clone(),
            email: Some(user.email.clone()),
            roles: vec![user.role.as_str().to_owned()],
            iss: self.config.issuer.clone(),
            aud: self.config.audience.clone(),
            iat,
            exp: iat + u64::try_from(self.config.access_ttl).unwrap_or(0),
            nbf: None,
            // The session (family) id prefixes the token id so a password change can keep the
            // session it was made from and revoke the others.
            jti: Some(format!("{family_id}.{}", uuid::Uuid::new_v4().simple())),
        };
        Ok(Session {
            access_token: self.keys.sign(&claims)?,
            expires_in: self.config.access_ttl,
            refresh_token,
            refresh_expires_in: self.config.refresh_ttl,
            user_id: user.id.clone(),
        })
    }

    /// Exchanges a refresh token for a new session; the old token is used up. Presenting an
    /// already-rotated token revokes the whole family: someone kept a copy.
    pub async fn refresh(
        &self,
        refresh_token: &str,
        meta: &RequestMeta,
    ) -> Result<Session, AuthError> {
        let now = self.clock.now();
        let Some(token) = self
            .store
            .refresh_token_by_hash(&token_hash(refresh_token))
            .await?
        else {
            return Err(AuthError::InvalidToken);
        };
        if token.revoked_at.is_some() || token.expires_at <= now {
            return Err(AuthError::InvalidToken);
        }
        if token.rotated_at.is_some() || !self.store.mark_refresh_rotated(&token.id, now).await? {
            let revoked = self.store.revoke_family(&token.family_id, now).await?;
            self.audit(
                "refresh_token_reuse",
                false,
                None,
                Some(&token.user_id),
                meta,
                serde_json::json!({"family_id": token.family_id, "revoked": revoked}),
            )
            .await;
            return Err(AuthError::InvalidToken);
        }
        let user = match self.store.user_by_id(&token.user_id).await? {
            Some(u) if u.is_active => u,
            _ => {
                self.store.revoke_family(&token.family_id, now).await?;
                return Err(AuthError::InvalidToken);
            }
        };
        self.issue_session(&user, Some(&token.family_id)).await
    }

    /// Ends the session the refresh token belongs to. Unknown tokens are ignored (idempotent).
    pub async fn logout(&self, refresh_token: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        let now = self.clock.now();
        if let Some(token) = self
            .store
            .refresh_token_by_hash(&token_hash(refresh_token))
            .await?
        {
            self.store.revoke_family(&token.family_id, now).await?;
            self.audit(
                "logout",
                true,
                Some(&token.user_id),
                Some(&token.user_id),
                meta,
                serde_json::json!({}),
            )
            .await;
        }
        Ok(())
    }

    /// Ends every session of the caller.
    pub async fn logout_all(&self, who: &Identity, meta: &RequestMeta) -> Result<u64, AuthError> {
        let n = self
            .store
            .revoke_user_sessions(&who.user_id, None, self.clock.now())
            .await?;
        self.audit(
            "logout_all",
            true,
            Some(&who.user_id),
            Some(&who.user_id),
            meta,
            serde_json::json!({"revoked": n}),
        )
        .await;
        Ok(n)
    }

    async fn issue_verification(&self, user: &User) -> Result<(), AuthError> {
        let token = random_token();
        let now = self.clock.now();
        self.store
            .insert_one_time_token(&OneTimeToken {
                token_hash: token_hash(&token),
                kind: TokenKind::VerifyEmail,
                user_id: user.id.clone(),
                created_at: now,
                expires_at: now + self.config.verify_ttl,
            })
            .await?;
        let link = format!("{}/verify-email?token={token}", self.config.public_url);
        self.send_mail_later(
            Mail {
                to: user.email.clone(),
                subject: "Confirm your email address for Dzinza".into(),
                body: format!(
                    "Welcome to Dzinza, {}.\n\nConfirm your email address by opening this link \
                 within {} hours:\n\n{link}\n\nIf you did not create an account, ignore this \
                 message.\n",
                    user.username,
                    self.config.verify_ttl / 3600
                ),
                link: Some(link),
            },
            &user.id,
            "email_verification",
        );
        Ok(())
    }

    /// Sends a new verification link if the address belongs to an unverified account. The
    /// answer is the same either way.
    pub async fn request_email_verification(
        &self,
        email: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        if let Some(user) = self.store.user_by_email(email.trim()).await?
            && !user.email_verified
            && user.is_active
        {
            self.issue_verification(&user).await?;
            self.audit(
                "email_verification_requested",
                true,
                None,
                Some(&user.id),
                meta,
                serde_json::json!({}),
            )
            .await;
        }
        Ok(())
    }

    /// Redeems a verification token.
    pub async fn verify_email(&self, token: &str, meta: &RequestMeta) -> Result<(), AuthError> {
        let now = self.clock.now();
        let user_id = self
            .store
            .consume_one_time_token(&token_hash(token), TokenKind::VerifyEmail, now)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let mut user = self
            .store
            .user_by_id(&user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        user.email_verified = true;
        user.updated_at = now;
        self.store.update_user(&user).await?;
        self.audit(
            "email_verified",
            true,
            Some(&user.id),
            Some(&user.id),
            meta,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Mails a reset link if the address belongs to an active account; same answer either way.
    pub async fn request_password_reset(
        &self,
        email: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let Some(user) = self.store.user_by_email(email.trim()).await? else {
            return Ok(());
        };
        if !user.is_active {
            return Ok(());
        }
        let token = random_token();
        let now = self.clock.now();
        self.store
            .insert_one_time_token(&OneTimeToken {
                token_hash: token_hash(&token),
                kind: TokenKind::ResetPassword,
                user_id: user.id.clone(),
                created_at: now,
                expires_at: now + self.config.reset_ttl,
            })
            .await?;
        let link = format!("{}/reset-password?token={token}", self.config.public_url);
        self.send_mail_later(
            Mail {
                to: user.email.clone(),
                subject: "Reset your Dzinza password".into(),
                body: format!(
                    "Someone asked to reset the password of your Dzinza account. Choose a new one \
                 within {} minutes here:\n\n{link}\n\nIf it was not you, ignore this message; \
                 your password stays as it is.\n",
                    self.config.reset_ttl / 60
                ),
                link: Some(link),
            },
            &user.id,
            "password_reset",
        );
        self.audit(
            "password_reset_requested",
            true,
            None,
            Some(&user.id),
            meta,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Sets a new password with a reset token; every session of the account ends.
    pub async fn reset_password(
        &self,
        token: &str,
        new_password: SecretString,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let hash = token_hash(token);
        let user_id = self
            .store
            .peek_one_time_token(&hash, TokenKind::ResetPassword, now)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        let mut user = self
            .store
            .user_by_id(&user_id)
            .await?
            .ok_or(AuthError::InvalidToken)?;
        // Checked before the token is used up, so a rejected password does not burn the link.
        password::check_policy(new_password.expose_secret(), &user.email, &user.username)
            .map_err(|m| AuthError::field("new_password", m))?;
        if self
            .store
            .consume_one_time_token(&hash, TokenKind::ResetPassword, now)
            .await?
            .is_none()
        {
            return Err(AuthError::InvalidToken);
        }
        user.password_hash = self.passwords.hash(new_password).await?;
        // Following the link proves control of the mailbox.
        user.email_verified = true;
        user.updated_at = now;
        self.store.update_user(&user).await?;
        self.store
            .consume_user_tokens(&user.id, TokenKind::ResetPassword, now)
            .await?;
        let revoked = self.store.revoke_user_sessions(&user.id, None, now).await?;
        self.store
            .record_successful_login(&user.id, user.last_login_at.unwrap_or(now))
            .await?;
        self.audit(
            "password_reset",
            true,
            Some(&user.id),
            Some(&user.id),
            meta,
            serde_json::json!({"sessions_revoked": revoked}),
        )
        .await;
        Ok(())
    }

    async fn current_user(&self, who: &Identity) -> Result<User, AuthError> {
        match self.store.user_by_id(&who.user_id).await? {
            Some(u) if u.is_active => Ok(u),
            _ => Err(AuthError::AccountUnavailable),
        }
    }

    /// Changes the caller's password; every other session ends.
    pub async fn change_password(
        &self,
        who: &Identity,
        current: SecretString,
        new_password: SecretString,
        meta: &RequestMeta,
    ) -> Result<u64, AuthError> {
        let mut user = self.current_user(who).await?;
        let verified = self
            .passwords
            .verify(current, Some(user.password_hash.clone()))
            .await?;
        if verified == Verified::No {
            self.audit(
                "password_change_failed",
                false,
                Some(&user.id),
                Some(&user.id),
                meta,
                serde_json::json!({}),
            )
            .await;
            return Err(AuthError::field(
                "current_password",
                "is not your current password",
            ));
        }
        password::check_policy(new_password.expose_secret(), &user.email, &user.username)
            .map_err(|m| AuthError::field("new_password", m))?;
        let now = self.clock.now();
        user.password_hash = self.passwords.hash(new_password).await?;
        user.updated_at = now;
        self.store.update_user(&user).await?;
        let keep = who
            .token_id
            .as_deref()
            .and_then(|j| j.split_once('.'))
            .map(|(f, _)| f);
        let revoked = self.store.revoke_user_sessions(&user.id, keep, now).await?;
        self.audit(
            "password_changed",
            true,
            Some(&user.id),
            Some(&user.id),
            meta,
            serde_json::json!({"sessions_revoked": revoked}),
        )
        .await;
        Ok(revoked)
    }

    /// Starts turning MFA on: a new pending secret.
    pub async fn mfa_enable_request(
        &self,
        who: &Identity,
        meta: &RequestMeta,
    ) -> Result<MfaSetup, AuthError> {
        let mut user = self.current_user(who).await?;
        if user.mfa_enabled {
            return Err(AuthError::Conflict(
                "MFA is already on; disable it first.".into(),
            ));
        }
        let secret = mfa::new_secret();
        let otpauth_url = mfa::otpauth_url(&secret, &self.config.totp_issuer, &user.email)?;
        let qr_svg = mfa::qr_svg(&otpauth_url)?;
        user.mfa_secret = Some(self.sealer.seal(&user.id, &secret)?);
        user.updated_at = self.clock.now();
        self.store.update_user(&user).await?;
        self.audit(
            "mfa_enable_requested",
            true,
            Some(&user.id),
            Some(&user.id),
            meta,
            serde_json::json!({}),
        )
        .await;
        Ok(MfaSetup {
            secret,
            otpauth_url,
            qr_svg,
        })
    }

    /// Confirms MFA with a first code; returns the ten backup codes (shown once).
    pub async fn mfa_verify_enable(
        &self,
        who: &Identity,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<Vec<String>, AuthError> {
        let mut user = self.current_user(who).await?;
        if user.mfa_enabled {
            return Err(AuthError::Conflict("MFA is already on.".into()));
        }
        let Some(secret) = self.mfa_secret(&user)? else {
            return Err(AuthError::Conflict("Request MFA setup first.".into()));
        };
        let step = mfa::matching_step(&secret, code, self.clock.now())?;
        let claimed = match step {
            Some(step) => self.store.claim_totp_step(&user.id, step).await?,
            None => false,
        };
        if !claimed {
            self.audit(
                "mfa_enable_failed",
                false,
                Some(&user.id),
                Some(&user.id),
                meta,
                serde_json::json!({}),
            )
            .await;
            return Err(AuthError::InvalidCode);
        }
        let codes = mfa::new_backup_codes();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| mfa::backup_code_hash(&user.id, c))
            .collect();
        self.store.replace_backup_codes(&user.id, &hashes).await?;
        user.mfa_enabled = true;
        user.updated_at = self.clock.now();
        self.store.update_user(&user).await?;
        self.audit(
            "mfa_enabled",
            true,
            Some(&user.id),
            Some(&user.id),
            meta,
            serde_json::json!({}),
        )
        .await;
        Ok(codes)
    }

    /// Turns MFA off; needs the password and a current TOTP or backup code.
    pub async fn mfa_disable(
        &self,
        who: &Identity,
        password: SecretString,
        code: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let mut user = self.current_user(who).await?;
        if !user.mfa_enabled {
            return Err(AuthError::Conflict("MFA is not on.".into()));
        }
        let verified = self
            .passwords
            .verify(password, Some(user.password_hash.clone()))
            .await?;
        if verified == Verified::No {
            self.audit(
                "mfa_disable_failed",
                false,
                Some(&user.id),
                Some(&user.id),
                meta,
                serde_json::json!({"reason": "bad_password"}),
            )
            .await;
            return Err(AuthError::field("password", "is not your current password"));
        }
        if self.check_second_factor(&user, code).await?.is_none() {
            self.audit(
                "mfa_disable_failed",
                false,
                Some(&user.id),
                Some(&user.id),
                meta,
                serde_json::json!({"reason": "bad_code"}),
            )
            .await;
            return Err(AuthError::InvalidCode);
        }
        user.mfa_enabled = false;
        user.mfa_secret = None;
        user.updated_at = self.clock.now();
        self.store.update_user(&user).await?;
        self.store.replace_backup_codes(&user.id, &[]).await?;
        self.audit(
            "mfa_disabled",
            true,
            Some(&user.id),
            Some(&user.id),
            meta,
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// Unused backup codes of the caller.
    pub async fn backup_codes_left(&self, user_id: &str) -> Result<u64, AuthError> {
        Ok(self.store.remaining_backup_codes(user_id).await?)
    }

    /// The caller's account.
    pub async fn me(&self, who: &Identity) -> Result<User, AuthError> {
        self.current_user(who).await
    }

    fn apply_profile(user: &mut User, patch: ProfilePatch) -> Result<(), AuthError> {
        let mut errors = Vec::new();
        if let Some(u) = &patch.username
            && !valid_username(u.trim())
        {
            errors.push(FieldError {
                field: "username".into(),
                message: "must be 3 to 32 letters, digits, '.', '_' or '-'".into(),
            });
        }
        check_name(&mut errors, "first_name", &patch.first_name);
        check_name(&mut errors, "last_name", &patch.last_name);
        check_name(&mut errors, "display_name", &patch.display_name);
        if let Some(p) = &patch.preferences
            && (!p.is_object() || p.to_string().len() > 16 * 1024)
        {
            errors.push(FieldError {
                field: "preferences".into(),
                message: "must be a JSON object of at most 16 KiB".into(),
            });
        }
        if !errors.is_empty() {
            return Err(AuthError::Validation(errors));
        }
        if let Some(u) = patch.username {
            user.username = u.trim().to_owned();
        }
        if let Some(v) = patch.first_name {
            user.first_name = empty_to_none(v);
        }
        if let Some(v) = patch.last_name {
            user.last_name = empty_to_none(v);
        }
        if let Some(v) = patch.display_name {
            user.display_name = empty_to_none(v);
        }
        if let Some(p) = patch.preferences {
            user.preferences = p;
        }
        Ok(())
    }

    async fn save_user(&self, user: &User) -> Result<(), AuthError> {
        self.store.update_user(user).await.map_err(|e| match e {
            StoreError::Conflict(field) => {
                AuthError::field(field, format!("this {field} is already taken"))
            }
            StoreError::NotFound => AuthError::NotFound,
            other => other.into(),
        })
    }

    /// Updates the caller's profile.
    pub async fn update_me(&self, who: &Identity, patch: ProfilePatch) -> Result<User, AuthError> {
        let mut user = self.current_user(who).await?;
        Self::apply_profile(&mut user, patch)?;
        user.updated_at = self.clock.now();
        self.save_user(&user).await?;
        Ok(user)
    }

    /// The caller, if an active administrator (checked against storage, not just the token).
    async fn admin(&self, who: &Identity) -> Result<User, AuthError> {
        let user = self.current_user(who).await?;
        if user.role != Role::Admin {
            return Err(AuthError::Forbidden(
                "Only administrators may do this.".into(),
            ));
        }
        Ok(user)
    }

    /// Users, for administrators.
    pub async fn list_users(
        &self,
        who: &Identity,
        filter: &UserFilter,
        page: Page,
    ) -> Result<(Vec<User>, u64), AuthError> {
        self.admin(who).await?;
        Ok(self.store.list_users(filter, page).await?)
    }

    /// One user, for administrators.
    pub async fn get_user(&self, who: &Identity, id: &str) -> Result<User, AuthError> {
        self.admin(who).await?;
        self.store.user_by_id(id).await?.ok_or(AuthError::NotFound)
    }

    /// Changes a user as an administrator; refuses to leave no active administrator.
    pub async fn update_user(
        &self,
        who: &Identity,
        id: &str,
        patch: AdminPatch,
        meta: &RequestMeta,
    ) -> Result<User, AuthError> {
        let actor = self.admin(who).await?;
        let before = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let mut user = before.clone();
        Self::apply_profile(&mut user, patch.profile)?;
        if let Some(role) = patch.role {
            user.role = role;
        }
        if let Some(active) = patch.is_active {
            user.is_active = active;
        }
        if let Some(verified) = patch.email_verified {
            user.email_verified = verified;
        }
        user.updated_at = self.clock.now();
        // The last-admin check happens in the store, in one transaction with the write.
        self.store
            .update_user_keeping_admin(&user)
            .await
            .map_err(|e| match e {
                StoreError::LastAdmin => AuthError::LastAdmin,
                StoreError::Conflict(field) => {
                    AuthError::field(field, format!("this {field} is already taken"))
                }
                StoreError::NotFound => AuthError::NotFound,
                other => other.into(),
            })?;
        if before.is_active && !user.is_active {
            self.store
                .revoke_user_sessions(&user.id, None, self.clock.now())
                .await?;
        }
        if before.role != user.role {
            self.audit(
                "role_changed",
                true,
                Some(&actor.id),
                Some(&user.id),
                meta,
                serde_json::json!({"from": before.role.as_str(), "to": user.role.as_str()}),
            )
            .await;
        }
        self.audit(
            "admin_user_updated",
            true,
            Some(&actor.id),
            Some(&user.id),
            meta,
            serde_json::json!({"is_active": user.is_active, "email_verified": user.email_verified}),
        )
        .await;
        Ok(user)
    }

    /// Deletes a user as an administrator; refuses to delete the last active administrator.
    pub async fn delete_user(
        &self,
        who: &Identity,
        id: &str,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let actor = self.admin(who).await?;
        let user = self
            .store
            .user_by_id(id)
            .await?
            .ok_or(AuthError::NotFound)?;
        let deleted = self
            .store
            .delete_user_keeping_admin(id)
            .await
            .map_err(|e| match e {
                StoreError::LastAdmin => AuthError::LastAdmin,
                other => other.into(),
            })?;
        if !deleted {
            return Err(AuthError::NotFound);
        }
        self.audit(
            "admin_user_deleted",
            true,
            Some(&actor.id),
            Some(id),
            meta,
            serde_json::json!({"email": user.email}),
        )
        .await;
        Ok(())
    }

    /// Audit entries, for administrators.
    pub async fn audit_log(
        &self,
        who: &Identity,
        filter: &AuditFilter,
        page: Page,
    ) -> Result<(Vec<AuditEntry>, u64), AuthError> {
        self.admin(who).await?;
        Ok(self.store.list_audit(filter, page).await?)
    }
}
