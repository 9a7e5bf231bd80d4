//! The job model: what a job is, its states, and what callers ask the queue for.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Milliseconds since the Unix epoch (UTC); every time in the queue is one.
pub type Millis = i64;

/// The current time in [`Millis`].
pub fn now_ms() -> Millis {
    jiff::Timestamp::now().as_millisecond()
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    /// Waiting to be claimed (possibly not before `run_after`).
    Queued,
    /// Leased by a worker.
    Running,
    /// Finished successfully.
    Succeeded,
    /// Out of attempts (or failed permanently): the dead-letter state an admin can retry.
    Failed,
    /// Cancelled before or while running.
    Cancelled,
}

impl JobState {
    /// The stored and serialised name.
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Succeeded => "succeeded",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "succeeded" => JobState::Succeeded,
            "failed" => JobState::Failed,
            "cancelled" => JobState::Cancelled,
            _ => return None,
        })
    }

    /// Whether the job will never change again (unless an admin retries it).
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            JobState::Succeeded | JobState::Failed | JobState::Cancelled
        )
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    /// Opaque id (a UUIDv7, so ids sort by creation time).
    pub id: String,
    /// Handler name, e.g. `gedcom_import`.
    pub job_type: String,
    /// Handler input.
    pub payload: Value,
    /// The user the job runs for, who may see and cancel it.
    pub owner_id: Option<String>,
    /// The tree the job concerns, where relevant.
    pub tree_id: Option<String>,
    /// Enqueueing the same key again returns this job instead of a new one.
    pub idempotency_key: Option<String>,
    /// Higher runs first.
    pub priority: i32,
    /// Not claimed before this time.
    pub run_after: Millis,
    /// Life-cycle state.
    pub state: JobState,
    /// Claims so far (a claim whose worker died counts).
    pub attempts: i32,
    /// Claims allowed before the job stays `failed`.
    pub max_attempts: i32,
    /// Fraction done, 0 to 1, reported by the handler.
    pub progress: f64,
    /// What the handler is doing now.
    pub progress_message: Option<String>,
    /// Handler output on success.
    pub result: Option<Value>,
    /// Last failure.
    pub error: Option<String>,
    /// A user asked to cancel; the handler sees it through its cancellation token.
    pub cancel_requested: bool,
    /// Worker holding the lease.
    pub lease_owner: Option<String>,
    /// When the lease lapses unless renewed.
    pub lease_expires_at: Option<Millis>,
    /// Creation time.
    pub created_at: Millis,
    /// Last change.
    pub updated_at: Millis,
    /// First claim.
    pub started_at: Option<Millis>,
    /// Reaching a terminal state.
    pub finished_at: Option<Millis>,
}

/// Default claims allowed per job.
pub const DEFAULT_MAX_ATTEMPTS: i32 = 5;

/// A job to enqueue.
#[derive(Debug, Clone, PartialEq)]
pub struct NewJob {
    /// Handler name.
    pub job_type: String,
    /// Handler input.
    pub payload: Value,
    /// The user the job runs for.
    pub owner_id: Option<String>,
    /// The tree it concerns.
    pub tree_id: Option<String>,
    /// Deduplication key.
    pub idempotency_key: Option<String>,
    /// Higher runs first.
    pub priority: i32,
    /// Not before this time; `None` means now.
    pub run_after: Option<Millis>,
    /// Claims allowed.
    pub max_attempts: i32,
}

impl NewJob {
    /// A job of `job_type` with `payload`, no owner, priority 0, runnable now.
    pub fn new(job_type: impl Into<String>, payload: Value) -> Self {
        Self {
            job_type: job_type.into(),
            payload,
            owner_id: None,
            tree_id: None,
            idempotency_key: None,
            priority: 0,
            run_after: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }

    /// Sets the owning user.
    pub fn owner(mut self, user_id: impl Into<String>) -> Self {
        self.owner_id = Some(user_id.into());
        self
    }

    /// Sets the tree.
    pub fn tree(mut self, tree_id: impl Into<String>) -> Self {
        self.tree_id = Some(tree_id.into());
        self
    }

    /// Sets the idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Sets the priority (higher first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.priority = priority;
        self
    }

    /// Delays the job until `at`.
    pub fn run_after(mut self, at: Millis) -> Self {
        self.run_after = Some(at);
        self
    }

    /// Sets how many claims are allowed.
    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

/// The result of an enqueue.
#[derive(Debug, Clone)]
pub struct Enqueued {
    /// The job (the existing one when the idempotency key was already used).
    pub job: Job,
    /// False when an existing job was returned.
    pub created: bool,
}

/// Jobs leased to one worker in one claim; `lease_token` fences every later update.
#[derive(Debug, Clone)]
pub struct Claimed {
    /// The job, already `running` with `attempts` counting this claim.
    pub job: Job,
    /// Proof of this claim; stale after the lease expires and someone else claims the job.
    pub lease_token: String,
}

/// What a worker asks for.
#[derive(Debug, Clone)]
pub struct ClaimRequest {
    /// Who is claiming (for operators; fencing uses the token).
    pub worker_id: String,
    /// Only these types (the ones the worker has handlers and spare capacity for).
    pub types: Vec<String>,
    /// At most this many.
    pub limit: u32,
    /// Current time.
    pub now: Millis,
    /// Lease length.
    pub lease_ms: Millis,
}

/// One worker round trip: the outcomes of finished jobs, then claims for the slots they free,
/// written in **one** transaction (one commit), so a busy worker pays one commit per batch.
#[derive(Debug, Clone, Default)]
pub struct Flush {
    /// Outcomes to record first (ids distinct), each fenced by its lease token.
    pub outcomes: Vec<Outcome>,
    /// Claims run in order after the outcomes; each takes at most its own `limit` and at most
    /// what is left of `claim_budget` (per-type limits are separate requests before the
    /// unlimited types).
    pub claims: Vec<ClaimRequest>,
    /// Most jobs claimed by all `claims` together (the worker's free slots).
    pub claim_budget: u32,
}

/// What a [`Flush`] did.
#[derive(Debug, Clone, Default)]
pub struct Flushed {
    /// Per outcome, in input order: the job's new state, `None` when the lease was lost.
    pub recorded: Vec<Option<JobState>>,
    /// The jobs claimed, highest priority first within each claim request.
    pub claimed: Vec<Claimed>,
}

/// Whether a lease is still held after a heartbeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LeaseStatus {
    /// Still ours; `cancel_requested` says a user asked to stop.
    Held {
        /// A user asked to cancel the job.
        cancel_requested: bool,
    },
    /// Expired and possibly claimed by another worker: stop and write nothing.
    Lost,
}

/// A failed attempt, as the worker reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    /// What went wrong (shown to the owner and the admin).
    pub error: String,
    /// When to try again; `None` means never (permanent failure).
    pub retry_at: Option<Millis>,
}

/// Filter for listing jobs.
#[derive(Debug, Clone, Default)]
pub struct JobFilter {
    /// Only this owner's jobs.
    pub owner_id: Option<String>,
    /// Only this type.
    pub job_type: Option<String>,
    /// Only this state.
    pub state: Option<JobState>,
    /// Only jobs with ids below this one (keyset pagination, newest first).
    pub before_id: Option<String>,
    /// Page size.
    pub limit: u32,
}

/// A recurring job: `job_type` with `payload` on every tick of `cron` (UTC).
#[derive(Debug, Clone, PartialEq)]
pub struct Schedule {
    /// Unique name.
    pub name: String,
    /// Cron expression (5 fields, or 6 with seconds).
    pub cron: String,
    /// Handler name.
    pub job_type: String,
    /// Handler input.
    pub payload: Value,
    /// The next tick due.
    pub next_run_at: Millis,
}

/// Queued-and-due jobs of one type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeCount {
    /// Job type.
    pub job_type: String,
    /// How many.
    pub count: i64,
}

/// How one run of a leased job ended, as the worker records it.
#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeKind {
    /// The handler returned this result.
    Succeeded(Value),
    /// The handler failed: retried at `retry_at` while attempts remain, else `failed`.
    Failed(Failure),
    /// The handler stopped after a cancel request.
    Cancelled,
}

/// One outcome to record, fenced by the lease token of the claim that ran it.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The job.
    pub id: String,
    /// The token of the claim the outcome belongs to.
    pub lease_token: String,
    /// How the run ended.
    pub kind: OutcomeKind,
}

impl OutcomeKind {
    /// The stored name the outcome SQL switches on.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            OutcomeKind::Succeeded(_) => "succeeded",
            OutcomeKind::Failed(_) => "failed",
            OutcomeKind::Cancelled => "cancelled",
        }
    }
}
