//! Queue benchmark: no-op job throughput through real `Worker`s, and claim latency, with 1, 4 and
//! 16 concurrent workers on SQLite and (when `DZINZA_TEST_POSTGRES_URL` is set) PostgreSQL.
//!
//! `cargo build --release -p dzinza-jobs --example jobs_bench`, then
//! `DZINZA_TEST_POSTGRES_URL=... target/release/examples/bench [jobs] [poll_ms]` (defaults 20000
//! and 1000, the worker's production poll interval); results go in `docs/benchmarks.md` under
//! `## Jobs`.

#![allow(
    clippy::unwrap_used,
    reason = "a benchmark harness: any failure should abort it"
)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use dzinza_jobs::metrics::JobMetrics;
use dzinza_jobs::model::{ClaimRequest, JobFilter, now_ms};
use dzinza_jobs::{
    JobContext, JobQueue, JobState, JobStore, NewJob, PostgresStore, Registry, SqliteStore, Worker,
    WorkerConfig,
};
use serde_json::{Value, json};
use sqlx::Connection as _;
use tokio_util::sync::CancellationToken;

enum Backend {
    Sqlite(tempfile::TempDir),
    Postgres(String),
}

impl Backend {
    async fn fresh(kind: &str) -> Option<Self> {
        match kind {
            "sqlite" => Some(Backend::Sqlite(tempfile::tempdir().unwrap())),
            _ => {
                let base = std::env::var("DZINZA_TEST_POSTGRES_URL").ok()?;
                let name = format!("jobs_bench_{}", uuid::Uuid::new_v4().simple());
                let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .unwrap();
                let mut url = url::Url::parse(&base).unwrap();
                url.set_path(&format!("/{name}"));
                Some(Backend::Postgres(url.to_string()))
            }
        }
    }

    /// One handle with its own pool, as one worker process would have.
    async fn handle(&self, pool: u32) -> Arc<dyn JobStore> {
        let store: Arc<dyn JobStore> = match self {
            Backend::Sqlite(dir) => Arc::new(
                SqliteStore::open(&dir.path().join("jobs.db"), pool)
                    .await
                    .unwrap(),
            ),
            Backend::Postgres(url) => Arc::new(PostgresStore::connect(url, pool).await.unwrap()),
        };
        store.migrate().await.unwrap();
        store
    }
}

async fn fill(store: &Arc<dyn JobStore>, n: usize) {
    let mut tasks = Vec::new();
    for chunk in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for i in (chunk..n).step_by(8) {
                store
                    .enqueue(NewJob::new("diag_noop", json!(i)), now_ms())
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

async fn throughput(kind: &str, workers: usize, jobs: usize, poll: Duration) -> Option<f64> {
    let backend = Backend::fresh(kind).await?;
    let seed = backend.handle(8).await;
    fill(&seed, jobs).await;
    let mut handles = Vec::new();
    let stop = CancellationToken::new();
    let start = Instant::now();
    for _ in 0..workers {
        let store = backend.handle(10).await;
        let mut registry = Registry::new();
        registry.register("diag_noop", |_ctx: JobContext| async { Ok(Value::Null) });
        let config = WorkerConfig {
            concurrency: 32,
            poll_interval: poll,
            ..WorkerConfig::default()
        };
        let worker = Worker::new(
            JobQueue::new(store),
            registry,
            config,
            JobMetrics::unregistered(),
        );
        let token = stop.clone();
        handles.push(tokio::spawn(
            async move { worker.run(token).await.unwrap() },
        ));
    }
    // Done when nothing is queued or running: two LIMIT 1 lookups, not a COUNT over the queue,
    // so the harness does not compete with the workers for the database.
    let any = |state| JobFilter {
        state: Some(state),
        limit: 1,
        ..Default::default()
    };
    loop {
        if seed.list(any(JobState::Queued)).await.unwrap().is_empty() {
            let running = seed.list(any(JobState::Running)).await.unwrap();
            if running.is_empty() {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let secs = start.elapsed().as_secs_f64();
    stop.cancel();
    for h in handles {
        h.await.unwrap();
    }
    let done = seed
        .list(JobFilter {
            state: Some(JobState::Succeeded),
            limit: u32::try_from(jobs + 1).unwrap(),
            ..Default::default()
        })
        .await
        .unwrap()
        .len();
    assert_eq!(done, jobs, "every job succeeded exactly once");
    Some(jobs as f64 / secs)
}

/// Claim latency: `workers` loops each claim one job, complete it, repeat.
async fn claim_latency(kind: &str, workers: usize, jobs: usize) -> Option<(f64, f64)> {
    let backend = Backend::fresh(kind).await?;
    let seed = backend.handle(8).await;
    fill(&seed, jobs).await;
    let mut tasks = Vec::new();
    for w in 0..workers {
        let store = backend.handle(2).await;
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            loop {
                let t = Instant::now();
                let got = store
                    .claim(ClaimRequest {
                        worker_id: format!("w{w}"),
                        types: vec!["diag_noop".into()],
                        limit: 1,
                        now: now_ms(),
                        lease_ms: 30_000,
                    })
                    .await
                    .unwrap();
                lat.push(t.elapsed());
                let Some(c) = got.into_iter().next() else {
                    return lat;
                };
                store
                    .complete(&c.job.id, &c.lease_token, Value::Null, now_ms())
                    .await
                    .unwrap();
            }
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    let pct = |p: f64| all[((all.len() - 1) as f64 * p) as usize].as_secs_f64() * 1000.0;
    Some((pct(0.5), pct(0.99)))
}

#[tokio::main]
async fn main() {
    let jobs: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_000);
    let poll = Duration::from_millis(
        std::env::args()
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000),
    );
    println!("| backend | workers | no-op jobs/s | claim p50 (ms) | claim p99 (ms) |");
    println!("|---|---|---|---|---|");
    for kind in ["postgres", "sqlite"] {
        for workers in [1, 4, 16] {
            let Some(rate) = throughput(kind, workers, jobs, poll).await else {
                eprintln!("{kind}: skipped (DZINZA_TEST_POSTGRES_URL not set)");
                break;
            };
            let (p50, p99) = claim_latency(kind, workers, jobs / 4).await.unwrap();
            println!("| {kind} | {workers} | {rate:.0} | {p50:.2} | {p99:.2} |");
        }
    }
}
