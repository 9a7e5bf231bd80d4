//! The jobs HTTP API over a real socket: visibility rules, admin dead letters, queue depth, and
//! SSE progress seen by a client from enqueue to completion.

#![allow(clippy::unwrap_used, reason = "tests: a failed step should panic")]

mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use dzinza_jobs::metrics::JobMetrics;
use dzinza_jobs::service::JobsService;
use dzinza_jobs::{JobContext, JobError, NewJob, Registry, WorkerConfig};
use dzinza_kit::identity::{Authenticator, TokenValidator};
use dzinza_kit::testing::TestIssuer;
use http::{Request, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

struct Api {
    base: String,
    issuer: TestIssuer,
    service_queue: dzinza_jobs::JobQueue,
    client: dzinza_kit::http_client::HttpClient,
    stop: CancellationToken,
    worker: tokio::task::JoinHandle<()>,
}

async fn start(registry: Registry) -> (Api, common::Backend) {
    let backend = common::sqlite().await;
    let issuer = TestIssuer::new("k1");
    let jwks = issuer.serve_jwks().await.unwrap();
    let validator = TokenValidator::from_url(&jwks, "dzinza", "dzinza", Duration::ZERO).unwrap();
    let config = WorkerConfig {
        heartbeat: Duration::from_millis(50),
        poll_interval: Duration::from_millis(25),
        ..WorkerConfig::default()
    };
    let service = JobsService::new(
        backend.a.clone(),
        registry,
        config,
        JobMetrics::unregistered(),
        Authenticator(Arc::new(validator)),
    );
    let stop = CancellationToken::new();
    let token = stop.clone();
    let worker = service.worker.clone();
    let worker = tokio::spawn(async move { worker.run(token).await.unwrap() });
    let app = dzinza_jobs::http::router(service.api.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let api = Api {
        base: format!("http://{addr}"),
        issuer,
        service_queue: service.queue.clone(),
        client: dzinza_kit::http_client::build(Duration::from_secs(2)),
        stop,
        worker,
    };
    (api, backend)
}

impl Api {
    async fn call(
        &self,
        method: &str,
        path: &str,
        user: Option<(&str, &[&str])>,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base));
        if let Some((sub, roles)) = user {
            req = req.header(
                "authorization",
                format!("Bearer {}", self.issuer.token(sub, roles)),
            );
        }
        let resp = self
            .client
            .request(req.body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        (status, body)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_streams_progress_from_enqueue_to_completion() {
    let gate = Arc::new(Semaphore::new(0));
    let g = gate.clone();
    let mut registry = Registry::new();
    registry.register("import", move |ctx: JobContext| {
        let g = g.clone();
        async move {
            for step in 1..=3 {
                g.acquire().await.map_err(JobError::retry)?.forget();
                ctx.progress(f64::from(step) / 3.0, format!("step {step}"))
                    .await?;
            }
            Ok(json!({"persons": 42}))
        }
    });
    let (api, _backend) = start(registry).await;
    let job = api
        .service_queue
        .enqueue(NewJob::new("import", json!({"file": "family.ged"})).owner("u1"))
        .await
        .unwrap()
        .job;

    // Another user cannot follow it.
    let (status, _) = api
        .call(
            "GET",
            &format!("/v1/jobs/{}/events", job.id),
            Some(("u2", &[])),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let req = Request::get(format!("{}/v1/jobs/{}/events", api.base, job.id))
        .header(
            "authorization",
            format!("Bearer {}", api.issuer.token("u1", &[])),
        )
        .body(Body::empty())
        .unwrap();
    let resp = api.client.request(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let mut buffer = String::new();
    let mut events: Vec<(String, Value)> = Vec::new();
    let mut released = 0;
    gate.add_permits(1);
    released += 1;
    'read: while let Some(frame) = body.frame().await {
        let frame = frame.unwrap();
        let Some(data) = frame.data_ref() else {
            continue;
        };
        buffer.push_str(std::str::from_utf8(data).unwrap());
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line
                    .strip_prefix("event: ")
                    .or_else(|| line.strip_prefix("event:"))
                {
                    name = v.trim().to_owned();
                } else if let Some(v) = line
                    .strip_prefix("data: ")
                    .or_else(|| line.strip_prefix("data:"))
                {
                    data.push_str(v.trim());
                }
            }
            if name.is_empty() {
                continue; // keep-alive comment
            }
            let job: Value = serde_json::from_str(&data).unwrap();
            // Let the handler take its next step once the client has seen the previous one.
            if released < 3 && job["progress_message"] == json!(format!("step {released}")) {
                gate.add_permits(1);
                released += 1;
            }
            let done = name == "done";
            events.push((name, job));
            if done {
                break 'read;
            }
        }
    }
    let names: Vec<&str> = events.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names.last(), Some(&"done"), "{names:?}");
    assert!(names[..names.len() - 1].iter().all(|n| *n == "progress"));
    let messages: Vec<Value> = events
        .iter()
        .map(|(_, j)| j["progress_message"].clone())
        .collect();
    assert!(
        messages.contains(&json!("step 1")) && messages.contains(&json!("step 2")),
        "{messages:?}"
    );
    let progress: Vec<f64> = events
        .iter()
        .map(|(_, j)| j["progress"].as_f64().unwrap())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress went backwards: {progress:?}"
    );
    let last = &events.last().unwrap().1;
    assert_eq!(last["state"], "succeeded");
    assert_eq!(last["result"], json!({"persons": 42}));
    assert_eq!(last["progress"], json!(1.0));
    api.stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_see_only_their_jobs_and_admins_handle_dead_letters() {
    let mut registry = Registry::new();
    registry.register("doomed", |_ctx: JobContext| async {
        Err(JobError::fatal("no such file"))
    });
    let (mut api, backend) = start(registry).await;
    let mine = api
        .service_queue
        .enqueue(NewJob::new("doomed", json!({})).owner("u1"))
        .await
        .unwrap()
        .job;
    let theirs = api
        .service_queue
        .enqueue(NewJob::new("other", json!({})).owner("u2"))
        .await
        .unwrap()
        .job;

    let (status, _) = api.call("GET", "/v1/jobs", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, page) = api.call("GET", "/v1/jobs", Some(("u1", &[]))).await;
    assert_eq!(status, StatusCode::OK);
    let ids: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![mine.id.as_str()]);
    let (status, _) = api
        .call("GET", &format!("/v1/jobs/{}", theirs.id), Some(("u1", &[])))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api
        .call(
            "POST",
            &format!("/v1/jobs/{}/cancel", theirs.id),
            Some(("u1", &[])),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, page) = api
        .call("GET", "/v1/jobs?type=nothing", Some(("u1", &[])))
        .await;
    assert_eq!(
        (status, page["items"].as_array().unwrap().len()),
        (StatusCode::OK, 0)
    );

    // The doomed job fails permanently; wait for it through the API.
    let mut failed = Value::Null;
    for _ in 0..6000 {
        let (_, job) = api
            .call("GET", &format!("/v1/jobs/{}", mine.id), Some(("u1", &[])))
            .await;
        if job["state"] == "failed" {
            failed = job;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(failed["error"], "no such file");
    let (status, _) = api
        .call(
            "POST",
            &format!("/v1/jobs/{}/cancel", mine.id),
            Some(("u1", &[])),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, _) = api.call("GET", "/v1/jobs/failed", Some(("u1", &[]))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, page) = api
        .call("GET", "/v1/jobs/failed", Some(("root", &["ADMIN"])))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["items"][0]["id"], json!(mine.id));
    let (status, _) = api
        .call(
            "POST",
            &format!("/v1/jobs/{}/retry", mine.id),
            Some(("u1", &[])),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, job) = api
        .call(
            "POST",
            &format!("/v1/jobs/{}/retry", theirs.id),
            Some(("root", &["ADMIN"])),
        )
        .await;
    assert_eq!(
        (status, &job["status"]),
        (StatusCode::CONFLICT, &json!(409))
    );
    // Stop the worker before retrying so the job stays queued for the depth check.
    api.stop.cancel();
    (&mut api.worker).await.unwrap();
    let (status, job) = api
        .call(
            "POST",
            &format!("/v1/jobs/{}/retry", mine.id),
            Some(("root", &["ADMIN"])),
        )
        .await;
    assert_eq!(
        (status, &job["state"], &job["attempts"]),
        (StatusCode::OK, &json!("queued"), &json!(0))
    );

    let (status, depth) = api.call("GET", "/internal/queue-depth", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        depth,
        json!({"total": 2, "by_type": {"doomed": 1, "other": 1}})
    );
    drop(backend);
}
