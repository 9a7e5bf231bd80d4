//! The migration Job: `dzinza migrate` for one image, run before workloads roll to it.
//!
//! It applies SQL migrations, MongoDB indexes and the versioned Elasticsearch index mappings
//! (the binary creates a new index and switches the alias when a mapping changes). The Job is
//! named by a hash of the image reference, so each version migrates exactly once.

use k8s_openapi::api::batch::v1::{Job, JobSpec};

use super::workloads::{PodParts, migration_secret_files, pod_template};
use super::{Ctx, hash_str};
use crate::types::ServiceSpec;

/// Component label of the migration Job's pods (the data-tier NetworkPolicies admit it).
pub const COMPONENT: &str = "migration";

/// Name of the migration Job for the platform's current image.
pub fn job_name(ctx: &Ctx) -> String {
    ctx.child(&format!("migrate-{}", hash_str(&ctx.image())))
}

/// The migration Job.
pub fn job(ctx: &Ctx) -> Job {
    let mut metadata = ctx.meta(job_name(ctx), COMPONENT);
    metadata.labels = Some(ctx.versioned_labels(COMPONENT));
    Job {
        metadata,
        spec: Some(JobSpec {
            backoff_limit: Some(3),
            active_deadline_seconds: Some(3600),
            // Kept a day so its logs can be read; status remembers that it succeeded.
            ttl_seconds_after_finished: Some(86_400),
            template: pod_template(
                ctx,
                PodParts {
                    component: COMPONENT,
                    args: vec!["migrate".into(), "--target".into(), "all".into()],
                    files: migration_secret_files(ctx),
                    spec: ServiceSpec {
                        replicas: 1,
                        ..ServiceSpec::default()
                    },
                    restart_policy: Some("Never"),
                    probes: false,
                },
            ),
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}
