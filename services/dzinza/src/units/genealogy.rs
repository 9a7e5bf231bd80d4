//! The genealogy unit: trees, persons, relationships, events, sources, history, merges and
//! notifications (crate `dzinza-genealogy`), on the embedded store `<data_dir>/genealogy.db` or,
//! with `DZINZA_GENEALOGY_MONGODB_URL`, on MongoDB.

use anyhow::Context as _;
use clap::Parser;
use dzinza_genealogy::ApiState;
use dzinza_genealogy::service::{Genealogy, system_clock};
use dzinza_genealogy::settings::{self, GenealogyArgs};
use dzinza_kit::config::CommonArgs;
use dzinza_kit::health::Health;

use super::{Unit, UnitContext};

/// Opens the store (migrating it in embedded mode, as auth does) and returns the genealogy API.
pub async fn build(ctx: &UnitContext<'_>) -> anyhow::Result<Unit> {
    let store = settings::open_store(ctx.genealogy, &ctx.data_dir, ctx.embedded)
        .await
        .context("opening the genealogy store")?;
    tracing::info!(
        store = if settings::uses_mongodb(ctx.genealogy) {
            "mongodb"
        } else {
            "sqlite"
        },
        "genealogy store opened"
    );
    let auth = dzinza_genealogy::authenticator(ctx.validator.clone(), &ctx.common.identity)
        .context("genealogy identity")?;
    let health = Health::default();
    let probe = store.clone();
    health.register("genealogy_database", true, move || {
        let store = probe.clone();
        async move {
            store
                .ping()
                .await
                .map(|()| "reachable".to_owned())
                .map_err(|e| e.to_string())
        }
    });
    let service =
        Genealogy::new(store, system_clock()).with_vitals_cache(ctx.genealogy.vitals_cache_bytes());
    service
        .vitals_cache_stats()
        .register(&ctx.metrics, "vitals");
    let state = ApiState { service, auth };
    Ok(Unit {
        name: "genealogy",
        router: dzinza_genealogy::router(state),
        health,
        openapi: dzinza_genealogy::openapi(),
    })
}

/// `dzinza migrate` reads genealogy's settings from the environment
/// (`DZINZA_GENEALOGY_MONGODB_URL`).
#[derive(Parser)]
struct GenealogyEnv {
    #[command(flatten)]
    genealogy: GenealogyArgs,
}

/// Applies the genealogy store's migrations: SQLite tables, or MongoDB collections and indexes.
pub async fn migrate(common: &CommonArgs) -> anyhow::Result<()> {
    let env = GenealogyEnv::try_parse_from(["dzinza"]).context("genealogy settings")?;
    if !settings::uses_mongodb(&env.genealogy) {
        std::fs::create_dir_all(&common.data_dir).context("creating the data directory")?;
    }
    settings::open_store(&env.genealogy, &common.data_dir, true)
        .await
        .context("migrating the genealogy store")?;
    Ok(())
}
