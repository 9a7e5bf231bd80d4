//! The worker loop: claims jobs within its concurrency limits, runs their handlers under a
//! heartbeated lease, records outcomes with retries and backoff, fires cron schedules, recovers
//! jobs of dead workers, and drains on shutdown.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::FutureExt as _;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::backoff::Backoff;
use crate::error::JobsError;
use crate::metrics::JobMetrics;
use crate::model::{
    ClaimRequest, Claimed, Failure, JobState, LeaseStatus, NewJob, Outcome, OutcomeKind, now_ms,
};
use crate::queue::JobQueue;
use crate::registry::{JobContext, JobError, Registered, Registry};
use crate::schedule::CronExpr;
use crate::store::JobStore;

/// What the outcome writer answers: the job's new state, `None` when the lease was lost.
type Recorded = Result<Option<JobState>, String>;

/// An outcome waiting for the writer, and where to tell its job how it went.
struct Pending {
    outcome: Outcome,
    reply: oneshot::Sender<Recorded>,
}

/// Writes outcomes in batches: takes what has arrived (waiting up to `linger` for more, up to
/// `max` in all), records them in one statement, answers each job, repeats. Ends when every
/// sender is gone and everything received has been written.
async fn write_outcomes(
    store: Arc<dyn JobStore>,
    mut rx: mpsc::UnboundedReceiver<Pending>,
    max: usize,
    linger: Duration,
) {
    let max = max.max(1);
    let mut carry: Vec<Pending> = Vec::new();
    let mut open = true;
    loop {
        if carry.is_empty() {
            if !open {
                return;
            }
            match rx.recv().await {
                Some(p) => carry.push(p),
                None => return,
            }
        }
        let mut batch: Vec<Pending> = Vec::with_capacity(max.min(64));
        let mut later = Vec::new();
        let mut ids = std::collections::HashSet::new();
        let mut take = |p: Pending, batch: &mut Vec<Pending>, later: &mut Vec<Pending>| {
            // A job re-claimed by this worker may have a stale outcome in flight; keep ids
            // distinct per statement so each answer matches its own lease.
            if batch.len() < max && ids.insert(p.outcome.id.clone()) {
                batch.push(p);
            } else {
                later.push(p);
            }
        };
        for p in carry.drain(..) {
            take(p, &mut batch, &mut later);
        }
        while open && batch.len() < max {
            match rx.try_recv() {
                Ok(p) => take(p, &mut batch, &mut later),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => open = false,
            }
        }
        if open && batch.len() < max && !linger.is_zero() {
            let deadline = tokio::time::Instant::now() + linger;
            while batch.len() < max {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(p)) => take(p, &mut batch, &mut later),
                    Ok(None) => {
                        open = false;
                        break;
                    }
                    Err(_) => break,
                }
            }
        }
        carry = later;
        let (outcomes, replies): (Vec<Outcome>, Vec<_>) =
            batch.into_iter().map(|p| (p.outcome, p.reply)).unzip();
        match store.record_outcomes(outcomes, now_ms()).await {
            Ok(states) => {
                for (reply, state) in replies.into_iter().zip(states) {
                    let _ = reply.send(Ok(state));
                }
            }
            Err(e) => {
                let e = e.to_string();
                for reply in replies {
                    let _ = reply.send(Err(e.clone()));
                }
            }
        }
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
    /// How long the outcome writer waits for more outcomes before writing a batch that is not
    /// full (outcomes arriving while a write is in flight join the next batch anyway).
    pub outcome_linger: Duration,
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

    /// The job types this worker runs.
    pub fn registry(&self) -> &Arc<Registry> {
        &self.registry
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
        let (outcomes, rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(write_outcomes(
            self.queue.store().clone(),
            rx,
            self.config.outcome_batch,
            self.config.outcome_linger,
        ));
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
                let outcomes = outcomes.clone();
                tasks.spawn(async move { worker.run_job(c, outcomes).await });
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
        let finished = self.drain(tasks).await;
        // Every job task is gone, so this was the last sender: the writer records what it holds
        // and stops. Only then are leases still held given back.
        drop(outcomes);
        if let Err(e) = writer.await {
            tracing::error!(error = %e, "the outcome writer stopped");
        }
        if !finished {
            self.release_all().await;
        }
        Ok(())
    }

    /// Waits for running jobs within the grace period, then aborts the rest; true when all
    /// finished in time.
    async fn drain(&self, mut tasks: JoinSet<()>) -> bool {
        let running = tasks.len();
        if running > 0 {
            tracing::info!(running, grace = ?self.config.grace, "worker draining");
        }
        let finished = tokio::time::timeout(self.config.grace, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if finished.is_ok() {
            return true;
        }
        tasks.abort_all();
        while tasks.join_next().await.is_some() {}
        false
    }

    /// Gives every lease this worker still holds back to the queue (after a hard stop).
    async fn release_all(&self) {
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

    async fn run_job(self, claimed: Claimed, outcomes: mpsc::UnboundedSender<Pending>) {
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
        let error = match &kind {
            OutcomeKind::Failed(f) => Some(f.error.clone()),
            _ => None,
        };
        // The job counts as done only once the writer has committed its outcome; until then it
        // keeps its slot, and a crash before the commit leaves it to lease recovery.
        let (reply, answer) = oneshot::channel();
        let sent = outcomes.send(Pending {
            outcome: Outcome {
                id: id.clone(),
                lease_token: lease_token.clone(),
                kind,
            },
            reply,
        });
        let stopped = || Err("the outcome writer stopped".to_owned());
        let recorded: Recorded = match sent {
            Ok(()) => answer.await.unwrap_or_else(|_| stopped()),
            Err(_) => stopped(),
        };
        let recorded = recorded.map(|state| match state {
            Some(JobState::Succeeded) => {
                self.metrics.succeeded(&job_type);
                tracing::info!(parent: &span, "job succeeded");
                true
            }
            Some(JobState::Queued) => {
                self.metrics.retried(&job_type);
                tracing::warn!(parent: &span, error = error.as_deref().unwrap_or(""), "job attempt failed; will retry");
                true
            }
            Some(JobState::Failed) => {
                self.metrics.failed(&job_type);
                tracing::error!(parent: &span, error = error.as_deref().unwrap_or(""), "job failed");
                true
            }
            Some(_) => true,
            None => false,
        });
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
