//! Status: what the children's live state says about the platform, as a phase and conditions.
//! Pure: the controller gathers an [`Observed`] and this module decides.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::api::DynamicObject;
use serde_json::Value;

use crate::types::{ComponentStatus, DzinzaPlatformStatus, Phase};

/// Condition: everything is ready at spec.version.
pub const READY: &str = "Ready";
/// Condition: every backend reports ready.
pub const DATABASES_READY: &str = "DatabasesReady";
/// Condition: the migration Job of the current image succeeded.
pub const MIGRATIONS_COMPLETE: &str = "MigrationsComplete";
/// Condition: the Elasticsearch index mappings of the current image are applied.
pub const INDEX_MAPPINGS_APPLIED: &str = "IndexMappingsApplied";
/// Condition: the operator is moving the platform towards the spec.
pub const PROGRESSING: &str = "Progressing";
/// Condition: something failed or stopped being ready.
pub const DEGRADED: &str = "Degraded";

/// State of the migration Job of the current image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MigrationState {
    /// Not started: backends are not ready yet (or the platform is stopped).
    Waiting,
    /// The Job runs.
    Running,
    /// It succeeded (now, or in an earlier reconcile).
    Succeeded,
    /// It failed.
    Failed(String),
}

/// What the controller saw in the cluster this reconcile.
#[derive(Clone, Debug, Default)]
pub struct Observed {
    /// Per backend component: (ready, desired).
    pub backends: BTreeMap<String, (i32, i32)>,
    /// Per workload component: (ready, desired, version running).
    pub workloads: BTreeMap<String, ComponentStatus>,
    /// Migration state.
    pub migration: Option<MigrationState>,
    /// Worker pods running.
    pub worker_replicas: i32,
    /// An error that stopped the reconcile, with its reason.
    pub error: Option<(String, String)>,
}

impl Observed {
    /// Whether every backend has all its pods ready (and at least one wanted).
    pub fn backends_ready(&self) -> bool {
        self.backends.values().all(|(r, d)| *d > 0 && r >= d)
    }

    /// Whether every workload has its desired pods ready at `version`.
    pub fn workloads_ready(&self, version: &str) -> bool {
        !self.workloads.is_empty()
            && self.workloads.values().all(|c| {
                c.ready_replicas >= c.desired_replicas && c.version.as_deref() == Some(version)
            })
    }
}

fn int_at(v: &Value, path: &[&str]) -> Option<i64> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_i64()
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut cur = v;
    for p in path {
        cur = cur.get(p)?;
    }
    cur.as_str()
}

/// (ready, desired) of a StatefulSet or Deployment. `desired` falls back to `status.replicas`
/// when spec.replicas is left to an autoscaler.
pub fn replica_counts(obj: &DynamicObject) -> (i32, i32) {
    let d = &obj.data;
    let desired = int_at(d, &["spec", "replicas"])
        .or_else(|| int_at(d, &["status", "replicas"]))
        .unwrap_or(1);
    let ready = int_at(d, &["status", "readyReplicas"]).unwrap_or(0);
    let clamp = |n: i64| i32::try_from(n).unwrap_or(i32::MAX);
    (clamp(ready), clamp(desired))
}

/// (ready, desired) of a CloudNativePG Cluster.
pub fn cnpg_counts(obj: &DynamicObject) -> (i32, i32) {
    let d = &obj.data;
    let desired = int_at(d, &["spec", "instances"]).unwrap_or(1);
    let ready = int_at(d, &["status", "readyInstances"]).unwrap_or(0);
    (
        i32::try_from(ready).unwrap_or(0),
        i32::try_from(desired).unwrap_or(1),
    )
}

/// (ready, desired) of an ECK Elasticsearch: all or nothing on its health.
pub fn eck_counts(obj: &DynamicObject) -> (i32, i32) {
    let d = &obj.data;
    let desired = int_at(d, &["status", "availableNodes"])
        .max(d["spec"]["nodeSets"][0]["count"].as_i64())
        .unwrap_or(1);
    let healthy = matches!(str_at(d, &["status", "health"]), Some("green" | "yellow"))
        && str_at(d, &["status", "phase"]) == Some("Ready");
    let desired = i32::try_from(desired).unwrap_or(1);
    (if healthy { desired } else { 0 }, desired)
}

/// State of a migration Job from its status.
pub fn job_state(obj: &DynamicObject) -> MigrationState {
    let d = &obj.data;
    if int_at(d, &["status", "succeeded"]).unwrap_or(0) >= 1 {
        return MigrationState::Succeeded;
    }
    let failed = d["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Failed" && c["status"] == "True")
    });
    if failed {
        MigrationState::Failed(obj.metadata.name.clone().unwrap_or_default())
    } else {
        MigrationState::Running
    }
}

/// Version label of a workload (`app.kubernetes.io/version` on its pod template).
pub fn template_version(obj: &DynamicObject) -> Option<String> {
    str_at(
        &obj.data,
        &[
            "spec",
            "template",
            "metadata",
            "labels",
            "app.kubernetes.io/version",
        ],
    )
    .map(str::to_string)
}

/// Builds a condition, keeping `lastTransitionTime` from `previous` when the status is unchanged.
pub fn condition(
    previous: &[Condition],
    type_: &str,
    status: bool,
    reason: &str,
    message: String,
    generation: Option<i64>,
    now: &Time,
) -> Condition {
    let status = if status { "True" } else { "False" }.to_string();
    let last = previous
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
        .map(|c| c.last_transition_time.clone())
        .unwrap_or_else(|| now.clone());
    Condition {
        type_: type_.into(),
        status,
        reason: reason.into(),
        message,
        observed_generation: generation,
        last_transition_time: last,
    }
}

/// Inputs of [`compute`] that come from the resource itself.
pub struct Facts<'a> {
    /// metadata.generation.
    pub generation: Option<i64>,
    /// spec.version.
    pub version: &'a str,
    /// The full image reference of spec.version.
    pub image: String,
    /// clusterOperation.stopped.
    pub stopped: bool,
    /// clusterOperation.reconciliationPaused.
    pub paused: bool,
    /// Public URL.
    pub public_url: String,
    /// Worker pod selector.
    pub worker_selector: String,
}

/// The status the platform should have, given the previous one and what was observed.
pub fn compute(
    previous: Option<&DzinzaPlatformStatus>,
    facts: &Facts,
    obs: &Observed,
    now: &Time,
) -> DzinzaPlatformStatus {
    let prev = previous.cloned().unwrap_or_default();
    let generation = facts.generation;
    let migrated = match &obs.migration {
        Some(MigrationState::Succeeded) => true,
        Some(_) => false,
        None => prev.migrated_image.as_deref() == Some(facts.image.as_str()),
    };
    let backends_ready = obs.backends_ready();
    let workloads_ready = obs.workloads_ready(facts.version);
    let was_ready = prev.version.as_deref() == Some(facts.version);

    let (phase, reason, message) = if facts.paused {
        (
            Phase::Paused,
            "ReconciliationPaused",
            "clusterOperation.reconciliationPaused is set; nothing is changed".to_string(),
        )
    } else if facts.stopped {
        (
            Phase::Stopped,
            "Stopped",
            "clusterOperation.stopped is set; workloads are scaled to zero, data is kept"
                .to_string(),
        )
    } else if let Some((reason, msg)) = &obs.error {
        (Phase::Degraded, reason.as_str(), msg.clone())
    } else if let Some(MigrationState::Failed(job)) = &obs.migration {
        (
            Phase::Degraded,
            "MigrationFailed",
            format!("migration job {job} failed; see its logs"),
        )
    } else if !backends_ready {
        (
            Phase::Provisioning,
            "WaitingForDatabases",
            waiting_list("databases not ready", &obs.backends),
        )
    } else if !migrated {
        (
            Phase::Migrating,
            "MigrationRunning",
            format!("migrating to {}", facts.version),
        )
    } else if workloads_ready {
        (
            Phase::Ready,
            "AllComponentsReady",
            format!("version {} is ready", facts.version),
        )
    } else if was_ready {
        let lagging: BTreeMap<String, (i32, i32)> = obs
            .workloads
            .iter()
            .map(|(k, c)| (k.clone(), (c.ready_replicas, c.desired_replicas)))
            .collect();
        (
            Phase::Degraded,
            "ComponentsNotReady",
            waiting_list("components not ready", &lagging),
        )
    } else {
        (
            Phase::Provisioning,
            "RollingOut",
            format!("rolling out {}", facts.version),
        )
    };

    let prev_conds = prev.conditions.as_slice();
    let c =
        |t: &str, s: bool, r: &str, m: String| condition(prev_conds, t, s, r, m, generation, now);
    let mut conditions = vec![
        c(READY, phase == Phase::Ready, reason, message.clone()),
        c(
            DATABASES_READY,
            backends_ready,
            if backends_ready {
                "DatabasesReady"
            } else {
                "WaitingForDatabases"
            },
            waiting_list("databases not ready", &obs.backends),
        ),
        c(
            MIGRATIONS_COMPLETE,
            migrated,
            if migrated {
                "MigrationJobSucceeded"
            } else {
                "MigrationPending"
            },
            format!("schema migrations for {}", facts.image),
        ),
        c(
            INDEX_MAPPINGS_APPLIED,
            migrated,
            if migrated {
                "MigrationJobSucceeded"
            } else {
                "MigrationPending"
            },
            format!("search index mappings for {}", facts.image),
        ),
        c(
            PROGRESSING,
            matches!(
                phase,
                Phase::Pending | Phase::Provisioning | Phase::Migrating
            ),
            reason,
            message.clone(),
        ),
        c(DEGRADED, phase == Phase::Degraded, reason, message),
    ];
    conditions.sort_by(|a, b| a.type_.cmp(&b.type_));

    let mut components = obs.workloads.clone();
    for (name, (ready, desired)) in &obs.backends {
        components.insert(
            name.clone(),
            ComponentStatus {
                ready_replicas: *ready,
                desired_replicas: *desired,
                version: None,
            },
        );
    }
    DzinzaPlatformStatus {
        observed_generation: generation,
        phase,
        conditions,
        components,
        version: if phase == Phase::Ready {
            Some(facts.version.to_string())
        } else {
            prev.version
        },
        migrated_image: if migrated {
            Some(facts.image.clone())
        } else {
            prev.migrated_image
        },
        public_url: Some(facts.public_url.clone()),
        worker_replicas: obs.worker_replicas,
        worker_selector: Some(facts.worker_selector.clone()),
    }
}

fn waiting_list(what: &str, items: &BTreeMap<String, (i32, i32)>) -> String {
    let lagging: Vec<String> = items
        .iter()
        .filter(|(_, (r, d))| r < d || *d == 0)
        .map(|(k, (r, d))| format!("{k} {r}/{d}"))
        .collect();
    if lagging.is_empty() {
        "all ready".into()
    } else {
        format!("{what}: {}", lagging.join(", "))
    }
}
