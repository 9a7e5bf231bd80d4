//! Crash test with real processes: two `dzinza serve --target worker` processes share one job
//! store; one is killed with SIGKILL in the middle of its jobs. Every job then completes exactly
//! once through the other (the handler's side effect is guarded by an idempotency marker), and
//! nothing is lost or left `running`.

#![allow(clippy::unwrap_used, reason = "test")]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dzinza_jobs::{JobState, JobStore, NewJob, PostgresStore, SqliteStore};
use serde_json::json;
use sqlx::Connection as _;

fn spawn_worker(data_dir: &Path, db_url: Option<&str>) -> Child {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_dzinza"));
    cmd.args(["serve", "--target", "worker"])
        .env("DZINZA_LISTEN", addr.to_string())
        .env("DZINZA_DATA_DIR", data_dir)
        .env("DZINZA_LOG_LEVEL", "warn")
        .env("DZINZA_LOG_FORMAT", "json")
        .env("DZINZA_WORKER_DIAGNOSTIC_JOBS", "true")
        .env("DZINZA_WORKER_LEASE", "2s")
        .env("DZINZA_WORKER_POLL_INTERVAL", "100ms")
        .env("DZINZA_WORKER_CONCURRENCY", "8")
        .env("DZINZA_SHUTDOWN_GRACE", "5s")
        .env_remove("DZINZA_JOBS_DATABASE_URL_FILE")
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    match db_url {
        Some(url) => cmd.env("DZINZA_JOBS_DATABASE_URL", url),
        None => cmd.env_remove("DZINZA_JOBS_DATABASE_URL"),
    };
    cmd.spawn().unwrap()
}

async fn poll<T>(what: &str, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    // Generous: a failing worker must fail the test, not hang it.
    for _ in 0..1200 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

async fn crash_and_recover(store: Arc<dyn JobStore>, data_dir: &Path, db_url: Option<&str>) {
    let markers = tempfile::tempdir().unwrap();
    let long = |effect_first: bool| {
        NewJob::new(
            "diag_sleep",
            json!({"steps": 30, "step_ms": 100, "marker_dir": markers.path(), "effect_first": effect_first}),
        )
        .max_attempts(3)
    };
    let mut a = spawn_worker(data_dir, db_url);
    // Effect before the crash point, and effect after it.
    let early = store
        .enqueue(long(true), dzinza_jobs::model::now_ms())
        .await
        .unwrap()
        .job;
    let late = store
        .enqueue(long(false), dzinza_jobs::model::now_ms())
        .await
        .unwrap()
        .job;
    let mut quick = Vec::new();
    for _ in 0..5 {
        let job = NewJob::new(
            "diag_sleep",
            json!({"steps": 1, "step_ms": 1, "marker_dir": markers.path()}),
        );
        quick.push(
            store
                .enqueue(job, dzinza_jobs::model::now_ms())
                .await
                .unwrap()
                .job
                .id,
        );
    }

    // Kill A once both long jobs are mid-way and the early effect has happened.
    poll("worker A to be mid-job", async || {
        let e = store.get(&early.id).await.unwrap().unwrap();
        let l = store.get(&late.id).await.unwrap().unwrap();
        let effect =
            std::fs::read_to_string(markers.path().join("effects.log")).unwrap_or_default();
        (e.state == JobState::Running
            && l.state == JobState::Running
            && e.progress > 0.0
            && l.progress > 0.0
            && effect.contains(&early.id))
        .then_some(())
    })
    .await;
    a.kill().unwrap(); // SIGKILL
    a.wait().unwrap();
    let a_pid = a.id();
    assert_eq!(
        store.get(&late.id).await.unwrap().unwrap().state,
        JobState::Running
    );

    let mut b = spawn_worker(data_dir, db_url);
    let b_pid = b.id();
    let mut all = vec![early.id.clone(), late.id.clone()];
    all.extend(quick);
    for id in &all {
        let job = poll("jobs to end", async || {
            let j = store.get(id).await.unwrap().unwrap();
            j.state.is_terminal().then_some(j)
        })
        .await;
        assert_eq!(job.state, JobState::Succeeded, "{job:?}");
    }
    for id in [&early.id, &late.id] {
        let job = store.get(id).await.unwrap().unwrap();
        assert_eq!(job.attempts, 2, "the killed claim counts, then B ran it");
        assert_eq!(job.result.as_ref().unwrap()["pid"], json!(b_pid));
        assert_ne!(job.result.as_ref().unwrap()["pid"], json!(a_pid));
    }
    assert_eq!(
        store.get(&early.id).await.unwrap().unwrap().result.unwrap()["applied_effect"],
        json!(false),
        "B found A's marker and did not repeat the effect"
    );
    let log = std::fs::read_to_string(markers.path().join("effects.log")).unwrap();
    for id in &all {
        let n = log.lines().filter(|l| l.starts_with(id.as_str())).count();
        assert_eq!(n, 1, "job {id} had its effect {n} times:\n{log}");
    }
    let running = store
        .list(dzinza_jobs::model::JobFilter {
            state: Some(JobState::Running),
            limit: 100,
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(running.is_empty(), "left running: {running:?}");

    // B shuts down cleanly on SIGTERM.
    let status = Command::new("kill")
        .args(["-TERM", &b_pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(b.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_worker_jobs_complete_exactly_once_via_the_other_sqlite() {
    let data = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(&data.path().join("jobs.db"), 2)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    crash_and_recover(Arc::new(store), data.path(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkilled_worker_jobs_complete_exactly_once_via_the_other_postgres() {
    let Some(base) = dzinza_kit::testing::backend_url("postgres", "DZINZA_TEST_POSTGRES_URL")
    else {
        return;
    };
    let name = format!("jobs_crash_{}", uuid::Uuid::new_v4().simple());
    let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut url = url::Url::parse(&base).unwrap();
    url.set_path(&format!("/{name}"));
    let store = PostgresStore::connect(url.as_str(), 2).await.unwrap();
    store.migrate().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    crash_and_recover(Arc::new(store), data.path(), Some(url.as_str())).await;
}
