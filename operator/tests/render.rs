//! Build is pure: the two documented examples render to the snapshot-tested object sets, every
//! object is a valid k8s-openapi object carrying our labels and owner reference, and every pod
//! meets the restricted Pod Security Standard.

use dzinza_operator::DzinzaPlatform;
use dzinza_operator::kinds::ChildKind;
use dzinza_operator::render::{CrdPresence, GeneratedCredentials, Inputs, Rendered, Stages, build};
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec, Secret, Service, ServiceAccount};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use serde_json::Value;

/// This package's directory as cargo gives it to the running test, not as compiled in: a test
/// binary reused from a target directory another checkout built must read this checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

const UID: &str = "7f3c1a52-0000-4000-8000-000000000001";

fn example(file: &str) -> DzinzaPlatform {
    let yaml = std::fs::read_to_string(manifest_dir().join("../docs/examples").join(file))
        .expect("example exists");
    let mut p: DzinzaPlatform = serde_yaml::from_str(&yaml).expect("example parses");
    p.metadata.uid = Some(UID.into());
    p
}

fn inputs() -> Inputs {
    Inputs {
        credentials: GeneratedCredentials {
            internal_token: "internal-token-fixture".into(),
            jwt_signing_key_pem:
                "-----BEGIN PRIVATE KEY-----\nfixture\n-----END PRIVATE KEY-----\n".into(),
            mfa_encryption_key: "bWZhLWVuY3J5cHRpb24ta2V5LWZpeHR1cmUtMzJieXQ=".into(),
            postgres_password: "pg-password-fixture".into(),
            s3_access_key_id: "s3-access-fixture".into(),
            s3_secret_access_key: "s3-secret-fixture".into(),
        },
        eck_elastic_password: None,
        crds: CrdPresence {
            cnpg: true,
            eck: true,
            service_monitor: true,
        },
        migration_done: false,
    }
}

fn stages(p: &DzinzaPlatform, i: &Inputs) -> Stages {
    build(p, i).expect("builds").into_stages().expect("stages")
}

fn manifests(st: &Stages) -> Vec<Value> {
    st.all().map(|r| r.manifest.clone()).collect()
}

#[test]
fn minimal_example_snapshot() {
    let st = stages(&example("minimal.yaml"), &inputs());
    insta::assert_yaml_snapshot!("minimal", manifests(&st));
}

#[test]
fn production_example_snapshot() {
    let st = stages(&example("production.yaml"), &inputs());
    insta::assert_yaml_snapshot!("production", manifests(&st));
}

/// Deserialises into the typed object and serialises back: a misspelt or misplaced field
/// would be dropped by the typed round trip and show up as a difference.
fn round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(r: &Rendered) {
    let typed: T = serde_json::from_value(r.manifest.clone())
        .unwrap_or_else(|e| panic!("{:?}/{} does not parse: {e}", r.kind, r.name));
    let back = serde_json::to_value(&typed).expect("serialises");
    assert_eq!(
        back, r.manifest,
        "{:?}/{} changes in a typed round trip",
        r.kind, r.name
    );
}

fn check_typed(r: &Rendered) {
    match r.kind {
        ChildKind::ServiceAccount => round_trip::<ServiceAccount>(r),
        ChildKind::ConfigMap => round_trip::<ConfigMap>(r),
        ChildKind::Secret => round_trip::<Secret>(r),
        ChildKind::NetworkPolicy => round_trip::<NetworkPolicy>(r),
        ChildKind::Service => round_trip::<Service>(r),
        ChildKind::StatefulSet => round_trip::<StatefulSet>(r),
        ChildKind::Job => round_trip::<Job>(r),
        ChildKind::Deployment => round_trip::<Deployment>(r),
        ChildKind::PodDisruptionBudget => round_trip::<PodDisruptionBudget>(r),
        ChildKind::HorizontalPodAutoscaler => round_trip::<HorizontalPodAutoscaler>(r),
        ChildKind::Ingress => round_trip::<Ingress>(r),
        // Third-party kinds have no k8s-openapi type: check their identity and shape.
        ChildKind::CnpgCluster | ChildKind::EckElasticsearch | ChildKind::ServiceMonitor => {
            let (_, _, kind, _) = r.kind.gvkp();
            assert_eq!(r.manifest["kind"], kind);
            assert_eq!(r.manifest["apiVersion"], r.kind.api_version());
            assert!(r.manifest["spec"].is_object());
        }
    }
}

fn all_variants() -> Vec<(String, Stages)> {
    let mut out = Vec::new();
    for file in ["minimal.yaml", "production.yaml"] {
        out.push((file.to_string(), stages(&example(file), &inputs())));
    }
    // Delegated backends and a stopped platform exercise the remaining renderers.
    let mut p = example("minimal.yaml");
    p.spec.postgres =
        serde_json::from_value(serde_json::json!({"cloudnativePg": {"instances": 2}}))
            .expect("parses");
    p.spec.elasticsearch = serde_json::from_value(serde_json::json!({"eck": {}})).expect("parses");
    let mut i = inputs();
    i.eck_elastic_password = Some("elastic-fixture".into());
    out.push(("delegated".into(), stages(&p, &i)));
    let mut p = example("minimal.yaml");
    p.spec.cluster_operation.stopped = true;
    out.push(("stopped".into(), stages(&p, &inputs())));
    out
}

#[test]
fn every_object_is_a_valid_typed_object() {
    for (name, st) in all_variants() {
        let n = st.all().count();
        assert!(n > 10, "{name}: only {n} objects");
        for r in st.all() {
            check_typed(r);
        }
    }
}

#[test]
fn every_object_has_our_labels_and_owner() {
    for (name, st) in all_variants() {
        for r in st.all() {
            let m = &r.manifest["metadata"];
            let labels = &m["labels"];
            assert_eq!(
                labels["app.kubernetes.io/managed-by"], "dzinza-operator",
                "{name} {:?}/{}",
                r.kind, r.name
            );
            let owners = m["ownerReferences"].as_array().expect("owner references");
            assert_eq!(
                labels["app.kubernetes.io/instance"], owners[0]["name"],
                "{name} {:?}/{}",
                r.kind, r.name
            );
            assert!(
                labels["app.kubernetes.io/component"].is_string(),
                "{name} {:?}/{}",
                r.kind,
                r.name
            );
            assert_eq!(m["namespace"], "dzinza", "{name} {:?}/{}", r.kind, r.name);
            let owners = m["ownerReferences"].as_array().expect("owner references");
            assert_eq!(owners.len(), 1, "{name} {:?}/{}", r.kind, r.name);
            assert_eq!(owners[0]["uid"], UID);
            assert_eq!(owners[0]["kind"], "DzinzaPlatform");
            assert_eq!(owners[0]["apiVersion"], "dzinza.io/v1alpha1");
            assert_eq!(owners[0]["controller"], true);
            assert!(m["annotations"]["dzinza.io/applied-hash"].is_string());
        }
    }
}

fn pod_specs(st: &Stages) -> Vec<(String, PodSpec)> {
    st.all()
        .filter(|r| {
            matches!(
                r.kind,
                ChildKind::Deployment | ChildKind::StatefulSet | ChildKind::Job
            )
        })
        .map(|r| {
            let spec: PodSpec =
                serde_json::from_value(r.manifest["spec"]["template"]["spec"].clone())
                    .expect("pod spec parses");
            (r.name.clone(), spec)
        })
        .collect()
}

/// The restricted profile of https://kubernetes.io/docs/concepts/security/pod-security-standards/
fn assert_restricted(name: &str, pod: &PodSpec) {
    assert!(!pod.host_network.unwrap_or(false), "{name}: hostNetwork");
    assert!(!pod.host_pid.unwrap_or(false), "{name}: hostPID");
    assert!(!pod.host_ipc.unwrap_or(false), "{name}: hostIPC");
    let psc = pod.security_context.clone().unwrap_or_default();
    assert_eq!(
        psc.seccomp_profile.as_ref().map(|s| s.type_.as_str()),
        Some("RuntimeDefault"),
        "{name}: pod seccomp"
    );
    assert_ne!(psc.run_as_user, Some(0), "{name}: runAsUser 0");
    for v in pod.volumes.iter().flatten() {
        let allowed = v.config_map.is_some()
            || v.csi.is_some()
            || v.downward_api.is_some()
            || v.empty_dir.is_some()
            || v.ephemeral.is_some()
            || v.persistent_volume_claim.is_some()
            || v.projected.is_some()
            || v.secret.is_some();
        assert!(
            allowed,
            "{name}: volume {} has a type restricted forbids",
            v.name
        );
    }
    let containers = pod
        .containers
        .iter()
        .chain(pod.init_containers.iter().flatten());
    for c in containers {
        let sc = c.security_context.clone().unwrap_or_default();
        assert_eq!(
            sc.allow_privilege_escalation,
            Some(false),
            "{name}/{}: privilege escalation",
            c.name
        );
        assert!(
            !sc.privileged.unwrap_or(false),
            "{name}/{}: privileged",
            c.name
        );
        let non_root = sc.run_as_non_root.or(psc.run_as_non_root);
        assert_eq!(non_root, Some(true), "{name}/{}: runAsNonRoot", c.name);
        assert_ne!(sc.run_as_user, Some(0), "{name}/{}: runAsUser 0", c.name);
        let caps = sc.capabilities.clone().unwrap_or_default();
        assert!(
            caps.drop.iter().flatten().any(|d| d == "ALL"),
            "{name}/{}: drop ALL",
            c.name
        );
        assert!(
            caps.add.iter().flatten().all(|a| a == "NET_BIND_SERVICE"),
            "{name}/{}: adds capabilities",
            c.name
        );
        for p in c.ports.iter().flatten() {
            assert!(p.host_port.is_none(), "{name}/{}: hostPort", c.name);
        }
        if c.name == "dzinza" {
            assert_eq!(
                sc.read_only_root_filesystem,
                Some(true),
                "{name}: read-only root"
            );
            let probes = c.liveness_probe.is_some() && c.readiness_probe.is_some();
            let is_job = c
                .args
                .as_ref()
                .is_some_and(|a| a.first().is_some_and(|s| s == "migrate"));
            assert!(probes || is_job, "{name}: probes");
        }
    }
}

#[test]
fn every_pod_meets_the_restricted_profile() {
    let mut checked = 0;
    for (_, st) in all_variants() {
        for (name, pod) in pod_specs(&st) {
            assert_restricted(&name, &pod);
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} pods checked");
}

#[test]
fn restricted_check_catches_a_violation() {
    // Guards the guard: a privileged container must fail the check above.
    let st = stages(&example("minimal.yaml"), &inputs());
    let (name, mut pod) = pod_specs(&st).remove(0);
    if let Some(sc) = pod.containers[0].security_context.as_mut() {
        sc.allow_privilege_escalation = Some(true);
    }
    let caught = std::panic::catch_unwind(|| assert_restricted(&name, &pod));
    assert!(caught.is_err());
}

fn find<'a>(st: &'a Stages, kind: ChildKind, name: &str) -> Option<&'a Rendered> {
    st.all().find(|r| r.kind == kind && r.name == name)
}

#[test]
fn stopped_scales_everything_to_zero_and_runs_no_job() {
    let mut p = example("production.yaml");
    p.spec.cluster_operation.stopped = true;
    let st = stages(&p, &inputs());
    assert!(st.migration.is_empty());
    for r in st.all() {
        match r.kind {
            ChildKind::Deployment | ChildKind::StatefulSet => {
                assert_eq!(r.manifest["spec"]["replicas"], 0, "{}", r.name)
            }
            ChildKind::HorizontalPodAutoscaler | ChildKind::PodDisruptionBudget => {
                panic!("{:?}/{} rendered while stopped", r.kind, r.name)
            }
            _ => {}
        }
    }
    // Secrets are still rendered: stopping keeps data.
    assert!(find(&st, ChildKind::Secret, "family-credentials").is_some());
}

#[test]
fn autoscaled_workers_leave_replicas_to_the_hpa() {
    let st = stages(&example("production.yaml"), &inputs());
    let worker = find(&st, ChildKind::Deployment, "family-worker").expect("worker");
    assert!(worker.manifest["spec"].get("replicas").is_none());
    let gateway = find(&st, ChildKind::Deployment, "family-gateway").expect("gateway");
    assert_eq!(gateway.manifest["spec"]["replicas"], 3);
    let hpa = find(&st, ChildKind::HorizontalPodAutoscaler, "family-worker").expect("hpa");
    assert_eq!(hpa.manifest["spec"]["minReplicas"], 2);
    assert_eq!(hpa.manifest["spec"]["maxReplicas"], 20);
    // Manual scaling: replicas come from spec.workers.replicas (the /scale subresource).
    let mut p = example("minimal.yaml");
    p.spec.workers.replicas = 5;
    let st = stages(&p, &inputs());
    let worker = find(&st, ChildKind::Deployment, "dev-worker").expect("worker");
    assert_eq!(worker.manifest["spec"]["replicas"], 5);
    assert!(
        st.workloads
            .iter()
            .all(|r| r.kind != ChildKind::HorizontalPodAutoscaler)
    );
}

#[test]
fn deletion_policy_sets_volume_retention() {
    let mut p = example("minimal.yaml");
    let st = stages(&p, &inputs());
    let pg = find(&st, ChildKind::StatefulSet, "dev-postgres").expect("postgres");
    assert_eq!(
        pg.manifest["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Retain"
    );
    p.spec.deletion_policy = dzinza_operator::types::DeletionPolicy::Delete;
    let st = stages(&p, &inputs());
    let pg = find(&st, ChildKind::StatefulSet, "dev-postgres").expect("postgres");
    assert_eq!(
        pg.manifest["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"],
        "Delete"
    );
}

#[test]
fn migration_job_is_named_by_image_and_skipped_once_done() {
    let p = example("minimal.yaml");
    let a = stages(&p, &inputs());
    let job_a = a.migration.first().expect("job").name.clone();
    let mut p2 = p.clone();
    p2.spec.version = "0.2.0".into();
    let b = stages(&p2, &inputs());
    assert_ne!(job_a, b.migration.first().expect("job").name);
    assert_eq!(
        job_a,
        stages(&p, &inputs()).migration[0].name,
        "name is stable"
    );
    let mut done = inputs();
    done.migration_done = true;
    assert!(stages(&p, &done).migration.is_empty());
    let args = &a.migration[0].manifest["spec"]["template"]["spec"]["containers"][0]["args"];
    assert_eq!(args, &serde_json::json!(["migrate", "--target", "all"]));
    assert_eq!(
        a.migration[0].manifest["spec"]["ttlSecondsAfterFinished"],
        86_400
    );
}

#[test]
fn disabled_service_renders_nothing_for_it() {
    let mut p = example("production.yaml");
    p.spec.search.enabled = false;
    let st = stages(&p, &inputs());
    assert!(
        st.all().all(|r| r.name != "family-search"),
        "search objects remain"
    );
    assert!(find(&st, ChildKind::Deployment, "family-genealogy").is_some());
}

#[test]
fn delegated_backend_without_its_crd_is_an_error() {
    let mut p = example("minimal.yaml");
    p.spec.postgres =
        serde_json::from_value(serde_json::json!({"cloudnativePg": {}})).expect("parses");
    let mut i = inputs();
    i.crds.cnpg = false;
    let err = build(&p, &i).expect_err("must fail");
    assert_eq!(err.metric_label(), "missing_crd");
}

#[test]
fn service_monitor_needs_its_crd() {
    let p = example("production.yaml");
    let mut i = inputs();
    i.crds.service_monitor = false;
    let st = stages(&p, &i);
    assert!(
        st.exposure
            .iter()
            .all(|r| r.kind != ChildKind::ServiceMonitor)
    );
}

#[test]
fn data_tier_admits_only_its_owners() {
    let st = stages(&example("minimal.yaml"), &inputs());
    let clients = |name: &str| -> Vec<String> {
        let np = find(&st, ChildKind::NetworkPolicy, name).expect("policy");
        serde_json::from_value(
            np.manifest["spec"]["ingress"][0]["from"][0]["podSelector"]["matchExpressions"][0]["values"].clone(),
        )
        .expect("values")
    };
    assert_eq!(clients("dev-postgres"), ["auth", "worker", "migration"]);
    assert_eq!(clients("dev-elasticsearch"), ["search", "migration"]);
    assert_eq!(clients("dev-objects"), ["storage", "migration"]);
    assert_eq!(
        clients("dev-mongodb"),
        ["genealogy", "storage", "search", "worker", "migration"]
    );
}

#[test]
fn each_target_mounts_only_the_secrets_it_needs() {
    let st = stages(&example("production.yaml"), &inputs());
    let files = |name: &str| -> Vec<String> {
        let d = find(&st, ChildKind::Deployment, name).expect("deployment");
        d.manifest["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .expect("env")
            .iter()
            .filter_map(|e| e["name"].as_str())
            .filter(|n| n.ends_with("_FILE"))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(files("family-gateway"), ["DZINZA_INTERNAL_TOKEN_FILE"]);
    assert_eq!(
        files("family-auth"),
        [
            "DZINZA_INTERNAL_TOKEN_FILE",
            "DZINZA_AUTH_DATABASE_URL_FILE",
            "DZINZA_JWT_SIGNING_KEY_FILE",
            "DZINZA_MFA_ENCRYPTION_KEY_FILE",
            "DZINZA_SMTP_URL_FILE"
        ]
    );
    assert_eq!(
        files("family-genealogy"),
        [
            "DZINZA_INTERNAL_TOKEN_FILE",
            "DZINZA_GENEALOGY_MONGODB_URL_FILE"
        ]
    );
    assert_eq!(
        files("family-search"),
        [
            "DZINZA_INTERNAL_TOKEN_FILE",
            "DZINZA_ELASTICSEARCH_URL_FILE",
            "DZINZA_MONGODB_URL_FILE"
        ]
    );
}

#[test]
fn generated_credentials_are_kept_and_new_keys_are_valid() {
    let fresh = GeneratedCredentials::from_existing_or_generate(None).expect("generates");
    assert!(
        fresh
            .jwt_signing_key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
    assert_eq!(fresh.internal_token.len(), 48);
    let mfa_key = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        &fresh.mfa_encryption_key,
    )
    .expect("the MFA key is base64");
    assert_eq!(mfa_key.len(), 32, "auth needs exactly 32 bytes");
    let p = example("minimal.yaml");
    let mut i = inputs();
    i.credentials = fresh.clone();
    let st = stages(&p, &i);
    let secret: Secret = serde_json::from_value(
        find(&st, ChildKind::Secret, "dev-credentials")
            .expect("secret")
            .manifest
            .clone(),
    )
    .expect("secret parses");
    let again = GeneratedCredentials::from_existing_or_generate(Some(&secret)).expect("reads");
    assert_eq!(
        again, fresh,
        "existing values must be preserved, not regenerated"
    );
}
