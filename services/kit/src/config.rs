//! Settings shared by every service, read from flags and `DZINZA_*` environment variables.
//!
//! Every secret setting also has a `*_FILE` twin naming a file whose content is the secret
//! (the Docker/Kubernetes secrets pattern); [`resolve_secret`] reads it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, ValueEnum};
use secrecy::SecretString;

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// JSON lines when stdout is not a terminal, human-readable otherwise.
    #[default]
    Auto,
    /// One JSON object per line.
    Json,
    /// Human-readable, coloured when on a terminal.
    Pretty,
}

/// Settings every service process reads.
#[derive(Debug, Clone, Args)]
pub struct CommonArgs {
    /// Address the HTTP server listens on (the gateway's address in target `all`).
    #[arg(long, env = "DZINZA_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// Directory for embedded backends and generated local state.
    #[arg(long, env = "DZINZA_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Log format.
    #[arg(long, env = "DZINZA_LOG_FORMAT", value_enum, default_value_t = LogFormat::Auto)]
    pub log_format: LogFormat,

    /// Log filter, in `tracing` EnvFilter syntax (e.g. `info` or `info,dzinza_gateway=debug`).
    #[arg(long, env = "DZINZA_LOG_LEVEL", default_value = "info")]
    pub log_level: String,

    /// How long in-flight requests may take to finish after SIGTERM/SIGINT.
    #[arg(long, env = "DZINZA_SHUTDOWN_GRACE", default_value = "25s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// OTLP/HTTP endpoint for trace export (e.g. http://otel-collector:4318); off when unset.
    #[arg(long, env = "OTEL_EXPORTER_OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    #[command(flatten)]
    pub identity: IdentityArgs,
}

/// How services validate access tokens.
#[derive(Debug, Clone, Args)]
pub struct IdentityArgs {
    /// URL of the auth service's JWKS document; in target `all` it defaults to the in-process auth.
    #[arg(long, env = "DZINZA_JWKS_URL")]
    pub jwks_url: Option<String>,

    /// Required `iss` claim of access tokens.
    #[arg(long, env = "DZINZA_JWT_ISSUER", default_value = "dzinza")]
    pub jwt_issuer: String,

    /// Required `aud` claim of access tokens.
    #[arg(long, env = "DZINZA_JWT_AUDIENCE", default_value = "dzinza")]
    pub jwt_audience: String,

    /// Clock skew tolerated on `exp` and `nbf`.
    #[arg(long, env = "DZINZA_JWT_LEEWAY", default_value = "30s", value_parser = parse_duration)]
    pub jwt_leeway: Duration,
}

/// Parses human durations such as `250ms`, `25s`, `15m`, `1h 30m`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (use e.g. 500ms, 25s, 15m)"))
}

/// Errors reading configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// Both a value and a `*_FILE` path were given for one secret.
    #[error("{name} is set both directly and through {name}_FILE; set only one")]
    Ambiguous {
        /// The setting's environment name.
        name: &'static str,
    },
    /// The secret file could not be read.
    #[error("cannot read {name}_FILE at {path}: {source}")]
    Unreadable {
        /// The setting's environment name.
        name: &'static str,
        /// The path that was given.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The secret file exists but is empty.
    #[error("{name}_FILE at {path} is empty")]
    Empty {
        /// The setting's environment name.
        name: &'static str,
        /// The path that was given.
        path: PathBuf,
    },
}

/// Resolves a secret given either directly or as a file path; trailing newlines are trimmed.
///
/// `name` is the environment name (e.g. `DZINZA_POSTGRES_URL`) and appears in errors; the
/// secret's value never does.
pub fn resolve_secret(
    name: &'static str,
    value: Option<SecretString>,
    file: Option<&Path>,
) -> Result<Option<SecretString>, ConfigError> {
    match (value, file) {
        (Some(_), Some(_)) => Err(ConfigError::Ambiguous { name }),
        (Some(v), None) => Ok(Some(v)),
        (None, None) => Ok(None),
        (None, Some(path)) => {
            let raw = std::fs::read_to_string(path).map_err(|source| ConfigError::Unreadable {
                name,
                path: path.to_owned(),
                source,
            })?;
            let trimmed = raw.trim_end_matches(['\n', '\r']);
            if trimmed.is_empty() {
                return Err(ConfigError::Empty {
                    name,
                    path: path.to_owned(),
                });
            }
            Ok(Some(SecretString::from(trimmed.to_owned())))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use secrecy::ExposeSecret;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    #[test]
    fn defaults_need_no_configuration() {
        let cli = Cli::try_parse_from(["x"]).unwrap();
        assert_eq!(cli.common.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(cli.common.data_dir, PathBuf::from("./data"));
        assert_eq!(cli.common.shutdown_grace, Duration::from_secs(25));
        assert_eq!(cli.common.identity.jwt_issuer, "dzinza");
    }

    #[test]
    fn flags_parse_durations_and_addresses() {
        let cli =
            Cli::try_parse_from(["x", "--listen", "0.0.0.0:9000", "--shutdown-grace", "1m 5s"])
                .unwrap();
        assert_eq!(cli.common.listen.port(), 9000);
        assert_eq!(cli.common.shutdown_grace, Duration::from_secs(65));
        assert!(Cli::try_parse_from(["x", "--shutdown-grace", "soon"]).is_err());
    }

    #[test]
    fn secrets_come_from_files_trimmed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pg");
        std::fs::write(&path, "postgres://u:p@h/db\n").unwrap();
        let got = resolve_secret("DZINZA_POSTGRES_URL", None, Some(&path))
            .unwrap()
            .unwrap();
        assert_eq!(got.expose_secret(), "postgres://u:p@h/db");
    }

    #[test]
    fn secret_errors_name_the_setting_but_never_the_value() {
        let dir = tempfile::tempdir().unwrap();
        let both = resolve_secret(
            "DZINZA_X",
            Some(SecretString::from("s3cret".to_owned())),
            Some(dir.path()),
        )
        .unwrap_err()
        .to_string();
        assert!(both.contains("DZINZA_X") && !both.contains("s3cret"));

        let missing = resolve_secret("DZINZA_X", None, Some(&dir.path().join("nope")))
            .unwrap_err()
            .to_string();
        assert!(missing.contains("DZINZA_X_FILE"));

        let empty = dir.path().join("empty");
        std::fs::write(&empty, "\n").unwrap();
        assert!(matches!(
            resolve_secret("DZINZA_X", None, Some(&empty)),
            Err(ConfigError::Empty { .. })
        ));
        assert!(resolve_secret("DZINZA_X", None, None).unwrap().is_none());
    }
}
