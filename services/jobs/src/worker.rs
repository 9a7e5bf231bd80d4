//! The worker loop: claims jobs within its concurrency limits, runs their handlers under a
//! heartbeated lease, records outcomes with retries and backoff, fires cron schedules, recovers
//! jobs of dead workers, and drains on shutdown.
//!
//! One loop per worker owns every lease it holds. Each turn it writes the outcomes of the jobs
//! that finished *and* claims jobs for the slots they free in one transaction
//! ([`crate::store::JobStore::flush`]): a busy worker pays one commit per batch, not one per claim plus one
//! per outcome batch. Heartbeats extend all held leases in one statement.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::error::JobsError;
use crate::metrics::JobMetrics;
use crate::model::{
    ClaimRequest, Claimed, Failure, Flush, JobState, LeaseStatus, NewJob, Outcome, OutcomeKind,
    now_ms,
};
use crate::queue::JobQueue;
use crate::registry::{JobContext, JobError, Registered, Registry};
use crate::schedule::CronExpr;

/// A finished run, sent by its task to the worker loop, which records it.
struct Finished {
    outcome: Outcome,
    job_type: String,
    span: tracing::Span,
}

/// A lease this worker holds.
struct Held {
    token: String,
    job_type: String,
    cancel: CancellationToken,
    /// A heartbeat found the lease gone: the outcome must not be written.
    lost: bool,
}

/// Every lease the loop holds, with per-type counts for the type limits.
#[derive(Default)]
struct Leases {
    held: HashMap<String, Held>,
    by_type: HashMap<String, usize>,
}

impl Leases {
    fn insert(&mut self, c: &Claimed) -> CancellationToken {
        let cancel = CancellationToken::new();
        *self.by_type.entry(c.job.job_type.clone()).or_default() += 1;
        self.held.insert(
            c.job.id.clone(),
            Held {
                token: c.lease_token.clone(),
                job_type: c.job.job_type.clone(),
                cancel: cancel.clone(),
                lost: false,
            },
        );
        cancel
    }

    fn forget(&mut self, id: &str) {
        if let Some(h) = self.held.remove(id)
            && let Some(n) = self.by_type.get_mut(&h.job_type)
        {
            *n = n.saturating_sub(1);
        }
    }

    fn is_lost(&self, id: &str) -> bool {
        self.held.get(id).is_none_or(|h| h.lost)
    }
}

/// How a worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Identifies this worker in leases (host and process id by default).
    pub worker_id: String,
    /// Most jobs running at once.
    pub concurrency: usize,
    /// A lease lapses this long after the last heartbeat.
    pub lease: Duration,
    /// Heartbeat period (a third of the lease by default).
    pub heartbeat: Duration,
    /// How often to look for work when nothing woke the worker.
    pub poll_interval: Duration,
    /// How long running jobs may take to finish after shutdown starts.
    pub grace: Duration,
    /// Retry delays.
    pub backoff: Backoff,
    /// Most outcomes written in one statement.
    pub outcome_batch: usize,
    /// How long the loop waits for more running jobs to finish before writing a batch of
    /// outcomes that is not full (it never waits once every running job has finished; outcomes
    /// arriving while a write is in flight join the next batch anyway).
    pub outcome_linger: Duration,
    /// How often the `jobs_queue_depth` gauge is refreshed (an exact count over the partial
    /// index of queued rows; `GET /internal/queue-depth` always counts afresh).
    pub depth_interval: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        let lease = Duration::from_secs(30);
        Self {
            worker_id: default_worker_id(),
            concurrency: 8,
            lease,
            heartbeat: lease / 3,
            poll_interval: Duration::from_secs(1),
            grace: Duration::from_secs(25),
            backoff: Backoff::default(),
            outcome_batch: 256,
            outcome_linger: Duration::from_millis(2),
            depth_interval: Duration::from_secs(5),
        }
    }
}

/// `<hostname>-<pid>-<random>`: unique per process even when pods reuse hostnames.
pub fn default_worker_id() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".to_owned());
    let suffix = &uuid::Uuid::new_v4().simple().to_string()[..8];
    format!("{host}-{}-{suffix}", std::process::id())
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// A worker: one per process.
#[derive(Clone)]
pub struct Worker {
    queue: JobQueue,
    registry: Arc<Registry>,
    config: Arc<WorkerConfig>,
    metrics: JobMetrics,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("worker_id", &self.config.worker_id)
            .field("registry", &self.registry)
            .finish()
    }
}

impl Worker {
    /// A worker running `registry`'s handlers on `queue`.
    pub fn new(
        queue: JobQueue,
        registry: Registry,
        config: WorkerConfig,
        metrics: JobMetrics,
    ) -> Self {
        metrics.init_types(&registry.types());
        Self {
            queue,
            registry: Arc::new(registry),
            config: Arc::new(config),
            metrics,
        }
    }

    /// The job types this worker runs.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
    }

    /// This worker's id.
    pub fn id(&self) -> &str {
        &self.config.worker_id
    }

    /// Runs until `shutdown`, then stops claiming, lets running jobs finish within the grace
    /// period, and gives the rest back to the queue.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), JobsError> {
        self.install_schedules(now_ms()).await?;
        let (done_tx, mut done_rx) = mpsc::unbounded_channel::<Finished>();
        let mut tasks: JoinSet<()> = JoinSet::new();
        let mut task_jobs: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut leases = Leases::default();
        let mut pending: Vec<Finished> = Vec::new();
        let config = self.config.clone();
        let concurrency = config.concurrency.max(1);
        // Claim in batches: with most slots busy, wait for a quarter of them to free up rather
        // than paying one claim per finished job.
        let claim_at = (concurrency / 4).max(1);
        let max_outcomes = config.outcome_batch.max(1);
        let mut next_maintenance = Instant::now();
        let mut next_depth = Instant::now();
        let mut next_heartbeat = Instant::now() + config.heartbeat;
        // Whether the queue may hold work for us (the last claim filled its budget, or
        // something woke us since).
        let mut more = true;
        let mut drain_until: Option<Instant> = None;
        tracing::info!(worker_id = %config.worker_id, types = ?self.registry.types(), "worker started");
        loop {
            reap(&mut tasks, &mut task_jobs, &mut leases);
            if drain_until.is_none() && shutdown.is_cancelled() {
                if !leases.held.is_empty() {
                    tracing::info!(running = leases.held.len(), grace = ?config.grace, "worker draining");
                }
                drain_until = Some(Instant::now() + config.grace);
            }
            if let Some(deadline) = drain_until
                && pending.is_empty()
                && (leases.held.is_empty() || Instant::now() >= deadline)
            {
                break;
            }
            let now = Instant::now();
            if drain_until.is_none() && now >= next_maintenance {
                next_maintenance = now + config.poll_interval;
                let refresh_depth = now >= next_depth;
                if refresh_depth {
                    next_depth = now + config.depth_interval;
                }
                if let Err(e) = self.maintain(now_ms(), refresh_depth).await {
                    tracing::warn!(error = %e, "job maintenance failed; retrying next tick");
                }
                more = true;
            }
            if now >= next_heartbeat {
                next_heartbeat = now + config.heartbeat;
                self.heartbeat_all(&mut leases, &pending).await;
            }
            while pending.len() < max_outcomes
                && let Ok(f) = done_rx.try_recv()
            {
                pending.push(f);
            }
            // Linger for the rest of the running jobs, unless all of them are already done.
            if !pending.is_empty() && !config.outcome_linger.is_zero() {
                let deadline = tokio::time::Instant::now() + config.outcome_linger;
                while pending.len() < max_outcomes && pending.len() < leases.held.len() {
                    match tokio::time::timeout_at(deadline, done_rx.recv()).await {
                        Ok(Some(f)) => pending.push(f),
                        _ => break,
                    }
                }
            }
            let free = concurrency.saturating_sub(leases.held.len()) + pending.len();
            let claim = drain_until.is_none()
                && free >= claim_at
                && (more || !pending.is_empty())
                && !shutdown.is_cancelled();
            if pending.is_empty() && !claim {
                let wait_until = if drain_until.is_some() {
                    drain_until.unwrap_or(next_heartbeat)
                } else {
                    next_maintenance
                }
                .min(next_heartbeat);
                tokio::select! {
                    () = shutdown.cancelled(), if drain_until.is_none() => {}
                    () = self.queue.wake().notified() => more = true,
                    Some(f) = done_rx.recv() => pending.push(f),
                    () = tokio::time::sleep_until(wait_until.into()) => {}
                }
                continue;
            }
            let finished = std::mem::take(&mut pending);
            let asked = if claim { free } else { 0 };
            let got = self.flush(&mut leases, finished, asked).await;
            let claimed_n = got.len();
            for c in got {
                let cancel = leases.insert(&c);
                let worker = self.clone();
                let done = done_tx.clone();
                let id = c.job.id.clone();
                let handle = tasks.spawn(async move { worker.run_job(c, cancel, done).await });
                task_jobs.insert(handle.id(), id);
            }
            if claim {
                more = claimed_n >= asked;
            }
        }
        let finished = leases.held.is_empty();
        if !finished {
            tasks.abort_all();
        }
        while let Some(res) = tasks.join_next_with_id().await {
            let id = match res {
                Ok((id, ())) => id,
                Err(e) => e.id(),
            };
            task_jobs.remove(&id);
        }
        // Runs that finished just before the abort still get their outcome written.
        while let Ok(f) = done_rx.try_recv() {
            pending.push(f);
        }
        if !pending.is_empty() {
            self.flush(&mut leases, pending, 0).await;
        }
        if !leases.held.is_empty() {
            self.release_all(&mut leases).await;
        }
        Ok(())
    }

    /// One round trip: records `finished` and claims up to `free` jobs in one transaction,
    /// then settles the finished jobs (metrics, logs, slots). Returns the claimed jobs.
    async fn flush(
        &self,
        leases: &mut Leases,
        finished: Vec<Finished>,
        free: usize,
    ) -> Vec<Claimed> {
        let mut outcomes = Vec::with_capacity(finished.len());
        let mut recorded = Vec::with_capacity(finished.len());
        let mut seen = std::collections::HashSet::with_capacity(finished.len());
        for f in finished {
            if leases.is_lost(&f.outcome.id) || !seen.insert(f.outcome.id.clone()) {
                tracing::warn!(parent: &f.span, "lease lost while running; another worker owns the job now");
                leases.forget(&f.outcome.id);
                continue;
            }
            outcomes.push(f.outcome.clone());
            recorded.push(f);
        }
        // Slots freed by this batch are counted as free for its claim; limited types too.
        let claims = if free == 0 {
            Vec::new()
        } else {
            let mut busy = leases.by_type.clone();
            for f in &recorded {
                if let Some(n) = busy.get_mut(&f.job_type) {
                    *n = n.saturating_sub(1);
                }
            }
            self.claim_plan(&busy, free)
        };
        let flush = Flush {
            outcomes,
            claims,
            claim_budget: u32::try_from(free).unwrap_or(u32::MAX),
        };
        let result = self.queue.store().flush(flush, now_ms()).await;
        let (states, claimed) = match result {
            Ok(done) => (Ok(done.recorded), done.claimed),
            Err(e) => {
                tracing::warn!(error = %e, "writing outcomes and claiming failed");
                (Err(e.to_string()), Vec::new())
            }
        };
        match states {
            Ok(states) => {
                for (f, state) in recorded.into_iter().zip(states) {
                    self.settle(&f, state);
                    leases.forget(&f.outcome.id);
                }
            }
            Err(e) => {
                for f in recorded {
                    tracing::error!(parent: &f.span, error = %e, "cannot record job outcome; the lease will expire and the job run again");
                    leases.forget(&f.outcome.id);
                }
            }
        }
        claimed
    }

    /// Metrics and logs for a recorded outcome.
    fn settle(&self, f: &Finished, state: Option<JobState>) {
        let error = match &f.outcome.kind {
            OutcomeKind::Failed(failure) => failure.error.as_str(),
            _ => "",
        };
        match state {
            Some(JobState::Succeeded) => {
                self.metrics.succeeded(&f.job_type);
                tracing::info!(parent: &f.span, "job succeeded");
            }
            Some(JobState::Queued) => {
                self.metrics.retried(&f.job_type);
                tracing::warn!(parent: &f.span, error, "job attempt failed; will retry");
            }
            Some(JobState::Failed) => {
                self.metrics.failed(&f.job_type);
                tracing::error!(parent: &f.span, error, "job failed");
            }
            Some(_) => {}
            None => tracing::warn!(parent: &f.span, "lease lost before the outcome was recorded"),
        }
    }

    /// Extends every held lease (except those whose outcome is about to be written) in one
    /// statement; delivers cancel requests and lost leases to the handlers.
    async fn heartbeat_all(&self, leases: &mut Leases, pending: &[Finished]) {
        let ids: Vec<(String, String)> = leases
            .held
            .iter()
            .filter(|(id, h)| !h.lost && !pending.iter().any(|f| &f.outcome.id == *id))
            .map(|(id, h)| (id.clone(), h.token.clone()))
            .collect();
        if ids.is_empty() {
            return;
        }
        let statuses = self
            .queue
            .store()
            .heartbeat_many(ids.clone(), now_ms(), millis(self.config.lease))
            .await;
        let statuses = match statuses {
            Ok(s) => s,
            // Keep trying: the lease outlives several missed heartbeats.
            Err(e) => {
                tracing::warn!(error = %e, leases = ids.len(), "heartbeat failed");
                return;
            }
        };
        for ((id, _), status) in ids.iter().zip(statuses) {
            let Some(h) = leases.held.get_mut(id) else {
                continue;
            };
            match status {
                LeaseStatus::Held { cancel_requested } => {
                    if cancel_requested && !h.cancel.is_cancelled() {
                        tracing::info!(job_id = %id, "cancellation requested");
                        h.cancel.cancel();
                    }
                }
                LeaseStatus::Lost => {
                    h.lost = true;
                    h.cancel.cancel();
                }
            }
        }
    }

    /// Gives every lease still held back to the queue (after a hard stop).
    async fn release_all(&self, leases: &mut Leases) {
        for (id, h) in leases.held.drain() {
            match self.queue.store().release(&id, &h.token, now_ms()).await {
                Ok(true) => tracing::info!(job_id = %id, "job released to the queue at shutdown"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(job_id = %id, error = %e, "cannot release job; its lease will expire")
                }
            }
        }
        leases.by_type.clear();
    }

    /// Lease recovery, cron ticks and the queue-depth gauge.
    pub async fn maintenance(&self, now: i64) -> Result<(), JobsError> {
        self.maintain(now, true).await
    }

    async fn maintain(&self, now: i64, refresh_depth: bool) -> Result<(), JobsError> {
        let recovered = self.queue.store().recover_expired(now).await?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "recovered jobs whose worker stopped heartbeating"
            );
        }
        self.tick_schedules(now).await?;
        if refresh_depth {
            let depth = self.queue.store().queue_depth(now).await?;
            self.metrics.set_depth(&depth);
        }
        Ok(())
    }

    /// Creates or updates the registry's schedules in the store (first tick after `now`).
    pub async fn install_schedules(&self, now: i64) -> Result<(), JobsError> {
        for spec in &self.registry.schedules {
            let schedule = crate::model::Schedule {
                name: spec.name.clone(),
                cron: spec.cron.as_str().to_owned(),
                job_type: spec.job_type.clone(),
                payload: spec.payload.clone(),
                next_run_at: spec.cron.next_after(now)?,
            };
            self.queue.store().upsert_schedule(schedule, now).await?;
        }
        Ok(())
    }

    /// Fires every schedule whose tick is due at `now`; returns how many jobs this worker
    /// enqueued (other workers racing for the same tick enqueue nothing).
    pub async fn tick_schedules(&self, now: i64) -> Result<usize, JobsError> {
        let mut fired = 0;
        for s in self.queue.store().due_schedules(now).await? {
            let cron = CronExpr::parse(&s.cron)?;
            // Ticks missed while no worker ran collapse into one run, then the schedule resumes.
            let next = cron.next_after(now.max(s.next_run_at))?;
            let job = NewJob::new(&s.job_type, s.payload.clone())
                .idempotency_key(format!("schedule:{}:{}", s.name, s.next_run_at));
            if let Some(job) = self
                .queue
                .store()
                .fire_schedule(&s.name, s.next_run_at, next, job, now)
                .await?
            {
                tracing::info!(schedule = %s.name, job_id = %job.id, "scheduled job enqueued");
                fired += 1;
            }
        }
        if fired > 0 {
            self.queue.wake().notify_waiters();
        }
        Ok(fired)
    }

    /// The claim requests for `free` slots: one per limited type with spare capacity, then
    /// one for every unlimited type.
    fn claim_plan(&self, busy: &HashMap<String, usize>, free: usize) -> Vec<ClaimRequest> {
        let now = now_ms();
        let request = |types: Vec<String>, limit: usize| ClaimRequest {
            worker_id: self.config.worker_id.clone(),
            types,
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            now,
            lease_ms: millis(self.config.lease),
        };
        let mut unlimited = Vec::new();
        let mut claims = Vec::new();
        for (name, Registered { limit, .. }) in &self.registry.handlers {
            match limit {
                None => unlimited.push(name.clone()),
                Some(l) => {
                    let l: usize = *l;
                    let running = busy.get(name).copied().unwrap_or(0);
                    if running < l {
                        claims.push(request(vec![name.clone()], (l - running).min(free)));
                    }
                }
            }
        }
        if !unlimited.is_empty() {
            unlimited.sort();
            claims.push(request(unlimited, free));
        }
        claims
    }

    async fn run_job(
        self,
        claimed: Claimed,
        cancel: CancellationToken,
        done: mpsc::UnboundedSender<Finished>,
    ) {
        let Claimed { job, lease_token } = claimed;
        let (id, job_type, attempt) = (job.id.clone(), job.job_type.clone(), job.attempts);
        let span = tracing::info_span!("job", job_id = %id, job_type = %job_type, attempt);
        let Some(registered) = self.registry.handlers.get(&job_type).cloned() else {
            // Cannot happen: only registered types are claimed. Hand it back rather than drop it.
            let _ = self
                .queue
                .store()
                .release(&id, &lease_token, now_ms())
                .await;
            return;
        };
        self.metrics.started(&job_type);
        let started = Instant::now();
        let ctx = JobContext::new(
            job,
            lease_token.clone(),
            self.queue.store().clone(),
            cancel.clone(),
        );
        let outcome = AssertUnwindSafe(registered.handler.run(ctx))
            .catch_unwind()
            .await
            .unwrap_or_else(|_| Err(JobError::Retry("handler panicked".to_owned())));
        self.metrics
            .stopped(&job_type, started.elapsed().as_secs_f64());
        let kind = match outcome {
            Ok(result) => OutcomeKind::Succeeded(result),
            Err(JobError::Cancelled) => OutcomeKind::Cancelled,
            Err(JobError::Retry(error)) | Err(JobError::Fatal(error)) if cancel.is_cancelled() => {
                tracing::info!(parent: &span, %error, "job stopped after cancellation");
                OutcomeKind::Cancelled
            }
            Err(e) => {
                let retry_at = match &e {
                    JobError::Retry(_) => {
                        Some(now_ms() + millis(self.config.backoff.delay(attempt)))
                    }
                    _ => None,
                };
                OutcomeKind::Failed(Failure {
                    error: e.to_string(),
                    retry_at,
                })
            }
        };
        // The job counts as done only once the loop has committed its outcome; until then it
        // keeps its slot, and a crash before the commit leaves it to lease recovery.
        let _ = done.send(Finished {
            outcome: Outcome {
                id,
                lease_token,
                kind,
            },
            job_type,
            span,
        });
    }
}

/// Collects finished job tasks; a task that ended without reporting (it panicked outside the
/// handler) gives up its slot, and its lease expires.
fn reap(
    tasks: &mut JoinSet<()>,
    task_jobs: &mut HashMap<tokio::task::Id, String>,
    leases: &mut Leases,
) {
    while let Some(res) = tasks.try_join_next_with_id() {
        match res {
            Ok((id, ())) => {
                task_jobs.remove(&id);
            }
            Err(e) => {
                if let Some(job) = task_jobs.remove(&e.id()) {
                    tracing::error!(job_id = %job, error = %e, "job task failed; its lease will expire");
                    leases.forget(&job);
                }
            }
        }
    }
}
