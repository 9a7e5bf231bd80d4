//! PostgreSQL adapter: concurrent workers claim with `FOR UPDATE SKIP LOCKED`.

use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};

use crate::error::StoreError;
use crate::model::{
    ClaimRequest, Claimed, Enqueued, Flush, Flushed, Job, JobFilter, JobState, LeaseStatus, Millis,
    NewJob, Outcome, Schedule, TypeCount,
};
use crate::store::{
    JobStore, OutcomeColumns, StoreFuture, claimed, decode_job, decode_schedule, flush_statements,
    in_order, leases_in_order, new_id, run_flush, sql,
};

const CLAIM: &str = sql::claim!("job_type = ANY($5)", " FOR UPDATE SKIP LOCKED");

/// One statement extends every lease a worker holds.
const HEARTBEAT_MANY: &str = sql::heartbeat_many!(
    "(SELECT * FROM unnest($3::TEXT[], $4::TEXT[]) AS u(id, token))",
    "j.id, j.cancel_requested"
);

/// One statement for a whole batch of outcomes: the columns arrive as parallel arrays.
const RECORD_OUTCOMES: &str = sql::outcome_update!(
    "(SELECT u.*, $7::BIGINT AS now FROM unnest($1::TEXT[], $2::TEXT[], $3::TEXT[], \
    $4::TEXT[], $5::TEXT[], $6::BIGINT[]) AS u(id, token, kind, result, error, retry_at))",
    // Qualified: `o` has an `id` too.
    "j.id, j.state"
);

/// The queue on PostgreSQL.
#[derive(Clone, Debug)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// Connects with a pool of at most `max_connections`.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(Duration::from_secs(10))
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    /// Wraps an existing pool.
    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The pool, for health checks.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }
}

fn bind_new<'q>(
    q: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    id: String,
    job: &NewJob,
    now: Millis,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
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
    conn: &mut sqlx::PgConnection,
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
    conn: &mut sqlx::PgConnection,
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
        .bind(&req.types)
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
    conn: &mut sqlx::PgConnection,
    outcomes: &[Outcome],
    now: Millis,
) -> Result<Vec<Option<JobState>>, StoreError> {
    if outcomes.is_empty() {
        return Ok(Vec::new());
    }
    let c = OutcomeColumns::new(outcomes);
    let rows: Vec<(String, String)> = sqlx::query_as(RECORD_OUTCOMES)
        .bind(c.ids)
        .bind(c.tokens)
        .bind(c.kinds)
        .bind(c.results)
        .bind(c.errors)
        .bind(c.retry_at)
        .bind(now)
        .fetch_all(&mut *conn)
        .await?;
    in_order(outcomes, rows)
}

impl JobStore for PostgresStore {
    fn migrate(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move {
            // A migrations table of its own: auth and jobs may share one PostgreSQL database.
            let mut migrator = sqlx::migrate!("./migrations/postgres");
            migrator.dangerous_set_table_name("_sqlx_migrations_jobs");
            migrator.run(&self.pool).await?;
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
            let (ids, tokens): (Vec<&str>, Vec<&str>) = leases
                .iter()
                .map(|(id, token)| (id.as_str(), token.as_str()))
                .unzip();
            let rows: Vec<(String, bool)> = sqlx::query_as(HEARTBEAT_MANY)
                .bind(now + lease_ms)
                .bind(now)
                .bind(ids)
                .bind(tokens)
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
                    let mut tx = self.pool.begin().await?;
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
            let mut tx = self.pool.begin().await?;
            // The row lock makes a concurrent firer wait, then see the moved tick and match nothing.
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
