//! End to end on a real cluster (kind): install the chart, apply the minimal example, wait for
//! Ready, scale the workers through the /scale subresource, delete the platform.
//!
//! Ignored by default: it needs `KUBECONFIG` pointing at a cluster created with
//! `kind create cluster --config kind-config.yaml`, the image loaded into it
//! (`docker build -t ghcr.io/dzinza/dzinza:e2e . && kind load docker-image ghcr.io/dzinza/dzinza:e2e`),
//! and the `helm` CLI. Run with:
//! `KUBECONFIG=~/.kube/config cargo test -p dzinza-operator --test e2e -- --ignored --nocapture`

use std::process::Command;
use std::time::{Duration, Instant};

use dzinza_operator::DzinzaPlatform;
use dzinza_operator::types::Phase;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};

/// This package's directory as cargo gives it to the running test, not as compiled in: a test
/// binary reused from a target directory another checkout built must read this checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

const NS: &str = "dzinza-e2e";
const OPERATOR_NS: &str = "dzinza-system";

fn tag() -> String {
    std::env::var("DZINZA_E2E_TAG").unwrap_or_else(|_| "e2e".into())
}

fn run(cmd: &mut Command) {
    let status = cmd.status().expect("command starts");
    assert!(status.success(), "{cmd:?} failed with {status}");
}

async fn wait_for<F, Fut>(what: &str, timeout: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < timeout {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    panic!("timed out after {timeout:?} waiting for {what}");
}

#[tokio::test]
#[ignore = "needs a Kubernetes cluster: set KUBECONFIG and run with --ignored (see file header)"]
async fn install_apply_scale_delete() {
    assert!(
        std::env::var_os("KUBECONFIG").is_some(),
        "KUBECONFIG is not set"
    );
    let root = manifest_dir().join("..");
    run(Command::new("helm").current_dir(&root).args([
        "upgrade",
        "--install",
        "dzinza-operator",
        "charts/dzinza-operator",
        "--namespace",
        OPERATOR_NS,
        "--create-namespace",
        "--set",
        &format!("image.tag={}", tag()),
        "--set",
        "image.pullPolicy=Never",
        "--set",
        "replicaCount=2",
        "--wait",
        "--timeout",
        "5m",
    ]));

    let client = Client::try_default().await.expect("kube client");
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace =
        serde_json::from_value(serde_json::json!({"metadata": {"name": NS}})).expect("ns");
    let _ = namespaces.create(&PostParams::default(), &ns).await;

    let yaml = std::fs::read_to_string(root.join("docs/examples/minimal.yaml")).expect("example");
    let mut p: DzinzaPlatform = serde_yaml::from_str(&yaml).expect("example parses");
    p.metadata.namespace = Some(NS.into());
    p.spec.version = tag();
    p.spec.image.pull_policy = dzinza_operator::types::PullPolicy::Never;
    p.spec.ingress = None;
    let api: Api<DzinzaPlatform> = Api::namespaced(client.clone(), NS);
    api.create(&PostParams::default(), &p)
        .await
        .expect("platform created");

    wait_for("phase Ready", Duration::from_secs(900), || async {
        let phase = api
            .get("dev")
            .await
            .ok()
            .and_then(|p| p.status)
            .map(|s| s.phase);
        eprintln!("phase: {phase:?}");
        phase == Some(Phase::Ready)
    })
    .await;

    // kubectl scale dzinzaplatform/dev --replicas=3 goes through the same subresource.
    api.patch_scale(
        "dev",
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({"spec": {"replicas": 3}})),
    )
    .await
    .expect("scaled");
    assert_eq!(api.get("dev").await.expect("get").spec.workers.replicas, 3);
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), NS);
    wait_for("3 ready workers", Duration::from_secs(300), || async {
        let d = deployments.get("dev-worker").await.ok();
        let ready = d.and_then(|d| d.status).and_then(|s| s.ready_replicas);
        let status = api.get("dev").await.ok().and_then(|p| p.status);
        ready == Some(3) && status.is_some_and(|s| s.worker_replicas == 3)
    })
    .await;
    let scale = api.get_scale("dev").await.expect("scale");
    assert_eq!(scale.spec.and_then(|s| s.replicas), Some(3));

    api.delete("dev", &DeleteParams::default())
        .await
        .expect("deleted");
    wait_for("platform gone", Duration::from_secs(300), || async {
        api.get_opt("dev").await.ok().flatten().is_none()
    })
    .await;
    // deletionPolicy Retain (the default): the generated credentials outlive the platform.
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(client.clone(), NS);
    let creds = secrets
        .get("dev-credentials")
        .await
        .expect("credentials kept");
    assert!(creds.owner_references().is_empty());
}
