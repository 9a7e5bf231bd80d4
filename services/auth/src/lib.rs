//! Dzinza identity service: users, sessions (access and refresh tokens), MFA, lockout, email
//! flows, admin and audit. Domain logic lives in [`service`]; storage behind [`store::AuthStore`];
//! HTTP in [`http`].

pub mod clock;
pub mod error;
pub mod http;
pub mod keys;
pub mod mail;
pub mod mfa;
pub mod model;
pub mod password;
pub mod sealing;
pub mod service;
pub mod settings;
pub mod store;
pub mod throttle;

pub use http::{AppState, openapi, router};
