//! The worker loop: claims jobs within its concurrency limits, runs their handlers under a
//! heartbeated lease, records outcomes with retries and backoff, fires cron schedules, recovers
//! jobs of dead workers, and drains on shutdown.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::error::JobsError;
use crate::metrics::JobMetrics;
use crate::model::{ClaimRequest, Claimed, Failure, JobState, LeaseStatus, NewJob, now_ms};
use crate::queue::JobQueue;
use crate::registry::{JobContext, JobError, Registered, Registry};
use crate::schedule::CronExpr;

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

/// Jobs in flight: per-type counts and the leases to release on a hard stop.
#[derive(Default)]
struct InFlight {
    by_type: HashMap<String, usize>,
    leases: HashMap<String, (String, CancellationToken)>,
}

/// A worker: one per process.
#[derive(Clone)]
pub struct Worker {
    queue: JobQueue,
    registry: Arc<Registry>,
    config: Arc<WorkerConfig>,
    metrics: JobMetrics,
    in_flight: Arc<Mutex<InFlight>>,
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
            in_flight: Arc::default(),
        }
    }

    /// This worker's id.
    pub fn id(&self) -> &str {
        &self.config.worker_id
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, InFlight> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs until `shutdown`, then stops claiming, lets running jobs finish within the grace
    /// period, and gives the rest back to the queue.
    pub async fn run(self, shutdown: CancellationToken) -> Result<(), JobsError> {
        self.install_schedules(now_ms()).await?;
        let mut tasks = JoinSet::new();
        let mut last_maintenance: Option<Instant> = None;
        tracing::info!(worker_id = %self.config.worker_id, types = ?self.registry.types(), "worker started");
        while !shutdown.is_cancelled() {
            let due = last_maintenance.is_none_or(|t| t.elapsed() >= self.config.poll_interval);
            if due {
                last_maintenance = Some(Instant::now());
                if let Err(e) = self.maintenance(now_ms()).await {
                    tracing::warn!(error = %e, "job maintenance failed; retrying next tick");
                }
            }
            // Claim in batches: with most slots busy, wait for a quarter of them to free up
            // rather than paying one claim query per finished job.
            let free = self.config.concurrency.saturating_sub(tasks.len());
            let batch = (self.config.concurrency / 4).max(1);
            let claimed = if free < batch {
                Vec::new()
            } else {
                match self.claim_once(tasks.len()).await {
                    Ok(c) => c,
                    Err(e) => {
                        tracing::warn!(error = %e, "claiming jobs failed; retrying");
                        Vec::new()
                    }
                }
            };
            let got = claimed.len();
            for c in claimed {
                let worker = self.clone();
                tasks.spawn(async move { worker.run_job(c).await });
            }
            if got > 0 && self.config.concurrency - tasks.len() >= batch {
                continue; // more may be waiting
            }
            tokio::select! {
                () = shutdown.cancelled() => {}
                () = self.queue.wake().notified() => {}
                Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
                () = tokio::time::sleep(self.config.poll_interval) => {}
            }
            while tasks.try_join_next().is_some() {}
        }
        self.drain(tasks).await;
        Ok(())
    }

    async fn drain(&self, mut tasks: JoinSet<()>) {
        let running = tasks.len();
        if running > 0 {
            tracing::info!(running, grace = ?self.config.grace, "worker draining");
        }
        let finished = tokio::time::timeout(self.config.grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_ok() {
            return;
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        let leases: Vec<(String, String)> = self
            .lock()
            .leases
            .drain()
            .map(|(id, (token, _))| (id, token))
            .collect();
        for (id, token) in leases {
            match self.queue.store().release(&id, &token, now_ms()).await {
                Ok(true) => tracing::info!(job_id = %id, "job released to the queue at shutdown"),
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(job_id = %id, error = %e, "cannot release job; its lease will expire")
                }
            }
        }
    }

    /// Lease recovery, cron ticks and the queue-depth gauge.
    pub async fn maintenance(&self, now: i64) -> Result<(), JobsError> {
        let recovered = self.queue.store().recover_expired(now).await?;
        if recovered > 0 {
            tracing::warn!(
                recovered,
                "recovered jobs whose worker stopped heartbeating"
            );
        }
        self.tick_schedules(now).await?;
        let depth = self.queue.store().queue_depth(now).await?;
        self.metrics.set_depth(&depth);
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

    /// Claims as many jobs as free slots and per-type limits allow.
    async fn claim_once(&self, running: usize) -> Result<Vec<Claimed>, JobsError> {
        let free = self.config.concurrency.saturating_sub(running);
        if free == 0 {
            return Ok(Vec::new());
        }
        let (unlimited, limited): (Vec<_>, Vec<_>) = {
            let in_flight = self.lock();
            let mut unlimited = Vec::new();
            let mut limited = Vec::new();
            for (name, Registered { limit, .. }) in &self.registry.handlers {
                match limit {
                    None => unlimited.push(name.clone()),
                    Some(l) => {
                        let busy = in_flight.by_type.get(name).copied().unwrap_or(0);
                        if busy < *l {
                            limited.push((name.clone(), l - busy));
                        }
                    }
                }
            }
            (unlimited, limited)
        };
        let mut out = Vec::new();
        let mut left = free;
        for (name, spare) in limited {
            if left == 0 {
                break;
            }
            let got = self.claim_types(vec![name], spare.min(left)).await?;
            left -= got.len();
            out.extend(got);
        }
        if left > 0 && !unlimited.is_empty() {
            out.extend(self.claim_types(unlimited, left).await?);
        }
        Ok(out)
    }

    async fn claim_types(
        &self,
        types: Vec<String>,
        limit: usize,
    ) -> Result<Vec<Claimed>, JobsError> {
        let claimed = self
            .queue
            .store()
            .claim(ClaimRequest {
                worker_id: self.config.worker_id.clone(),
                types,
                limit: u32::try_from(limit).unwrap_or(u32::MAX),
                now: now_ms(),
                lease_ms: millis(self.config.lease),
            })
            .await?;
        let mut in_flight = self.lock();
        for c in &claimed {
            *in_flight.by_type.entry(c.job.job_type.clone()).or_default() += 1;
            in_flight.leases.insert(
                c.job.id.clone(),
                (c.lease_token.clone(), CancellationToken::new()),
            );
        }
        Ok(claimed)
    }

    async fn run_job(self, claimed: Claimed) {
        let Claimed { job, lease_token } = claimed;
        let (id, job_type, attempt) = (job.id.clone(), job.job_type.clone(), job.attempts);
        let cancel = self
            .lock()
            .leases
            .get(&id)
            .map(|(_, c)| c.clone())
            .unwrap_or_default();
        let Some(registered) = self.registry.handlers.get(&job_type).cloned() else {
            // Cannot happen: only registered types are claimed. Hand it back rather than drop it.
            let _ = self
                .queue
                .store()
                .release(&id, &lease_token, now_ms())
                .await;
            self.forget(&id, &job_type);
            return;
        };
        let span = tracing::info_span!("job", job_id = %id, job_type = %job_type, attempt);
        let _enter = span.clone();
        self.metrics.started(&job_type);
        let started = Instant::now();
        let lease_lost = CancellationToken::new();
        let heartbeat = tokio::spawn(self.clone().heartbeat(
            id.clone(),
            lease_token.clone(),
            cancel.clone(),
            lease_lost.clone(),
        ));
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
        heartbeat.abort();
        self.metrics
            .stopped(&job_type, started.elapsed().as_secs_f64());
        if lease_lost.is_cancelled() {
            tracing::warn!(parent: &span, "lease lost while running; another worker owns the job now");
            self.forget(&id, &job_type);
            return;
        }
        let store = self.queue.store();
        let now = now_ms();
        let recorded = match outcome {
            Ok(result) => store
                .complete(&id, &lease_token, result, now)
                .await
                .inspect(|ok| {
                    if *ok {
                        self.metrics.succeeded(&job_type);
                        tracing::info!(parent: &span, "job succeeded");
                    }
                }),
            Err(JobError::Cancelled) => store.mark_cancelled(&id, &lease_token, now).await,
            Err(JobError::Retry(error)) | Err(JobError::Fatal(error)) if cancel.is_cancelled() => {
                tracing::info!(parent: &span, %error, "job stopped after cancellation");
                store.mark_cancelled(&id, &lease_token, now).await
            }
            Err(e) => {
                let retry_at = match &e {
                    JobError::Retry(_) => Some(now + millis(self.config.backoff.delay(attempt))),
                    _ => None,
                };
                let error = e.to_string();
                let state = store
                    .fail(
                        &id,
                        &lease_token,
                        Failure {
                            error: error.clone(),
                            retry_at,
                        },
                        now,
                    )
                    .await;
                state.map(|s| match s {
                    Some(JobState::Queued) => {
                        self.metrics.retried(&job_type);
                        tracing::warn!(parent: &span, %error, "job attempt failed; will retry");
                        true
                    }
                    Some(_) => {
                        self.metrics.failed(&job_type);
                        tracing::error!(parent: &span, %error, "job failed");
                        true
                    }
                    None => false,
                })
            }
        };
        match recorded {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(parent: &span, "lease lost before the outcome was recorded")
            }
            Err(e) => {
                tracing::error!(parent: &span, error = %e, "cannot record job outcome; the lease will expire and the job run again")
            }
        }
        self.forget(&id, &job_type);
    }

    fn forget(&self, id: &str, job_type: &str) {
        let mut in_flight = self.lock();
        in_flight.leases.remove(id);
        if let Some(n) = in_flight.by_type.get_mut(job_type) {
            *n = n.saturating_sub(1);
        }
    }

    async fn heartbeat(
        self,
        id: String,
        token: String,
        cancel: CancellationToken,
        lease_lost: CancellationToken,
    ) {
        let lease = millis(self.config.lease);
        loop {
            tokio::time::sleep(self.config.heartbeat).await;
            match self
                .queue
                .store()
                .heartbeat(&id, &token, now_ms(), lease)
                .await
            {
                Ok(LeaseStatus::Held { cancel_requested }) => {
                    if cancel_requested && !cancel.is_cancelled() {
                        tracing::info!(job_id = %id, "cancellation requested");
                        cancel.cancel();
                    }
                }
                Ok(LeaseStatus::Lost) => {
                    lease_lost.cancel();
                    cancel.cancel();
                    return;
                }
                // Keep trying: the lease outlives several missed heartbeats.
                Err(e) => tracing::warn!(job_id = %id, error = %e, "heartbeat failed"),
            }
        }
    }
}
