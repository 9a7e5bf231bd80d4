//! `dzinza serve` and `dzinza migrate`: which services run in this process and how they are wired.

use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Args;
use dzinza_gateway::{Gateway, GatewayArgs, GatewayConfig};
use dzinza_kit::config::CommonArgs;
use dzinza_kit::health::Health;
use dzinza_kit::identity::TokenValidator;
use dzinza_kit::metrics::Metrics;
use dzinza_kit::server::{self, Shutdown};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::units::{self, Target, UnitContext};

/// Settings of `dzinza serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Which service(s) to run.
    #[arg(long, env = "DZINZA_TARGET", value_enum, default_value_t = Target::All)]
    pub target: Target,

    #[command(flatten)]
    pub common: CommonArgs,

    #[command(flatten, next_help_heading = "Gateway")]
    pub gateway: GatewayArgs,

    #[command(flatten, next_help_heading = "Auth")]
    pub auth: dzinza_auth::settings::AuthArgs,

    #[command(flatten, next_help_heading = "Genealogy")]
    pub genealogy: dzinza_genealogy::settings::GenealogyArgs,

    #[command(flatten, next_help_heading = "Worker")]
    pub worker: dzinza_jobs::WorkerArgs,
}

/// Settings of `dzinza migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// Which service's stores to migrate.
    #[arg(long, value_enum, default_value_t = Target::All)]
    pub target: Target,

    #[command(flatten)]
    pub common: CommonArgs,
}

/// Runs the chosen target(s) until SIGTERM/SIGINT.
pub async fn serve(mut args: ServeArgs) -> anyhow::Result<ExitCode> {
    let _telemetry = dzinza_kit::telemetry::init("dzinza", &args.common)?;
    let embedded = args.target == Target::All;
    std::fs::create_dir_all(&args.common.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {} (set --data-dir or DZINZA_DATA_DIR)",
            args.common.data_dir.display()
        )
    })?;
    let shutdown = Shutdown::on_signals(args.common.shutdown_grace);
    let metrics = Metrics::new();

    // Bind every listener first: in `all` each service gets an internal loopback port, and the
    // gateway's upstream map and the JWKS URL must name those ports before anything is built.
    let services = args.target.services();
    let mut listeners = Vec::new();
    for target in &services {
        let listener = if args.target.runs_gateway() {
            TcpListener::bind("127.0.0.1:0").await?
        } else {
            bind(args.common.listen).await?
        };
        listeners.push((*target, listener));
    }
    if embedded {
        for (target, listener) in &listeners {
            let url = format!("http://{}", listener.local_addr()?);
            if target.name() == "auth" && args.common.identity.jwks_url.is_none() {
                args.common.identity.jwks_url = Some(format!("{url}/.well-known/jwks.json"));
            }
            set_upstream(&mut args.gateway, target.name(), url);
        }
    }
    let validator = TokenValidator::from_args(&args.common.identity)
        .context("identity settings (DZINZA_JWKS_URL)")?
        .map(Arc::new);

    let in_process: Vec<&'static str> = listeners.iter().map(|(t, _)| t.name()).collect();
    let mut tasks = JoinSet::new();
    let mut docs = Vec::new();
    for (target, listener) in listeners {
        let ctx = UnitContext {
            common: &args.common,
            data_dir: args.common.data_dir.clone(),
            embedded,
            metrics: metrics.clone(),
            shutdown: shutdown.clone(),
            validator: validator.clone(),
            addr: listener.local_addr()?,
            auth: &args.auth,
            genealogy: &args.genealogy,
            worker: &args.worker,
        };
        let unit = units::build(target, &ctx)
            .await
            .with_context(|| format!("starting the {} service", target.name()))?;
        docs.push(unit.openapi);
        let router = dzinza_kit::server::standard_router(
            unit.name,
            unit.router,
            unit.health.clone(),
            metrics.clone(),
        );
        let shutdown = shutdown.clone();
        tasks.spawn(async move {
            server::serve(unit.name, listener, router, shutdown, Some(unit.health)).await
        });
    }

    if args.target.runs_gateway() {
        if validator.is_none() {
            tracing::warn!(
                "no DZINZA_JWKS_URL: the gateway serves public routes only and answers 503 elsewhere"
            );
        }
        let mut config = GatewayConfig::load(&args.gateway).context("gateway configuration")?;
        if embedded {
            forget_absent_services(&mut config, &in_process);
        }
        docs.insert(0, dzinza_gateway::openapi());
        let openapi = dzinza_kit::openapi::merge("Dzinza API", env!("CARGO_PKG_VERSION"), docs);
        let health = Health::default();
        let gateway = Gateway::new(config, validator, &metrics, openapi)?;
        gateway.register_checks(&health);
        gateway.spawn_maintenance(shutdown.token());
        let threads = args
            .gateway
            .gateway_threads
            .unwrap_or_else(server::default_threads);
        let listeners = if threads == 0 {
            vec![bind(args.common.listen).await?.into_std()?]
        } else {
            server::bind_reuseport(args.common.listen, threads).with_context(|| {
                format!(
                    "cannot listen on {} (set --listen or DZINZA_LISTEN)",
                    args.common.listen
                )
            })?
        };
        let addr = listeners
            .first()
            .context("no gateway listener")?
            .local_addr()?;
        if embedded {
            tracing::info!(
                url = %format!("http://{addr}/"),
                data_dir = %args.common.data_dir.display(),
                "Dzinza is running; open the URL, stop with Ctrl-C"
            );
        }
        let shutdown = shutdown.clone();
        if threads == 0 {
            let app = dzinza_gateway::server(gateway, health.clone(), metrics.clone());
            let listener = listeners
                .into_iter()
                .next()
                .context("no gateway listener")?;
            let listener = TcpListener::from_std(listener)?;
            tasks.spawn(async move {
                server::serve("gateway", listener, app, shutdown, Some(health)).await
            });
        } else {
            // One gateway per thread: shared rules, limits, breakers and metrics; own pool.
            let servers = listeners
                .into_iter()
                .map(|listener| {
                    let app = dzinza_gateway::server(
                        gateway.with_own_pool(),
                        health.clone(),
                        metrics.clone(),
                    );
                    (listener, app)
                })
                .collect();
            tasks.spawn(server::serve_on_threads(
                "gateway",
                servers,
                shutdown,
                Some(health),
            ));
        }
    }

    // One server failing takes the process down: a half-running platform is worse than none.
    while let Some(result) = tasks.join_next().await {
        if let Err(e) = result.context("server task panicked")? {
            shutdown.trigger();
            return Err(anyhow::Error::new(e).context("server failed"));
        }
    }
    // The worker loop drains after the servers: running jobs finish or go back to the queue.
    units::worker::drained().await;
    Ok(ExitCode::SUCCESS)
}

async fn bind(addr: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(addr)
        .await
        .with_context(|| format!("cannot listen on {addr} (set --listen or DZINZA_LISTEN)"))
}

/// In the single-process mode, services this build does not run in-process keep no upstream
/// (unless one was configured explicitly), so their routes answer a clear 503 at once instead of
/// a 502 after connection attempts to a loopback port where nothing listens.
fn forget_absent_services(config: &mut GatewayConfig, in_process: &[&str]) {
    let defaults = GatewayConfig::default().upstreams;
    let absent: Vec<String> = config
        .upstreams
        .iter()
        .filter(|(service, url)| {
            !in_process.contains(&service.as_str()) && defaults.get(*service) == Some(*url)
        })
        .map(|(service, _)| service.clone())
        .collect();
    for service in absent {
        config.upstreams.remove(&service);
        config.not_deployed.push(service);
    }
}

fn set_upstream(gateway: &mut GatewayArgs, service: &str, url: String) {
    let slot = match service {
        "auth" => &mut gateway.upstream_auth,
        "genealogy" => &mut gateway.upstream_genealogy,
        "storage" => &mut gateway.upstream_storage,
        "search" => &mut gateway.upstream_search,
        "jobs" | "worker" => &mut gateway.upstream_jobs,
        _ => return,
    };
    *slot = Some(url);
}

/// Applies every store's migrations for the target, then exits.
pub async fn migrate(args: MigrateArgs) -> anyhow::Result<ExitCode> {
    let _telemetry = dzinza_kit::telemetry::init("dzinza-migrate", &args.common)?;
    let mut targets = args.target.services();
    if targets.is_empty() {
        targets.push(args.target);
    }
    for target in targets {
        units::migrate(target, &args.common)
            .await
            .with_context(|| format!("migrating {}", target.name()))?;
        tracing::info!(service = target.name(), "migrated");
    }
    Ok(ExitCode::SUCCESS)
}
