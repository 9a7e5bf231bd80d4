//! A 512 MiB upload streams through the gateway process with bounded memory.

mod support;

use std::time::Duration;

use axum::body::Body;
use dzinza_kit::testing::TestIssuer;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use support::Dzinza;

const MIB: u64 = 1024 * 1024;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_512_mib_body_streams_through_with_bounded_gateway_memory() {
    // The upstream counts what arrives and never holds more than one chunk.
    let upstream = axum::Router::new().fallback(|req: axum::extract::Request| async move {
        let mut total = 0u64;
        let mut body = req.into_body().into_data_stream();
        while let Some(chunk) = body.next().await {
            total += chunk.map(|c| c.len() as u64).unwrap_or(0);
        }
        total.to_string()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let upstream_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, upstream).await });
    let issuer = TestIssuer::new("k1");
    let jwks = issuer.serve_jwks().await.unwrap();

    let d = Dzinza::start(
        &["--target", "gateway"],
        &[
            ("DZINZA_UPSTREAM_STORAGE", format!("http://{upstream_addr}")),
            ("DZINZA_JWKS_URL", jwks),
        ],
    )
    .await;
    let before = d.peak_rss();

    let size = 512 * MIB;
    let chunk = bytes::Bytes::from(vec![0x5a; 256 * 1024]);
    let chunks = (size / chunk.len() as u64) as usize;
    let stream = futures_util::stream::iter(
        (0..chunks).map(move |_| Ok::<_, std::io::Error>(chunk.clone())),
    );
    let req = http::Request::post(d.url("/api/v1/files/upload"))
        .header(
            "authorization",
            format!("Bearer {}", issuer.token("uploader", &[])),
        )
        .header("content-type", "application/octet-stream")
        .header("content-length", size.to_string())
        .body(Body::from_stream(stream))
        .unwrap();
    let client = dzinza_kit::http_client::build(Duration::from_secs(2));
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        String::from_utf8_lossy(&body),
        size.to_string(),
        "every byte arrived"
    );

    let peak = d.peak_rss();
    eprintln!(
        "gateway peak RSS: {:.1} MiB before, {:.1} MiB after streaming 512 MiB",
        before as f64 / MIB as f64,
        peak as f64 / MIB as f64
    );
    assert!(
        peak < 64 * MIB,
        "gateway peak RSS {peak} bytes exceeds 64 MiB"
    );
}
