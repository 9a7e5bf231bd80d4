//! The worker loop on both backends: retries with backoff, permanent failures, cancellation,
//! progress, per-type limits, shutdown, and cron ticks fired once with two workers.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use dzinza_jobs::backoff::Backoff;
use dzinza_jobs::metrics::JobMetrics;
use dzinza_jobs::model::{JobFilter, now_ms};
use dzinza_jobs::{
    Job, JobContext, JobError, JobQueue, JobState, JobStore, NewJob, Registry, Viewer, Worker,
    WorkerConfig,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

fn config() -> WorkerConfig {
    WorkerConfig {
        concurrency: 4,
        lease: Duration::from_secs(10),
        heartbeat: Duration::from_millis(50),
        poll_interval: Duration::from_millis(25),
        grace: Duration::from_secs(10),
        backoff: Backoff {
            base: Duration::from_millis(10),
            max: Duration::from_millis(40),
        },
        ..WorkerConfig::default()
    }
}

struct Running {
    queue: JobQueue,
    metrics: dzinza_kit::metrics::Metrics,
    stop: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

fn start(store: Arc<dyn JobStore>, registry: Registry, config: WorkerConfig) -> Running {
    let queue = JobQueue::new(store);
    let metrics = dzinza_kit::metrics::Metrics::new();
    let worker = Worker::new(
        queue.clone(),
        registry,
        config,
        JobMetrics::register(&metrics),
    );
    let stop = CancellationToken::new();
    let token = stop.clone();
    let handle = tokio::spawn(async move { worker.run(token).await.unwrap() });
    Running {
        queue,
        metrics,
        stop,
        handle,
    }
}

impl Running {
    async fn stop(self) {
        self.stop.cancel();
        self.handle.await.unwrap();
    }
}

/// Waits (up to a minute, so a broken worker fails rather than hangs) for the job to end.
async fn until_ended(store: &Arc<dyn JobStore>, id: &str) -> Job {
    for _ in 0..6000 {
        let job = store.get(id).await.unwrap().unwrap();
        if job.state.is_terminal() {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} did not end");
}

async fn until_state(store: &Arc<dyn JobStore>, id: &str, state: JobState) -> Job {
    for _ in 0..6000 {
        let job = store.get(id).await.unwrap().unwrap();
        if job.state == state {
            return job;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("job {id} never reached {state:?}");
}

async fn retries_with_backoff_until_success(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let mut registry = Registry::new();
    registry.register("flaky", |ctx: JobContext| async move {
        if ctx.attempt() < 3 {
            Err(JobError::retry(format!("transient {}", ctx.attempt())))
        } else {
            Ok(json!({"attempt": ctx.attempt()}))
        }
    });
    let w = start(s.clone(), registry, config());
    let job = w
        .queue
        .enqueue(NewJob::new("flaky", json!({})))
        .await
        .unwrap()
        .job;
    let done = until_ended(&s, &job.id).await;
    assert_eq!(done.state, JobState::Succeeded);
    assert_eq!(done.attempts, 3);
    assert_eq!(done.result, Some(json!({"attempt": 3})));
    // Stopping drains the worker, so every outcome has been counted.
    let metrics = w.metrics.clone();
    w.stop().await;
    let text = metrics.render();
    for series in [
        r#"jobs_retried_total{type="flaky"} 2"#,
        r#"jobs_succeeded_total{type="flaky"} 1"#,
        r#"jobs_failed_total{type="flaky"} 0"#,
        r#"jobs_running{type="flaky"} 0"#,
        r#"jobs_duration_seconds_count{type="flaky"} 3"#,
    ] {
        assert!(text.contains(series), "{series} missing from\n{text}");
    }
}

async fn retries_then_stays_failed(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let mut registry = Registry::new();
    registry.register("broken", |_ctx: JobContext| async {
        Err(JobError::retry("still broken"))
    });
    let w = start(s.clone(), registry, config());
    let job = w
        .queue
        .enqueue(NewJob::new("broken", json!({})).max_attempts(3))
        .await
        .unwrap()
        .job;
    let done = until_ended(&s, &job.id).await;
    assert_eq!((done.state, done.attempts), (JobState::Failed, 3));
    assert_eq!(done.error.as_deref(), Some("still broken"));
    let failed = w.queue.list_failed(None, None, 10).await.unwrap();
    assert!(failed.iter().any(|j| j.id == job.id));
    w.stop().await;
}

async fn fatal_errors_do_not_retry(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let mut registry = Registry::new();
    registry.register("strict", |ctx: JobContext| async move {
        #[derive(serde::Deserialize)]
        struct P {
            #[allow(dead_code, reason = "only its presence is checked")]
            file: String,
        }
        ctx.payload_as::<P>()?;
        Ok(Value::Null)
    });
    let w = start(s.clone(), registry, config());
    let job = w
        .queue
        .enqueue(NewJob::new("strict", json!({"nope": 1})))
        .await
        .unwrap()
        .job;
    let done = until_ended(&s, &job.id).await;
    assert_eq!((done.state, done.attempts), (JobState::Failed, 1));
    assert!(done.error.unwrap().contains("bad payload"));
    w.stop().await;
}

async fn cancellation_reaches_the_handler(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let mut registry = Registry::new();
    registry.register("endless", |ctx: JobContext| async move {
        ctx.progress(0.1, "started").await?;
        ctx.cancellation().cancelled().await;
        Err(JobError::Cancelled)
    });
    let w = start(s.clone(), registry, config());
    let job = w
        .queue
        .enqueue(NewJob::new("endless", json!({})).owner("u1"))
        .await
        .unwrap()
        .job;
    let viewer = Viewer {
        user_id: "u1".into(),
        admin: false,
    };
    // Wait until the handler runs (its progress is visible), then cancel.
    for _ in 0..6000 {
        if s.get(&job.id).await.unwrap().unwrap().progress > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let stranger = Viewer {
        user_id: "u2".into(),
        admin: false,
    };
    assert!(w.queue.cancel_for(&job.id, &stranger).await.is_err());
    w.queue.cancel_for(&job.id, &viewer).await.unwrap();
    let done = until_ended(&s, &job.id).await;
    assert_eq!(done.state, JobState::Cancelled);
    w.stop().await;
}

async fn per_type_limit_is_respected(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let now = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let mut registry = Registry::new();
    let (n, p) = (now.clone(), peak.clone());
    registry.register("serial", move |_ctx: JobContext| {
        let (n, p) = (n.clone(), p.clone());
        async move {
            let running = n.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(running, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            n.fetch_sub(1, Ordering::SeqCst);
            Ok(Value::Null)
        }
    });
    registry.limit("serial", 1);
    let w = start(s.clone(), registry, config());
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(
            w.queue
                .enqueue(NewJob::new("serial", json!(i)))
                .await
                .unwrap()
                .job
                .id,
        );
    }
    for id in &ids {
        assert_eq!(until_ended(&s, id).await.state, JobState::Succeeded);
    }
    assert_eq!(peak.load(Ordering::SeqCst), 1);
    w.stop().await;
}

async fn shutdown_releases_jobs_past_the_grace_period(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let mut registry = Registry::new();
    registry.register("stuck", |ctx: JobContext| async move {
        ctx.progress(0.5, "stuck").await?;
        std::future::pending::<()>().await;
        Ok(Value::Null)
    });
    let w = start(
        s.clone(),
        registry,
        WorkerConfig {
            grace: Duration::from_millis(100),
            ..config()
        },
    );
    let job = w
        .queue
        .enqueue(NewJob::new("stuck", json!({})))
        .await
        .unwrap()
        .job;
    for _ in 0..6000 {
        if s.get(&job.id).await.unwrap().unwrap().progress > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.stop().await;
    let j = s.get(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.attempts, j.lease_owner),
        (JobState::Queued, 0, None)
    );
}

async fn shutdown_lets_running_jobs_finish(s: Arc<dyn JobStore>, _b: Arc<dyn JobStore>) {
    let release = Arc::new(tokio::sync::Notify::new());
    let gate = release.clone();
    let mut registry = Registry::new();
    registry.register("short", move |ctx: JobContext| {
        let gate = gate.clone();
        async move {
            ctx.progress(0.5, "waiting").await?;
            gate.notified().await;
            Ok(json!("finished"))
        }
    });
    let w = start(s.clone(), registry, config());
    let job = w
        .queue
        .enqueue(NewJob::new("short", json!({})))
        .await
        .unwrap()
        .job;
    until_state(&s, &job.id, JobState::Running).await;
    for _ in 0..6000 {
        if s.get(&job.id).await.unwrap().unwrap().progress > 0.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    w.stop.cancel();
    release.notify_one();
    w.handle.await.unwrap();
    let j = s.get(&job.id).await.unwrap().unwrap();
    assert_eq!(
        (j.state, j.result),
        (JobState::Succeeded, Some(json!("finished")))
    );
}

async fn cron_runs_once_per_tick_with_two_workers(s: Arc<dyn JobStore>, b: Arc<dyn JobStore>) {
    let registry = || {
        let mut r = Registry::new();
        r.register("tick", |_ctx: JobContext| async { Ok(Value::Null) });
        r.schedule("every-minute", "* * * * *", "tick", json!({"k": 1}))
            .unwrap();
        r
    };
    let w1 = Worker::new(
        JobQueue::new(s.clone()),
        registry(),
        config(),
        JobMetrics::unregistered(),
    );
    let w2 = Worker::new(
        JobQueue::new(b.clone()),
        registry(),
        config(),
        JobMetrics::unregistered(),
    );
    let t0 = now_ms();
    w1.install_schedules(t0).await.unwrap();
    w2.install_schedules(t0).await.unwrap();
    let first_tick = (t0 / 60_000 + 1) * 60_000;
    let mut fired = 0;
    for tick in 0..3 {
        let at = first_tick + tick * 60_000;
        let (x, y) = tokio::join!(w1.tick_schedules(at), w2.tick_schedules(at));
        let (x, y) = (x.unwrap(), y.unwrap());
        assert_eq!(x + y, 1, "tick {tick}: fired {x} + {y}");
        fired += x + y;
        // A late worker at the same instant finds nothing to fire.
        assert_eq!(w2.tick_schedules(at).await.unwrap(), 0);
    }
    assert_eq!(fired, 3);
    let jobs = s
        .list(JobFilter {
            job_type: Some("tick".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(jobs.len(), 3);
    assert!(jobs.iter().all(|j| j.payload == json!({"k": 1})));
}

macro_rules! both {
    ($($case:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let b = crate::common::sqlite().await;
                    super::$case(b.a.clone(), b.b.clone()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    let Some(b) = crate::common::postgres().await else { return };
                    super::$case(b.a.clone(), b.b.clone()).await;
                }
            )*
        }
    };
}

both!(
    retries_with_backoff_until_success,
    retries_then_stays_failed,
    fatal_errors_do_not_retry,
    cancellation_reaches_the_handler,
    per_type_limit_is_respected,
    shutdown_releases_jobs_past_the_grace_period,
    shutdown_lets_running_jobs_finish,
    cron_runs_once_per_tick_with_two_workers,
);
