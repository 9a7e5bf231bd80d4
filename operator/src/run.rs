//! The `run` command: metrics server, leader election and the controller loop.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use kube::Client;
use kube_lease_manager::LeaseManagerBuilder;
use tokio::sync::watch;
use tracing::{info, warn};

use crate::controller::{Context, RunOptions, run_controller};
use crate::metrics::{self, Metrics};

/// Settings of `dzinza-operator run`.
pub struct Settings {
    /// Address of `/metrics`, `/healthz`, `/readyz`.
    pub listen: SocketAddr,
    /// Watch one namespace only.
    pub namespace: Option<String>,
    /// Reconciles at once.
    pub concurrency: u16,
    /// Lease namespace, when leader election is on.
    pub leader_election_namespace: Option<String>,
    /// Lease name.
    pub lease_name: String,
    /// This replica's identity (pod name).
    pub identity: String,
}

async fn shutdown_signal(tx: watch::Sender<bool>) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    info!("shutdown requested");
    let _ = tx.send(true);
}

async fn wait_true(rx: &mut watch::Receiver<bool>) {
    while !*rx.borrow_and_update() {
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Runs the operator until SIGTERM/SIGINT.
pub async fn run(settings: Settings) -> anyhow::Result<()> {
    // Another crate in the same build may enable a second rustls provider; pick ours.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = Client::try_default().await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    tokio::spawn(shutdown_signal(stop_tx));
    run_with(client, settings, stop_rx).await
}

/// Runs the operator with `client` until `stop_rx` turns true: the metrics server, then the
/// controller, behind leader election when a lease namespace is set.
pub async fn run_with(
    client: Client,
    settings: Settings,
    stop_rx: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let metrics = Arc::new(Metrics::default());
    let server = tokio::spawn(metrics::serve(settings.listen, metrics.clone()));
    let ctx = Arc::new(Context::new(
        client.clone(),
        Some(settings.identity.clone()),
        metrics.clone(),
        true,
    ));
    let opts = RunOptions {
        namespace: settings.namespace.clone(),
        concurrency: settings.concurrency,
    };

    let Some(lease_ns) = settings.leader_election_namespace.clone() else {
        metrics.ready.store(true, Ordering::Relaxed);
        let mut stop = stop_rx.clone();
        run_controller(ctx, &opts, async move { wait_true(&mut stop).await }).await;
        server.abort();
        return Ok(());
    };

    let manager = LeaseManagerBuilder::new(client.clone(), &settings.lease_name)
        .with_namespace(&lease_ns)
        .with_identity(&settings.identity)
        .with_duration(15)
        .with_grace(5)
        .build()
        .await?;
    let (mut leader, task) = manager.watch().await;
    // A standby replica is ready: it serves metrics and will take over when the leader goes.
    metrics.ready.store(true, Ordering::Relaxed);
    let mut stop = stop_rx.clone();
    loop {
        tokio::select! {
            _ = wait_true(&mut leader) => {},
            _ = wait_true(&mut stop) => break,
        }
        info!(identity = %settings.identity, "acquired leadership; starting controller");
        let mut lost = leader.clone();
        let mut stop_inner = stop_rx.clone();
        let until = async move {
            tokio::select! {
                _ = async { while *lost.borrow_and_update() { if lost.changed().await.is_err() { break; } } } => {},
                _ = wait_true(&mut stop_inner) => {},
            }
        };
        run_controller(ctx.clone(), &opts, until).await;
        if *stop.borrow() {
            break;
        }
        warn!("lost leadership; controller stopped, waiting to lead again");
    }
    drop(leader);
    // Dropping the channel makes the lease task release the lease for the next leader.
    match task.await {
        Ok(Ok(m)) => {
            let _ = m.release().await;
        }
        Ok(Err(e)) => warn!(error = %e, "lease manager ended with an error"),
        Err(e) => warn!(error = %e, "lease task panicked"),
    }
    server.abort();
    Ok(())
}
