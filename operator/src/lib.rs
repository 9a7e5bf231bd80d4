//! Kubernetes operator for the DzinzaPlatform resource.
//!
//! The reconcile is a pipeline (see `controller`): dereference (reads the cluster) → validate
//! (pure) → build (pure, every desired object) → apply (ordered, then delete orphans) → status.

pub mod apply;
pub mod controller;
pub mod dereference;
pub mod kinds;
pub mod metrics;
pub mod render;
pub mod run;
pub mod status;
pub mod types;

pub use types::{DzinzaPlatform, DzinzaPlatformSpec, DzinzaPlatformStatus};

/// Everything that can make a reconcile fail.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A call to the Kubernetes API failed.
    #[error("kubernetes API: {0}")]
    Kube(#[from] kube::Error),
    /// An object could not be serialised or deserialised.
    #[error("serialisation: {0}")]
    Serialize(#[source] serde_json::Error),
    /// The resource lacks a field the API server always sets.
    #[error("resource has no {0}")]
    MissingField(&'static str),
    /// The spec asks for an integration whose CRD is not installed.
    #[error("CRD {0} is not installed; install its operator or choose another backend mode")]
    MissingCrd(&'static str),
    /// A Secret the spec references is missing or lacks a key.
    #[error("secret {name} has no key {key} (or does not exist)")]
    MissingSecret {
        /// Secret name.
        name: String,
        /// Key.
        key: String,
    },
    /// The spec is invalid in a way CEL cannot check.
    #[error("invalid spec: {0}")]
    InvalidSpec(String),
    /// Generating a credential failed.
    #[error("generating a credential: {0}")]
    Generate(String),
    /// The migration Job failed.
    #[error("migration job {0} failed; see its logs")]
    MigrationFailed(String),
}

impl Error {
    /// Short stable label for the failures metric.
    pub fn metric_label(&self) -> &'static str {
        match self {
            Self::Kube(_) => "kube_api",
            Self::Serialize(_) => "serialize",
            Self::MissingField(_) => "missing_field",
            Self::MissingCrd(_) => "missing_crd",
            Self::MissingSecret { .. } => "missing_secret",
            Self::InvalidSpec(_) => "invalid_spec",
            Self::Generate(_) => "generate",
            Self::MigrationFailed(_) => "migration_failed",
        }
    }

    /// Whether retrying without a change to the spec or cluster cannot help, so the
    /// controller waits for a change instead of backing off.
    pub fn waits_for_change(&self) -> bool {
        matches!(self, Self::InvalidSpec(_))
    }
}

/// Result with the operator's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;
