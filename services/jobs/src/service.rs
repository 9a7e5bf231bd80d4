//! Assembling the jobs service: open the store, build the worker and the HTTP API.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use dzinza_kit::config::IdentityArgs;
use dzinza_kit::config::resolve_secret;
use dzinza_kit::identity::{Authenticator, TokenValidator};
use secrecy::ExposeSecret as _;

use crate::config::WorkerArgs;
use crate::error::StoreError;
use crate::http::ApiState;
use crate::metrics::JobMetrics;
use crate::queue::JobQueue;
use crate::registry::Registry;
use crate::store::JobStore;
use crate::worker::{Worker, WorkerConfig};
use crate::{PostgresStore, SqliteStore, diagnostic};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting is wrong.
    #[error(transparent)]
    Config(#[from] dzinza_kit::config::ConfigError),
    /// The store could not be opened or migrated.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token validator could not be built.
    #[error("identity: {0}")]
    Identity(String),
}

/// Which store the settings select: PostgreSQL when a URL is given, else SQLite in `data_dir`.
pub async fn open_store(
    args: &WorkerArgs,
    data_dir: &Path,
) -> Result<Arc<dyn JobStore>, StartError> {
    let url = resolve_secret(
        "DZINZA_JOBS_DATABASE_URL",
        args.jobs_database_url.clone(),
        args.jobs_database_url_file.as_deref(),
    )?;
    let store: Arc<dyn JobStore> = match url {
        Some(url) => Arc::new(
            PostgresStore::connect(url.expose_secret(), args.jobs_db_max_connections).await?,
        ),
        None => Arc::new(
            SqliteStore::open(&data_dir.join("jobs.db"), args.jobs_db_max_connections).await?,
        ),
    };
    Ok(store)
}

/// The worker configuration the settings describe.
pub fn worker_config(args: &WorkerArgs, grace: Duration) -> WorkerConfig {
    WorkerConfig {
        concurrency: args.worker_concurrency.max(1),
        lease: args.worker_lease,
        heartbeat: args.worker_lease / 3,
        poll_interval: args.worker_poll_interval,
        grace,
        ..WorkerConfig::default()
    }
}

/// Applies the per-type limits and, when enabled, the diagnostic types to `registry`.
pub fn configure_registry(args: &WorkerArgs, registry: &mut Registry) {
    if args.worker_diagnostic_jobs {
        tracing::warn!("diagnostic job types enabled (DZINZA_WORKER_DIAGNOSTIC_JOBS)");
        diagnostic::register(registry);
    }
    for (job_type, limit) in &args.worker_type_limits.0 {
        registry.limit(job_type, *limit);
    }
}

/// The API's token check: the process validator, or (no JWKS configured) one that knows no keys
/// and so refuses every token with 401.
pub fn authenticator(
    validator: Option<Arc<TokenValidator>>,
    identity: &IdentityArgs,
) -> Result<Authenticator, StartError> {
    let validator = match validator {
        Some(v) => v,
        None => Arc::new(
            TokenValidator::from_jwks(
                &jsonwebtoken::jwk::JwkSet { keys: Vec::new() },
                identity.jwt_issuer.clone(),
                identity.jwt_audience.clone(),
                identity.jwt_leeway,
            )
            .map_err(|e| StartError::Identity(e.to_string()))?,
        ),
    };
    Ok(Authenticator(validator))
}

/// A ready jobs service: the queue, its worker and its HTTP state.
pub struct JobsService {
    /// The queue (for enqueueing from in-process services).
    pub queue: JobQueue,
    /// The worker, not yet running.
    pub worker: Worker,
    /// State for [`crate::http::router`].
    pub api: ApiState,
}

impl JobsService {
    /// Builds the service on a migrated `store`.
    pub fn new(
        store: Arc<dyn JobStore>,
        registry: Registry,
        config: WorkerConfig,
        metrics: JobMetrics,
        auth: Authenticator,
    ) -> Self {
        let queue = JobQueue::new(store);
        let worker = Worker::new(queue.clone(), registry, config, metrics);
        let api = ApiState {
            queue: queue.clone(),
            registry: worker.registry().clone(),
            auth,
            sse_poll: Duration::from_millis(250),
        };
        Self { queue, worker, api }
    }
}
