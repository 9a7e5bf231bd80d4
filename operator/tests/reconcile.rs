//! The reconciler against kube-fake-client's in-memory API server: apply order, idempotence,
//! updates and deletions of exactly what changed, stop/pause, status, deletion policy.
//!
//! The fake runs no controllers, so tests play kubelet and friends: they mark StatefulSets,
//! the migration Job and Deployments ready by patching their status.

use std::sync::{Arc, Mutex};

use dzinza_operator::controller::{Context, FINALIZER, Outcome, reconcile_platform};
use dzinza_operator::metrics::Metrics;
use dzinza_operator::types::Phase;
use dzinza_operator::{DzinzaPlatform, Error};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PersistentVolumeClaim, Secret, Service};
use k8s_openapi::api::networking::v1::Ingress;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use kube_fake_client::{ClientBuilder, interceptor};
use serde_json::json;

/// This package's directory as cargo gives it to the running test, not as compiled in: a test
/// binary reused from a target directory another checkout built must read this checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

const NS: &str = "dzinza";

/// Every write the operator made, as "patch NAME" / "delete NAME" / "status NAME".
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    fn push(&self, s: String) {
        if let Ok(mut v) = self.0.lock() {
            v.push(s);
        }
    }
    fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }
}

struct Env {
    client: Client,
    ctx: Context,
    log: Log,
}

fn minimal() -> DzinzaPlatform {
    let yaml = std::fs::read_to_string(manifest_dir().join("../docs/examples/minimal.yaml"))
        .expect("example exists");
    serde_yaml::from_str(&yaml).expect("example parses")
}

async fn env_with(p: DzinzaPlatform, extra: Vec<serde_json::Value>) -> Env {
    let log = Log::default();
    let (l1, l2, l3) = (log.clone(), log.clone(), log.clone());
    let funcs = interceptor::Funcs::new()
        .patch(move |c| {
            let kind = c.patch.get("kind").and_then(|k| k.as_str()).unwrap_or("?");
            l1.push(format!("patch {kind}/{}", c.name));
            Ok(None)
        })
        .delete(move |c| {
            l2.push(format!("delete {}", c.name));
            Ok(None)
        })
        .patch_status(move |c| {
            l3.push(format!("status {}", c.name));
            Ok(None)
        });
    let client = ClientBuilder::new()
        .with_resource::<DzinzaPlatform>()
        .with_status_subresource::<DzinzaPlatform>()
        .with_status_subresource::<StatefulSet>()
        .with_status_subresource::<Deployment>()
        .with_status_subresource::<Job>()
        .with_object(p)
        .with_runtime_objects(extra)
        .with_interceptor_funcs(funcs)
        .build()
        .await
        .expect("fake client");
    let ctx = Context::new(client.clone(), None, Arc::new(Metrics::default()), false);
    Env { client, ctx, log }
}

async fn env() -> Env {
    env_with(minimal(), vec![]).await
}

impl Env {
    fn api<K>(&self) -> Api<K>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        Api::namespaced(self.client.clone(), NS)
    }

    async fn platform(&self) -> DzinzaPlatform {
        self.api::<DzinzaPlatform>()
            .get("dev")
            .await
            .expect("platform exists")
    }

    async fn reconcile(&self) -> Result<Outcome, Error> {
        let p = self.platform().await;
        reconcile_platform(&p, &self.ctx).await
    }

    async fn reconcile_ok(&self) -> Outcome {
        self.reconcile().await.expect("reconcile succeeds")
    }

    async fn names<K>(&self) -> Vec<String>
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        let mut n: Vec<String> = self
            .api::<K>()
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
            .iter()
            .map(|o| o.name_any())
            .collect();
        n.sort();
        n
    }

    async fn spec_patch(&self, patch: serde_json::Value) {
        self.api::<DzinzaPlatform>()
            .patch(
                "dev",
                &PatchParams::default(),
                &Patch::Merge(&json!({ "spec": patch })),
            )
            .await
            .expect("spec patched");
        // The test's own write is not the operator's.
        self.log.take();
    }

    async fn set_status<K>(&self, name: &str, status: serde_json::Value)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
    {
        self.api::<K>()
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(&json!({ "status": status })),
            )
            .await
            .expect("status patched");
    }

    /// Plays the StatefulSet controller: every StatefulSet has its wanted pods ready.
    async fn backends_ready(&self) {
        for s in self
            .api::<StatefulSet>()
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
        {
            let n = s.spec.and_then(|s| s.replicas).unwrap_or(1);
            self.set_status::<StatefulSet>(
                &s.metadata.name.unwrap_or_default(),
                json!({"replicas": n, "readyReplicas": n}),
            )
            .await;
        }
    }

    async fn jobs_succeeded(&self) {
        for j in self.names::<Job>().await {
            self.set_status::<Job>(&j, json!({"succeeded": 1})).await;
        }
    }

    async fn deployments_ready(&self) {
        for d in self
            .api::<Deployment>()
            .list(&ListParams::default())
            .await
            .expect("list")
            .items
        {
            let n = d.spec.and_then(|s| s.replicas).unwrap_or(2);
            self.set_status::<Deployment>(
                &d.metadata.name.unwrap_or_default(),
                json!({"replicas": n, "readyReplicas": n}),
            )
            .await;
        }
    }

    /// Drives a fresh platform to Ready.
    async fn bring_up(&self) {
        self.reconcile_ok().await;
        self.backends_ready().await;
        self.reconcile_ok().await;
        self.jobs_succeeded().await;
        self.reconcile_ok().await;
        self.deployments_ready().await;
        self.reconcile_ok().await;
        self.log.take();
    }

    async fn phase(&self) -> Phase {
        self.platform()
            .await
            .status
            .map(|s| s.phase)
            .unwrap_or_default()
    }

    async fn condition(&self, t: &str) -> (String, String) {
        let st = self.platform().await.status.expect("status");
        let c = st
            .conditions
            .iter()
            .find(|c| c.type_ == t)
            .expect("condition");
        (c.status.clone(), format!("{:?}", c.last_transition_time))
    }
}

fn patched(log: &[String]) -> Vec<&str> {
    log.iter()
        .filter_map(|l| l.strip_prefix("patch "))
        .collect()
}

#[tokio::test]
async fn first_reconcile_creates_everything_in_order() {
    let e = env().await;

    // 1: identity, config, services and backends; nothing that needs a database yet.
    let out = e.reconcile_ok().await;
    assert!(out.writes > 0);
    assert_eq!(
        e.names::<StatefulSet>().await,
        [
            "dev-elasticsearch",
            "dev-mongodb",
            "dev-objects",
            "dev-postgres"
        ]
    );
    assert!(
        e.names::<Job>().await.is_empty(),
        "job created before backends were ready"
    );
    assert!(
        e.names::<Deployment>().await.is_empty(),
        "workloads created before migration"
    );
    assert!(e.names::<Ingress>().await.is_empty());
    assert_eq!(e.names::<ConfigMap>().await, ["dev-config"]);
    assert_eq!(
        e.names::<Secret>().await,
        ["dev-connections", "dev-credentials"]
    );
    let order = e.log.take();
    let at = |entry: &str| {
        order
            .iter()
            .position(|l| l == entry)
            .unwrap_or_else(|| panic!("{entry} not in {order:?}"))
    };
    assert!(
        at("patch ServiceAccount/dev") < at("patch ConfigMap/dev-config"),
        "{order:?}"
    );
    assert!(
        at("patch Secret/dev-credentials") < at("patch Service/dev-gateway"),
        "{order:?}"
    );
    assert!(
        at("patch NetworkPolicy/dev-postgres") < at("patch Service/dev-postgres"),
        "{order:?}"
    );
    assert!(
        at("patch Service/dev-worker") < at("patch StatefulSet/dev-postgres"),
        "{order:?}"
    );
    assert_eq!(
        order.last().map(String::as_str),
        Some("status dev"),
        "status is written last"
    );
    assert_eq!(e.phase().await, Phase::Provisioning);
    assert_eq!(e.condition("DatabasesReady").await.0, "False");

    // Still not ready: nothing new.
    let out = e.reconcile_ok().await;
    assert_eq!(out.writes, 0);
    assert!(e.names::<Job>().await.is_empty());

    // 2: backends ready → the migration Job, and still no workloads.
    e.backends_ready().await;
    e.reconcile_ok().await;
    let jobs = e.names::<Job>().await;
    assert_eq!(jobs.len(), 1);
    assert!(jobs[0].starts_with("dev-migrate-"));
    assert!(
        e.names::<Deployment>().await.is_empty(),
        "workloads created before the job finished"
    );
    assert_eq!(e.phase().await, Phase::Migrating);
    assert_eq!(e.condition("DatabasesReady").await.0, "True");
    assert_eq!(e.condition("MigrationsComplete").await.0, "False");

    // 3: job done → workloads and ingress.
    e.jobs_succeeded().await;
    e.reconcile_ok().await;
    assert_eq!(
        e.names::<Deployment>().await,
        [
            "dev-auth",
            "dev-gateway",
            "dev-genealogy",
            "dev-search",
            "dev-storage",
            "dev-worker"
        ]
    );
    assert_eq!(e.names::<Ingress>().await, ["dev"]);
    assert_eq!(e.condition("MigrationsComplete").await.0, "True");
    assert_eq!(e.condition("IndexMappingsApplied").await.0, "True");
    assert_eq!(e.phase().await, Phase::Provisioning);

    // 4: pods ready → Ready.
    e.deployments_ready().await;
    e.log.take();
    let out = e.reconcile_ok().await;
    assert_eq!(out.writes, 0);
    assert_eq!(e.phase().await, Phase::Ready);
    assert_eq!(e.condition("Ready").await.0, "True");
    let st = e.platform().await.status.expect("status");
    assert_eq!(st.version.as_deref(), Some("0.1.0"));
    assert_eq!(st.public_url.as_deref(), Some("http://dzinza.localtest.me"));
    assert_eq!(st.worker_replicas, 1);
    assert_eq!(st.components["gateway"].ready_replicas, 1);
    assert_eq!(
        st.observed_generation,
        e.platform().await.metadata.generation
    );
    assert_eq!(e.log.take(), ["status dev"], "only status was written");
}

#[tokio::test]
async fn second_reconcile_is_a_no_op() {
    let e = env().await;
    e.bring_up().await;
    let before = e.platform().await;
    let out = e.reconcile_ok().await;
    assert_eq!(out.writes, 0);
    assert!(!out.status_written);
    assert_eq!(
        e.log.take(),
        Vec::<String>::new(),
        "a second reconcile wrote something"
    );
    assert_eq!(
        e.platform().await.resource_version(),
        before.resource_version()
    );
}

#[tokio::test]
async fn changing_replicas_updates_only_that_service() {
    let e = env().await;
    e.bring_up().await;
    e.spec_patch(json!({"gateway": {"replicas": 3}})).await;
    e.reconcile_ok().await;
    // The gateway Deployment, and a new PodDisruptionBudget now that it has several pods.
    assert_eq!(
        patched(&e.log.take()),
        ["Deployment/dev-gateway", "PodDisruptionBudget/dev-gateway"]
    );
    let d = e
        .api::<Deployment>()
        .get("dev-gateway")
        .await
        .expect("gateway");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(3));
    assert_eq!(e.names::<PodDisruptionBudget>().await, ["dev-gateway"]);

    // kubectl scale dzinzaplatform/dev --replicas=4 sets spec.workers.replicas.
    e.spec_patch(json!({"workers": {"replicas": 4}})).await;
    e.reconcile_ok().await;
    assert_eq!(
        patched(&e.log.take()),
        ["Deployment/dev-worker", "PodDisruptionBudget/dev-worker"]
    );
    let w = e
        .api::<Deployment>()
        .get("dev-worker")
        .await
        .expect("worker");
    assert_eq!(w.spec.and_then(|s| s.replicas), Some(4));
}

#[tokio::test]
async fn new_version_migrates_before_rolling_workloads() {
    let e = env().await;
    e.bring_up().await;
    let old_job = e.names::<Job>().await;
    e.spec_patch(json!({"version": "0.2.0"})).await;
    e.reconcile_ok().await;
    // Only the new Job; Deployments still run 0.1.0.
    let log = e.log.take();
    let p = patched(&log);
    assert_eq!(p.len(), 1, "{log:?}");
    let job = p[0].strip_prefix("Job/").expect("a Job");
    assert!(job.starts_with("dev-migrate-") && !old_job.contains(&job.to_string()));
    let d = e
        .api::<Deployment>()
        .get("dev-gateway")
        .await
        .expect("gateway");
    assert!(format!("{:?}", d.spec).contains("dzinza:0.1.0"));
    assert_eq!(e.phase().await, Phase::Migrating);
    // Status still shows what serves users meanwhile: the old version.
    let st = e.platform().await.status.expect("status");
    assert_eq!(st.components["gateway"].version.as_deref(), Some("0.1.0"));
    assert_eq!(st.version.as_deref(), Some("0.1.0"));

    e.jobs_succeeded().await;
    e.reconcile_ok().await;
    let mut p: Vec<String> = patched(&e.log.take())
        .iter()
        .map(|s| s.to_string())
        .collect();
    p.sort();
    assert_eq!(
        p,
        [
            "Deployment/dev-auth",
            "Deployment/dev-gateway",
            "Deployment/dev-genealogy",
            "Deployment/dev-search",
            "Deployment/dev-storage",
            "Deployment/dev-worker"
        ]
    );
    let d = e
        .api::<Deployment>()
        .get("dev-gateway")
        .await
        .expect("gateway");
    assert!(format!("{:?}", d.spec).contains("dzinza:0.2.0"));
}

#[tokio::test]
async fn disabling_a_service_deletes_exactly_its_objects() {
    let e = env().await;
    e.bring_up().await;
    e.spec_patch(json!({"search": {"enabled": false}})).await;
    e.reconcile_ok().await;
    let log = e.log.take();
    let mut deleted: Vec<&str> = log
        .iter()
        .filter_map(|l| l.strip_prefix("delete "))
        .collect();
    deleted.sort();
    assert_eq!(deleted, ["dev-search", "dev-search"], "{log:?}");
    assert!(patched(&log).is_empty(), "{log:?}");
    assert!(
        !e.names::<Deployment>()
            .await
            .contains(&"dev-search".to_string())
    );
    assert!(
        !e.names::<Service>()
            .await
            .contains(&"dev-search".to_string())
    );
}

#[tokio::test]
async fn generated_secrets_survive_reconciles() {
    let e = env().await;
    e.reconcile_ok().await;
    let first = e
        .api::<Secret>()
        .get("dev-credentials")
        .await
        .expect("secret")
        .data;
    e.bring_up().await;
    e.spec_patch(json!({"gateway": {"replicas": 2}})).await;
    e.reconcile_ok().await;
    let later = e
        .api::<Secret>()
        .get("dev-credentials")
        .await
        .expect("secret")
        .data;
    assert_eq!(first, later);
    let pem = later
        .as_ref()
        .and_then(|d| d.get("jwt-signing-key.pem"))
        .expect("key");
    assert!(String::from_utf8_lossy(&pem.0).starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[tokio::test]
async fn stopped_scales_to_zero_and_keeps_volumes() {
    let pvc: PersistentVolumeClaim = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data-dev-postgres-0", "namespace": NS,
                     "labels": {"app.kubernetes.io/instance": "dev", "app.kubernetes.io/component": "postgres"}},
        "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "10Gi"}}}
    }))
    .expect("pvc");
    let e = env_with(minimal(), vec![serde_json::to_value(pvc).expect("json")]).await;
    e.bring_up().await;
    e.spec_patch(json!({"clusterOperation": {"stopped": true}}))
        .await;
    e.reconcile_ok().await;
    for s in e
        .api::<StatefulSet>()
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
    {
        assert_eq!(s.spec.and_then(|s| s.replicas), Some(0));
    }
    for d in e
        .api::<Deployment>()
        .list(&ListParams::default())
        .await
        .expect("list")
        .items
    {
        assert_eq!(d.spec.and_then(|s| s.replicas), Some(0));
    }
    assert_eq!(
        e.names::<PersistentVolumeClaim>().await,
        ["data-dev-postgres-0"]
    );
    assert_eq!(
        e.names::<Secret>().await,
        ["dev-connections", "dev-credentials"]
    );
    assert_eq!(e.phase().await, Phase::Stopped);
    assert_eq!(e.condition("Ready").await.0, "False");

    // Starting again brings the same objects back up without a new migration.
    e.spec_patch(json!({"clusterOperation": {"stopped": false}}))
        .await;
    e.reconcile_ok().await;
    assert_eq!(e.names::<Job>().await.len(), 1);
}

#[tokio::test]
async fn paused_applies_nothing_but_updates_status() {
    let e = env().await;
    e.bring_up().await;
    e.spec_patch(
        json!({"gateway": {"replicas": 5}, "clusterOperation": {"reconciliationPaused": true}}),
    )
    .await;
    let out = e.reconcile_ok().await;
    assert_eq!(out.writes, 0);
    assert_eq!(e.log.take(), ["status dev"]);
    let d = e
        .api::<Deployment>()
        .get("dev-gateway")
        .await
        .expect("gateway");
    assert_eq!(d.spec.and_then(|s| s.replicas), Some(1));
    let p = e.platform().await;
    let st = p.status.expect("status");
    assert_eq!(st.phase, Phase::Paused);
    assert_eq!(st.observed_generation, p.metadata.generation);
    assert_eq!(st.components["gateway"].ready_replicas, 1);
}

#[tokio::test]
async fn status_follows_the_children() {
    let e = env().await;
    e.bring_up().await;
    let (_, db_since) = e.condition("DatabasesReady").await;
    let (_, ready_since) = e.condition("Ready").await;
    // Condition times have one-second resolution.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    // A gateway pod stops being ready: Degraded, and only the conditions that changed move.
    e.set_status::<Deployment>("dev-gateway", json!({"replicas": 1, "readyReplicas": 0}))
        .await;
    e.reconcile_ok().await;
    assert_eq!(e.phase().await, Phase::Degraded);
    assert_eq!(e.condition("Ready").await.0, "False");
    assert_eq!(e.condition("Degraded").await.0, "True");
    assert_eq!(
        e.condition("DatabasesReady").await,
        ("True".to_string(), db_since)
    );
    assert_ne!(e.condition("Ready").await.1, ready_since);

    // A database pod goes away: DatabasesReady turns False.
    e.set_status::<StatefulSet>("dev-mongodb", json!({"replicas": 1, "readyReplicas": 0}))
        .await;
    e.reconcile_ok().await;
    assert_eq!(e.condition("DatabasesReady").await.0, "False");

    // A failed migration is Degraded with its reason.
    e.backends_ready().await;
    e.spec_patch(json!({"version": "0.3.0"})).await;
    e.reconcile_ok().await;
    for j in e.names::<Job>().await {
        e.set_status::<Job>(
            &j,
            json!({"failed": 4, "conditions": [{"type": "Failed", "status": "True"}]}),
        )
        .await;
    }
    let err = e
        .reconcile()
        .await
        .expect_err("failed migration is an error");
    assert_eq!(err.metric_label(), "migration_failed");
    assert_eq!(e.phase().await, Phase::Degraded);
}

#[tokio::test]
async fn missing_external_secret_is_reported() {
    let mut p = minimal();
    p.spec.postgres =
        serde_json::from_value(json!({"external": {"secretName": "pg"}})).expect("spec");
    let e = env_with(p, vec![]).await;
    let err = e.reconcile().await.expect_err("secret missing");
    assert_eq!(err.metric_label(), "missing_secret");
    let st = e.platform().await.status.expect("status");
    assert_eq!(st.phase, Phase::Degraded);
    let ready = st
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .expect("ready");
    assert_eq!(ready.reason, "SecretMissing");
    // Dereference fails before anything is applied.
    assert!(e.names::<StatefulSet>().await.is_empty());
}

#[tokio::test]
async fn retain_policy_keeps_generated_secrets_on_delete() {
    let e = env().await;
    e.bring_up().await;
    assert!(
        e.platform()
            .await
            .finalizers()
            .contains(&FINALIZER.to_string())
    );
    // The fake deletes at once and ignores finalizers, so play the API server's part: hand
    // the reconciler the resource as it looks once deletion was requested.
    let mut p = e.platform().await;
    p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::now(),
    ));
    reconcile_platform(&p, &e.ctx).await.expect("finalizes");
    let creds = e
        .api::<Secret>()
        .get("dev-credentials")
        .await
        .expect("kept");
    assert!(
        creds.owner_references().is_empty(),
        "still owned: GC would delete it"
    );
    let conns = e
        .api::<Secret>()
        .get("dev-connections")
        .await
        .expect("kept");
    assert!(conns.owner_references().is_empty());
    // Everything else stays owned and goes with the platform.
    let cm = e
        .api::<ConfigMap>()
        .get("dev-config")
        .await
        .expect("config");
    assert_eq!(cm.owner_references().len(), 1);
    assert!(
        !e.platform()
            .await
            .finalizers()
            .contains(&FINALIZER.to_string())
    );
}

#[tokio::test]
async fn delete_policy_needs_no_finalizer() {
    let mut p = minimal();
    p.spec.deletion_policy = dzinza_operator::types::DeletionPolicy::Delete;
    let e = env_with(p, vec![]).await;
    e.reconcile_ok().await;
    assert!(e.platform().await.finalizers().is_empty());
    let sts = e
        .api::<StatefulSet>()
        .get("dev-postgres")
        .await
        .expect("sts");
    let policy = sts
        .spec
        .and_then(|s| s.persistent_volume_claim_retention_policy)
        .expect("policy");
    assert_eq!(policy.when_deleted.as_deref(), Some("Delete"));
    // Switching to Retain adds the finalizer.
    e.spec_patch(json!({"deletionPolicy": "Retain"})).await;
    e.reconcile_ok().await;
    assert!(
        e.platform()
            .await
            .finalizers()
            .contains(&FINALIZER.to_string())
    );
}

#[tokio::test]
async fn autoscaled_workers_get_an_hpa_and_no_replicas() {
    let e = env().await;
    e.bring_up().await;
    e.spec_patch(json!({"workers": {"autoscaling": {"minReplicas": 2, "maxReplicas": 6}}}))
        .await;
    e.reconcile_ok().await;
    assert_eq!(e.names::<HorizontalPodAutoscaler>().await, ["dev-worker"]);
    // Turning autoscaling off again removes the HPA.
    e.spec_patch(json!({"workers": {"autoscaling": null}}))
        .await;
    e.reconcile_ok().await;
    assert!(e.names::<HorizontalPodAutoscaler>().await.is_empty());
}

#[tokio::test]
async fn immutable_fields_are_not_rewritten() {
    let e = env().await;
    e.reconcile_ok().await;
    e.backends_ready().await;
    e.reconcile_ok().await;
    let job = e.names::<Job>().await;
    assert_eq!(job.len(), 1);
    // A settings change while the migration runs must not touch the Job (its template is
    // immutable), and a new volume size must not touch the StatefulSet's claim template.
    e.spec_patch(json!({
        "observability": {"logLevel": "debug"},
        "postgres": {"managed": {"storageSize": "50Gi"}}
    }))
    .await;
    e.reconcile_ok().await;
    let log = e.log.take();
    assert!(!log.iter().any(|l| l.starts_with("patch Job/")), "{log:?}");
    let sts = e
        .api::<StatefulSet>()
        .get("dev-postgres")
        .await
        .expect("sts");
    let vct = sts
        .spec
        .and_then(|s| s.volume_claim_templates)
        .expect("vct");
    let size = vct[0]
        .spec
        .as_ref()
        .and_then(|s| s.resources.as_ref())
        .and_then(|r| r.requests.as_ref())
        .and_then(|r| r.get("storage"))
        .map(|q| q.0.clone());
    assert_eq!(size.as_deref(), Some("10Gi"));
    // And it settles: the next reconcile writes nothing.
    let out = e.reconcile_ok().await;
    assert_eq!(out.writes, 0, "{:?}", e.log.take());
}

#[tokio::test]
async fn significant_steps_are_recorded_as_events() {
    let mut e = env().await;
    e.ctx = Context::new(
        e.client.clone(),
        Some("test".into()),
        Arc::new(Metrics::default()),
        true,
    );
    e.reconcile_ok().await;
    e.backends_ready().await;
    e.reconcile_ok().await;
    e.jobs_succeeded().await;
    e.reconcile_ok().await;
    let events: Api<k8s_openapi::api::events::v1::Event> = Api::namespaced(e.client.clone(), NS);
    let reasons: Vec<String> = events
        .list(&ListParams::default())
        .await
        .expect("events")
        .items
        .into_iter()
        .filter_map(|ev| ev.reason)
        .collect();
    for want in ["Applied", "Provisioning", "Migrating", "MigrationSucceeded"] {
        assert!(
            reasons.iter().any(|r| r == want),
            "no {want} event in {reasons:?}"
        );
    }
}

#[test]
fn referenced_secrets_trigger_reconciles() {
    let mut p = minimal();
    p.metadata.uid = Some("uid".into());
    p.spec.postgres =
        serde_json::from_value(json!({"external": {"secretName": "pg"}})).expect("spec");
    p.spec.auth.smtp_secret_ref =
        Some(serde_json::from_value(json!({"name": "smtp"})).expect("ref"));
    use dzinza_operator::controller::references_secret;
    assert!(references_secret(&p, "pg"));
    assert!(references_secret(&p, "smtp"));
    assert!(!references_secret(&p, "unrelated"));
}

#[tokio::test]
async fn controller_runtime_reconciles_a_platform() {
    // The real Controller (watches, DeserializeGuard, owns, secret watch) over the fake API.
    let e = env().await;
    let ctx = Arc::new(Context::new(
        e.client.clone(),
        None,
        Arc::new(Metrics::default()),
        false,
    ));
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let opts = dzinza_operator::controller::RunOptions {
        namespace: Some(NS.into()),
        concurrency: 2,
    };
    let task = tokio::spawn(async move {
        dzinza_operator::controller::run_controller(ctx, &opts, async move {
            let _ = rx.await;
        })
        .await;
    });
    let start = std::time::Instant::now();
    let mut phase = None;
    while start.elapsed() < std::time::Duration::from_secs(20) {
        phase = e.platform().await.status.map(|s| s.phase);
        if phase.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = tx.send(());
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), task).await;
    assert_eq!(phase, Some(Phase::Provisioning));
    assert_eq!(e.names::<StatefulSet>().await.len(), 4);
}

#[tokio::test]
async fn operator_with_leader_election_takes_the_lease_and_reconciles() {
    let e = env().await;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let settings = dzinza_operator::run::Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        namespace: Some(NS.into()),
        concurrency: 2,
        leader_election_namespace: Some("dzinza-system".into()),
        lease_name: "dzinza-operator".into(),
        identity: "operator-0".into(),
    };
    let client = e.client.clone();
    let task = tokio::spawn(dzinza_operator::run::run_with(client, settings, stop_rx));
    let start = std::time::Instant::now();
    let mut phase = None;
    while start.elapsed() < std::time::Duration::from_secs(30) {
        phase = e.platform().await.status.map(|s| s.phase);
        if phase.is_some() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(e.client.clone(), "dzinza-system");
    let holder = leases
        .get("dzinza-operator")
        .await
        .ok()
        .and_then(|l| l.spec)
        .and_then(|s| s.holder_identity);
    let _ = stop_tx.send(true);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(15), task).await;
    assert_eq!(holder.as_deref(), Some("operator-0"));
    assert_eq!(phase, Some(Phase::Provisioning));
    assert!(ended.is_ok(), "operator did not stop");
}

#[tokio::test]
async fn a_second_replica_waits_while_the_leader_lives_and_the_leader_releases_on_stop() {
    let e = env().await;
    let settings = |id: &str| dzinza_operator::run::Settings {
        listen: "127.0.0.1:0".parse().expect("addr"),
        namespace: Some(NS.into()),
        concurrency: 2,
        leader_election_namespace: Some("dzinza-system".into()),
        lease_name: "dzinza-operator".into(),
        identity: id.into(),
    };
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> =
        Api::namespaced(e.client.clone(), "dzinza-system");
    let holder = || async {
        leases
            .get("dzinza-operator")
            .await
            .ok()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    };
    let wait_holder = |want: &'static str, secs: u64| {
        let holder = &holder;
        async move {
            let start = std::time::Instant::now();
            while start.elapsed() < std::time::Duration::from_secs(secs) {
                if holder().await.as_deref() == Some(want) {
                    return true;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            false
        }
    };
    let (stop_a, rx_a) = tokio::sync::watch::channel(false);
    let a = tokio::spawn(dzinza_operator::run::run_with(
        e.client.clone(),
        settings("a"),
        rx_a,
    ));
    assert!(wait_holder("a", 20).await, "a never led");
    let (stop_b, rx_b) = tokio::sync::watch::channel(false);
    let b = tokio::spawn(dzinza_operator::run::run_with(
        e.client.clone(),
        settings("b"),
        rx_b,
    ));
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(
        holder().await.as_deref(),
        Some("a"),
        "b took the lease from a live leader"
    );
    let _ = stop_a.send(true);
    let ended = tokio::time::timeout(std::time::Duration::from_secs(15), a).await;
    assert!(ended.is_ok(), "a did not stop");
    // A stopping leader releases the lease, so a standby need not wait for it to expire.
    // (The take-over itself depends on server-side apply field ownership, which the fake only
    // approximates; only a real cluster shows it, see docs/operator.md.)
    let spec = leases
        .get("dzinza-operator")
        .await
        .ok()
        .and_then(|l| l.spec);
    assert_eq!(
        spec.as_ref().and_then(|s| s.holder_identity.as_deref()),
        None
    );
    assert_eq!(spec.and_then(|s| s.lease_transitions), Some(1));
    let _ = stop_b.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(15), b).await;
}
