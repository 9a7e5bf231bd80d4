//! W3C trace context crosses the gateway, and spans are exported over OTLP/HTTP when configured.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use dzinza_kit::testing::TestIssuer;
use http_body_util::BodyExt;
use support::{Dzinza, spawn};

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traceparent_is_continued_upstream_and_spans_reach_the_collector() {
    // Upstream: answers with the traceparent it received.
    let upstream = spawn(
        axum::Router::new().fallback(|headers: http::HeaderMap| async move {
            headers
                .get("traceparent")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        }),
    )
    .await;
    // Collector: keeps every OTLP/HTTP export body.
    let exports: Arc<Mutex<Vec<bytes::Bytes>>> = Arc::default();
    let sink = exports.clone();
    let collector = spawn(axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: bytes::Bytes| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                ""
            }
        }),
    ))
    .await;
    let issuer = TestIssuer::new("k1");
    let jwks = issuer.serve_jwks().await.unwrap();

    let d = Dzinza::start(
        &["--target", "gateway"],
        &[
            ("DZINZA_UPSTREAM_GENEALOGY", format!("http://{upstream}")),
            ("DZINZA_JWKS_URL", jwks),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}")),
        ],
    )
    .await;
    let req = http::Request::get(d.url("/api/v1/trees/1"))
        .header(
            "authorization",
            format!("Bearer {}", issuer.token("u", &[])),
        )
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_SPAN}-01"))
        .body(Body::empty())
        .unwrap();
    let client = dzinza_kit::http_client::build(Duration::from_secs(2));
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let seen = resp.into_body().collect().await.unwrap().to_bytes();
    let seen = String::from_utf8_lossy(&seen);
    let parts: Vec<&str> = seen.split('-').collect();
    assert_eq!(parts.len(), 4, "upstream saw traceparent {seen:?}");
    assert_eq!(parts[1], TRACE_ID, "same trace continues upstream");
    assert_ne!(
        parts[2], PARENT_SPAN,
        "the gateway's own span is the upstream's parent"
    );

    // Shutdown flushes the batch exporter.
    assert!(d.terminate().success());
    let exports = exports.lock().unwrap();
    let trace_id: Vec<u8> = (0..16)
        .map(|i| u8::from_str_radix(&TRACE_ID[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    assert!(
        exports
            .iter()
            .any(|body| body.windows(16).any(|w| w == trace_id.as_slice())),
        "no exported span carries the trace id ({} exports)",
        exports.len()
    );
}
