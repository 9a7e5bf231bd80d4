//! The storage port of the queue, and the SQL both adapters share.
//!
//! Every operation takes `now` from the caller, so the domain decides what time it is and the
//! conformance suite can test leases and schedules without sleeping.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

use crate::error::StoreError;
use crate::model::{
    ClaimRequest, Claimed, Enqueued, Failure, Flush, Flushed, Job, JobFilter, JobState,
    LeaseStatus, Millis, NewJob, Outcome, OutcomeKind, Schedule, TypeCount,
};

/// A boxed store future (the port is used as `dyn JobStore`).
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// The queue's storage port; one adapter per database, all passing `tests/conformance.rs`.
pub trait JobStore: Send + Sync + 'static {
    /// Applies the embedded migrations.
    fn migrate(&self) -> StoreFuture<'_, ()>;
    /// Inserts a job, or returns the existing one with the same idempotency key.
    fn enqueue(&self, job: NewJob, now: Millis) -> StoreFuture<'_, Enqueued>;
    /// Leases up to `limit` due jobs of the given types, highest priority first; concurrent
    /// claimers never get the same job.
    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Vec<Claimed>>;
    /// Extends a lease; reports whether it is still held and whether cancel was requested.
    fn heartbeat(
        &self,
        id: &str,
        token: &str,
        now: Millis,
        lease_ms: Millis,
    ) -> StoreFuture<'_, LeaseStatus>;
    /// Extends many leases in one statement (one commit): per `(id, token)` pair, in input
    /// order, whether it is still held and whether cancel was requested.
    fn heartbeat_many(
        &self,
        leases: Vec<(String, String)>,
        now: Millis,
        lease_ms: Millis,
    ) -> StoreFuture<'_, Vec<LeaseStatus>>;
    /// Records `flush.outcomes`, then runs `flush.claims`, all in one transaction: the worker's
    /// single round trip per batch. Either everything commits or nothing does.
    fn flush(&self, flush: Flush, now: Millis) -> StoreFuture<'_, Flushed>;
    /// Records handler progress; false when the lease is lost.
    fn progress(
        &self,
        id: &str,
        token: &str,
        fraction: f64,
        message: Option<String>,
        now: Millis,
    ) -> StoreFuture<'_, bool>;
    /// Records the outcomes of leased jobs in one statement (one commit). Each outcome is
    /// fenced by its lease token: the result, in input order, is the job's new state, or `None`
    /// when the lease was lost (someone else owns the job now, or it was recovered). Ids must be
    /// distinct within one call.
    fn record_outcomes(
        &self,
        outcomes: Vec<Outcome>,
        now: Millis,
    ) -> StoreFuture<'_, Vec<Option<JobState>>>;
    /// Marks a leased job succeeded; false when the lease is lost (someone else owns it now).
    fn complete(&self, id: &str, token: &str, result: Value, now: Millis) -> StoreFuture<'_, bool> {
        let one = self.record_one(id, token, OutcomeKind::Succeeded(result), now);
        Box::pin(async move { Ok(one.await?.is_some()) })
    }
    /// Records a failed attempt: back to `queued` at `retry_at` while attempts remain, else
    /// `failed`. `None` when the lease is lost, else the new state.
    fn fail(
        &self,
        id: &str,
        token: &str,
        failure: Failure,
        now: Millis,
    ) -> StoreFuture<'_, Option<JobState>> {
        self.record_one(id, token, OutcomeKind::Failed(failure), now)
    }
    /// Marks a leased job cancelled (its handler stopped after a cancel request).
    fn mark_cancelled(&self, id: &str, token: &str, now: Millis) -> StoreFuture<'_, bool> {
        let one = self.record_one(id, token, OutcomeKind::Cancelled, now);
        Box::pin(async move { Ok(one.await?.is_some()) })
    }
    /// [`JobStore::record_outcomes`] for a single job.
    fn record_one(
        &self,
        id: &str,
        token: &str,
        kind: OutcomeKind,
        now: Millis,
    ) -> StoreFuture<'_, Option<JobState>> {
        let outcome = Outcome {
            id: id.to_owned(),
            lease_token: token.to_owned(),
            kind,
        };
        let all = self.record_outcomes(vec![outcome], now);
        Box::pin(async move { Ok(all.await?.into_iter().next().flatten()) })
    }
    /// Gives a leased job back to the queue without counting the attempt (worker shutdown).
    fn release(&self, id: &str, token: &str, now: Millis) -> StoreFuture<'_, bool>;
    /// Cancels a queued job at once, or asks a running one to stop. `None` if no such job.
    fn request_cancel(&self, id: &str, now: Millis) -> StoreFuture<'_, Option<Job>>;
    /// Puts a `failed` job back in the queue with fresh attempts. `None` if no such failed job.
    fn retry(&self, id: &str, now: Millis) -> StoreFuture<'_, Option<Job>>;
    /// One job.
    fn get(&self, id: &str) -> StoreFuture<'_, Option<Job>>;
    /// Jobs matching `filter`, newest first.
    fn list(&self, filter: JobFilter) -> StoreFuture<'_, Vec<Job>>;
    /// Returns running jobs whose lease lapsed to the queue (or to `failed`/`cancelled`);
    /// returns how many were recovered.
    fn recover_expired(&self, now: Millis) -> StoreFuture<'_, u64>;
    /// Queued jobs that are due, by type (exact).
    fn queue_depth(&self, now: Millis) -> StoreFuture<'_, Vec<TypeCount>>;
    /// Creates or updates a schedule; keeps its next tick unless the expression changed.
    fn upsert_schedule(&self, schedule: Schedule, now: Millis) -> StoreFuture<'_, ()>;
    /// Schedules whose next tick is due.
    fn due_schedules(&self, now: Millis) -> StoreFuture<'_, Vec<Schedule>>;
    /// Atomically moves `name` from tick `due_at` to `next_at` and enqueues `job`; exactly one
    /// caller per tick wins and gets the job, the others get `None`.
    fn fire_schedule(
        &self,
        name: &str,
        due_at: Millis,
        next_at: Millis,
        job: NewJob,
        now: Millis,
    ) -> StoreFuture<'_, Option<Job>>;
}

/// SQL both adapters run unchanged (`$N` placeholders work on SQLite too).
pub(crate) mod sql {
    pub const INSERT: &str = "INSERT INTO jobs (id, job_type, payload, owner_id, tree_id, \
        idempotency_key, priority, run_after, state, attempts, max_attempts, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'queued', 0, $9, $10, $10) \
        ON CONFLICT (idempotency_key) DO NOTHING RETURNING *";
    pub const BY_KEY: &str = "SELECT * FROM jobs WHERE idempotency_key = $1";
    pub const GET: &str = "SELECT * FROM jobs WHERE id = $1";
    pub const HEARTBEAT: &str = "UPDATE jobs SET lease_expires_at = $3, updated_at = $4 \
        WHERE id = $1 AND lease_token = $2 AND state = 'running' RETURNING cancel_requested";
    /// The `SET` and `WHERE` of the batched heartbeat; the `FROM` source `h` has columns
    /// `id, token` (one row per lease).
    macro_rules! heartbeat_many {
        ($from:literal, $returning:literal) => {
            concat!(
                "UPDATE jobs AS j SET lease_expires_at = $1, updated_at = $2 FROM ",
                $from,
                " AS h WHERE j.id = h.id AND j.lease_token = h.token AND j.state = 'running' ",
                "RETURNING ",
                $returning
            )
        };
    }
    pub(crate) use heartbeat_many;
    /// The claim; `$ALLOWED` is the dialect's "type is one of `$5`" test.
    macro_rules! claim {
        ($allowed:literal, $lock:literal) => {
            concat!(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, ",
                "lease_owner = $1, lease_token = $2, lease_expires_at = $3, ",
                "started_at = COALESCE(started_at, $4), updated_at = $4 ",
                "WHERE id IN (SELECT id FROM jobs WHERE state = 'queued' AND run_after <= $4 ",
                "AND ",
                $allowed,
                " ORDER BY priority DESC, run_after, id LIMIT $6",
                $lock,
                ") RETURNING *"
            )
        };
    }
    pub(crate) use claim;
    pub const PROGRESS: &str = "UPDATE jobs SET progress = $3, progress_message = $4, updated_at = $5 \
        WHERE id = $1 AND lease_token = $2 AND state = 'running'";
    /// The `SET` of the outcome update, shared by both dialects: the `FROM` source `o` has
    /// columns `id, token, kind, result, error, retry_at, now` (one row per outcome).
    macro_rules! outcome_update {
        ($from:literal, $returning:literal) => {
            concat!(
                "UPDATE jobs AS j SET ",
                "state = CASE WHEN o.kind <> 'failed' THEN o.kind ",
                "WHEN o.retry_at IS NOT NULL AND j.attempts < j.max_attempts THEN 'queued' ",
                "ELSE 'failed' END, ",
                "result = CASE WHEN o.kind = 'succeeded' THEN o.result ELSE j.result END, ",
                "progress = CASE WHEN o.kind = 'succeeded' THEN 1 ELSE j.progress END, ",
                "error = CASE o.kind WHEN 'succeeded' THEN NULL WHEN 'failed' THEN o.error ",
                "ELSE j.error END, ",
                "run_after = CASE WHEN o.kind = 'failed' AND o.retry_at IS NOT NULL ",
                "AND j.attempts < j.max_attempts THEN o.retry_at ELSE j.run_after END, ",
                "finished_at = CASE WHEN o.kind = 'failed' AND o.retry_at IS NOT NULL ",
                "AND j.attempts < j.max_attempts THEN NULL ELSE o.now END, ",
                "updated_at = o.now, lease_owner = NULL, lease_token = NULL, ",
                "lease_expires_at = NULL FROM ",
                $from,
                " AS o WHERE j.id = o.id AND j.lease_token = o.token AND j.state = 'running' ",
                "RETURNING ",
                $returning
            )
        };
    }
    pub(crate) use outcome_update;
    pub const RELEASE: &str = "UPDATE jobs SET state = 'queued', attempts = attempts - 1, \
        run_after = $3, updated_at = $3, lease_owner = NULL, lease_token = NULL, \
        lease_expires_at = NULL WHERE id = $1 AND lease_token = $2 AND state = 'running'";
    pub const CANCEL_QUEUED: &str = "UPDATE jobs SET state = 'cancelled', cancel_requested = TRUE, \
        finished_at = $2, updated_at = $2 WHERE id = $1 AND state = 'queued'";
    pub const CANCEL_RUNNING: &str = "UPDATE jobs SET cancel_requested = TRUE, updated_at = $2 \
        WHERE id = $1 AND state = 'running'";
    pub const RETRY: &str = "UPDATE jobs SET state = 'queued', attempts = 0, run_after = $2, \
        error = NULL, result = NULL, progress = 0, progress_message = NULL, cancel_requested = FALSE, \
        finished_at = NULL, updated_at = $2 WHERE id = $1 AND state = 'failed' RETURNING *";
    pub const LIST: &str = "SELECT * FROM jobs WHERE ($1 IS NULL OR owner_id = $1) \
        AND ($2 IS NULL OR job_type = $2) AND ($3 IS NULL OR state = $3) \
        AND ($4 IS NULL OR id < $4) ORDER BY id DESC LIMIT $5";
    pub const RECOVER: &str = "UPDATE jobs SET \
        state = CASE WHEN cancel_requested THEN 'cancelled' \
            WHEN attempts >= max_attempts THEN 'failed' ELSE 'queued' END, \
        error = CASE WHEN cancel_requested THEN error \
            ELSE 'lease expired: the worker stopped before finishing' END, \
        finished_at = CASE WHEN cancel_requested OR attempts >= max_attempts THEN $1 ELSE NULL END, \
        run_after = $1, updated_at = $1, lease_owner = NULL, lease_token = NULL, \
        lease_expires_at = NULL WHERE state = 'running' AND lease_expires_at < $1";
    pub const DEPTH: &str = "SELECT job_type, COUNT(*) AS n FROM jobs \
        WHERE state = 'queued' AND run_after <= $1 GROUP BY job_type ORDER BY job_type";
    pub const UPSERT_SCHEDULE: &str = "INSERT INTO job_schedules \
        (name, cron, job_type, payload, next_run_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6) \
        ON CONFLICT (name) DO UPDATE SET job_type = excluded.job_type, payload = excluded.payload, \
        next_run_at = CASE WHEN job_schedules.cron = excluded.cron THEN job_schedules.next_run_at \
            ELSE excluded.next_run_at END, \
        cron = excluded.cron, updated_at = excluded.updated_at";
    pub const DUE_SCHEDULES: &str =
        "SELECT * FROM job_schedules WHERE next_run_at <= $1 ORDER BY name";
    pub const ADVANCE_SCHEDULE: &str = "UPDATE job_schedules SET next_run_at = $3, updated_at = $4 \
        WHERE name = $1 AND next_run_at = $2";
}

/// Decodes a `jobs` row from either backend (both map columns to the same Rust types).
macro_rules! decode_job {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        let state: String = row.try_get("state")?;
        let payload: String = row.try_get("payload")?;
        let result: Option<String> = row.try_get("result")?;
        $crate::model::Job {
            id: row.try_get("id")?,
            job_type: row.try_get("job_type")?,
            payload: $crate::store::parse_json(&payload)?,
            owner_id: row.try_get("owner_id")?,
            tree_id: row.try_get("tree_id")?,
            idempotency_key: row.try_get("idempotency_key")?,
            priority: row.try_get("priority")?,
            run_after: row.try_get("run_after")?,
            state: $crate::store::parse_state(&state)?,
            attempts: row.try_get("attempts")?,
            max_attempts: row.try_get("max_attempts")?,
            progress: row.try_get("progress")?,
            progress_message: row.try_get("progress_message")?,
            result: result
                .as_deref()
                .map($crate::store::parse_json)
                .transpose()?,
            error: row.try_get("error")?,
            cancel_requested: row.try_get("cancel_requested")?,
            lease_owner: row.try_get("lease_owner")?,
            lease_expires_at: row.try_get("lease_expires_at")?,
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            started_at: row.try_get("started_at")?,
            finished_at: row.try_get("finished_at")?,
        }
    }};
}
pub(crate) use decode_job;

/// Decodes a `job_schedules` row.
macro_rules! decode_schedule {
    ($row:expr) => {{
        use sqlx::Row as _;
        let row = $row;
        let payload: String = row.try_get("payload")?;
        $crate::model::Schedule {
            name: row.try_get("name")?,
            cron: row.try_get("cron")?,
            job_type: row.try_get("job_type")?,
            payload: $crate::store::parse_json(&payload)?,
            next_run_at: row.try_get("next_run_at")?,
        }
    }};
}
pub(crate) use decode_schedule;

/// The columns of one outcome row as both adapters bind them.
pub(crate) struct OutcomeColumns {
    pub ids: Vec<String>,
    pub tokens: Vec<String>,
    pub kinds: Vec<&'static str>,
    pub results: Vec<Option<String>>,
    pub errors: Vec<Option<String>>,
    pub retry_at: Vec<Option<Millis>>,
}

impl OutcomeColumns {
    pub(crate) fn new(outcomes: &[Outcome]) -> Self {
        let n = outcomes.len();
        let mut c = OutcomeColumns {
            ids: Vec::with_capacity(n),
            tokens: Vec::with_capacity(n),
            kinds: Vec::with_capacity(n),
            results: Vec::with_capacity(n),
            errors: Vec::with_capacity(n),
            retry_at: Vec::with_capacity(n),
        };
        for o in outcomes {
            c.ids.push(o.id.clone());
            c.tokens.push(o.lease_token.clone());
            c.kinds.push(o.kind.name());
            let (result, error, retry_at) = match &o.kind {
                OutcomeKind::Succeeded(v) => (Some(v.to_string()), None, None),
                OutcomeKind::Failed(f) => (None, Some(f.error.clone()), f.retry_at),
                OutcomeKind::Cancelled => (None, None, None),
            };
            c.results.push(result);
            c.errors.push(error);
            c.retry_at.push(retry_at);
        }
        c
    }
}

/// Puts claimed rows in claim order and gives each the claim's token.
pub(crate) fn claimed(mut jobs: Vec<Job>, token: &str) -> Vec<Claimed> {
    jobs.sort_by(|a, b| (b.priority, a.run_after, &a.id).cmp(&(a.priority, b.run_after, &b.id)));
    jobs.into_iter()
        .map(|job| Claimed {
            job,
            lease_token: token.to_owned(),
        })
        .collect()
}

/// Puts `RETURNING id, cancel_requested` rows of a batched heartbeat back in input order.
pub(crate) fn leases_in_order(
    leases: &[(String, String)],
    rows: Vec<(String, bool)>,
) -> Vec<LeaseStatus> {
    let held: std::collections::HashMap<String, bool> = rows.into_iter().collect();
    leases
        .iter()
        .map(|(id, _)| match held.get(id) {
            Some(&cancel_requested) => LeaseStatus::Held { cancel_requested },
            None => LeaseStatus::Lost,
        })
        .collect()
}

/// How many statements a flush needs (one statement needs no explicit transaction).
pub(crate) fn flush_statements(flush: &Flush) -> usize {
    usize::from(!flush.outcomes.is_empty())
        + if flush.claim_budget == 0 {
            0
        } else {
            flush
                .claims
                .iter()
                .filter(|c| c.limit > 0 && !c.types.is_empty())
                .count()
        }
}

/// Runs a [`Flush`] on one connection (inside a transaction when it has more than one
/// statement); `$record` and `$claim` are the adapter's per-connection functions.
macro_rules! run_flush {
    ($conn:expr, $flush:expr, $now:expr, $record:path, $claim:path) => {{
        let conn = $conn;
        let flush: $crate::model::Flush = $flush;
        let recorded = if flush.outcomes.is_empty() {
            Vec::new()
        } else {
            $record(&mut *conn, &flush.outcomes, $now).await?
        };
        let mut claimed = Vec::new();
        let mut left = flush.claim_budget;
        for mut req in flush.claims {
            if left == 0 {
                break;
            }
            if req.limit == 0 || req.types.is_empty() {
                continue;
            }
            req.limit = req.limit.min(left);
            let got = $claim(&mut *conn, &req).await?;
            left = left.saturating_sub(u32::try_from(got.len()).unwrap_or(u32::MAX));
            claimed.extend(got);
        }
        $crate::model::Flushed { recorded, claimed }
    }};
}
pub(crate) use run_flush;

/// Puts `RETURNING id, state` rows back in the order of `outcomes` (`None`: lease lost).
pub(crate) fn in_order(
    outcomes: &[Outcome],
    rows: Vec<(String, String)>,
) -> Result<Vec<Option<JobState>>, StoreError> {
    let mut by_id = std::collections::HashMap::with_capacity(rows.len());
    for (id, state) in rows {
        by_id.insert(id, parse_state(&state)?);
    }
    Ok(outcomes.iter().map(|o| by_id.get(&o.id).copied()).collect())
}

pub(crate) fn parse_json(s: &str) -> Result<Value, StoreError> {
    serde_json::from_str(s).map_err(|e| StoreError::Corrupt(format!("JSON column: {e}")))
}

pub(crate) fn parse_state(s: &str) -> Result<JobState, StoreError> {
    JobState::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown state {s:?}")))
}

/// A fresh job id: UUIDv7, so ids sort by creation time.
pub(crate) fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}
