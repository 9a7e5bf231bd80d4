//! The Dzinza workloads: one Deployment and Service per `dzinza serve --target`, the workers,
//! their PodDisruptionBudgets and the worker autoscaler.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, ExternalMetricSource, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerSpec, MetricIdentifier, MetricSpec, MetricTarget,
};
use k8s_openapi::api::core::v1::{
    ConfigMapEnvSource, Container, ContainerPort, EmptyDirVolumeSource, EnvFromSource, EnvVar,
    HTTPGetAction, KeyToPath, LocalObjectReference, PodSpec, PodTemplateSpec, Probe,
    ProjectedVolumeSource, ResourceRequirements, SecretProjection, Service, ServicePort,
    ServiceSpec as K8sServiceSpec, Volume, VolumeMount, VolumeProjection,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::backends::{self, SecretRef};
use super::{
    Ctx, DZINZA_UID, Desired, HTTP_PORT, config, hash_str, restricted_container_security,
    restricted_pod_security, secrets,
};
use crate::types::ServiceSpec;

/// Where secret files are mounted in Dzinza pods.
pub const SECRETS_DIR: &str = "/etc/dzinza/secrets";

/// A Dzinza target the operator deploys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// API gateway and SPA.
    Gateway,
    /// Identity.
    Auth,
    /// Trees and persons.
    Genealogy,
    /// Files.
    Storage,
    /// Search.
    Search,
    /// Background jobs and the jobs API.
    Worker,
}

impl Target {
    /// All targets.
    pub const ALL: [Target; 6] = [
        Target::Gateway,
        Target::Auth,
        Target::Genealogy,
        Target::Storage,
        Target::Search,
        Target::Worker,
    ];

    /// The `--target` value, component label and name suffix.
    pub fn name(self) -> &'static str {
        match self {
            Self::Gateway => "gateway",
            Self::Auth => "auth",
            Self::Genealogy => "genealogy",
            Self::Storage => "storage",
            Self::Search => "search",
            Self::Worker => "worker",
        }
    }
}

/// A secret mounted as a file and announced through a `*_FILE` variable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretFile {
    /// Environment variable naming the file.
    pub env: &'static str,
    /// Where the value is.
    pub source: SecretRef,
    /// File name under [`SECRETS_DIR`].
    pub file: &'static str,
}

fn file(env: &'static str, source: SecretRef, file: &'static str) -> SecretFile {
    SecretFile { env, source, file }
}

/// Secret files of the migration Job: every backend's credentials.
pub fn migration_secret_files(ctx: &Ctx) -> Vec<SecretFile> {
    let (ak, sk) = backends::s3_keys(ctx);
    vec![
        file(
            "DZINZA_AUTH_DATABASE_URL_FILE",
            backends::postgres_url(ctx),
            "auth-database-url",
        ),
        file(
            "DZINZA_JOBS_DATABASE_URL_FILE",
            backends::postgres_url(ctx),
            "jobs-database-url",
        ),
        file(
            "DZINZA_MONGODB_URL_FILE",
            backends::mongodb_url(ctx),
            "mongodb-url",
        ),
        file(
            "DZINZA_GENEALOGY_MONGODB_URL_FILE",
            backends::mongodb_url(ctx),
            "genealogy-mongodb-url",
        ),
        file(
            "DZINZA_ELASTICSEARCH_URL_FILE",
            backends::elasticsearch_url(ctx),
            "elasticsearch-url",
        ),
        file("DZINZA_S3_ACCESS_KEY_ID_FILE", ak, "s3-access-key-id"),
        file(
            "DZINZA_S3_SECRET_ACCESS_KEY_FILE",
            sk,
            "s3-secret-access-key",
        ),
    ]
}

/// Secret files a target needs, and nothing more (least privilege per pod).
pub fn secret_files(ctx: &Ctx, t: Target) -> Vec<SecretFile> {
    let creds = secrets::credentials_name(ctx);
    let mut files = vec![file(
        "DZINZA_INTERNAL_TOKEN_FILE",
        SecretRef {
            name: creds.clone(),
            key: secrets::INTERNAL_TOKEN.into(),
        },
        "internal-token",
    )];
    // Auth and jobs share the platform's PostgreSQL database (their tables and migration
    // tables are distinct) but each reads a setting of its own, so an SRE can split them.
    let pg = |env: &'static str, name: &'static str| file(env, backends::postgres_url(ctx), name);
    let mongo = || {
        file(
            "DZINZA_MONGODB_URL_FILE",
            backends::mongodb_url(ctx),
            "mongodb-url",
        )
    };
    match t {
        Target::Gateway => {}
        Target::Auth => {
            files.push(pg("DZINZA_AUTH_DATABASE_URL_FILE", "auth-database-url"));
            files.push(file(
                "DZINZA_JWT_SIGNING_KEY_FILE",
                SecretRef {
                    name: creds.clone(),
                    key: secrets::JWT_SIGNING_KEY.into(),
                },
                "jwt-signing-key.pem",
            ));
            files.push(file(
                "DZINZA_MFA_ENCRYPTION_KEY_FILE",
                SecretRef {
                    name: creds.clone(),
                    key: secrets::MFA_ENCRYPTION_KEY.into(),
                },
                "mfa-encryption-key",
            ));
            if let Some(smtp) = &ctx.p.spec.auth.smtp_secret_ref {
                files.push(file(
                    "DZINZA_SMTP_URL_FILE",
                    SecretRef {
                        name: smtp.name.clone(),
                        key: smtp.key.clone(),
                    },
                    "smtp-url",
                ));
            }
        }
        // Genealogy reads a setting of its own (as auth and jobs do for PostgreSQL), so an SRE
        // can point it at another MongoDB than the other document users.
        Target::Genealogy => files.push(file(
            "DZINZA_GENEALOGY_MONGODB_URL_FILE",
            backends::mongodb_url(ctx),
            "genealogy-mongodb-url",
        )),
        Target::Storage => {
            files.push(mongo());
            let (ak, sk) = backends::s3_keys(ctx);
            files.push(file("DZINZA_S3_ACCESS_KEY_ID_FILE", ak, "s3-access-key-id"));
            files.push(file(
                "DZINZA_S3_SECRET_ACCESS_KEY_FILE",
                sk,
                "s3-secret-access-key",
            ));
        }
        Target::Search => {
            files.push(file(
                "DZINZA_ELASTICSEARCH_URL_FILE",
                backends::elasticsearch_url(ctx),
                "elasticsearch-url",
            ));
            files.push(mongo());
        }
        Target::Worker => {
            files.push(pg("DZINZA_JOBS_DATABASE_URL_FILE", "jobs-database-url"));
            files.push(mongo());
        }
    }
    files
}

/// Names of every Secret the platform reads but does not own (the controller watches them).
pub fn referenced_secrets(ctx: &Ctx) -> Vec<String> {
    let owned = [
        secrets::credentials_name(ctx),
        secrets::connections_name(ctx),
    ];
    let mut names: Vec<String> = Target::ALL
        .iter()
        .flat_map(|t| secret_files(ctx, *t))
        .chain(migration_secret_files(ctx))
        .map(|f| f.source.name)
        .filter(|n| !owned.contains(n))
        .collect();
    names.sort();
    names.dedup();
    names
}

/// Sizing of a target, with the worker settings mapped onto the common shape.
fn service_spec(ctx: &Ctx, t: Target) -> ServiceSpec {
    let s = &ctx.p.spec;
    match t {
        Target::Gateway => s.gateway.clone(),
        Target::Auth => s.auth.service.clone(),
        Target::Genealogy => s.genealogy.clone(),
        Target::Storage => s.storage.clone(),
        Target::Search => s.search.clone(),
        Target::Worker => ServiceSpec {
            enabled: true,
            replicas: s.workers.replicas,
            resources: s.workers.resources.clone(),
            env: s.workers.env.clone(),
            node_selector: s.workers.node_selector.clone(),
            tolerations: s.workers.tolerations.clone(),
            affinity: s.workers.affinity.clone(),
        },
    }
}

/// Whether a target runs at all.
pub fn enabled(ctx: &Ctx, t: Target) -> bool {
    service_spec(ctx, t).enabled
}

/// Replicas the operator asks for, or `None` when an autoscaler owns the count.
pub fn desired_replicas(ctx: &Ctx, t: Target) -> Option<i32> {
    if ctx.stopped() {
        return Some(0);
    }
    if t == Target::Worker && ctx.p.spec.workers.autoscaling.is_some() {
        return None;
    }
    Some(service_spec(ctx, t).replicas)
}

fn http_probe(path: &str, period: i32, failure: i32) -> Probe {
    Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.into()),
            port: IntOrString::String("http".into()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        timeout_seconds: Some(3),
        failure_threshold: Some(failure),
        ..Probe::default()
    }
}

fn default_resources() -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), Quantity("100m".into())),
            ("memory".into(), Quantity("128Mi".into())),
        ])),
        limits: Some(BTreeMap::from([(
            "memory".into(),
            Quantity("512Mi".into()),
        )])),
        ..ResourceRequirements::default()
    }
}

/// Pod template shared by the Deployments and the migration Job.
pub struct PodParts<'a> {
    /// Component label.
    pub component: &'a str,
    /// `dzinza` arguments.
    pub args: Vec<String>,
    /// Secret files to mount.
    pub files: Vec<SecretFile>,
    /// Sizing and placement.
    pub spec: ServiceSpec,
    /// Pod restart policy (`Never` for the Job).
    pub restart_policy: Option<&'a str>,
    /// Whether to probe `/healthz` and `/readyz` (a Job has no server).
    pub probes: bool,
}

/// A restricted, read-only-root pod running the Dzinza image.
pub fn pod_template(ctx: &Ctx, parts: PodParts) -> PodTemplateSpec {
    let settings_hash = hash_str(&format!("{:?}", config::settings(ctx)));
    let mut env = vec![EnvVar {
        name: "OTEL_SERVICE_NAME".into(),
        value: Some(format!("dzinza-{}", parts.component)),
        ..EnvVar::default()
    }];
    for f in &parts.files {
        env.push(EnvVar {
            name: f.env.into(),
            value: Some(format!("{SECRETS_DIR}/{}", f.file)),
            ..EnvVar::default()
        });
    }
    env.extend(parts.spec.env.iter().cloned());

    // One projection per Secret, its keys mapped to the file names above.
    let mut by_secret: BTreeMap<String, Vec<KeyToPath>> = BTreeMap::new();
    for f in &parts.files {
        by_secret
            .entry(f.source.name.clone())
            .or_default()
            .push(KeyToPath {
                key: f.source.key.clone(),
                path: f.file.into(),
                mode: None,
            });
    }
    let projections = by_secret
        .into_iter()
        .map(|(name, items)| VolumeProjection {
            secret: Some(SecretProjection {
                name,
                items: Some(items),
                optional: Some(false),
            }),
            ..VolumeProjection::default()
        })
        .collect();

    let empty = |name: &str| Volume {
        name: name.into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    };
    let mount = |name: &str, path: &str, ro: bool| VolumeMount {
        name: name.into(),
        mount_path: path.into(),
        read_only: Some(ro).filter(|r| *r),
        ..VolumeMount::default()
    };
    let (liveness, readiness, startup) = if parts.probes {
        (
            Some(http_probe("/healthz", 10, 3)),
            Some(http_probe("/readyz", 5, 3)),
            Some(http_probe("/healthz", 2, 30)),
        )
    } else {
        (None, None, None)
    };
    let pull_secrets: Vec<LocalObjectReference> = ctx
        .p
        .spec
        .image
        .pull_secrets
        .iter()
        .map(|n| LocalObjectReference { name: n.clone() })
        .collect();
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some(ctx.versioned_labels(parts.component)),
            // A settings change must restart pods: env is read at start.
            annotations: Some(BTreeMap::from([(
                "dzinza.io/settings-hash".to_string(),
                settings_hash,
            )])),
            ..ObjectMeta::default()
        }),
        spec: Some(PodSpec {
            service_account_name: Some(ctx.name.clone()),
            automount_service_account_token: Some(false),
            enable_service_links: Some(false),
            security_context: Some(restricted_pod_security(DZINZA_UID)),
            image_pull_secrets: Some(pull_secrets).filter(|p| !p.is_empty()),
            node_selector: Some(parts.spec.node_selector.clone()).filter(|n| !n.is_empty()),
            tolerations: Some(parts.spec.tolerations.clone()).filter(|t| !t.is_empty()),
            affinity: parts.spec.affinity.clone(),
            restart_policy: parts.restart_policy.map(str::to_string),
            termination_grace_period_seconds: Some(30),
            containers: vec![Container {
                name: "dzinza".into(),
                image: Some(ctx.image()),
                image_pull_policy: Some(ctx.p.spec.image.pull_policy.as_str().into()),
                command: Some(vec!["/usr/local/bin/dzinza".into()]),
                args: Some(parts.args),
                env_from: Some(vec![EnvFromSource {
                    config_map_ref: Some(ConfigMapEnvSource {
                        name: config::config_map_name(ctx),
                        optional: Some(false),
                    }),
                    ..EnvFromSource::default()
                }]),
                env: Some(env),
                ports: Some(vec![ContainerPort {
                    name: Some("http".into()),
                    container_port: HTTP_PORT,
                    ..ContainerPort::default()
                }]),
                liveness_probe: liveness,
                readiness_probe: readiness,
                startup_probe: startup,
                resources: Some(
                    parts
                        .spec
                        .resources
                        .clone()
                        .unwrap_or_else(default_resources),
                ),
                security_context: Some(restricted_container_security(true)),
                volume_mounts: Some(vec![
                    mount("data", "/var/lib/dzinza", false),
                    mount("tmp", "/tmp", false),
                    mount("secrets", SECRETS_DIR, true),
                ]),
                ..Container::default()
            }],
            volumes: Some(vec![
                empty("data"),
                empty("tmp"),
                Volume {
                    name: "secrets".into(),
                    projected: Some(ProjectedVolumeSource {
                        // Group-readable: the pod's fsGroup owns the files.
                        default_mode: Some(0o440),
                        sources: Some(projections),
                    }),
                    ..Volume::default()
                },
            ]),
            ..PodSpec::default()
        }),
    }
}

fn deployment(ctx: &Ctx, t: Target) -> Deployment {
    let name = ctx.child(t.name());
    let mut metadata = ctx.meta(name, t.name());
    metadata.labels = Some(ctx.versioned_labels(t.name()));
    Deployment {
        metadata,
        spec: Some(DeploymentSpec {
            replicas: desired_replicas(ctx, t),
            selector: LabelSelector {
                match_labels: Some(ctx.selector(t.name())),
                ..LabelSelector::default()
            },
            template: pod_template(
                ctx,
                PodParts {
                    component: t.name(),
                    args: vec!["serve".into(), "--target".into(), t.name().into()],
                    files: secret_files(ctx, t),
                    spec: service_spec(ctx, t),
                    restart_policy: None,
                    probes: true,
                },
            ),
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

fn service(ctx: &Ctx, t: Target) -> Service {
    Service {
        metadata: ctx.meta(ctx.child(t.name()), t.name()),
        spec: Some(K8sServiceSpec {
            selector: Some(ctx.selector(t.name())),
            ports: Some(vec![ServicePort {
                name: Some("http".into()),
                port: HTTP_PORT,
                target_port: Some(IntOrString::String("http".into())),
                ..ServicePort::default()
            }]),
            ..K8sServiceSpec::default()
        }),
        ..Service::default()
    }
}

fn pdb(ctx: &Ctx, t: Target) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: ctx.meta(ctx.child(t.name()), t.name()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(ctx.selector(t.name())),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// External metric the worker autoscaler follows (the worker's `jobs_queue_depth` gauge,
/// served to the HPA by a metrics adapter).
pub const QUEUE_DEPTH_METRIC: &str = "jobs_queue_depth";

fn worker_hpa(ctx: &Ctx) -> Option<HorizontalPodAutoscaler> {
    let a = ctx.p.spec.workers.autoscaling.as_ref()?;
    if ctx.stopped() {
        return None;
    }
    let name = ctx.child(Target::Worker.name());
    Some(HorizontalPodAutoscaler {
        metadata: ctx.meta(name.clone(), Target::Worker.name()),
        spec: Some(HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".into()),
                kind: "Deployment".into(),
                name,
            },
            min_replicas: Some(a.min_replicas),
            max_replicas: a.max_replicas,
            metrics: Some(vec![MetricSpec {
                type_: "External".into(),
                external: Some(ExternalMetricSource {
                    metric: MetricIdentifier {
                        name: QUEUE_DEPTH_METRIC.into(),
                        selector: Some(LabelSelector {
                            match_labels: Some(BTreeMap::from([(
                                "app_kubernetes_io_instance".to_string(),
                                ctx.name.clone(),
                            )])),
                            ..LabelSelector::default()
                        }),
                    },
                    // AverageValue divides the queue by the worker count: ceil(depth / target).
                    target: MetricTarget {
                        type_: "AverageValue".into(),
                        average_value: Some(Quantity(a.target_queue_depth_per_worker.to_string())),
                        ..MetricTarget::default()
                    },
                }),
                ..MetricSpec::default()
            }]),
            ..HorizontalPodAutoscalerSpec::default()
        }),
        ..HorizontalPodAutoscaler::default()
    })
}

/// Renders Deployments, Services, PodDisruptionBudgets and the worker autoscaler.
pub fn render(ctx: &Ctx, d: &mut Desired) {
    for t in Target::ALL {
        if !enabled(ctx, t) {
            continue;
        }
        d.services.push(service(ctx, t));
        d.deployments.push(deployment(ctx, t));
        let spec = service_spec(ctx, t);
        let multi = match t {
            Target::Worker => match &ctx.p.spec.workers.autoscaling {
                Some(a) => a.min_replicas >= 2,
                None => spec.replicas >= 2,
            },
            _ => spec.replicas >= 2,
        };
        if multi && !ctx.stopped() {
            d.pod_disruption_budgets.push(pdb(ctx, t));
        }
    }
    d.autoscalers.extend(worker_hpa(ctx));
}
