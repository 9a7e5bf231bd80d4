//! The `DzinzaPlatform` custom resource (`dzinza.io/v1alpha1`): spec, status and defaults.
//!
//! Doc comments on spec fields become the CRD's field descriptions (`kubectl explain`), so they
//! are written for the SRE who fills the resource in, not for the Rust reader.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Affinity, EnvVar, ResourceRequirements, Toleration};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// API group of every resource this operator defines.
pub const GROUP: &str = "dzinza.io";

/// Desired state of one Dzinza platform: its version, services, backends and operations.
#[derive(CustomResource, KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[kube(
    group = "dzinza.io",
    version = "v1alpha1",
    kind = "DzinzaPlatform",
    plural = "dzinzaplatforms",
    singular = "dzinzaplatform",
    namespaced,
    status = "DzinzaPlatformStatus",
    derive = "Default",
    shortname = "dzp",
    category = "dzinza",
    doc = "A complete Dzinza genealogy platform: services, workers, backends, migrations and ingress, managed by the dzinza-operator.",
    scale(
        spec_replicas_path = ".spec.workers.replicas",
        status_replicas_path = ".status.workerReplicas",
        label_selector_path = ".status.workerSelector"
    ),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Version", type_ = "string", json_path = ".spec.version"),
    printcolumn(name = "Workers", type_ = "integer", json_path = ".status.workerReplicas"),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp"),
    validation = kube::core::Rule::new("self.metadata.name.size() <= 38")
        .message("metadata.name must be at most 38 characters so every child's name fits")
)]
#[serde(rename_all = "camelCase")]
pub struct DzinzaPlatformSpec {
    /// Dzinza release to run; it is the image tag (for example `1.4.2`). Changing it runs the
    /// new release's migration Job first, then rolls every workload. Downgrading a semver
    /// version is refused: restore a backup taken before the upgrade instead.
    #[x_kube(validation = kube::core::Rule::new(
        "!isSemver(self) || !isSemver(oldSelf) || !semver(self).isLessThan(semver(oldSelf))"
    ).message("spec.version cannot be lowered: migrations only move forward; restore a backup to go back"))]
    #[schemars(length(min = 1))]
    pub version: String,

    /// Container image used for every Dzinza workload and the migration Job.
    #[serde(default)]
    pub image: ImageSpec,

    /// API gateway: the only service the Ingress talks to; it also serves the web app.
    #[serde(default)]
    pub gateway: ServiceSpec,

    /// Identity service (users, sessions, MFA, token signing) and its settings.
    #[serde(default)]
    pub auth: AuthSpec,

    /// Genealogy service: trees, persons, relationships, GEDCOM.
    #[serde(default)]
    pub genealogy: ServiceSpec,

    /// Storage service: uploads, thumbnails, signed downloads.
    #[serde(default)]
    pub storage: ServiceSpec,

    /// Search service: indexing, queries, suggestions.
    #[serde(default)]
    pub search: ServiceSpec,

    /// Background job workers (GEDCOM imports, indexing, thumbnails). `kubectl scale
    /// dzinzaplatform/NAME --replicas=N` sets `workers.replicas` through the /scale subresource.
    #[serde(default)]
    pub workers: WorkersSpec,

    /// Public HTTP entry. Without it no Ingress is created and the gateway Service is the entry.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress: Option<IngressSpec>,

    /// PostgreSQL (used by auth and jobs). Set exactly one of managed, external, cloudnativePg.
    #[serde(default = "PostgresSpec::default_managed")]
    pub postgres: PostgresSpec,

    /// MongoDB (trees, file metadata, search analytics). Set exactly one of managed, external.
    #[serde(default = "MongodbSpec::default_managed")]
    pub mongodb: MongodbSpec,

    /// Elasticsearch (search indexes). Set exactly one of managed, external, eck.
    #[serde(default = "ElasticsearchSpec::default_managed")]
    pub elasticsearch: ElasticsearchSpec,

    /// S3-compatible object storage (photos, documents). Set exactly one of managed, external.
    #[serde(default = "ObjectStorageSpec::default_managed")]
    pub object_storage: ObjectStorageSpec,

    /// Logging, tracing and metrics scraping.
    #[serde(default)]
    pub observability: ObservabilitySpec,

    /// Operational switches: stop the platform or pause reconciliation.
    #[serde(default)]
    pub cluster_operation: ClusterOperation,

    /// What happens to data when this resource is deleted. `Retain` (default) keeps the
    /// databases' PersistentVolumeClaims and the generated Secrets; `Delete` removes them.
    #[serde(default)]
    pub deletion_policy: DeletionPolicy,
}

impl Default for DzinzaPlatformSpec {
    fn default() -> Self {
        Self {
            version: String::new(),
            image: ImageSpec::default(),
            gateway: ServiceSpec::default(),
            auth: AuthSpec::default(),
            genealogy: ServiceSpec::default(),
            storage: ServiceSpec::default(),
            search: ServiceSpec::default(),
            workers: WorkersSpec::default(),
            ingress: None,
            postgres: PostgresSpec::default_managed(),
            mongodb: MongodbSpec::default_managed(),
            elasticsearch: ElasticsearchSpec::default_managed(),
            object_storage: ObjectStorageSpec::default_managed(),
            observability: ObservabilitySpec::default(),
            cluster_operation: ClusterOperation::default(),
            deletion_policy: DeletionPolicy::default(),
        }
    }
}

/// Where the Dzinza image comes from.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ImageSpec {
    /// Image repository without tag; the tag is `spec.version`.
    #[serde(default = "ImageSpec::default_repository")]
    pub repository: String,
    /// Kubernetes image pull policy.
    #[serde(default)]
    pub pull_policy: PullPolicy,
    /// Names of `kubernetes.io/dockerconfigjson` Secrets in this namespace used to pull images.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pull_secrets: Vec<String>,
}

impl ImageSpec {
    fn default_repository() -> String {
        "ghcr.io/dzinza/dzinza".into()
    }
}

impl Default for ImageSpec {
    fn default() -> Self {
        Self {
            repository: Self::default_repository(),
            pull_policy: PullPolicy::default(),
            pull_secrets: Vec::new(),
        }
    }
}

/// Kubernetes image pull policy.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Pull only when the node does not have the image.
    #[default]
    IfNotPresent,
    /// Pull on every pod start.
    Always,
    /// Never pull (image must be preloaded, e.g. `kind load docker-image`).
    Never,
}

impl PullPolicy {
    /// The value Kubernetes expects in `imagePullPolicy`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IfNotPresent => "IfNotPresent",
            Self::Always => "Always",
            Self::Never => "Never",
        }
    }
}

/// Sizing and placement of one Dzinza service.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpec {
    /// Set to false to not run this service at all; its Deployment, Service and
    /// PodDisruptionBudget are deleted. The gateway answers 503 for its routes.
    #[serde(default = "default_true")]
    pub enabled: bool,
    /// Number of pods. With 2 or more a PodDisruptionBudget keeps one available during drains.
    #[serde(default = "default_one")]
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// CPU and memory requests and limits of the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra environment variables, added after the operator's own (they win on a clash).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub env: Vec<EnvVar>,
    /// Node labels the pods must run on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub tolerations: Vec<Toleration>,
    /// Pod affinity and anti-affinity rules (a Kubernetes `Affinity` object, as in a pod spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "affinity_schema")]
    pub affinity: Option<Affinity>,
}

impl Default for ServiceSpec {
    fn default() -> Self {
        Self {
            enabled: true,
            replicas: 1,
            resources: None,
            env: Vec::new(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            affinity: None,
        }
    }
}

/// `Affinity` is kept free-form in the CRD: its full schema, repeated for every service, would
/// push the CRD past the size `kubectl apply` can handle. The API server still validates it when
/// it lands in a pod template.
fn affinity_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "nullable": true,
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

fn default_true() -> bool {
    true
}

fn default_one() -> i32 {
    1
}

/// The identity service: sizing plus token and MFA policy.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct AuthSpec {
    /// Sizing and placement of the auth service.
    #[serde(flatten)]
    pub service: ServiceSpec,
    /// Lifetime of access tokens (Go-style duration, e.g. `15m`). Short keeps revocation fast.
    #[serde(default = "AuthSpec::default_access_ttl")]
    pub access_token_ttl: String,
    /// Lifetime of refresh tokens (e.g. `720h`).
    #[serde(default = "AuthSpec::default_refresh_ttl")]
    pub refresh_token_ttl: String,
    /// Roles whose users must enrol a second factor before they can use the platform.
    #[serde(default = "AuthSpec::default_mfa_roles")]
    pub mfa_required_roles: Vec<String>,
    /// Secret key holding the SMTP URL (`smtp://user:pass@host:587`) for verification and
    /// invitation mail. Without it, mail is logged instead of sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smtp_secret_ref: Option<SecretKeyRef>,
}

impl AuthSpec {
    fn default_access_ttl() -> String {
        "15m".into()
    }
    fn default_refresh_ttl() -> String {
        "720h".into()
    }
    fn default_mfa_roles() -> Vec<String> {
        vec!["admin".into()]
    }
}

impl Default for AuthSpec {
    fn default() -> Self {
        Self {
            service: ServiceSpec::default(),
            access_token_ttl: Self::default_access_ttl(),
            refresh_token_ttl: Self::default_refresh_ttl(),
            mfa_required_roles: Self::default_mfa_roles(),
            smtp_secret_ref: None,
        }
    }
}

/// A key inside a Secret in the platform's namespace.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key inside the Secret.
    #[serde(default = "SecretKeyRef::default_key")]
    pub key: String,
}

impl SecretKeyRef {
    fn default_key() -> String {
        "url".into()
    }
}

/// Background workers and their autoscaling.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct WorkersSpec {
    /// Number of worker pods when autoscaling is off. Set by `kubectl scale`.
    #[serde(default = "default_one")]
    #[schemars(range(min = 0))]
    pub replicas: i32,
    /// Jobs each worker pod runs at once.
    #[serde(default = "WorkersSpec::default_concurrency")]
    #[schemars(range(min = 1, max = 256))]
    pub concurrency: i32,
    /// CPU and memory requests and limits of a worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
    /// Extra environment variables for workers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub env: Vec<EnvVar>,
    /// Node labels the worker pods must run on.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_selector: BTreeMap<String, String>,
    /// Taints the worker pods tolerate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "atomic"))]
    pub tolerations: Vec<Toleration>,
    /// Worker pod affinity rules (a Kubernetes `Affinity` object, as in a pod spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "affinity_schema")]
    pub affinity: Option<Affinity>,
    /// Scale workers on job queue depth. When set, a HorizontalPodAutoscaler owns the worker
    /// count and `replicas` is ignored. Needs a metrics adapter that serves the external metric
    /// `jobs_queue_depth` (see docs/operator.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<WorkerAutoscaling>,
}

impl WorkersSpec {
    fn default_concurrency() -> i32 {
        4
    }
}

impl Default for WorkersSpec {
    fn default() -> Self {
        Self {
            replicas: 1,
            concurrency: Self::default_concurrency(),
            resources: None,
            env: Vec::new(),
            node_selector: BTreeMap::new(),
            tolerations: Vec::new(),
            affinity: None,
            autoscaling: None,
        }
    }
}

/// Bounds for worker autoscaling on queue depth.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new("self.minReplicas <= self.maxReplicas")
    .message("workers.autoscaling.minReplicas must not exceed maxReplicas"))]
pub struct WorkerAutoscaling {
    /// Fewest worker pods, even with an empty queue.
    #[schemars(range(min = 1))]
    pub min_replicas: i32,
    /// Most worker pods, however long the queue.
    #[schemars(range(min = 1))]
    pub max_replicas: i32,
    /// Queued jobs one worker should have to itself; the autoscaler aims for
    /// `ceil(queue depth / this)` workers.
    #[serde(default = "WorkerAutoscaling::default_target")]
    #[schemars(range(min = 1))]
    pub target_queue_depth_per_worker: i32,
}

impl WorkerAutoscaling {
    fn default_target() -> i32 {
        10
    }
}

/// Public HTTP(S) entry through an Ingress controller.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct IngressSpec {
    /// Public host name, e.g. `family.example.org`. Also used for the public URL and token issuer.
    #[schemars(length(min = 1))]
    pub host: String,
    /// IngressClass to use; empty means the cluster default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class_name: Option<String>,
    /// Secret of type `kubernetes.io/tls` for the host. Set it to serve HTTPS (and send HSTS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_secret_name: Option<String>,
    /// Annotations for the Ingress (for example cert-manager or body-size settings).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A database the operator runs itself: one pod with a PersistentVolumeClaim. For dev and kind.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ManagedBackend {
    /// Size of the data volume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_size: Option<String>,
    /// StorageClass of the data volume; empty means the cluster default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
    /// Image override (defaults to a pinned upstream image).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// CPU and memory requests and limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

/// A backend run elsewhere; the operator only reads its connection URL from a Secret.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalBackend {
    /// Secret in this namespace holding the connection URL, with credentials.
    pub secret_name: String,
    /// Key of the URL inside the Secret.
    #[serde(default = "SecretKeyRef::default_key")]
    pub url_key: String,
}

/// PostgreSQL run by CloudNativePG (needs the `clusters.postgresql.cnpg.io` CRD).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct CloudNativePgBackend {
    /// PostgreSQL instances (1 primary plus replicas).
    #[serde(default = "default_one")]
    #[schemars(range(min = 1))]
    pub instances: i32,
    /// Size of each instance's volume.
    #[serde(default = "CloudNativePgBackend::default_size")]
    pub storage_size: String,
    /// StorageClass of the volumes; empty means the cluster default.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class_name: Option<String>,
}

impl CloudNativePgBackend {
    fn default_size() -> String {
        "10Gi".into()
    }
}

/// Elasticsearch run by ECK (needs the `elasticsearches.elasticsearch.k8s.elastic.co` CRD).
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct EckBackend {
    /// Elasticsearch version ECK runs.
    #[serde(default = "EckBackend::default_version")]
    pub version: String,
    /// Number of Elasticsearch nodes.
    #[serde(default = "default_one")]
    #[schemars(range(min = 1))]
    pub nodes: i32,
    /// Size of each node's volume.
    #[serde(default = "CloudNativePgBackend::default_size")]
    pub storage_size: String,
}

impl EckBackend {
    fn default_version() -> String {
        "8.15.3".into()
    }
}

/// How PostgreSQL is provided.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.managed) ? 1 : 0) + (has(self.external) ? 1 : 0) + (has(self.cloudnativePg) ? 1 : 0) == 1"
).message("postgres: set exactly one of managed, external, cloudnativePg"))]
pub struct PostgresSpec {
    /// Run a single PostgreSQL pod in this namespace (dev, kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedBackend>,
    /// Use an existing PostgreSQL; the Secret holds `postgres://user:pass@host:5432/db`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalBackend>,
    /// Create a CloudNativePG Cluster and use its application credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cloudnative_pg: Option<CloudNativePgBackend>,
}

impl PostgresSpec {
    fn default_managed() -> Self {
        Self {
            managed: Some(ManagedBackend::default()),
            external: None,
            cloudnative_pg: None,
        }
    }
}

/// How MongoDB is provided.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.managed) ? 1 : 0) + (has(self.external) ? 1 : 0) == 1"
).message("mongodb: set exactly one of managed, external"))]
pub struct MongodbSpec {
    /// Run a single-node MongoDB replica set (transactions and change streams work).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedBackend>,
    /// Use an existing MongoDB replica set; the Secret holds a `mongodb://` or `mongodb+srv://` URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalBackend>,
}

impl MongodbSpec {
    fn default_managed() -> Self {
        Self {
            managed: Some(ManagedBackend::default()),
            external: None,
        }
    }
}

/// How Elasticsearch is provided.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.managed) ? 1 : 0) + (has(self.external) ? 1 : 0) + (has(self.eck) ? 1 : 0) == 1"
).message("elasticsearch: set exactly one of managed, external, eck"))]
pub struct ElasticsearchSpec {
    /// Run a single Elasticsearch node (security off, reachable only from search and migrations).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedBackend>,
    /// Use an existing cluster; the Secret holds `https://user:pass@host:9200`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalBackend>,
    /// Create an ECK Elasticsearch resource and use its `elastic` user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eck: Option<EckBackend>,
}

impl ElasticsearchSpec {
    fn default_managed() -> Self {
        Self {
            managed: Some(ManagedBackend::default()),
            external: None,
            eck: None,
        }
    }
}

/// An S3 service run elsewhere.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ExternalObjectStorage {
    /// S3 endpoint URL, e.g. `https://s3.eu-west-1.amazonaws.com`.
    pub endpoint: String,
    /// Bucket holding Dzinza's objects. It must exist.
    pub bucket: String,
    /// Region of the bucket.
    #[serde(default = "ExternalObjectStorage::default_region")]
    pub region: String,
    /// Secret with keys `accessKeyId` and `secretAccessKey`.
    pub secret_name: String,
}

impl ExternalObjectStorage {
    fn default_region() -> String {
        "us-east-1".into()
    }
}

/// How S3-compatible object storage is provided.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = kube::core::Rule::new(
    "(has(self.managed) ? 1 : 0) + (has(self.external) ? 1 : 0) == 1"
).message("objectStorage: set exactly one of managed, external"))]
pub struct ObjectStorageSpec {
    /// Run a single MinIO pod with a volume (dev, kind).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed: Option<ManagedBackend>,
    /// Use an existing S3 service and bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external: Option<ExternalObjectStorage>,
}

impl ObjectStorageSpec {
    fn default_managed() -> Self {
        Self {
            managed: Some(ManagedBackend::default()),
            external: None,
        }
    }
}

/// Logs, traces and metrics.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ObservabilitySpec {
    /// Log level filter, e.g. `info` or `info,dzinza_auth=debug`.
    #[serde(default = "ObservabilitySpec::default_level")]
    pub log_level: String,
    /// Log format.
    #[serde(default)]
    pub log_format: LogFormat,
    /// OTLP/HTTP endpoint for traces, e.g. `http://otel-collector.observability:4318`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub otlp_endpoint: Option<String>,
    /// Create a Prometheus Operator ServiceMonitor for every service (only when its CRD exists).
    #[serde(default)]
    pub service_monitor: bool,
}

impl ObservabilitySpec {
    fn default_level() -> String {
        "info".into()
    }
}

impl Default for ObservabilitySpec {
    fn default() -> Self {
        Self {
            log_level: Self::default_level(),
            log_format: LogFormat::default(),
            otlp_endpoint: None,
            service_monitor: false,
        }
    }
}

/// Log output format.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (for log shippers).
    #[default]
    Json,
    /// Human-readable lines.
    Pretty,
}

impl LogFormat {
    /// The value `DZINZA_LOG_FORMAT` expects.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Pretty => "pretty",
        }
    }
}

/// Operational switches.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ClusterOperation {
    /// Scale every workload and managed database to zero. Volumes and Secrets are kept; set
    /// back to false to start again.
    #[serde(default)]
    pub stopped: bool,
    /// Stop changing anything in the cluster (for manual repairs). Status is still updated.
    #[serde(default)]
    pub reconciliation_paused: bool,
}

/// What happens to data when the DzinzaPlatform is deleted.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum DeletionPolicy {
    /// Keep database volumes and generated Secrets (the default; re-creating the resource
    /// with the same name picks them up again).
    #[default]
    Retain,
    /// Delete database volumes and generated Secrets with the resource.
    Delete,
}

/// Observed state of a DzinzaPlatform.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct DzinzaPlatformStatus {
    /// The spec generation this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// One-word summary of where the platform is.
    #[serde(default)]
    pub phase: Phase,
    /// Detailed conditions: Ready, DatabasesReady, MigrationsComplete, IndexMappingsApplied,
    /// Progressing, Degraded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
    /// Readiness of each component, keyed by component name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub components: BTreeMap<String, ComponentStatus>,
    /// Release whose migrations completed and that every workload runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Image whose migration Job succeeded (so a Job removed by its TTL is not run again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub migrated_image: Option<String>,
    /// URL users open.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_url: Option<String>,
    /// Worker pods currently running (the /scale subresource reads it).
    #[serde(default)]
    pub worker_replicas: i32,
    /// Label selector of the worker pods (the /scale subresource and HPAs read it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_selector: Option<String>,
}

/// Readiness of one component.
#[derive(KubeSchema, Serialize, Deserialize, Clone, Debug, PartialEq, Default)]
#[serde(rename_all = "camelCase")]
pub struct ComponentStatus {
    /// Pods that pass their readiness probe.
    pub ready_replicas: i32,
    /// Pods wanted.
    pub desired_replicas: i32,
    /// Image tag (or backend version) the component runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// One-word summary of the platform's state.
#[derive(JsonSchema, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Phase {
    /// Accepted, nothing created yet.
    #[default]
    Pending,
    /// Creating secrets, config and backends; waiting for databases.
    Provisioning,
    /// The migration Job of spec.version runs.
    Migrating,
    /// Every component is ready at spec.version.
    Ready,
    /// Something failed or is not ready; see the conditions.
    Degraded,
    /// clusterOperation.stopped: everything scaled to zero.
    Stopped,
    /// clusterOperation.reconciliationPaused: the operator changes nothing.
    Paused,
}

impl Phase {
    /// The phase as it appears in `kubectl get`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Provisioning => "Provisioning",
            Self::Migrating => "Migrating",
            Self::Ready => "Ready",
            Self::Degraded => "Degraded",
            Self::Stopped => "Stopped",
            Self::Paused => "Paused",
        }
    }
}
