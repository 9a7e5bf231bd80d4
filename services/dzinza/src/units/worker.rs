//! The worker unit (target `worker`, service name `jobs`): the worker loop plus the jobs HTTP API
//! (crate `dzinza-jobs`). In target `all` the loop runs in-process on `<data_dir>/jobs.db`.

use std::sync::Mutex;

use anyhow::Context as _;
use clap::Parser;
use dzinza_jobs::metrics::JobMetrics;
use dzinza_jobs::service::{self, JobsService};
use dzinza_jobs::{Registry, WorkerArgs};
use dzinza_kit::config::CommonArgs;
use dzinza_kit::health::Health;
use tokio::task::JoinHandle;

use super::{Unit, UnitContext};

/// The running worker loop, awaited by `serve` so released jobs are written back before exit.
static LOOP: Mutex<Option<JoinHandle<()>>> = Mutex::new(None);

/// Opens (and migrates) the job store, registers the job types, spawns the worker loop on the
/// process shutdown token and returns the jobs API.
pub async fn build(ctx: &UnitContext<'_>) -> anyhow::Result<Unit> {
    let args = ctx.worker;
    let store = service::open_store(args, &ctx.data_dir)
        .await
        .context("opening the job store (DZINZA_JOBS_DATABASE_URL)")?;
    store.migrate().await.context("migrating the job store")?;
    let mut registry = Registry::new();
    // Services register their job types here as they gain background work.
    service::configure_registry(args, &mut registry);
    let config = service::worker_config(args, ctx.common.shutdown_grace);
    let auth = service::authenticator(ctx.validator.clone(), &ctx.common.identity)?;
    let jobs = JobsService::new(
        store.clone(),
        registry,
        config,
        JobMetrics::register(&ctx.metrics),
        auth,
    );
    let health = Health::default();
    health.register("jobs_database", true, move || {
        let store = store.clone();
        async move {
            store
                .queue_depth(0)
                .await
                .map(|_| "reachable".to_owned())
                .map_err(|e| e.to_string())
        }
    });
    let token = ctx.shutdown.token();
    let worker = jobs.worker.clone();
    let handle = tokio::spawn(async move {
        if let Err(e) = worker.run(token).await {
            tracing::error!(error = %e, "the worker loop stopped");
        }
    });
    *LOOP.lock().unwrap_or_else(|e| e.into_inner()) = Some(handle);
    Ok(Unit {
        name: "jobs",
        router: dzinza_jobs::http::router(jobs.api),
        health,
        openapi: dzinza_jobs::http::openapi(),
    })
}

/// Waits for the worker loop (if this process runs one) to finish draining.
pub async fn drained() {
    let handle = LOOP.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(handle) = handle {
        let _ = handle.await;
    }
}

/// `dzinza migrate` reads the job store's settings from the environment.
#[derive(Parser)]
struct WorkerEnv {
    #[command(flatten)]
    worker: WorkerArgs,
}

/// Applies the job store's migrations.
pub async fn migrate(common: &CommonArgs) -> anyhow::Result<()> {
    let env = WorkerEnv::try_parse_from(["dzinza"]).context("worker settings")?;
    let store = service::open_store(&env.worker, &common.data_dir)
        .await
        .context("opening the job store")?;
    store.migrate().await.context("migrating the job store")?;
    Ok(())
}
