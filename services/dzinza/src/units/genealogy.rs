//! The genealogy unit: trees, persons, relationships, events, sources, history, merges and
//! notifications (crate `dzinza-genealogy`), on the embedded store `<data_dir>/genealogy.db`.

use anyhow::Context as _;
use dzinza_genealogy::service::{Genealogy, system_clock};
use dzinza_genealogy::{ApiState, open_embedded};
use dzinza_kit::config::CommonArgs;
use dzinza_kit::health::Health;

use super::{Unit, UnitContext};

/// Opens and migrates the store and returns the genealogy API.
pub async fn build(ctx: &UnitContext<'_>) -> anyhow::Result<Unit> {
    let store = open_embedded(&ctx.data_dir)
        .await
        .context("opening the genealogy store")?;
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
    let state = ApiState {
        service: Genealogy::new(store, system_clock()),
        auth,
    };
    Ok(Unit {
        name: "genealogy",
        router: dzinza_genealogy::router(state),
        health,
        openapi: dzinza_genealogy::openapi(),
    })
}

/// Applies the genealogy store's migrations.
pub async fn migrate(common: &CommonArgs) -> anyhow::Result<()> {
    std::fs::create_dir_all(&common.data_dir).context("creating the data directory")?;
    open_embedded(&common.data_dir)
        .await
        .context("migrating the genealogy store")?;
    Ok(())
}
