//! The services this binary can run, each as a unit: its routes, readiness checks, OpenAPI
//! document and background tasks. `dzinza serve` picks units by target and wires them together.
//!
//! Adding a service: a file here with `pub async fn build(ctx: &UnitContext) -> anyhow::Result<Unit>`
//! (plus `migrate`), a `Target` variant, and one line in [`build`] and [`migrate`].

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use clap::ValueEnum;
use dzinza_kit::config::CommonArgs;
use dzinza_kit::health::Health;
use dzinza_kit::identity::TokenValidator;
use dzinza_kit::metrics::Metrics;
use dzinza_kit::server::Shutdown;

pub mod auth;
pub mod genealogy;
pub mod worker;

/// What `dzinza serve` runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Every service in one process on embedded backends; the gateway listens on --listen.
    All,
    /// The API gateway only; upstreams from DZINZA_UPSTREAM_*.
    Gateway,
    /// Identity: users, sessions, MFA, admin and audit.
    Auth,
    /// Family trees, persons, relationships, events, sources, history and merges.
    Genealogy,
    /// Durable background jobs: the worker loop and the jobs API (service name `jobs`).
    Worker,
}

impl Target {
    /// The service targets that `self` runs, gateway excluded (it is always built last).
    pub fn services(self) -> Vec<Target> {
        match self {
            Target::All => Target::value_variants()
                .iter()
                .copied()
                .filter(|t| !matches!(t, Target::All | Target::Gateway))
                .collect(),
            Target::Gateway => Vec::new(),
            #[allow(unreachable_patterns, reason = "reachable once service targets exist")]
            other => vec![other],
        }
    }

    /// Whether the gateway runs in this process.
    pub fn runs_gateway(self) -> bool {
        matches!(self, Target::All | Target::Gateway)
    }

    /// The service's name: its metrics label and its key in the gateway's upstream map.
    pub fn name(self) -> &'static str {
        match self {
            Target::All => "all",
            Target::Gateway => "gateway",
            Target::Auth => "auth",
            Target::Genealogy => "genealogy",
            Target::Worker => "jobs",
        }
    }
}

/// What a unit is built from.
#[allow(dead_code, reason = "read by the service units as they are added")]
pub struct UnitContext<'a> {
    /// Settings shared by every service.
    pub common: &'a CommonArgs,
    /// The process's data directory (embedded backends live here).
    pub data_dir: PathBuf,
    /// Whether this is the single-process embedded mode (`all`).
    pub embedded: bool,
    /// The registry every unit records into.
    pub metrics: Metrics,
    /// Process shutdown, for background loops.
    pub shutdown: Shutdown,
    /// Access-token validation, when a JWKS is known.
    pub validator: Option<Arc<TokenValidator>>,
    /// Where this unit will listen (known before it is built, so it can publish its URL).
    pub addr: SocketAddr,
    /// Settings of the auth service.
    pub auth: &'a dzinza_auth::settings::AuthArgs,
    /// Settings of the genealogy service (its documents store).
    pub genealogy: &'a dzinza_genealogy::settings::GenealogyArgs,
    /// Settings of the worker (job store, concurrency, leases).
    pub worker: &'a dzinza_jobs::WorkerArgs,
}

/// A built service.
pub struct Unit {
    /// Service name.
    pub name: &'static str,
    /// Its routes (without the standard ops routes and layers, added by the caller).
    pub router: Router,
    /// Its readiness checks.
    pub health: Health,
    /// Its API description, with paths as the gateway exposes them (`/api/v1/...`).
    pub openapi: utoipa::openapi::OpenApi,
}

/// Builds the unit of a service target.
pub async fn build(target: Target, ctx: &UnitContext<'_>) -> anyhow::Result<Unit> {
    match target {
        Target::Auth => auth::build(ctx).await,
        Target::Genealogy => genealogy::build(ctx).await,
        Target::Worker => worker::build(ctx).await,
        Target::All | Target::Gateway => {
            anyhow::bail!("{} is not a service unit", target.name())
        }
    }
}

/// Applies a service's migrations.
pub async fn migrate(target: Target, common: &CommonArgs) -> anyhow::Result<()> {
    match target {
        Target::Auth => auth::migrate(common).await,
        Target::Genealogy => genealogy::migrate(common).await,
        Target::Worker => worker::migrate(common).await,
        // The gateway keeps no state.
        Target::All | Target::Gateway => Ok(()),
    }
}
