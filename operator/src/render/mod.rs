//! Build: the pure half of the reconcile. A validated spec and the dereferenced inputs go in,
//! every desired object comes out. Nothing here talks to the cluster, so all of it is unit- and
//! snapshot-tested.

pub mod backends;
pub mod config;
pub mod ingress;
pub mod migration;
pub mod monitoring;
pub mod policy;
pub mod secrets;
pub mod workloads;

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMap, PodSecurityContext, SeccompProfile, Secret, SecurityContext, Service,
    ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::{Resource, ResourceExt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::kinds::ChildKind;
use crate::types::DzinzaPlatform;
use crate::{Error, Result};

/// Field manager of every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "dzinza-operator";
/// Value of `app.kubernetes.io/managed-by` on every child.
pub const MANAGED_BY: &str = "dzinza-operator";
/// Annotation holding the hash of what the operator last applied (see `apply`).
pub const APPLIED_HASH: &str = "dzinza.io/applied-hash";
/// Port every Dzinza target listens on.
pub const HTTP_PORT: i32 = 8080;
/// UID/GID the Dzinza image runs as (distroless `nonroot`).
pub const DZINZA_UID: i64 = 65532;

/// Secrets generated once and then preserved, read back by `dereference`.
#[derive(Clone, Debug, PartialEq)]
pub struct GeneratedCredentials {
    /// Token services present to each other on internal endpoints.
    pub internal_token: String,
    /// PEM PKCS#8 Ed25519 private key auth signs access tokens with.
    pub jwt_signing_key_pem: String,
    /// Base64 of the 32-byte key auth encrypts TOTP secrets at rest with.
    pub mfa_encryption_key: String,
    /// Password of the managed PostgreSQL superuser.
    pub postgres_password: String,
    /// Access key of the managed MinIO.
    pub s3_access_key_id: String,
    /// Secret key of the managed MinIO.
    pub s3_secret_access_key: String,
}

/// Which optional operators' CRDs exist in the cluster.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrdPresence {
    /// CloudNativePG `clusters.postgresql.cnpg.io`.
    pub cnpg: bool,
    /// ECK `elasticsearches.elasticsearch.k8s.elastic.co`.
    pub eck: bool,
    /// Prometheus Operator `servicemonitors.monitoring.coreos.com`.
    pub service_monitor: bool,
}

/// Everything build needs besides the resource itself, read from the cluster by `dereference`.
#[derive(Clone, Debug, PartialEq)]
pub struct Inputs {
    /// Generated secrets (existing values, or fresh ones on first reconcile).
    pub credentials: GeneratedCredentials,
    /// Password of ECK's `elastic` user, once ECK has created it.
    pub eck_elastic_password: Option<String>,
    /// Optional CRDs present.
    pub crds: CrdPresence,
    /// Whether the migration Job of the current image already completed (recorded in status),
    /// so a Job removed by its TTL is not run again.
    pub migration_done: bool,
}

/// Every object the platform needs, grouped by apply stage.
#[derive(Clone, Debug, Default)]
pub struct Desired {
    /// Identity: the workloads' ServiceAccount.
    pub service_account: Option<ServiceAccount>,
    /// Non-secret settings shared by every workload.
    pub config_map: Option<ConfigMap>,
    /// Generated credentials and connection URLs.
    pub secrets: Vec<Secret>,
    /// Data-tier NetworkPolicies.
    pub network_policies: Vec<NetworkPolicy>,
    /// Services of workloads and managed backends.
    pub services: Vec<Service>,
    /// Managed backends.
    pub stateful_sets: Vec<StatefulSet>,
    /// Backends delegated to other operators (CloudNativePG Cluster, ECK Elasticsearch).
    pub delegated: Vec<(ChildKind, serde_json::Value)>,
    /// Migration Job of this version (absent when already done or stopped).
    pub migration: Option<Job>,
    /// One Deployment per Dzinza target and the workers.
    pub deployments: Vec<Deployment>,
    /// Disruption budgets of multi-replica services.
    pub pod_disruption_budgets: Vec<PodDisruptionBudget>,
    /// Worker autoscaler.
    pub autoscalers: Vec<HorizontalPodAutoscaler>,
    /// Public entry.
    pub ingress: Option<Ingress>,
    /// Prometheus Operator ServiceMonitors.
    pub service_monitors: Vec<serde_json::Value>,
}

/// One rendered object in its wire form, ready for server-side apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Rendered {
    /// Its kind.
    pub kind: ChildKind,
    /// Its name.
    pub name: String,
    /// The full manifest (apiVersion, kind, metadata, spec...).
    pub manifest: serde_json::Value,
}

/// The apply stages, in order; apply waits between some of them.
#[derive(Clone, Debug, Default)]
pub struct Stages {
    /// ServiceAccount, ConfigMap, Secrets, NetworkPolicies.
    pub identity_and_config: Vec<Rendered>,
    /// Every Service.
    pub services: Vec<Rendered>,
    /// StatefulSets and delegated backends.
    pub backends: Vec<Rendered>,
    /// The migration Job.
    pub migration: Vec<Rendered>,
    /// Deployments, PodDisruptionBudgets, HorizontalPodAutoscalers.
    pub workloads: Vec<Rendered>,
    /// Ingress and ServiceMonitors.
    pub exposure: Vec<Rendered>,
}

impl Stages {
    /// All objects in apply order.
    pub fn all(&self) -> impl Iterator<Item = &Rendered> {
        self.identity_and_config
            .iter()
            .chain(&self.services)
            .chain(&self.backends)
            .chain(&self.migration)
            .chain(&self.workloads)
            .chain(&self.exposure)
    }
}

fn rendered<T: Serialize>(kind: ChildKind, obj: &T) -> Result<Rendered> {
    let (_, _, kind_name, _) = kind.gvkp();
    let mut manifest = serde_json::to_value(obj).map_err(Error::Serialize)?;
    manifest["apiVersion"] = kind.api_version().into();
    manifest["kind"] = kind_name.into();
    let name = manifest["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    // The hash covers everything we set, so any change of ours (including a removed field)
    // makes apply send the object again; see `apply::needs_apply`.
    let hash = hash_value(&manifest);
    manifest["metadata"]["annotations"][APPLIED_HASH] = hash.into();
    Ok(Rendered {
        kind,
        name,
        manifest,
    })
}

impl Desired {
    /// Turns the typed objects into wire manifests grouped by stage. Destructures without `..`
    /// so a new kind of child cannot be added without deciding its stage.
    pub fn into_stages(self) -> Result<Stages> {
        let Desired {
            service_account,
            config_map,
            secrets,
            network_policies,
            services,
            stateful_sets,
            delegated,
            migration,
            deployments,
            pod_disruption_budgets,
            autoscalers,
            ingress,
            service_monitors,
        } = self;
        let mut st = Stages::default();
        if let Some(sa) = &service_account {
            st.identity_and_config
                .push(rendered(ChildKind::ServiceAccount, sa)?);
        }
        if let Some(cm) = &config_map {
            st.identity_and_config
                .push(rendered(ChildKind::ConfigMap, cm)?);
        }
        for s in &secrets {
            st.identity_and_config.push(rendered(ChildKind::Secret, s)?);
        }
        for np in &network_policies {
            st.identity_and_config
                .push(rendered(ChildKind::NetworkPolicy, np)?);
        }
        for s in &services {
            st.services.push(rendered(ChildKind::Service, s)?);
        }
        for s in &stateful_sets {
            st.backends.push(rendered(ChildKind::StatefulSet, s)?);
        }
        for (kind, v) in &delegated {
            st.backends.push(rendered(*kind, v)?);
        }
        if let Some(j) = &migration {
            st.migration.push(rendered(ChildKind::Job, j)?);
        }
        for d in &deployments {
            st.workloads.push(rendered(ChildKind::Deployment, d)?);
        }
        for p in &pod_disruption_budgets {
            st.workloads
                .push(rendered(ChildKind::PodDisruptionBudget, p)?);
        }
        for h in &autoscalers {
            st.workloads
                .push(rendered(ChildKind::HorizontalPodAutoscaler, h)?);
        }
        if let Some(i) = &ingress {
            st.exposure.push(rendered(ChildKind::Ingress, i)?);
        }
        for m in &service_monitors {
            st.exposure.push(rendered(ChildKind::ServiceMonitor, m)?);
        }
        Ok(st)
    }
}

/// Renders every desired object for `platform`.
pub fn build(platform: &DzinzaPlatform, inputs: &Inputs) -> Result<Desired> {
    let ctx = Ctx::new(platform)?;
    let mut d = Desired {
        service_account: Some(config::service_account(&ctx)),
        config_map: Some(config::config_map(&ctx)),
        ..Desired::default()
    };
    d.secrets = secrets::secrets(&ctx, inputs);
    backends::render(&ctx, inputs, &mut d)?;
    d.network_policies = policy::network_policies(&ctx);
    if !ctx.stopped() && !inputs.migration_done {
        d.migration = Some(migration::job(&ctx));
    }
    workloads::render(&ctx, &mut d);
    d.ingress = ingress::ingress(&ctx);
    d.service_monitors = monitoring::service_monitors(&ctx, inputs);
    Ok(d)
}

/// The platform plus the values derived from it that every renderer needs.
pub struct Ctx<'a> {
    /// The resource.
    pub p: &'a DzinzaPlatform,
    /// Its name.
    pub name: String,
    /// Its namespace.
    pub namespace: String,
    /// Owner reference every child carries.
    pub owner: OwnerReference,
}

impl<'a> Ctx<'a> {
    /// Derives the context; fails if the resource has no namespace or uid (not yet stored).
    pub fn new(p: &'a DzinzaPlatform) -> Result<Self> {
        let namespace = p
            .namespace()
            .ok_or(Error::MissingField("metadata.namespace"))?;
        let owner = p
            .controller_owner_ref(&())
            .ok_or(Error::MissingField("metadata.uid"))?;
        Ok(Self {
            p,
            name: p.name_any(),
            namespace,
            owner,
        })
    }

    /// Name of a child: `<platform>-<suffix>`.
    pub fn child(&self, suffix: &str) -> String {
        format!("{}-{suffix}", self.name)
    }

    /// Whether clusterOperation.stopped is set.
    pub fn stopped(&self) -> bool {
        self.p.spec.cluster_operation.stopped
    }

    /// Full image reference of the Dzinza image.
    pub fn image(&self) -> String {
        format!("{}:{}", self.p.spec.image.repository, self.p.spec.version)
    }

    /// Labels that select a component's pods (stable across versions).
    pub fn selector(&self, component: &str) -> BTreeMap<String, String> {
        BTreeMap::from([
            ("app.kubernetes.io/name".to_string(), "dzinza".to_string()),
            ("app.kubernetes.io/instance".to_string(), self.name.clone()),
            (
                "app.kubernetes.io/component".to_string(),
                component.to_string(),
            ),
        ])
    }

    /// Labels on every child: the selector labels plus ownership. The version label is only on
    /// what runs the Dzinza image ([`Ctx::versioned_labels`]), so an upgrade touches just those.
    pub fn labels(&self, component: &str) -> BTreeMap<String, String> {
        let mut l = self.selector(component);
        l.insert("app.kubernetes.io/managed-by".into(), MANAGED_BY.into());
        l.insert("app.kubernetes.io/part-of".into(), "dzinza".into());
        l
    }

    /// [`Ctx::labels`] plus `app.kubernetes.io/version`, for Deployments, the Job and their pods.
    pub fn versioned_labels(&self, component: &str) -> BTreeMap<String, String> {
        let mut l = self.labels(component);
        l.insert(
            "app.kubernetes.io/version".into(),
            label_value(&self.p.spec.version),
        );
        l
    }

    /// Metadata of a child named `name` for `component`.
    pub fn meta(&self, name: impl Into<String>, component: &str) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(self.namespace.clone()),
            labels: Some(self.labels(component)),
            owner_references: Some(vec![self.owner.clone()]),
            ..ObjectMeta::default()
        }
    }

    /// Public URL users open.
    pub fn public_url(&self) -> String {
        match &self.p.spec.ingress {
            Some(i) if i.tls_secret_name.is_some() => format!("https://{}", i.host),
            Some(i) => format!("http://{}", i.host),
            None => format!(
                "http://{}.{}.svc:{HTTP_PORT}",
                self.child("gateway"),
                self.namespace
            ),
        }
    }
}

/// Label selector string (`k=v,...`) that lists every child of a platform.
pub fn children_selector(platform_name: &str) -> String {
    format!("app.kubernetes.io/managed-by={MANAGED_BY},app.kubernetes.io/instance={platform_name}")
}

/// Label values allow at most 63 characters of `[A-Za-z0-9._-]`.
fn label_value(v: &str) -> String {
    let cleaned: String = v
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(63)
        .collect();
    cleaned
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_string()
}

/// Short stable hash (hex) of a JSON value.
pub fn hash_value(v: &serde_json::Value) -> String {
    hash_str(&v.to_string())
}

/// Short stable hash (hex) of a string.
pub fn hash_str(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

/// Pod security context meeting the restricted Pod Security Standard.
pub fn restricted_pod_security(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..PodSecurityContext::default()
    }
}

/// Container security context meeting the restricted Pod Security Standard.
pub fn restricted_container_security(read_only_root: bool) -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        read_only_root_filesystem: Some(read_only_root),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".into()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".into(),
            localhost_profile: None,
        }),
        ..SecurityContext::default()
    }
}
