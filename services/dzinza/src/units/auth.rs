//! The auth unit: identity, sessions, MFA, admin and audit (crate `dzinza-auth`).

use anyhow::Context as _;
use clap::Parser;
use dzinza_auth::settings::{self, AuthArgs};
use dzinza_kit::config::CommonArgs;
use dzinza_kit::health::Health;

use super::{Unit, UnitContext};

/// Builds the auth service: opens (and in embedded mode migrates) its store, loads or generates
/// its signing key, and registers the database as a readiness check.
pub async fn build(ctx: &UnitContext<'_>) -> anyhow::Result<Unit> {
    let default_public_url = format!("http://{}", ctx.common.listen);
    let built = settings::build(
        ctx.auth,
        &ctx.common.identity,
        &ctx.data_dir,
        ctx.embedded,
        &default_public_url,
    )
    .await
    .context("auth setup")?;
    let health = Health::default();
    let store = built.state.service.store().clone();
    health.register("auth_database", true, move || {
        let store = store.clone();
        async move {
            store
                .ping()
                .await
                .map(|()| "reachable".to_owned())
                .map_err(|e| e.to_string())
        }
    });
    Ok(Unit {
        name: "auth",
        router: dzinza_auth::router(built.state),
        health,
        openapi: dzinza_auth::openapi(),
    })
}

/// `dzinza migrate` reads auth's settings from the environment (`DZINZA_AUTH_DATABASE_URL`).
#[derive(Parser)]
struct AuthEnv {
    #[command(flatten)]
    auth: AuthArgs,
}

/// Applies the auth store's migrations.
pub async fn migrate(common: &CommonArgs) -> anyhow::Result<()> {
    let env = AuthEnv::try_parse_from(["dzinza"]).context("auth settings")?;
    settings::open_store(&env.auth, &common.data_dir, true)
        .await
        .context("migrating the auth store")?;
    Ok(())
}
