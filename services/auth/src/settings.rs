//! Settings of the auth target and assembly of the service from them.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use dzinza_kit::config::{IdentityArgs, parse_duration, resolve_secret};
use dzinza_kit::identity::Authenticator;
use secrecy::{ExposeSecret, SecretString};

use crate::clock::{Clock, SystemClock};
use crate::http::AppState;
use crate::keys::KeyRing;
use crate::mail::{FileMailer, Mailer, SmtpMailer};
use crate::password::{Passwords, owasp_params};
use crate::sealing::Sealer;
use crate::service::{AuthConfig, AuthService};
use crate::store::AuthStore;
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;

fn secret(s: &str) -> Result<SecretString, String> {
    Ok(SecretString::from(s.to_owned()))
}

/// Settings of the auth service (`DZINZA_*` environment variables or flags).
#[derive(Debug, Clone, Args)]
pub struct AuthArgs {
    /// Auth database URL (`postgres://...` or `sqlite:...`); unset means the SQLite file
    /// `<data-dir>/auth/auth.db`.
    #[arg(long = "auth-database-url", env = "DZINZA_AUTH_DATABASE_URL", hide_env_values = true, value_parser = secret)]
    pub database_url: Option<SecretString>,
    /// File holding the auth database URL.
    #[arg(long = "auth-database-url-file", env = "DZINZA_AUTH_DATABASE_URL_FILE")]
    pub database_url_file: Option<PathBuf>,
    /// Ed25519 signing key (PKCS#8 PEM file); unset means a key generated once and kept in
    /// `<data-dir>/auth/keys/`.
    #[arg(long = "jwt-signing-key-file", env = "DZINZA_JWT_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<PathBuf>,
    /// Further keys to publish in the JWKS (PEM files, comma-separated), for rotation.
    #[arg(
        long = "jwt-extra-key-files",
        env = "DZINZA_JWT_EXTRA_KEY_FILES",
        value_delimiter = ','
    )]
    pub extra_key_files: Vec<PathBuf>,
    /// Key that encrypts TOTP secrets at rest (32 random bytes, base64, e.g. `openssl rand
    /// -base64 32`); unset means a key generated once and kept in `<data-dir>/auth/keys/`.
    #[arg(long = "mfa-encryption-key", env = "DZINZA_MFA_ENCRYPTION_KEY", hide_env_values = true, value_parser = secret)]
    pub mfa_encryption_key: Option<SecretString>,
    /// File holding the TOTP secret encryption key.
    #[arg(
        long = "mfa-encryption-key-file",
        env = "DZINZA_MFA_ENCRYPTION_KEY_FILE"
    )]
    pub mfa_encryption_key_file: Option<PathBuf>,
    /// Access-token lifetime.
    #[arg(long, env = "DZINZA_ACCESS_TOKEN_TTL", default_value = "15m", value_parser = parse_duration)]
    pub access_token_ttl: Duration,
    /// Refresh-token lifetime.
    #[arg(long, env = "DZINZA_REFRESH_TOKEN_TTL", default_value = "30days", value_parser = parse_duration)]
    pub refresh_token_ttl: Duration,
    /// Failed logins that lock an account.
    #[arg(long, env = "DZINZA_LOCKOUT_THRESHOLD", default_value_t = 5)]
    pub lockout_threshold: i64,
    /// First lock length (doubles on each repeat, up to a day).
    #[arg(long, env = "DZINZA_LOCKOUT_DURATION", default_value = "15m", value_parser = parse_duration)]
    pub lockout_duration: Duration,
    /// Failed logins allowed per client address per 15 minutes.
    #[arg(long, env = "DZINZA_LOGIN_IP_LIMIT", default_value_t = 50)]
    pub login_ip_limit: u32,
    /// Public base URL of the web app, for links in mail (default: the listen address).
    #[arg(long, env = "DZINZA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Sender of auth mail.
    #[arg(
        long,
        env = "DZINZA_MAIL_FROM",
        default_value = "Dzinza <no-reply@dzinza.local>"
    )]
    pub mail_from: String,
    /// SMTP relay for auth mail (`smtp://[user:pass@]host[:port][?tls=required]` or `smtps://`);
    /// unset means each message is written as an `.eml` file under `<data-dir>/mail/`.
    #[arg(long = "smtp-url", env = "DZINZA_SMTP_URL", hide_env_values = true, value_parser = secret)]
    pub smtp_url: Option<SecretString>,
    /// File holding the SMTP relay URL (it may carry credentials).
    #[arg(long = "smtp-url-file", env = "DZINZA_SMTP_URL_FILE")]
    pub smtp_url_file: Option<PathBuf>,
}

/// Failures assembling the service.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A setting is unreadable.
    #[error(transparent)]
    Config(#[from] dzinza_kit::config::ConfigError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// Keys failed.
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    /// Hasher setup failed.
    #[error(transparent)]
    Password(#[from] crate::password::PasswordError),
    /// A key file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The TOTP secret key is unusable.
    #[error(transparent)]
    Sealing(#[from] crate::sealing::SealError),
    /// Sealing stored TOTP secrets at start failed.
    #[error("encrypting stored TOTP secrets: {0}")]
    SealExisting(#[source] crate::error::AuthError),
    /// The SMTP settings are unusable.
    #[error(transparent)]
    Smtp(#[from] crate::mail::SmtpConfigError),
    /// The database URL names an unsupported scheme.
    #[error("DZINZA_AUTH_DATABASE_URL must start with postgres:// or sqlite:")]
    BadUrl,
}

/// Opens the configured store; `migrate_now` applies migrations first.
pub async fn open_store(
    args: &AuthArgs,
    data_dir: &Path,
    migrate_now: bool,
) -> Result<Arc<dyn AuthStore>, SetupError> {
    let url = resolve_secret(
        "DZINZA_AUTH_DATABASE_URL",
        args.database_url.clone(),
        args.database_url_file.as_deref(),
    )?;
    match url {
        Some(url) if url.expose_secret().starts_with("postgres") => {
            let store = PostgresStore::connect(url.expose_secret(), 16).await?;
            if migrate_now {
                store.migrate().await?;
            }
            Ok(Arc::new(store))
        }
        Some(url) if url.expose_secret().starts_with("sqlite:") => {
            let store = SqliteStore::open_url(url.expose_secret()).await?;
            // SQLite is local to this process: nobody else can have migrated it.
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        Some(_) => Err(SetupError::BadUrl),
        None => {
            let dir = data_dir.join("auth");
            std::fs::create_dir_all(&dir).map_err(|source| SetupError::Io {
                path: dir.display().to_string(),
                source,
            })?;
            let store = SqliteStore::open(&dir.join("auth.db")).await?;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
    }
}

fn read(path: &Path) -> Result<String, SetupError> {
    std::fs::read_to_string(path).map_err(|source| SetupError::Io {
        path: path.display().to_string(),
        source,
    })
}

/// Loads the signing keys: the configured file, or the embedded key directory.
pub fn load_keys(args: &AuthArgs, data_dir: &Path) -> Result<KeyRing, SetupError> {
    match &args.signing_key_file {
        Some(path) => {
            let signing = read(path)?;
            let extra = args
                .extra_key_files
                .iter()
                .map(|p| Ok((p.display().to_string(), read(p)?)))
                .collect::<Result<Vec<_>, SetupError>>()?;
            Ok(KeyRing::from_pems(&signing, &extra)?)
        }
        None => Ok(KeyRing::load_or_generate(
            &data_dir.join("auth").join("keys"),
        )?),
    }
}

/// The TOTP secret key: the configured one, or the one kept in the embedded key directory.
pub fn load_sealer(args: &AuthArgs, data_dir: &Path) -> Result<Sealer, SetupError> {
    let key = resolve_secret(
        "DZINZA_MFA_ENCRYPTION_KEY",
        args.mfa_encryption_key.clone(),
        args.mfa_encryption_key_file.as_deref(),
    )?;
    Ok(match key {
        Some(key) => Sealer::from_encoded(&key)?,
        None => Sealer::load_or_generate(&data_dir.join("auth").join("keys"))?,
    })
}

/// Domain settings from the flags.
pub fn auth_config(
    args: &AuthArgs,
    identity: &IdentityArgs,
    default_public_url: &str,
) -> AuthConfig {
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    AuthConfig {
        issuer: identity.jwt_issuer.clone(),
        audience: identity.jwt_audience.clone(),
        access_ttl: secs(args.access_token_ttl),
        refresh_ttl: secs(args.refresh_token_ttl),
        lockout_threshold: args.lockout_threshold.max(1),
        lockout_base: secs(args.lockout_duration),
        ip_max_failures: args.login_ip_limit.max(1),
        public_url: args
            .public_url
            .clone()
            .unwrap_or_else(|| default_public_url.to_owned())
            .trim_end_matches('/')
            .to_owned(),
        ..AuthConfig::default()
    }
}

/// The SMTP relay when one is configured, else the `.eml` writer (links logged in embedded
/// mode only, since they carry single-use secrets).
pub fn mailer(
    args: &AuthArgs,
    data_dir: &Path,
    embedded: bool,
) -> Result<Arc<dyn Mailer>, SetupError> {
    let url = resolve_secret(
        "DZINZA_SMTP_URL",
        args.smtp_url.clone(),
        args.smtp_url_file.as_deref(),
    )?;
    Ok(match url {
        Some(url) => {
            let mailer = SmtpMailer::new(
                url.expose_secret().trim(),
                &args.mail_from,
                Duration::from_secs(30),
            )?;
            tracing::info!("auth mail goes through the configured SMTP relay");
            Arc::new(mailer)
        }
        None => Arc::new(FileMailer::new(
            data_dir.join("mail"),
            args.mail_from.clone(),
            embedded,
        )),
    })
}

/// Everything the auth unit serves from.
pub struct Built {
    /// Handler state.
    pub state: AppState,
}

/// Assembles the service with the system clock, OWASP Argon2id parameters and the configured
/// mailer.
pub async fn build(
    args: &AuthArgs,
    identity: &IdentityArgs,
    data_dir: &Path,
    embedded: bool,
    default_public_url: &str,
) -> Result<Built, SetupError> {
    let store = open_store(args, data_dir, embedded).await?;
    let keys = Arc::new(load_keys(args, data_dir)?);
    let config = auth_config(args, identity, default_public_url);
    let validator = keys.validator(&config.issuer, &config.audience, identity.jwt_leeway)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mailer = mailer(args, data_dir, embedded)?;
    if !embedded && args.mfa_encryption_key.is_none() && args.mfa_encryption_key_file.is_none() {
        // A key generated per pod on a volatile data directory would make every enrolled
        // second factor unusable after a restart or on another replica.
        tracing::warn!(
            "DZINZA_MFA_ENCRYPTION_KEY_FILE is not set: TOTP secrets are encrypted with a key \
             kept in the data directory, which must persist and be the same on every replica"
        );
    }
    let sealer = Arc::new(load_sealer(args, data_dir)?);
    let passwords = Passwords::new(owasp_params())?;
    let service = AuthService::new(store, clock, keys, passwords, mailer, sealer, config);
    service
        .seal_plaintext_mfa_secrets()
        .await
        .map_err(SetupError::SealExisting)?;
    Ok(Built {
        state: AppState {
            service: Arc::new(service),
            authenticator: Authenticator(Arc::new(validator)),
        },
    })
}
