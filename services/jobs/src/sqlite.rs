//! SQLite adapter for the embedded mode (`<data_dir>/jobs.db`).
//!
//! SQLite serialises writers, so a claim is a single `UPDATE ... RETURNING` statement and needs no
//! row locks; WAL mode lets readers (the HTTP API, SSE) run while a worker writes.

use std::time::Duration;

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use crate::error::StoreError;
use crate::model::{
    ClaimRequest, Claimed, Enqueued, Flush, Flushed, Job, JobFilter, JobState, LeaseStatus, Millis,
    NewJob, Outcome, Schedule, TypeCount,
};
use crate::store::{
    JobStore, OutcomeColumns, StoreFuture, claimed, decode_job, decode_schedule, flush_statements,
    in_order, leases_in_order, new_id, run_flush, sql,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

const CLAIM: &str = sql::claim!("job_type IN (SELECT value FROM json_each($5))", "");

/// One statement extends every lease a worker holds (`$3`: JSON array of `[id, token]`).
const HEARTBEAT_MANY: &str = sql::heartbeat_many!(
    "(SELECT value ->> '$[0]' AS id, value ->> '$[1]' AS token FROM json_each($3))",
    "id, cancel_requested"
);

/// One statement for a whole batch of outcomes, passed as a JSON array of objects.
const RECORD_OUTCOMES: &str = sql::outcome_update!(
    "(SELECT value ->> '$.id' AS id, value ->> '$.token' AS token, value ->> '$.kind' AS kind, \
    value ->> '$.result' AS result, value ->> '$.error' AS error, \
    value ->> '$.retry_at' AS retry_at, $2 AS now FROM json_each($1))",
    // SQLite resolves RETURNING against the updated table only.
    "id, state"
);

/// The queue on SQLite.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if missing) the database file at `path`.
    pub async fn open(path: &std::path::Path, max_connections: u32) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // Other connections (and other worker processes) hold the write lock briefly.
            .busy_timeout(Duration::from_secs(30));
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: SqlitePool) -> Self {
        Self { pool }
    }

    /// The pool, for health checks.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

fn bind_new<'q>(
    q: sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments>,
    id: String,
    job: &NewJob,
    now: Millis,
) -> sqlx::query::Query<'q, sqlx::Sqlite, sqlx::sqlite::SqliteArguments> {
    q.bind(id)
        .bind(job.job_type.clone())
        .bind(job.payload.to_string())
        .bind(job.owner_id.clone())
        .bind(job.tree_id.clone())
        .bind(job.idempotency_key.clone())
        .bind(job.priority)
        .bind(job.run_after.unwrap_or(now))
        .bind(job.max_attempts)
        .bind(now)
}

async fn enqueue_in(
    conn: &mut sqlx::SqliteConnection,
    job: &NewJob,
    now: Millis,
) -> Result<Enqueued, StoreError> {
    let row = bind_new(sqlx::query(sql::INSERT), new_id(), job, now)
        .fetch_optional(&mut *conn)
        .await?;
    if let Some(row) = row {
        return Ok(Enqueued {
            job: decode_job!(&row),
            created: true,
        });
    }
    let row = sqlx::query(sql::BY_KEY)
        .bind(job.idempotency_key.clone())
        .fetch_one(&mut *conn)
        .await?;
    Ok(Enqueued {
        job: decode_job!(&row),
        created: false,
    })
}

async fn claim_in(
    conn: &mut sqlx::SqliteConnection,
    req: &ClaimRequest,
) -> Result<Vec<Claimed>, StoreError> {
    if req.types.is_empty() || req.limit == 0 {
        return Ok(Vec::new());
    }
    let token = uuid::Uuid::new_v4().to_string();
    let rows = sqlx::query(CLAIM)
        .bind(&req.worker_id)
        .bind(&token)
        .bind(req.now + req.lease_ms)
        .bind(req.now)
        .bind(serde_json::to_string(&req.types).unwrap_or_default())
        .bind(i64::from(req.limit))
        .fetch_all(&mut *conn)
        .await?;
    let jobs = rows
        .iter()
        .map(|row| Ok(decode_job!(row)))
        .collect::<Result<Vec<Job>, StoreError>>()?;
    Ok(claimed(jobs, &token))
}

async fn record_in(
    conn: &mut sqlx::SqliteConnection,
    outcomes: &[Outcome],
    now: Millis,
) -> Result<Vec<Option<JobState>>, StoreError> {
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let c = OutcomeColumns::new(outcomes);
    let rows: Vec<serde_json::Value> = (0..outcomes.len())
        .map(|i| {
            serde_json::json!({
                "id": c.ids[i], "token": c.tokens[i], "kind": c.kinds[i],
                "result": c.results[i], "error": c.errors[i], "retry_at": c.retry_at[i],
            })
        })
        .collect();
    let rows: Vec<(String, String)> = sqlx::query_as(RECORD_OUTCOMES)
        .bind(serde_json::Value::Array(rows).to_string())
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
    in_order(outcomes, rows)
}

impl JobStore for SqliteStore {
    fn migrate(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            MIGRATOR.run(&self.pool).await?;
            Ok(())
        })
    }

    fn enqueue(&self, job: NewJob, now: Millis) -> StoreFuture<'_, Enqueued> {
        Box::pin(async move {
            let mut conn = self.pool.acquire().await?;
            enqueue_in(&mut conn, &job, now).await
        })
    }

    fn claim(&self, req: ClaimRequest) -> StoreFuture<'_, Vec<Claimed>> {
        Box::pin(async move {
            if req.types.is_empty() || req.limit == 0 {
                return Ok(Vec::new());
            }
            let mut conn = self.pool.acquire().await?;
            claim_in(&mut conn, &req).await
        })
    }

    fn heartbeat_many(
        &self,
        leases: Vec<(String, String)>,
        now: Millis,
        lease_ms: Millis,
    ) -> StoreFuture<'_, Vec<LeaseStatus>> {
        Box::pin(async move {
            if leases.is_empty() {
                return Ok(Vec::new());
            }
            let pairs = serde_json::to_string(&leases).unwrap_or_default();
            let rows: Vec<(String, bool)> = sqlx::query_as(HEARTBEAT_MANY)
                .bind(now + lease_ms)
                .bind(now)
                .bind(pairs)
                .fetch_all(&self.pool)
                .await?;
            Ok(leases_in_order(&leases, rows))
        })
    }

    fn flush(&self, flush: Flush, now: Millis) -> StoreFuture<'_, Flushed> {
        Box::pin(async move {
            match flush_statements(&flush) {
                0 => Ok(Flushed::default()),
                1 => {
                    let mut conn = self.pool.acquire().await?;
                    Ok(run_flush!(&mut *conn, flush, now, record_in, claim_in))
                }
                _ => {
                    // IMMEDIATE: take the write lock up front (a deferred transaction that reads
                    // first could fail to upgrade its lock under a concurrent writer).
                    let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
                    let done = run_flush!(&mut *tx, flush, now, record_in, claim_in);
                    tx.commit().await?;
                    Ok(done)
                }
            }
        })
    }

    fn heartbeat(
        &self,
        id: &str,
        token: &str,
        now: Millis,
        lease_ms: Millis,
    ) -> StoreFuture<'_, LeaseStatus> {
        let (id, token) = (id.to_owned(), token.to_owned());
        Box::pin(async move {
            let row: Option<(bool,)> = sqlx::query_as(sql::HEARTBEAT)
                .bind(id)
                .bind(token)
                .bind(now + lease_ms)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
            Ok(match row {
                Some((cancel_requested,)) => LeaseStatus::Held { cancel_requested },
                None => LeaseStatus::Lost,
            })
        })
    }

    fn progress(
        &self,
        id: &str,
        token: &str,
        fraction: f64,
        message: Option<String>,
        now: Millis,
    ) -> StoreFuture<'_, bool> {
        let (id, token) = (id.to_owned(), token.to_owned());
        Box::pin(async move {
            let done = sqlx::query(sql::PROGRESS)
                .bind(id)
                .bind(token)
                .bind(fraction)
                .bind(message)
                .bind(now)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn record_outcomes(
        &self,
        outcomes: Vec<Outcome>,
        now: Millis,
    ) -> StoreFuture<'_, Vec<Option<JobState>>> {
        Box::pin(async move {
            if outcomes.is_empty() {
                return Ok(Vec::new());
            }
            let mut conn = self.pool.acquire().await?;
            record_in(&mut conn, &outcomes, now).await
        })
    }

    fn release(&self, id: &str, token: &str, now: Millis) -> StoreFuture<'_, bool> {
        let (id, token) = (id.to_owned(), token.to_owned());
        Box::pin(async move {
            let done = sqlx::query(sql::RELEASE)
                .bind(id)
                .bind(token)
                .bind(now)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected() == 1)
        })
    }

    fn request_cancel(&self, id: &str, now: Millis) -> StoreFuture<'_, Option<Job>> {
        let id = id.to_owned();
        Box::pin(async move {
            let done = sqlx::query(sql::CANCEL_QUEUED)
                .bind(&id)
                .bind(now)
                .execute(&self.pool)
                .await?;
            if done.rows_affected() == 0 {
                sqlx::query(sql::CANCEL_RUNNING)
                    .bind(&id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
            }
            self.get(&id).await
        })
    }

    fn retry(&self, id: &str, now: Millis) -> StoreFuture<'_, Option<Job>> {
        let id = id.to_owned();
        Box::pin(async move {
            let row = sqlx::query(sql::RETRY)
                .bind(id)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?;
            Ok(match row {
                Some(row) => Some(decode_job!(&row)),
                None => None,
            })
        })
    }

    fn get(&self, id: &str) -> StoreFuture<'_, Option<Job>> {
        let id = id.to_owned();
        Box::pin(async move {
            let row = sqlx::query(sql::GET)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
            Ok(match row {
                Some(row) => Some(decode_job!(&row)),
                None => None,
            })
        })
    }

    fn list(&self, filter: JobFilter) -> StoreFuture<'_, Vec<Job>> {
        Box::pin(async move {
            let rows = sqlx::query(sql::LIST)
                .bind(filter.owner_id)
                .bind(filter.job_type)
                .bind(filter.state.map(JobState::as_str))
                .bind(filter.before_id)
                .bind(i64::from(filter.limit))
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(|row| Ok(decode_job!(row))).collect()
        })
    }

    fn recover_expired(&self, now: Millis) -> StoreFuture<'_, u64> {
        Box::pin(async move {
            let done = sqlx::query(sql::RECOVER)
                .bind(now)
                .execute(&self.pool)
                .await?;
            Ok(done.rows_affected())
        })
    }

    fn queue_depth(&self, now: Millis) -> StoreFuture<'_, Vec<TypeCount>> {
        Box::pin(async move {
            let rows: Vec<(String, i64)> = sqlx::query_as(sql::DEPTH)
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
            Ok(rows
                .into_iter()
                .map(|(job_type, count)| TypeCount { job_type, count })
                .collect())
        })
    }

    fn upsert_schedule(&self, s: Schedule, now: Millis) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            sqlx::query(sql::UPSERT_SCHEDULE)
                .bind(s.name)
                .bind(s.cron)
                .bind(s.job_type)
                .bind(s.payload.to_string())
                .bind(s.next_run_at)
                .bind(now)
                .execute(&self.pool)
                .await?;
            Ok(())
        })
    }

    fn due_schedules(&self, now: Millis) -> StoreFuture<'_, Vec<Schedule>> {
        Box::pin(async move {
            let rows = sqlx::query(sql::DUE_SCHEDULES)
                .bind(now)
                .fetch_all(&self.pool)
                .await?;
            rows.iter().map(|row| Ok(decode_schedule!(row))).collect()
        })
    }

    fn fire_schedule(
        &self,
        name: &str,
        due_at: Millis,
        next_at: Millis,
        job: NewJob,
        now: Millis,
    ) -> StoreFuture<'_, Option<Job>> {
        let name = name.to_owned();
        Box::pin(async move {
            // IMMEDIATE takes the write lock up front: a concurrent firer waits, then sees the moved
            // tick and matches nothing (a deferred transaction could deadlock upgrading its lock).
            let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
            let moved = sqlx::query(sql::ADVANCE_SCHEDULE)
                .bind(&name)
                .bind(due_at)
                .bind(next_at)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            if moved.rows_affected() != 1 {
                return Ok(None);
            }
            let enqueued = enqueue_in(&mut tx, &job, now).await?;
            tx.commit().await?;
            Ok(Some(enqueued.job))
        })
    }
}
