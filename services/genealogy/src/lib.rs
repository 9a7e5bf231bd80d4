//! Dzinza genealogy service: family trees, persons, relationships, events, sources, history,
//! notifications and merge suggestions. The model ([`model`]), authorization ([`policy`]) and
//! relationship calculator ([`kinship`]) are pure; storage is behind [`store::DocumentStore`]
//! ([`settings`] picks SQLite or MongoDB).
//! See `docs/genealogy.md`.

pub mod kinship;
pub mod model;
pub mod policy;
pub mod service;
pub mod settings;
pub mod store;

pub use service::{Genealogy, GenealogyError};
pub mod http;

pub use http::{ApiState, openapi, router};

use std::path::Path;
use std::sync::Arc;

/// Opens and migrates the embedded store at `<data_dir>/genealogy.db`.
pub async fn open_embedded(
    data_dir: &Path,
) -> Result<Arc<dyn store::DocumentStore>, store::StoreError> {
    let store = store::sqlite::SqliteStore::open(&data_dir.join("genealogy.db")).await?;
    store::DocumentStore::migrate(&store).await?;
    Ok(Arc::new(store))
}

/// The API's token check: the process validator, or (no JWKS configured) one that knows no keys
/// and so refuses every token with 401.
pub fn authenticator(
    validator: Option<Arc<dzinza_kit::identity::TokenValidator>>,
    identity: &dzinza_kit::config::IdentityArgs,
) -> Result<dzinza_kit::identity::Authenticator, dzinza_kit::identity::JwksError> {
    let validator = match validator {
        Some(v) => v,
        None => Arc::new(dzinza_kit::identity::TokenValidator::from_jwks(
            &jsonwebtoken::jwk::JwkSet { keys: Vec::new() },
            identity.jwt_issuer.clone(),
            identity.jwt_audience.clone(),
            identity.jwt_leeway,
        )?),
    };
    Ok(dzinza_kit::identity::Authenticator(validator))
}
