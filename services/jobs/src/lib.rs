//! Durable background jobs: a queue on PostgreSQL (cluster) or SQLite (embedded), a worker loop
//! with leases, heartbeats, retries and cron schedules, a handler registry other services
//! register their job types in, and the jobs HTTP API. See `docs/jobs.md`.

pub mod error;
pub mod model;
pub mod postgres;
pub mod sqlite;
pub mod store;

pub use error::{JobsError, StoreError};
pub use model::{Job, JobState, NewJob};
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use store::JobStore;
pub mod backoff;
pub mod metrics;
pub mod queue;
pub mod registry;
pub mod schedule;
pub mod worker;

pub use queue::{JobQueue, QueueDepth, Viewer};
pub use registry::{Handler, JobContext, JobError, Registry};
pub use worker::{Worker, WorkerConfig};
pub mod config;
pub mod diagnostic;
pub mod http;
pub mod service;

pub use config::WorkerArgs;
