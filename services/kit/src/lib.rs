//! Shared service plumbing for every Dzinza service: configuration, telemetry, metrics, health,
//! problem responses, identity (JWT/JWKS), graceful shutdown and OpenAPI helpers.

pub mod config;
pub mod connections;
pub mod digits;
pub mod health;
pub mod http_client;
pub mod identity;
pub mod metrics;
pub mod openapi;
pub mod problem;
pub mod server;
pub mod telemetry;
pub mod testing;

pub use problem::Problem;
