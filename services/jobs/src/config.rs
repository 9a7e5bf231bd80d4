//! Settings of the worker target (`dzinza serve --target worker`, and the in-process worker of
//! target `all`).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use dzinza_kit::config::parse_duration;
use secrecy::SecretString;

/// Worker and job-store settings.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// PostgreSQL URL of the job store; without it the store is SQLite in `<data_dir>/jobs.db`
    /// (one machine only).
    #[arg(long, env = "DZINZA_JOBS_DATABASE_URL", hide_env_values = true)]
    pub jobs_database_url: Option<SecretString>,

    /// File holding the PostgreSQL URL of the job store.
    #[arg(long, env = "DZINZA_JOBS_DATABASE_URL_FILE")]
    pub jobs_database_url_file: Option<PathBuf>,

    /// Connections in the job store's pool.
    #[arg(long, env = "DZINZA_JOBS_DB_MAX_CONNECTIONS", default_value_t = 10)]
    pub jobs_db_max_connections: u32,

    /// Jobs one worker runs at once.
    #[arg(long, env = "DZINZA_WORKER_CONCURRENCY", default_value_t = 8)]
    pub worker_concurrency: usize,

    /// Per-type caps on running jobs, e.g. `gedcom_import=1,thumbnail=4`.
    #[arg(long, env = "DZINZA_WORKER_TYPE_LIMITS", value_parser = parse_type_limits, default_value = "")]
    pub worker_type_limits: TypeLimits,

    /// Lease (visibility timeout) of a claimed job; heartbeats renew it every third of it.
    #[arg(long, env = "DZINZA_WORKER_LEASE", default_value = "30s", value_parser = parse_duration)]
    pub worker_lease: Duration,

    /// How often an idle worker looks for due jobs, expired leases and cron ticks.
    #[arg(long, env = "DZINZA_WORKER_POLL_INTERVAL", default_value = "1s", value_parser = parse_duration)]
    pub worker_poll_interval: Duration,

    /// Register the diagnostic job types `diag_sleep` and `diag_noop` (for crash tests and
    /// benchmarks; never enable in production).
    #[arg(long, env = "DZINZA_WORKER_DIAGNOSTIC_JOBS", default_value_t = false)]
    pub worker_diagnostic_jobs: bool,
}

/// Per-type concurrency caps.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypeLimits(pub HashMap<String, usize>);

/// Parses `type=n,type=n`.
pub fn parse_type_limits(s: &str) -> Result<TypeLimits, String> {
    let mut limits = HashMap::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, n) = part
            .split_once('=')
            .ok_or_else(|| format!("{part:?}: expected type=number"))?;
        let n: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("{part:?}: {n:?} is not a number"))?;
        if n == 0 {
            return Err(format!("{part:?}: the limit must be at least 1"));
        }
        limits.insert(name.trim().to_owned(), n);
    }
    Ok(TypeLimits(limits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_limits_parse() {
        let l = parse_type_limits("gedcom_import=1, thumbnail=4").unwrap();
        assert_eq!(l.0.get("gedcom_import"), Some(&1));
        assert_eq!(l.0.get("thumbnail"), Some(&4));
        assert!(parse_type_limits("").unwrap().0.is_empty());
        assert!(parse_type_limits("x").is_err());
        assert!(parse_type_limits("x=0").is_err());
        assert!(parse_type_limits("x=y").is_err());
    }
}
