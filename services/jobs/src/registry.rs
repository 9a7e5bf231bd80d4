//! The handler registry: job types other services register, with what a handler gets to see.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::error::JobsError;
use crate::model::{Job, now_ms};
use crate::schedule::CronExpr;
use crate::store::JobStore;

/// How a handler run ended badly.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JobError {
    /// Worth retrying (with backoff, while attempts remain).
    #[error("{0}")]
    Retry(String),
    /// Retrying cannot help (bad payload, missing input): the job fails at once.
    #[error("{0}")]
    Fatal(String),
    /// The handler stopped because cancellation was requested.
    #[error("cancelled")]
    Cancelled,
}

impl JobError {
    /// A retryable error from anything displayable.
    pub fn retry(e: impl std::fmt::Display) -> Self {
        JobError::Retry(e.to_string())
    }

    /// A permanent error from anything displayable.
    pub fn fatal(e: impl std::fmt::Display) -> Self {
        JobError::Fatal(e.to_string())
    }
}

/// What a handler run returns: a JSON result, or why it failed.
pub type HandlerResult = Result<Value, JobError>;

/// A boxed handler future.
pub type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send + 'static>>;

/// A job type's implementation. Runs at least once per job: make it idempotent.
pub trait Handler: Send + Sync + 'static {
    /// Runs one attempt of the job.
    fn run(&self, ctx: JobContext) -> HandlerFuture;
}

impl<F, Fut> Handler for F
where
    F: Fn(JobContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    fn run(&self, ctx: JobContext) -> HandlerFuture {
        Box::pin(self(ctx))
    }
}

/// Everything a handler sees of its job.
#[derive(Clone)]
pub struct JobContext {
    job: Arc<Job>,
    lease_token: String,
    store: Arc<dyn JobStore>,
    cancel: CancellationToken,
}

impl std::fmt::Debug for JobContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobContext")
            .field("id", &self.job.id)
            .field("job_type", &self.job.job_type)
            .field("attempt", &self.job.attempts)
            .finish()
    }
}

impl JobContext {
    pub(crate) fn new(
        job: Job,
        lease_token: String,
        store: Arc<dyn JobStore>,
        cancel: CancellationToken,
    ) -> Self {
        Self {
            job: Arc::new(job),
            lease_token,
            store,
            cancel,
        }
    }

    /// The job id (stable across attempts: use it for idempotency markers).
    pub fn id(&self) -> &str {
        &self.job.id
    }

    /// The job type.
    pub fn job_type(&self) -> &str {
        &self.job.job_type
    }

    /// The payload as JSON.
    pub fn payload(&self) -> &Value {
        &self.job.payload
    }

    /// The payload decoded; a payload that does not decode fails the job permanently.
    pub fn payload_as<T: DeserializeOwned>(&self) -> Result<T, JobError> {
        serde_json::from_value(self.job.payload.clone())
            .map_err(|e| JobError::Fatal(format!("bad payload: {e}")))
    }

    /// This attempt's number, from 1.
    pub fn attempt(&self) -> i32 {
        self.job.attempts
    }

    /// The user the job runs for.
    pub fn owner_id(&self) -> Option<&str> {
        self.job.owner_id.as_deref()
    }

    /// The tree the job concerns.
    pub fn tree_id(&self) -> Option<&str> {
        self.job.tree_id.as_deref()
    }

    /// Triggered when the job is cancelled, its lease is lost, or the worker shuts down past its
    /// grace period: stop soon and return [`JobError::Cancelled`].
    pub fn cancellation(&self) -> &CancellationToken {
        &self.cancel
    }

    /// Whether the handler should stop.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// Reports progress (fraction clamped to 0..=1) for the owner's progress view. Returns
    /// [`JobError::Cancelled`] when the job was cancelled or its lease lost, so handlers can `?` it.
    pub async fn progress(
        &self,
        fraction: f64,
        message: impl Into<String>,
    ) -> Result<(), JobError> {
        if self.cancel.is_cancelled() {
            return Err(JobError::Cancelled);
        }
        let fraction = if fraction.is_finite() {
            fraction.clamp(0.0, 1.0)
        } else {
            0.0
        };
        match self
            .store
            .progress(
                &self.job.id,
                &self.lease_token,
                fraction,
                Some(message.into()),
                now_ms(),
            )
            .await
        {
            Ok(true) => Ok(()),
            Ok(false) => Err(JobError::Cancelled),
            // Progress is advisory; a blip in the database must not fail the job.
            Err(e) => {
                tracing::warn!(job_id = %self.job.id, error = %e, "cannot record progress");
                Ok(())
            }
        }
    }
}

/// A registered job type.
#[derive(Clone)]
pub(crate) struct Registered {
    pub handler: Arc<dyn Handler>,
    /// Most jobs of this type one worker runs at once.
    pub limit: Option<usize>,
    /// Signed-in users may enqueue it through `POST /v1/jobs`.
    pub user_enqueue: bool,
}

/// A recurring job to keep scheduled.
#[derive(Debug, Clone)]
pub(crate) struct ScheduleSpec {
    pub name: String,
    pub cron: CronExpr,
    pub job_type: String,
    pub payload: Value,
}

/// Job types a worker can run, and recurring jobs it keeps scheduled.
#[derive(Clone, Default)]
pub struct Registry {
    pub(crate) handlers: HashMap<String, Registered>,
    pub(crate) schedules: Vec<ScheduleSpec>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut types: Vec<_> = self.handlers.keys().collect();
        types.sort();
        f.debug_struct("Registry").field("types", &types).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `handler` for `job_type` (replacing any earlier one).
    pub fn register(&mut self, job_type: impl Into<String>, handler: impl Handler) -> &mut Self {
        self.handlers.insert(
            job_type.into(),
            Registered {
                handler: Arc::new(handler),
                limit: None,
                user_enqueue: false,
            },
        );
        self
    }

    /// Caps how many jobs of `job_type` one worker runs at once.
    pub fn limit(&mut self, job_type: &str, max_running: usize) -> &mut Self {
        if let Some(r) = self.handlers.get_mut(job_type) {
            r.limit = Some(max_running.max(1));
        }
        self
    }

    /// Lets signed-in users enqueue `job_type` through `POST /v1/jobs` (as the job's owner).
    /// Only for types whose handler checks the payload against what the owner may do: the
    /// payload and tree id come from the user.
    pub fn allow_user_enqueue(&mut self, job_type: &str) -> &mut Self {
        if let Some(r) = self.handlers.get_mut(job_type) {
            r.user_enqueue = true;
        }
        self
    }

    /// Whether `job_type` is registered and users may enqueue it.
    pub fn user_enqueueable(&self, job_type: &str) -> bool {
        self.handlers.get(job_type).is_some_and(|r| r.user_enqueue)
    }

    /// Enqueues `job_type` with `payload` on every tick of `cron` (UTC; 5 fields, or 6 with
    /// seconds), once per tick across all workers.
    pub fn schedule(
        &mut self,
        name: impl Into<String>,
        cron: &str,
        job_type: impl Into<String>,
        payload: Value,
    ) -> Result<&mut Self, JobsError> {
        self.schedules.push(ScheduleSpec {
            name: name.into(),
            cron: CronExpr::parse(cron)?,
            job_type: job_type.into(),
            payload,
        });
        Ok(self)
    }

    /// The registered job types, sorted.
    pub fn types(&self) -> Vec<String> {
        let mut types: Vec<_> = self.handlers.keys().cloned().collect();
        types.sort();
        types
    }
}
