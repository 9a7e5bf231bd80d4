//! Gateway settings: the prefix → service map, upstream addresses, per-route rules, rate limits,
//! CORS and resilience. Defaults are built in; a YAML file and `DZINZA_*` variables override them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::{Deserialize, Serialize};

/// Command-line and environment settings of the gateway target.
#[derive(Debug, Clone, Args, Default)]
pub struct GatewayArgs {
    /// YAML file with gateway settings (routes, rules, rate limits); see docs/gateway.md.
    #[arg(long, env = "DZINZA_GATEWAY_CONFIG")]
    pub gateway_config: Option<PathBuf>,
    /// Base URL of the auth service.
    #[arg(long, env = "DZINZA_UPSTREAM_AUTH")]
    pub upstream_auth: Option<String>,
    /// Base URL of the genealogy service.
    #[arg(long, env = "DZINZA_UPSTREAM_GENEALOGY")]
    pub upstream_genealogy: Option<String>,
    /// Base URL of the storage service.
    #[arg(long, env = "DZINZA_UPSTREAM_STORAGE")]
    pub upstream_storage: Option<String>,
    /// Base URL of the search service.
    #[arg(long, env = "DZINZA_UPSTREAM_SEARCH")]
    pub upstream_search: Option<String>,
    /// Base URL of the jobs API (served by the worker target).
    #[arg(long, env = "DZINZA_UPSTREAM_JOBS")]
    pub upstream_jobs: Option<String>,
    /// Origins allowed to call the API from a browser (comma-separated, exact match).
    #[arg(long, env = "DZINZA_CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,
    /// Set when clients reach the gateway over TLS (adds Strict-Transport-Security).
    #[arg(long, env = "DZINZA_BEHIND_TLS")]
    pub behind_tls: bool,
    /// Directory of the built web app to serve at `/`.
    #[arg(long, env = "DZINZA_SPA_DIR")]
    pub spa_dir: Option<PathBuf>,
    /// Number of trusted proxies in front of the gateway (the client IP is read from
    /// X-Forwarded-For that many hops from the right); 0 trusts no header.
    #[arg(long, env = "DZINZA_FORWARDED_HOPS")]
    pub forwarded_hops: Option<usize>,
    /// Gateway server threads, each with its own single-threaded runtime, `SO_REUSEPORT`
    /// listener and upstream connection pool [default: the number of available cores]; 0 serves
    /// the gateway on the process's shared multi-threaded runtime instead.
    #[arg(long, env = "DZINZA_GATEWAY_THREADS")]
    pub gateway_threads: Option<usize>,
}

/// Everything the gateway needs to run.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Base URL of each service by name (`auth`, `genealogy`, `storage`, `search`, `jobs`).
    pub upstreams: BTreeMap<String, String>,
    /// Which service owns each resource prefix (`family-trees` → `genealogy`).
    pub prefixes: BTreeMap<String, String>,
    /// Per-route rules, matched on the version-less path by longest prefix.
    pub rules: Vec<RouteRule>,
    /// Token buckets by class name.
    pub rate_limits: BTreeMap<String, RateLimit>,
    /// Largest request body accepted where no rule says otherwise.
    pub default_body_limit: u64,
    /// Browser origins allowed by CORS.
    pub cors_origins: Vec<String>,
    /// Whether clients connect over TLS (enables HSTS).
    pub behind_tls: bool,
    /// Directory of the web app.
    pub spa_dir: Option<PathBuf>,
    /// Trusted proxies in front of the gateway.
    pub forwarded_hops: usize,
    /// Timeouts, retries and circuit breaking for upstream calls.
    pub resilience: Resilience,
    /// Services this deployment does not run: their prefixes answer `503` with a problem saying
    /// so, rather than failing to connect (e.g. storage before it is deployed).
    pub not_deployed: Vec<String>,
}

/// A rule for requests whose version-less path starts with `path` (whole segments).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(default, deny_unknown_fields)]
pub struct RouteRule {
    /// Path prefix after the version, e.g. `/auth/login` or `/users`.
    pub path: String,
    /// Methods the rule applies to; empty means all.
    pub methods: Vec<String>,
    /// No token required (a valid token is still forwarded).
    pub public: bool,
    /// The caller must hold one of these roles; empty means any signed-in user.
    pub roles: Vec<String>,
    /// Rate-limit class; defaults to `anonymous` (per IP) or `authenticated` (per user).
    pub rate_class: Option<String>,
    /// Largest request body in bytes.
    pub body_limit: Option<u64>,
    /// Time allowed until the upstream's response headers.
    #[serde(with = "humantime_serde_opt")]
    pub timeout: Option<Duration>,
}

/// A token bucket: `burst` requests at once, refilled at `per_minute`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RateLimit {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Bucket size.
    pub burst: u32,
}

/// Upstream call behaviour.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Resilience {
    /// TCP connect timeout.
    #[serde(with = "humantime_serde")]
    pub connect_timeout: Duration,
    /// Time allowed until response headers, where no rule says otherwise.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Extra attempts for idempotent, bodiless requests (GET, HEAD, OPTIONS).
    pub retries: u32,
    /// First retry delay; doubles each attempt, with full jitter.
    #[serde(with = "humantime_serde")]
    pub retry_base_delay: Duration,
    /// Consecutive failures that open an upstream's circuit.
    pub breaker_failures: u32,
    /// How long an open circuit refuses calls before one probe is let through.
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
}

impl Default for Resilience {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(2),
            request_timeout: Duration::from_secs(30),
            retries: 2,
            retry_base_delay: Duration::from_millis(50),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(10),
        }
    }
}

const MIB: u64 = 1024 * 1024;

fn rule(path: &str) -> RouteRule {
    RouteRule {
        path: path.to_owned(),
        ..RouteRule::default()
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        let prefixes = [
            ("auth", "auth"),
            ("users", "auth"),
            ("mfa", "auth"),
            ("audit-logs", "auth"),
            ("family-trees", "genealogy"),
            ("trees", "genealogy"),
            ("persons", "genealogy"),
            ("relationships", "genealogy"),
            ("events", "genealogy"),
            ("sources", "genealogy"),
            ("citations", "genealogy"),
            ("notifications", "genealogy"),
            ("merge-suggestions", "genealogy"),
            ("person-history", "genealogy"),
            ("gedcom", "genealogy"),
            ("files", "storage"),
            ("search", "search"),
            ("jobs", "jobs"),
        ]
        .into_iter()
        .map(|(p, s)| (p.to_owned(), s.to_owned()))
        .collect();
        let upstreams = [
            ("auth", 8081),
            ("genealogy", 8082),
            ("storage", 8083),
            ("search", 8084),
            ("jobs", 8085),
        ]
        .into_iter()
        .map(|(s, port)| (s.to_owned(), format!("http://127.0.0.1:{port}")))
        .collect();
        let credentials = |path: &str| RouteRule {
            public: true,
            rate_class: Some("credentials".into()),
            ..rule(path)
        };
        let rules = vec![
            credentials("/auth/login"),
            credentials("/auth/register"),
            credentials("/auth/request-password-reset"),
            credentials("/auth/reset-password"),
            credentials("/auth/request-email-verification"),
            credentials("/auth/verify-email"),
            RouteRule {
                public: true,
                ..rule("/auth/refresh")
            },
            RouteRule {
                public: true,
                ..rule("/auth/logout")
            },
            RouteRule {
                public: true,
                ..rule("/auth/.well-known")
            },
            RouteRule {
                public: true,
                ..rule("/auth/jwks.json")
            },
            RouteRule {
                roles: vec!["ADMIN".into()],
                ..rule("/users")
            },
            rule("/users/me"),
            RouteRule {
                roles: vec!["ADMIN".into()],
                ..rule("/audit-logs")
            },
            RouteRule {
                body_limit: Some(1024 * MIB),
                timeout: Some(Duration::from_secs(600)),
                ..rule("/files")
            },
            RouteRule {
                body_limit: Some(1024 * MIB),
                timeout: Some(Duration::from_secs(600)),
                ..rule("/gedcom")
            },
        ];
        let rate_limits = [
            ("anonymous", 300, 60),
            ("authenticated", 1200, 200),
            ("credentials", 30, 10),
        ]
        .into_iter()
        .map(|(c, per_minute, burst)| (c.to_owned(), RateLimit { per_minute, burst }))
        .collect();
        Self {
            upstreams,
            prefixes,
            rules,
            rate_limits,
            default_body_limit: 10 * MIB,
            cors_origins: Vec::new(),
            behind_tls: false,
            spa_dir: None,
            forwarded_hops: 0,
            resilience: Resilience::default(),
            not_deployed: Vec::new(),
        }
    }
}

/// Errors loading or checking gateway settings.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The YAML file cannot be read.
    #[error("cannot read gateway config {path}: {source}")]
    Read {
        /// File path.
        path: PathBuf,
        /// Cause.
        source: std::io::Error,
    },
    /// The YAML file does not parse.
    #[error("invalid gateway config {path}: {message}")]
    Parse {
        /// File path.
        path: PathBuf,
        /// Parser message with location.
        message: String,
    },
    /// The settings contradict themselves.
    #[error("gateway config: {0}")]
    Invalid(String),
}

impl GatewayConfig {
    /// Defaults, then the YAML file, then command-line/environment overrides; validated.
    pub fn load(args: &GatewayArgs) -> Result<Self, ConfigError> {
        let mut config = match &args.gateway_config {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                serde_yaml::from_str(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            None => Self::default(),
        };
        let overrides = [
            ("auth", &args.upstream_auth),
            ("genealogy", &args.upstream_genealogy),
            ("storage", &args.upstream_storage),
            ("search", &args.upstream_search),
            ("jobs", &args.upstream_jobs),
        ];
        for (service, url) in overrides {
            if let Some(url) = url {
                config.upstreams.insert(service.to_owned(), url.clone());
            }
        }
        if !args.cors_origins.is_empty() {
            config.cors_origins = args.cors_origins.clone();
        }
        config.behind_tls |= args.behind_tls;
        if args.spa_dir.is_some() {
            config.spa_dir = args.spa_dir.clone();
        }
        if let Some(hops) = args.forwarded_hops {
            config.forwarded_hops = hops;
        }
        config.validate()?;
        Ok(config)
    }

    /// Checks references between sections and value ranges.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (prefix, service) in &self.prefixes {
            if !self.upstreams.contains_key(service) && !self.not_deployed.contains(service) {
                return Err(ConfigError::Invalid(format!(
                    "prefix {prefix:?} routes to service {service:?}, which has no upstream URL"
                )));
            }
        }
        for (service, url) in &self.upstreams {
            let uri: http::Uri = url.parse().map_err(|_| {
                ConfigError::Invalid(format!("upstream {service:?} has an invalid URL {url:?}"))
            })?;
            if uri.scheme_str() != Some("http") || uri.host().is_none() {
                return Err(ConfigError::Invalid(format!(
                    "upstream {service:?} must be an http:// URL with a host, got {url:?}"
                )));
            }
        }
        for class in ["anonymous", "authenticated"] {
            if !self.rate_limits.contains_key(class) {
                return Err(ConfigError::Invalid(format!(
                    "rate_limits must define the {class:?} class"
                )));
            }
        }
        for (class, limit) in &self.rate_limits {
            if limit.per_minute == 0 || limit.burst == 0 {
                return Err(ConfigError::Invalid(format!(
                    "rate limit {class:?} needs per_minute and burst above zero"
                )));
            }
        }
        for rule in &self.rules {
            if !rule.path.starts_with('/') {
                return Err(ConfigError::Invalid(format!(
                    "rule path {:?} must start with /",
                    rule.path
                )));
            }
            if let Some(class) = &rule.rate_class
                && !self.rate_limits.contains_key(class)
            {
                return Err(ConfigError::Invalid(format!(
                    "rule {:?} names unknown rate class {class:?}",
                    rule.path
                )));
            }
        }
        if self.resilience.breaker_failures == 0 {
            return Err(ConfigError::Invalid(
                "resilience.breaker_failures must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

mod humantime_serde {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&humantime::format_duration(*d).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(serde::de::Error::custom)
    }
}

mod humantime_serde_opt {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::humantime_serde::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<String>::deserialize(d)?
            .map(|s| humantime::parse_duration(&s).map_err(serde::de::Error::custom))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_route_every_documented_prefix() {
        let c = GatewayConfig::default();
        c.validate().unwrap();
        assert_eq!(c.prefixes["audit-logs"], "auth");
        assert_eq!(c.prefixes["merge-suggestions"], "genealogy");
        assert_eq!(c.prefixes["files"], "storage");
    }

    #[test]
    fn yaml_file_and_overrides_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gw.yaml");
        let c = GatewayConfig {
            default_body_limit: 123,
            ..GatewayConfig::default()
        };
        std::fs::write(&path, serde_yaml::to_string(&c).unwrap()).unwrap();
        let args = GatewayArgs {
            gateway_config: Some(path),
            upstream_auth: Some("http://auth.svc:8080".into()),
            cors_origins: vec!["https://app.example".into()],
            ..GatewayArgs::default()
        };
        let loaded = GatewayConfig::load(&args).unwrap();
        assert_eq!(loaded.default_body_limit, 123);
        assert_eq!(loaded.upstreams["auth"], "http://auth.svc:8080");
        assert_eq!(loaded.cors_origins, vec!["https://app.example".to_owned()]);
    }

    #[test]
    fn invalid_settings_are_explained() {
        let mut c = GatewayConfig::default();
        c.prefixes.insert("x".into(), "nowhere".into());
        assert!(c.validate().unwrap_err().to_string().contains("nowhere"));

        let mut c = GatewayConfig::default();
        c.upstreams
            .insert("auth".into(), "https://tls.example".into());
        assert!(c.validate().is_err());

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(&path, "upstreamz: {}\n").unwrap();
        let err = GatewayConfig::load(&GatewayArgs {
            gateway_config: Some(path),
            ..GatewayArgs::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("upstreamz"), "{err}");
    }
}
