//! End to end in target `all`: a job enqueued in the embedded store is run by the in-process
//! worker, and a client follows its progress over SSE through the gateway at
//! `/api/v1/jobs/{id}/events`; other users get 404 and anonymous callers 401.

#![allow(clippy::unwrap_used, reason = "test")]

use std::process::{Command, Stdio};
use std::time::Duration;

use axum::body::Body;
use dzinza_jobs::{JobStore, NewJob, SqliteStore};
use dzinza_kit::testing::TestIssuer;
use http_body_util::BodyExt as _;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_progress_through_the_gateway_in_target_all() {
    let issuer = TestIssuer::new("e2e");
    let jwks = issuer.serve_jwks().await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let markers = tempfile::tempdir().unwrap();
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let mut child = Command::new(env!("CARGO_BIN_EXE_dzinza"))
        .arg("serve")
        .env("DZINZA_LISTEN", addr.to_string())
        .env("DZINZA_DATA_DIR", data.path())
        .env("DZINZA_JWKS_URL", &jwks)
        .env("DZINZA_LOG_LEVEL", "warn")
        .env("DZINZA_LOG_FORMAT", "json")
        .env("DZINZA_WORKER_DIAGNOSTIC_JOBS", "true")
        .env("DZINZA_WORKER_POLL_INTERVAL", "100ms")
        .env_remove("DZINZA_JOBS_DATABASE_URL")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let client = dzinza_kit::http_client::build(Duration::from_secs(2));
    let get = |path: &str, token: Option<String>| {
        let mut req = http::Request::get(format!("http://{addr}{path}"));
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        req.body(Body::empty()).unwrap()
    };
    let mut up = false;
    for _ in 0..300 {
        if let Ok(r) = client.request(get("/readyz", None)).await
            && r.status() == 200
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "dzinza serve did not become ready");

    // The embedded store is shared with the in-process worker (SQLite allows several processes).
    let store = SqliteStore::open(&data.path().join("jobs.db"), 1)
        .await
        .unwrap();
    let job = store
        .enqueue(
            NewJob::new(
                "diag_sleep",
                json!({"steps": 5, "step_ms": 300, "marker_dir": markers.path()}),
            )
            .owner("alice"),
            dzinza_jobs::model::now_ms(),
        )
        .await
        .unwrap()
        .job;
    let path = format!("/api/v1/jobs/{}/events", job.id);
    assert_eq!(
        client.request(get(&path, None)).await.unwrap().status(),
        401
    );
    let other = Some(issuer.token("mallory", &[]));
    assert_eq!(
        client.request(get(&path, other)).await.unwrap().status(),
        404
    );

    let resp = client
        .request(get(&path, Some(issuer.token("alice", &[]))))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let mut body = resp.into_body();
    let mut text = String::new();
    let mut events: Vec<(String, Value)> = Vec::new();
    'read: while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        let Some(data) = frame.data_ref() else {
            continue;
        };
        text.push_str(std::str::from_utf8(data).unwrap());
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let (mut name, mut payload) = (String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    payload.push_str(v.trim());
                }
            }
            if name.is_empty() {
                continue;
            }
            let done = name == "done";
            events.push((name, serde_json::from_str(&payload).unwrap()));
            if done {
                break 'read;
            }
        }
    }
    let (last_name, last) = events.last().unwrap();
    assert_eq!(last_name, "done");
    assert_eq!(last["state"], "succeeded");
    let fractions: Vec<f64> = events
        .iter()
        .map(|(_, j)| j["progress"].as_f64().unwrap())
        .collect();
    assert!(
        fractions.iter().any(|f| *f > 0.0 && *f < 1.0),
        "no intermediate progress seen: {fractions:?}"
    );
    assert!(fractions.windows(2).all(|w| w[0] <= w[1]), "{fractions:?}");

    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    assert!(child.wait().unwrap().success());
}
