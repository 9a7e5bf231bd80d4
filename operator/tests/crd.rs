//! The checked-in CRD matches the Rust types, and every CEL rule accepts what it should and
//! rejects what it should, with its message (evaluated by kube's client-side CEL).

use dzinza_operator::DzinzaPlatform;
use kube::CustomResourceExt;
use kube::core::cel::{validate_cel, validate_cel_update};

/// This package's directory as cargo gives it to the running test, not as compiled in: a test
/// binary reused from a target directory another checkout built must read this checkout.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map_or_else(|| env!("CARGO_MANIFEST_DIR").into(), Into::into)
}

/// The checked-in CRD.
fn crd_path() -> std::path::PathBuf {
    manifest_dir().join("../crds/dzinzaplatforms.dzinza.io.yaml")
}

#[test]
fn checked_in_crd_matches_the_types() {
    let generated = serde_yaml::to_string(&DzinzaPlatform::crd()).expect("crd serialises");
    let on_disk = std::fs::read_to_string(crd_path()).unwrap_or_default();
    assert!(
        generated == on_disk,
        "crds/dzinzaplatforms.dzinza.io.yaml is stale: run \
         `cargo run -p dzinza-operator -- crd > crds/dzinzaplatforms.dzinza.io.yaml` \
         and copy it to charts/dzinza-operator/crds/"
    );
    let chart_copy = std::fs::read_to_string(
        manifest_dir().join("../charts/dzinza-operator/crds/dzinzaplatforms.dzinza.io.yaml"),
    )
    .unwrap_or_default();
    assert!(generated == chart_copy, "the chart's CRD copy is stale");
}

#[test]
fn crd_names_scale_and_columns() {
    let crd = DzinzaPlatform::crd();
    let names = &crd.spec.names;
    assert!(
        names.short_names.as_ref().is_some_and(|s| !s.is_empty()),
        "shortNames empty"
    );
    assert!(
        names.categories.as_ref().is_some_and(|c| !c.is_empty()),
        "categories empty"
    );
    let v = &crd.spec.versions[0];
    let scale = v
        .subresources
        .as_ref()
        .and_then(|s| s.scale.as_ref())
        .expect("scale subresource");
    assert_eq!(scale.spec_replicas_path, ".spec.workers.replicas");
    assert_eq!(scale.status_replicas_path, ".status.workerReplicas");
    assert_eq!(
        scale.label_selector_path.as_deref(),
        Some(".status.workerSelector")
    );
    assert!(
        v.subresources
            .as_ref()
            .and_then(|s| s.status.as_ref())
            .is_some()
    );
    let cols: Vec<&str> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(cols, ["Phase", "Ready", "Version", "Workers", "Age"]);
}

fn platform(yaml: &str) -> DzinzaPlatform {
    serde_yaml::from_str(yaml).expect("test resource parses")
}

fn base() -> serde_json::Value {
    serde_json::json!({
        "apiVersion": "dzinza.io/v1alpha1",
        "kind": "DzinzaPlatform",
        "metadata": { "name": "dev", "namespace": "dzinza" },
        "spec": { "version": "1.2.3" }
    })
}

fn with(patch: serde_json::Value) -> DzinzaPlatform {
    let mut v = base();
    json_merge(&mut v, &patch);
    serde_json::from_value(v).expect("test resource parses")
}

fn json_merge(a: &mut serde_json::Value, b: &serde_json::Value) {
    match (a, b) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                json_merge(a.entry(k.clone()).or_insert(serde_json::Value::Null), v);
            }
        }
        (a, b) => *a = b.clone(),
    }
}

fn messages(p: &DzinzaPlatform) -> Vec<String> {
    match validate_cel(p) {
        Ok(()) => vec![],
        Err(e) => e.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

#[test]
fn examples_and_defaults_pass_every_rule() {
    for file in ["minimal.yaml", "production.yaml"] {
        let yaml = std::fs::read_to_string(manifest_dir().join("../docs/examples").join(file))
            .expect("example exists");
        let p = platform(&yaml);
        assert_eq!(messages(&p), Vec::<String>::new(), "{file}");
    }
    assert_eq!(messages(&with(serde_json::json!({}))), Vec::<String>::new());
}

#[test]
fn exactly_one_backend_mode() {
    let cases = [
        (
            "postgres",
            serde_json::json!({"managed": {}, "external": {"secretName": "pg"}}),
            "postgres: set exactly one of managed, external, cloudnativePg",
        ),
        (
            "postgres",
            serde_json::json!({}),
            "postgres: set exactly one of managed, external, cloudnativePg",
        ),
        (
            "postgres",
            serde_json::json!({"external": {"secretName": "pg"}, "cloudnativePg": {}}),
            "postgres: set exactly one of managed, external, cloudnativePg",
        ),
        (
            "mongodb",
            serde_json::json!({"managed": {}, "external": {"secretName": "m"}}),
            "mongodb: set exactly one of managed, external",
        ),
        (
            "mongodb",
            serde_json::json!({}),
            "mongodb: set exactly one of managed, external",
        ),
        (
            "elasticsearch",
            serde_json::json!({"managed": {}, "eck": {}}),
            "elasticsearch: set exactly one of managed, external, eck",
        ),
        (
            "elasticsearch",
            serde_json::json!({}),
            "elasticsearch: set exactly one of managed, external, eck",
        ),
        (
            "objectStorage",
            serde_json::json!({"managed": {}, "external": {"endpoint": "e", "bucket": "b", "secretName": "s"}}),
            "objectStorage: set exactly one of managed, external",
        ),
        (
            "objectStorage",
            serde_json::json!({}),
            "objectStorage: set exactly one of managed, external",
        ),
    ];
    for (field, value, msg) in cases {
        let p = with(serde_json::json!({ "spec": { field: value.clone() } }));
        assert_eq!(messages(&p), vec![msg.to_string()], "{field} = {value}");
    }
    // Each single mode is accepted.
    for (field, value) in [
        ("postgres", serde_json::json!({"cloudnativePg": {}})),
        (
            "postgres",
            serde_json::json!({"external": {"secretName": "pg"}}),
        ),
        (
            "mongodb",
            serde_json::json!({"external": {"secretName": "m"}}),
        ),
        ("elasticsearch", serde_json::json!({"eck": {}})),
        (
            "objectStorage",
            serde_json::json!({"external": {"endpoint": "e", "bucket": "b", "secretName": "s"}}),
        ),
    ] {
        let p = with(serde_json::json!({ "spec": { field: value.clone() } }));
        assert_eq!(messages(&p), Vec::<String>::new(), "{field} = {value}");
    }
}

#[test]
fn autoscaling_min_not_above_max() {
    let bad = with(
        serde_json::json!({"spec": {"workers": {"autoscaling": {"minReplicas": 5, "maxReplicas": 2}}}}),
    );
    assert_eq!(
        messages(&bad),
        vec!["workers.autoscaling.minReplicas must not exceed maxReplicas".to_string()]
    );
    let equal = with(
        serde_json::json!({"spec": {"workers": {"autoscaling": {"minReplicas": 3, "maxReplicas": 3}}}}),
    );
    assert_eq!(messages(&equal), Vec::<String>::new());
}

#[test]
fn name_length_is_capped() {
    let long = with(serde_json::json!({"metadata": {"name": "a".repeat(39)}}));
    assert_eq!(
        messages(&long),
        vec!["metadata.name must be at most 38 characters so every child's name fits".to_string()]
    );
    let ok = with(serde_json::json!({"metadata": {"name": "a".repeat(38)}}));
    assert_eq!(messages(&ok), Vec::<String>::new());
}

fn update_messages(new: &DzinzaPlatform, old: &DzinzaPlatform) -> Vec<String> {
    match validate_cel_update(new, old) {
        Ok(()) => vec![],
        Err(e) => e.into_vec().into_iter().map(|e| e.message).collect(),
    }
}

#[test]
fn version_cannot_be_downgraded() {
    let v = |s: &str| with(serde_json::json!({"spec": {"version": s}}));
    let msg =
        "spec.version cannot be lowered: migrations only move forward; restore a backup to go back";
    assert_eq!(
        update_messages(&v("1.2.2"), &v("1.2.3")),
        vec![msg.to_string()]
    );
    assert_eq!(
        update_messages(&v("0.9.0"), &v("1.0.0")),
        vec![msg.to_string()]
    );
    assert_eq!(
        update_messages(&v("1.3.0"), &v("1.2.3")),
        Vec::<String>::new()
    );
    assert_eq!(
        update_messages(&v("1.2.3"), &v("1.2.3")),
        Vec::<String>::new()
    );
    // Non-semver tags (e.g. a branch build) are not compared.
    assert_eq!(
        update_messages(&v("main"), &v("1.2.3")),
        Vec::<String>::new()
    );
}

#[test]
fn binary_prints_the_crd_and_its_rbac_needs() {
    let bin = env!("CARGO_BIN_EXE_dzinza-operator");
    let out = std::process::Command::new(bin)
        .arg("crd")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let on_disk = std::fs::read_to_string(crd_path()).unwrap_or_default();
    assert_eq!(String::from_utf8_lossy(&out.stdout), on_disk);

    let out = std::process::Command::new(bin)
        .arg("rbac-needs")
        .output()
        .expect("runs");
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), dzinza_operator::kinds::rbac_needs().len());
    assert!(lines.contains(&"apps deployments patch"), "{text}");
    assert!(lines.contains(&"core secrets watch"), "{text}");
    assert!(
        lines.contains(&"dzinza.io dzinzaplatforms/status patch"),
        "{text}"
    );
    assert!(lines.iter().all(|l| l.split(' ').count() == 3), "{text}");
}
