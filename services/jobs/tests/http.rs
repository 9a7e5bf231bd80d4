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

    /// `POST /v1/jobs` as `user` with `body`, and an `Idempotency-Key` header when given.
    async fn enqueue(
        &self,
        user: Option<&str>,
        key: Option<&str>,
        body: &Value,
    ) -> (StatusCode, Option<String>, Value) {
        let mut req = Request::post(format!("{}/v1/jobs", self.base))
            .header("content-type", "application/json");
        if let Some(sub) = user {
            req = req.header(
                "authorization",
                format!("Bearer {}", self.issuer.token(sub, &[])),
            );
        }
        if let Some(key) = key {
            req = req.header("idempotency-key", key);
        }
        let resp = self
            .client
            .request(req.body(Body::from(body.to_string())).unwrap())
            .await
            .unwrap();
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        let bytes = resp.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            location,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_enqueue_allowed_types_with_idempotency_keys() {
    let mut registry = Registry::new();
    registry.register("export", |ctx: JobContext| async move {
        Ok(json!({"owner": ctx.owner_id(), "tree": ctx.tree_id(), "payload": ctx.payload()}))
    });
    registry.allow_user_enqueue("export");
    registry.register("internal_cleanup", |_ctx: JobContext| async {
        Ok(Value::Null)
    });
    let (api, _backend) = start(registry).await;
    let field = |body: &Value| body["errors"][0]["field"].as_str().unwrap_or("").to_owned();

    let body = json!({"type": "export", "payload": {"format": "gedcom"}, "tree_id": "t1"});
    let (status, _, _) = api.enqueue(None, None, &body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    for (bad, name) in [
        (json!({"type": "nope"}), "type"),
        (json!({"type": "internal_cleanup"}), "type"),
        (json!({"type": "export", "payload": [1, 2]}), "payload"),
        (json!({"type": "export", "payload": "x"}), "payload"),
        (
            json!({"type": "export", "idempotency_key": ""}),
            "idempotency_key",
        ),
    ] {
        let (status, _, problem) = api.enqueue(Some("u1"), None, &bad).await;
        assert_eq!(
            (status, field(&problem)),
            (StatusCode::UNPROCESSABLE_ENTITY, name.to_owned()),
            "{bad}"
        );
        assert_eq!(problem["code"], "validation_failed");
    }
    let (status, _, _) = api
        .enqueue(
            Some("u1"),
            None,
            &json!({"type": "export", "owner_id": "u2"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields");
    let (status, _, problem) = api
        .enqueue(
            Some("u1"),
            Some("k1"),
            &json!({"type": "export", "idempotency_key": "k2"}),
        )
        .await;
    assert_eq!(
        (status, field(&problem)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key".to_owned()
        )
    );

    // Created, owned by the caller, and run by the worker.
    let (status, location, job) = api.enqueue(Some("u1"), Some("k1"), &body).await;
    assert_eq!(status, StatusCode::CREATED);
    let id = job["id"].as_str().unwrap().to_owned();
    assert_eq!(
        location.as_deref(),
        Some(format!("/api/v1/jobs/{id}").as_str())
    );
    assert_eq!(
        (&job["owner_id"], &job["tree_id"], &job["job_type"]),
        (&json!("u1"), &json!("t1"), &json!("export"))
    );
    // The same key, in the header or in the body, returns the same job.
    let (status, _, again) = api.enqueue(Some("u1"), Some("k1"), &body).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &json!(id)));
    let mut keyed = body.clone();
    keyed["idempotency_key"] = json!("k1");
    let (status, _, again) = api.enqueue(Some("u1"), None, &keyed).await;
    assert_eq!((status, &again["id"]), (StatusCode::OK, &json!(id)));
    // Keys are per user: another user's k1 is another job, theirs.
    let (status, _, other) = api.enqueue(Some("u2"), Some("k1"), &body).await;
    assert_eq!(status, StatusCode::CREATED);
    assert_ne!(other["id"], json!(id));
    assert_eq!(other["owner_id"], "u2");
    // Without a key every request is a new job; a missing payload is an empty object.
    let (status, _, bare) = api
        .enqueue(Some("u1"), None, &json!({"type": "export"}))
        .await;
    assert_eq!(
        (status, &bare["payload"]),
        (StatusCode::CREATED, &json!({}))
    );
    assert_ne!(bare["id"], json!(id));

    let mut done = Value::Null;
    for _ in 0..6000 {
        let (_, job) = api
            .call("GET", &format!("/v1/jobs/{id}"), Some(("u1", &[])))
            .await;
        if job["state"] == "succeeded" {
            done = job;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        done["result"],
        json!({"owner": "u1", "tree": "t1", "payload": {"format": "gedcom"}})
    );
    let (status, _) = api
        .call("GET", &format!("/v1/jobs/{id}"), Some(("u2", &[])))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    api.stop.cancel();
}

#[test]
fn openapi_documents_enqueue() {
    let doc = serde_json::to_value(dzinza_jobs::http::openapi()).unwrap();
    let post = &doc["paths"]["/api/v1/jobs"]["post"];
    assert!(post["requestBody"].is_object(), "{post}");
    for status in ["200", "201", "401", "422"] {
        assert!(post["responses"][status].is_object(), "{status}: {post}");
    }
    assert!(doc["paths"]["/api/v1/jobs"]["get"].is_object());
    assert!(doc["components"]["schemas"]["EnqueueRequest"].is_object());
}
