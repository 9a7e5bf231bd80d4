//! Backends: single-node StatefulSets the operator runs itself (`managed`), wiring to existing
//! ones (`external`), and delegation to CloudNativePG and ECK.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{
    StatefulSet, StatefulSetPersistentVolumeClaimRetentionPolicy, StatefulSetSpec,
};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, ExecAction,
    HTTPGetAction, PersistentVolumeClaim, PersistentVolumeClaimSpec, PodSpec, PodTemplateSpec,
    Probe, ResourceRequirements, SecretKeySelector, Service, ServicePort, ServiceSpec, Volume,
    VolumeMount, VolumeResourceRequirements,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;

use super::{
    Ctx, Desired, Inputs, restricted_container_security, restricted_pod_security, secrets,
};
use crate::kinds::ChildKind;
use crate::types::{DeletionPolicy, ManagedBackend};
use crate::{Error, Result};

/// A backend the platform uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Backend {
    /// PostgreSQL.
    Postgres,
    /// MongoDB.
    Mongodb,
    /// Elasticsearch.
    Elasticsearch,
    /// S3-compatible object storage.
    ObjectStorage,
}

impl Backend {
    /// All backends.
    pub const ALL: [Backend; 4] = [
        Backend::Postgres,
        Backend::Mongodb,
        Backend::Elasticsearch,
        Backend::ObjectStorage,
    ];

    /// Component label and name suffix of the managed StatefulSet.
    pub fn component(self) -> &'static str {
        match self {
            Self::Postgres => "postgres",
            Self::Mongodb => "mongodb",
            Self::Elasticsearch => "elasticsearch",
            Self::ObjectStorage => "objects",
        }
    }

    /// Port the backend listens on.
    pub fn port(self) -> i32 {
        match self {
            Self::Postgres => 5432,
            Self::Mongodb => 27017,
            Self::Elasticsearch => 9200,
            Self::ObjectStorage => 9000,
        }
    }

    /// Components allowed to reach this backend (its owners, and the migration Job).
    pub fn clients(self) -> &'static [&'static str] {
        match self {
            Self::Postgres => &["auth", "worker", "migration"],
            Self::Mongodb => &["genealogy", "storage", "search", "worker", "migration"],
            Self::Elasticsearch => &["search", "migration"],
            Self::ObjectStorage => &["storage", "migration"],
        }
    }

    /// The managed settings, if this backend is managed.
    pub fn managed<'a>(self, ctx: &'a Ctx) -> Option<&'a ManagedBackend> {
        let s = &ctx.p.spec;
        match self {
            Self::Postgres => s.postgres.managed.as_ref(),
            Self::Mongodb => s.mongodb.managed.as_ref(),
            Self::Elasticsearch => s.elasticsearch.managed.as_ref(),
            Self::ObjectStorage => s.object_storage.managed.as_ref(),
        }
    }

    fn default_image(self) -> &'static str {
        match self {
            Self::Postgres => "docker.io/library/postgres:17.6-bookworm",
            Self::Mongodb => "docker.io/library/mongo:8.0.13",
            Self::Elasticsearch => "docker.elastic.co/elasticsearch/elasticsearch:8.15.3",
            Self::ObjectStorage => "quay.io/minio/minio:RELEASE.2025-04-22T22-12-26Z",
        }
    }

    fn uid(self) -> i64 {
        match self {
            Self::Postgres | Self::Mongodb => 999,
            Self::Elasticsearch | Self::ObjectStorage => 1000,
        }
    }

    fn data_path(self) -> &'static str {
        match self {
            Self::Postgres => "/var/lib/postgresql/data",
            Self::Mongodb => "/data/db",
            Self::Elasticsearch => "/usr/share/elasticsearch/data",
            Self::ObjectStorage => "/data",
        }
    }

    fn default_size(self) -> &'static str {
        match self {
            Self::ObjectStorage => "20Gi",
            _ => "10Gi",
        }
    }
}

/// A key inside a Secret, where a service finds a credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    /// Secret name.
    pub name: String,
    /// Key inside it.
    pub key: String,
}

fn sref(name: impl Into<String>, key: impl Into<String>) -> SecretRef {
    SecretRef {
        name: name.into(),
        key: key.into(),
    }
}

/// Name of the CloudNativePG Cluster.
pub fn cnpg_name(ctx: &Ctx) -> String {
    ctx.child("pg")
}

/// Name of the ECK Elasticsearch.
pub fn eck_name(ctx: &Ctx) -> String {
    ctx.child("es")
}

/// Secret ECK creates with the `elastic` user's password.
pub fn eck_user_secret(ctx: &Ctx) -> String {
    format!("{}-es-elastic-user", eck_name(ctx))
}

/// Where the PostgreSQL URL is.
pub fn postgres_url(ctx: &Ctx) -> SecretRef {
    let pg = &ctx.p.spec.postgres;
    match (&pg.external, &pg.cloudnative_pg) {
        (Some(e), _) => sref(&e.secret_name, &e.url_key),
        // CloudNativePG writes the application user's URI into `<cluster>-app`.
        (None, Some(_)) => sref(format!("{}-app", cnpg_name(ctx)), "uri"),
        (None, None) => sref(secrets::connections_name(ctx), secrets::POSTGRES_URL),
    }
}

/// Where the MongoDB URL is.
pub fn mongodb_url(ctx: &Ctx) -> SecretRef {
    match &ctx.p.spec.mongodb.external {
        Some(e) => sref(&e.secret_name, &e.url_key),
        None => sref(secrets::connections_name(ctx), secrets::MONGODB_URL),
    }
}

/// Where the Elasticsearch URL is.
pub fn elasticsearch_url(ctx: &Ctx) -> SecretRef {
    match &ctx.p.spec.elasticsearch.external {
        Some(e) => sref(&e.secret_name, &e.url_key),
        None => sref(secrets::connections_name(ctx), secrets::ELASTICSEARCH_URL),
    }
}

/// Where the S3 access key id and secret key are.
pub fn s3_keys(ctx: &Ctx) -> (SecretRef, SecretRef) {
    match &ctx.p.spec.object_storage.external {
        Some(e) => (
            sref(&e.secret_name, "accessKeyId"),
            sref(&e.secret_name, "secretAccessKey"),
        ),
        None => {
            let c = secrets::credentials_name(ctx);
            (
                sref(&c, secrets::S3_ACCESS_KEY_ID),
                sref(&c, secrets::S3_SECRET_ACCESS_KEY),
            )
        }
    }
}

/// Non-secret location of the object store.
pub struct S3Location {
    /// Endpoint URL.
    pub endpoint: String,
    /// Bucket.
    pub bucket: String,
    /// Region.
    pub region: String,
    /// Whether the platform creates the bucket (managed MinIO starts empty).
    pub create_bucket: bool,
}

/// Where objects are stored.
pub fn object_storage_location(ctx: &Ctx) -> S3Location {
    match &ctx.p.spec.object_storage.external {
        Some(e) => S3Location {
            endpoint: e.endpoint.clone(),
            bucket: e.bucket.clone(),
            region: e.region.clone(),
            create_bucket: false,
        },
        None => S3Location {
            endpoint: format!(
                "http://{}:{}",
                ctx.child(Backend::ObjectStorage.component()),
                Backend::ObjectStorage.port()
            ),
            bucket: "dzinza".into(),
            region: "us-east-1".into(),
            create_bucket: true,
        },
    }
}

/// Connection URLs the operator knows because it runs (or delegated) the backend.
pub fn derived_urls(ctx: &Ctx, inputs: &Inputs) -> BTreeMap<&'static str, String> {
    let spec = &ctx.p.spec;
    let mut urls = BTreeMap::new();
    if spec.postgres.managed.is_some() {
        urls.insert(
            secrets::POSTGRES_URL,
            format!(
                "postgres://dzinza:{}@{}:5432/dzinza",
                inputs.credentials.postgres_password,
                ctx.child("postgres")
            ),
        );
    }
    if spec.mongodb.managed.is_some() {
        urls.insert(
            secrets::MONGODB_URL,
            format!("mongodb://{}/dzinza?replicaSet=rs0", mongodb_member(ctx)),
        );
    }
    if spec.elasticsearch.managed.is_some() {
        urls.insert(
            secrets::ELASTICSEARCH_URL,
            format!("http://{}:9200", ctx.child("elasticsearch")),
        );
    }
    if spec.elasticsearch.eck.is_some()
        && let Some(pw) = &inputs.eck_elastic_password
    {
        urls.insert(
            secrets::ELASTICSEARCH_URL,
            format!("http://elastic:{pw}@{}-es-http:9200", eck_name(ctx)),
        );
    }
    urls
}

/// Host:port of the single MongoDB replica-set member (stable DNS from the headless Service).
fn mongodb_member(ctx: &Ctx) -> String {
    let n = ctx.child("mongodb");
    format!("{n}-0.{n}.{}.svc:27017", ctx.namespace)
}

/// Renders the managed StatefulSets and their Services, and the delegated resources.
pub fn render(ctx: &Ctx, inputs: &Inputs, d: &mut Desired) -> Result<()> {
    for b in Backend::ALL {
        if let Some(m) = b.managed(ctx) {
            d.services.push(headless_service(ctx, b));
            d.stateful_sets.push(stateful_set(ctx, b, m));
        }
    }
    if let Some(c) = &ctx.p.spec.postgres.cloudnative_pg {
        if !inputs.crds.cnpg {
            return Err(Error::MissingCrd(
                ChildKind::CnpgCluster.required_crd().unwrap_or_default(),
            ));
        }
        let mut storage = json!({ "size": c.storage_size });
        if let Some(sc) = &c.storage_class_name {
            storage["storageClass"] = json!(sc);
        }
        let instances = if ctx.stopped() { 0 } else { c.instances };
        let mut spec = json!({
            "instances": c.instances,
            "storage": storage,
            "bootstrap": { "initdb": { "database": "dzinza", "owner": "dzinza" } },
        });
        if instances == 0 {
            // CloudNativePG's own hibernation keeps the PVCs and stops the pods.
            d.delegated.push((
                ChildKind::CnpgCluster,
                delegated_object(
                    ctx,
                    ChildKind::CnpgCluster,
                    cnpg_name(ctx),
                    spec,
                    Some(("cnpg.io/hibernation", "on")),
                ),
            ));
        } else {
            spec["instances"] = json!(instances);
            d.delegated.push((
                ChildKind::CnpgCluster,
                delegated_object(ctx, ChildKind::CnpgCluster, cnpg_name(ctx), spec, None),
            ));
        }
    }
    if let Some(e) = &ctx.p.spec.elasticsearch.eck {
        if !inputs.crds.eck {
            return Err(Error::MissingCrd(
                ChildKind::EckElasticsearch
                    .required_crd()
                    .unwrap_or_default(),
            ));
        }
        let count = if ctx.stopped() { 0 } else { e.nodes };
        let spec = json!({
            "version": e.version,
            // Plain HTTP inside the cluster so services need no ECK CA; access still needs the
            // `elastic` user's password, which ECK generates.
            "http": { "tls": { "selfSignedCertificate": { "disabled": true } } },
            "nodeSets": [{
                "name": "default",
                "count": count,
                "config": { "node.store.allow_mmap": false },
                "volumeClaimTemplates": [{
                    "metadata": { "name": "elasticsearch-data" },
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "resources": { "requests": { "storage": e.storage_size } },
                    },
                }],
            }],
        });
        d.delegated.push((
            ChildKind::EckElasticsearch,
            delegated_object(ctx, ChildKind::EckElasticsearch, eck_name(ctx), spec, None),
        ));
    }
    Ok(())
}

fn delegated_object(
    ctx: &Ctx,
    kind: ChildKind,
    name: String,
    spec: serde_json::Value,
    annotation: Option<(&str, &str)>,
) -> serde_json::Value {
    let mut meta = ctx.meta(name, "database");
    if let Some((k, v)) = annotation {
        meta.annotations = Some(BTreeMap::from([(k.to_string(), v.to_string())]));
    }
    let (_, _, kind_name, _) = kind.gvkp();
    json!({
        "apiVersion": kind.api_version(),
        "kind": kind_name,
        "metadata": meta,
        "spec": spec,
    })
}

fn headless_service(ctx: &Ctx, b: Backend) -> Service {
    Service {
        metadata: ctx.meta(ctx.child(b.component()), b.component()),
        spec: Some(ServiceSpec {
            cluster_ip: Some("None".into()),
            // The MongoDB member must resolve its own name before it is ready, to initiate
            // its replica set; harmless for the others.
            publish_not_ready_addresses: Some(true),
            selector: Some(ctx.selector(b.component())),
            ports: Some(vec![ServicePort {
                name: Some(b.component().into()),
                port: b.port(),
                target_port: Some(IntOrString::Int(b.port())),
                ..ServicePort::default()
            }]),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn quantity(s: &str) -> Quantity {
    Quantity(s.to_string())
}

fn default_resources(b: Backend) -> ResourceRequirements {
    let (cpu, mem, limit) = match b {
        Backend::Elasticsearch => ("250m", "1Gi", "2Gi"),
        _ => ("100m", "256Mi", "1Gi"),
    };
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), quantity(cpu)),
            ("memory".into(), quantity(mem)),
        ])),
        limits: Some(BTreeMap::from([("memory".into(), quantity(limit))])),
        ..ResourceRequirements::default()
    }
}

fn secret_env(name: &str, r: &SecretRef) -> EnvVar {
    EnvVar {
        name: name.into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: r.name.clone(),
                key: r.key.clone(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.into(),
        value: Some(value.into()),
        ..EnvVar::default()
    }
}

fn exec_probe(cmd: &[&str], period: i32, failure: i32) -> Probe {
    Probe {
        exec: Some(ExecAction {
            command: Some(cmd.iter().map(|s| s.to_string()).collect()),
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failure),
        ..Probe::default()
    }
}

fn http_probe(path: &str, port: i32, period: i32, failure: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::Int(port),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(5),
        failure_threshold: Some(failure),
        ..Probe::default()
    }
}

/// The container of a managed backend: image, args, env and probes per engine.
fn backend_container(ctx: &Ctx, b: Backend, m: &ManagedBackend) -> Container {
    let creds = secrets::credentials_name(ctx);
    let (args, envs, readiness, liveness) = match b {
        Backend::Postgres => (
            None,
            vec![
                env("POSTGRES_USER", "dzinza"),
                env("POSTGRES_DB", "dzinza"),
                env("PGDATA", "/var/lib/postgresql/data/pgdata"),
                secret_env(
                    "POSTGRES_PASSWORD",
                    &sref(&creds, secrets::POSTGRES_PASSWORD),
                ),
            ],
            exec_probe(
                &[
                    "pg_isready",
                    "-U",
                    "dzinza",
                    "-d",
                    "dzinza",
                    "-h",
                    "127.0.0.1",
                ],
                10,
                3,
            ),
            exec_probe(
                &[
                    "pg_isready",
                    "-U",
                    "dzinza",
                    "-d",
                    "dzinza",
                    "-h",
                    "127.0.0.1",
                ],
                20,
                6,
            ),
        ),
        Backend::Mongodb => {
            let member = mongodb_member(ctx);
            // Readiness doubles as the one-time `rs.initiate`: a single-node replica set gives
            // the services transactions and change streams.
            let init = format!(
                "try {{ rs.status().ok }} catch (e) {{ rs.initiate({{_id: 'rs0', members: [{{_id: 0, host: '{member}'}}]}}).ok }}"
            );
            (
                Some(vec![
                    "--replSet".to_string(),
                    "rs0".into(),
                    "--bind_ip_all".into(),
                ]),
                vec![],
                Probe {
                    exec: Some(ExecAction {
                        command: Some(vec![
                            "mongosh".into(),
                            "--quiet".into(),
                            "--eval".into(),
                            init,
                        ]),
                    }),
                    period_seconds: Some(10),
                    timeout_seconds: Some(10),
                    failure_threshold: Some(6),
                    ..Probe::default()
                },
                exec_probe(
                    &["mongosh", "--quiet", "--eval", "db.adminCommand('ping').ok"],
                    20,
                    6,
                ),
            )
        }
        Backend::Elasticsearch => (
            None,
            vec![
                env("discovery.type", "single-node"),
                env("xpack.security.enabled", "false"),
                env("node.store.allow_mmap", "false"),
                env("ES_JAVA_OPTS", "-Xms512m -Xmx512m"),
            ],
            http_probe("/_cluster/health?local=true", 9200, 10, 6),
            http_probe("/", 9200, 20, 6),
        ),
        Backend::ObjectStorage => (
            Some(vec![
                "server".to_string(),
                "/data".into(),
                "--console-address".into(),
                ":9001".into(),
            ]),
            vec![
                secret_env("MINIO_ROOT_USER", &sref(&creds, secrets::S3_ACCESS_KEY_ID)),
                secret_env(
                    "MINIO_ROOT_PASSWORD",
                    &sref(&creds, secrets::S3_SECRET_ACCESS_KEY),
                ),
            ],
            http_probe("/minio/health/ready", 9000, 10, 3),
            http_probe("/minio/health/live", 9000, 20, 6),
        ),
    };
    let mut mounts = vec![VolumeMount {
        name: "data".into(),
        mount_path: b.data_path().into(),
        ..VolumeMount::default()
    }];
    mounts.push(VolumeMount {
        name: "tmp".into(),
        mount_path: "/tmp".into(),
        ..VolumeMount::default()
    });
    if b == Backend::Postgres {
        mounts.push(VolumeMount {
            name: "run".into(),
            mount_path: "/var/run/postgresql".into(),
            ..VolumeMount::default()
        });
    }
    Container {
        name: b.component().into(),
        image: Some(m.image.clone().unwrap_or_else(|| b.default_image().into())),
        args,
        env: Some(envs).filter(|e| !e.is_empty()),
        ports: Some(vec![ContainerPort {
            name: Some(b.component().chars().take(15).collect()),
            container_port: b.port(),
            ..ContainerPort::default()
        }]),
        readiness_probe: Some(readiness),
        liveness_probe: Some(liveness),
        resources: Some(m.resources.clone().unwrap_or_else(|| default_resources(b))),
        // Restricted profile; the upstream images write outside their data dir, so the root
        // filesystem stays writable for them (restricted does not require read-only).
        security_context: Some(restricted_container_security(false)),
        volume_mounts: Some(mounts),
        ..Container::default()
    }
}

fn stateful_set(ctx: &Ctx, b: Backend, m: &ManagedBackend) -> StatefulSet {
    let name = ctx.child(b.component());
    let mut volumes = vec![Volume {
        name: "tmp".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }];
    if b == Backend::Postgres {
        volumes.push(Volume {
            name: "run".into(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        });
    }
    let retention = match ctx.p.spec.deletion_policy {
        DeletionPolicy::Retain => "Retain",
        DeletionPolicy::Delete => "Delete",
    };
    StatefulSet {
        metadata: ctx.meta(name.clone(), b.component()),
        spec: Some(StatefulSetSpec {
            replicas: Some(if ctx.stopped() { 0 } else { 1 }),
            service_name: Some(name),
            selector: LabelSelector {
                match_labels: Some(ctx.selector(b.component())),
                ..LabelSelector::default()
            },
            // deletionPolicy decides whether the data volume outlives the platform.
            persistent_volume_claim_retention_policy: Some(
                StatefulSetPersistentVolumeClaimRetentionPolicy {
                    when_deleted: Some(retention.into()),
                    when_scaled: Some("Retain".into()),
                },
            ),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(ctx.labels(b.component())),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    enable_service_links: Some(false),
                    security_context: Some(restricted_pod_security(b.uid())),
                    containers: vec![backend_container(ctx, b, m)],
                    volumes: Some(volumes),
                    termination_grace_period_seconds: Some(30),
                    ..PodSpec::default()
                }),
            },
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: ObjectMeta {
                    name: Some("data".into()),
                    labels: Some(ctx.labels(b.component())),
                    ..ObjectMeta::default()
                },
                spec: Some(PersistentVolumeClaimSpec {
                    access_modes: Some(vec!["ReadWriteOnce".into()]),
                    storage_class_name: m.storage_class_name.clone(),
                    resources: Some(VolumeResourceRequirements {
                        requests: Some(BTreeMap::from([(
                            "storage".into(),
                            quantity(m.storage_size.as_deref().unwrap_or(b.default_size())),
                        )])),
                        ..VolumeResourceRequirements::default()
                    }),
                    ..PersistentVolumeClaimSpec::default()
                }),
                ..PersistentVolumeClaim::default()
            }]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}
