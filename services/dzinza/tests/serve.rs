//! `dzinza serve` as a newcomer runs it: no configuration, ops endpoints, clean shutdown.

mod support;

use support::{Dzinza, get};

#[tokio::test]
async fn serve_answers_ops_endpoints_and_records_route_metrics() {
    let d = Dzinza::start(&[], &[]).await;
    let (status, body) = get(&d.url("/healthz"), None).await;
    assert_eq!((status, body.as_str()), (200, r#"{"status":"ok"}"#));
    let (status, body) = get(&d.url("/readyz"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(r#""status":"ready""#));

    for _ in 0..3 {
        get(&d.url("/api/v1/users/me"), None).await;
    }
    let (status, metrics) = get(&d.url("/metrics"), None).await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains(
            r#"http_requests_total{service="gateway",method="GET",route="/api/{version}/users",status="401"} 3"#
        ),
        "{metrics}"
    );
    assert!(metrics.contains(r#"route="/healthz""#));
    assert!(metrics.contains("http_request_duration_seconds_bucket"));

    let (status, doc) = get(&d.url("/api/openapi.json"), None).await;
    assert_eq!(status, 200);
    assert!(doc.contains("\"openapi\": \"3.1.0\""));
    assert!(d.data_dir.path().exists());

    let exit = d.terminate();
    assert!(exit.success(), "SIGTERM drains and exits 0, got {exit}");
}

#[tokio::test]
async fn services_not_in_this_build_answer_a_clear_503() {
    let d = Dzinza::start(&[], &[]).await;
    for (path, service) in [
        ("/api/v1/files", "storage"),
        ("/api/v2/search?q=x", "search"),
    ] {
        let (status, body) = get(&d.url(path), None).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert!(
            body.contains(&format!(
                "The {service} service is not part of this deployment"
            )),
            "{path}: {body}"
        );
    }
    // Services that do run still answer through the gateway.
    let (status, _) = get(&d.url("/api/v1/auth/.well-known/jwks.json"), None).await;
    assert_ne!(status, 503);
    let exit = d.terminate();
    assert!(exit.success());
}

#[tokio::test]
async fn bad_configuration_is_a_clear_error_not_a_panic() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dzinza"))
        .args(["serve", "--target", "gateway", "--listen", "127.0.0.1:0"])
        .env("DZINZA_UPSTREAM_AUTH", "https://auth.example")
        .env("DZINZA_DATA_DIR", tempfile::tempdir().unwrap().path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("error: gateway configuration"), "{stderr}");
    assert!(stderr.contains("must be an http:// URL"), "{stderr}");
    assert!(!stderr.contains("panicked"));
}

#[test]
fn serve_and_migrate_help_print_without_panicking() {
    for args in [
        &["serve", "--help"][..],
        &["migrate", "--help"],
        &["--help"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_dzinza"))
            .args(args)
            .output()
            .expect("the dzinza binary runs");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}\n{stdout}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(stdout.contains("Usage:"), "{args:?}: {stdout}");
    }
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_dzinza"))
        .args(["serve", "--help"])
        .output()
        .expect("the dzinza binary runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("DZINZA_GENEALOGY_MONGODB_URL"));
}
