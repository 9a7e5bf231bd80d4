//! The gateway against real HTTP upstreams on loopback: routing, identity, authorization, rate
//! limits, resilience, body limits, CORS.

mod support;

use std::time::Duration;

use axum::body::Body;
use dzinza_gateway::config::{RateLimit, RouteRule};
use dzinza_kit::testing::{TestIssuer, now};
use serde_json::json;
use support::*;

#[tokio::test]
async fn v1_and_v2_route_alike_to_the_owning_service() {
    let upstream = spawn_upstream().await;
    let gw = start(config_for(upstream)).await;
    let token = gw.issuer.token("u1", &["USER"]);
    for v in ["v1", "v2"] {
        let r = gw
            .client
            .get(
                &gw.url(&format!("/api/{v}/family-trees/7?page=2")),
                Some(&token),
            )
            .await;
        assert_eq!(r.status, 200, "{v}");
        assert_eq!(r.json()["uri"], format!("/{v}/family-trees/7?page=2"));
    }
}

#[tokio::test]
async fn unknown_prefix_and_unversioned_paths_are_404_problems() {
    let gw = start(config_for(spawn_upstream().await)).await;
    let token = gw.issuer.token("u1", &[]);
    for path in ["/api/v1/nonsense/1", "/api/trees/1"] {
        let r = gw.client.get(&gw.url(path), Some(&token)).await;
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(r.header("content-type"), Some("application/problem+json"));
        assert_eq!(r.json()["code"], "not_found");
    }
}

#[tokio::test]
async fn every_kind_of_bad_token_is_401() {
    let gw = start(config_for(spawn_upstream().await)).await;
    let i = &gw.issuer;
    let t = now();
    let with = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut c = i.claims("u1", &["ADMIN"]);
        f(&mut c);
        i.sign(&c)
    };
    let expired = with(&|c| {
        c["iat"] = json!(t - 7200);
        c["exp"] = json!(t - 3600);
    });
    let not_yet = with(&|c| c["nbf"] = json!(t + 3600));
    let wrong_iss = with(&|c| c["iss"] = json!("evil"));
    let wrong_aud = with(&|c| c["aud"] = json!("other-app"));
    let bad_sig = TestIssuer::new(&i.kid).token("u1", &["ADMIN"]);
    let unknown_kid = TestIssuer::new("other").token("u1", &["ADMIN"]);
    let b64 = |v: serde_json::Value| {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let alg_none = format!(
        "{}.{}.",
        b64(json!({"alg": "none", "typ": "JWT", "kid": i.kid})),
        b64(i.claims("u1", &["ADMIN"]))
    );
    let mut hs_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs_header.kid = Some(i.kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs_header,
        &i.claims("u1", &["ADMIN"]),
        &jsonwebtoken::EncodingKey::from_secret(i.jwk()["x"].as_str().unwrap().as_bytes()),
    )
    .unwrap();
    let cases = [
        ("missing", None),
        ("garbage", Some("not.a.jwt".to_owned())),
        ("expired", Some(expired)),
        ("not yet valid", Some(not_yet)),
        ("wrong issuer", Some(wrong_iss)),
        ("wrong audience", Some(wrong_aud)),
        ("bad signature", Some(bad_sig)),
        ("unknown key", Some(unknown_kid)),
        ("alg none", Some(alg_none)),
        ("HS256", Some(hs256)),
    ];
    for (name, token) in cases {
        let r = gw
            .client
            .get(&gw.url("/api/v1/trees"), token.as_deref())
            .await;
        assert_eq!(r.status, 401, "{name}");
        assert_eq!(r.json()["code"], "unauthorized", "{name}");
        assert!(r.header("www-authenticate").is_some(), "{name}");
    }
    let ok = gw
        .client
        .get(&gw.url("/api/v1/trees"), Some(&i.token("u1", &[])))
        .await;
    assert_eq!(ok.status, 200);
}

#[tokio::test]
async fn rs256_tokens_from_the_jwks_are_accepted() {
    use base64::Engine as _;
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::traits::PublicKeyParts;
    let upstream = spawn_upstream().await;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).unwrap();
    let b64 = |b: Vec<u8>| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let jwks = json!({"keys": [{
        "kty": "RSA", "kid": "rsa1", "alg": "RS256", "use": "sig",
        "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be()),
    }]});
    let jwks_addr = spawn_router(axum::Router::new().route(
        "/jwks.json",
        axum::routing::get(move || {
            let j = jwks.clone();
            async move { axum::Json(j) }
        }),
    ))
    .await;
    let validator = dzinza_kit::identity::TokenValidator::from_url(
        &format!("http://{jwks_addr}/jwks.json"),
        "dzinza",
        "dzinza",
        Duration::ZERO,
    )
    .unwrap();
    let metrics = dzinza_kit::metrics::Metrics::new();
    let gw = dzinza_gateway::Gateway::new(
        config_for(upstream),
        Some(std::sync::Arc::new(validator)),
        &metrics,
        dzinza_gateway::openapi(),
    )
    .unwrap();
    let router = dzinza_gateway::router(gw, Default::default(), metrics);
    let addr = spawn_router(router).await;

    let der = key.to_pkcs1_der().unwrap();
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.kid = Some("rsa1".into());
    let claims = TestIssuer::new("x").claims("rsa-user", &[]);
    let token = jsonwebtoken::encode(
        &header,
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_der(der.as_bytes()),
    )
    .unwrap();
    let client = reqwest_like::Client::new();
    let r = client
        .get(&format!("http://{addr}/api/v1/persons/1"), Some(&token))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["x-user-id"], "rsa-user");
}

#[tokio::test]
async fn forged_identity_headers_never_reach_the_upstream() {
    let gw = start(config_for(spawn_upstream().await)).await;
    let token = gw.issuer.token("real-user", &["USER"]);
    let req = http::Request::get(gw.url("/api/v1/persons/1"))
        .header("authorization", format!("Bearer {token}"))
        .header("x-user-id", "admin")
        .header("x-user-roles", "ADMIN")
        .header("x-user-anything", "x")
        .body(Body::empty())
        .unwrap();
    let seen = gw.client.send(req).await.json();
    assert_eq!(seen["headers"]["x-user-id"], "real-user");
    assert_eq!(seen["headers"]["x-user-roles"], "USER");
    assert_eq!(seen["headers"]["x-user-email"], "real-user@example.org");
    assert!(seen["headers"].get("x-user-anything").is_none());
    assert!(
        seen["headers"]["authorization"]
            .as_str()
            .unwrap()
            .starts_with("Bearer ")
    );
    assert!(seen["headers"].get("x-request-id").is_some());
    assert_eq!(seen["headers"]["x-forwarded-proto"], "http");
    assert_eq!(seen["headers"]["x-forwarded-for"], "127.0.0.1");

    // On a public route without a token, forged headers are stripped too.
    let req = http::Request::post(gw.url("/api/v1/auth/login"))
        .header("x-user-id", "admin")
        .body(Body::from("{}"))
        .unwrap();
    let seen = gw.client.send(req).await.json();
    assert_eq!(seen["uri"], "/v1/auth/login");
    assert!(seen["headers"].get("x-user-id").is_none());
}

#[tokio::test]
async fn cookie_tokens_are_accepted_and_forwarded_as_bearer() {
    let gw = start(config_for(spawn_upstream().await)).await;
    let token = gw.issuer.token("cookie-user", &[]);
    let req = http::Request::get(gw.url("/api/v1/trees"))
        .header("cookie", format!("theme=dark; dzinza_access={token}"))
        .body(Body::empty())
        .unwrap();
    let r = gw.client.send(req).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["headers"]["x-user-id"], "cookie-user");
    assert_eq!(
        r.json()["headers"]["authorization"],
        format!("Bearer {token}")
    );
}

#[tokio::test]
async fn admin_routes_are_403_for_non_admins() {
    let gw = start(config_for(spawn_upstream().await)).await;
    let user = gw.issuer.token("u1", &["USER"]);
    let admin = gw.issuer.token("a1", &["ADMIN"]);
    for path in ["/api/v1/users", "/api/v1/users/42", "/api/v1/audit-logs"] {
        assert_eq!(
            gw.client.get(&gw.url(path), Some(&user)).await.status,
            403,
            "{path}"
        );
        assert_eq!(
            gw.client.get(&gw.url(path), Some(&admin)).await.status,
            200,
            "{path}"
        );
    }
    let me = gw
        .client
        .get(&gw.url("/api/v1/users/me"), Some(&user))
        .await;
    assert_eq!(me.status, 200, "users/me is open to every signed-in user");
}

#[tokio::test]
async fn rate_limit_answers_429_then_recovers() {
    let mut config = config_for(spawn_upstream().await);
    config.rate_limits.insert(
        "authenticated".into(),
        RateLimit {
            per_minute: 120,
            burst: 3,
        },
    );
    let gw = start(config).await;
    let token = gw.issuer.token("busy-user", &[]);
    for i in 0..3 {
        let r = gw.client.get(&gw.url("/api/v1/trees"), Some(&token)).await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(r.header("ratelimit-limit"), Some("3"));
        assert_eq!(r.header("ratelimit-remaining"), Some(&*(2 - i).to_string()));
    }
    let limited = gw.client.get(&gw.url("/api/v1/trees"), Some(&token)).await;
    assert_eq!(limited.status, 429);
    assert_eq!(limited.json()["code"], "rate_limited");
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));

    // Another user has a bucket of their own.
    let other = gw.issuer.token("calm-user", &[]);
    assert_eq!(
        gw.client
            .get(&gw.url("/api/v1/trees"), Some(&other))
            .await
            .status,
        200
    );

    tokio::time::sleep(Duration::from_millis(600)).await;
    let recovered = gw.client.get(&gw.url("/api/v1/trees"), Some(&token)).await;
    assert_eq!(recovered.status, 200, "a token refills after 0.5 s");
}

#[tokio::test]
async fn server_threads_share_buckets_metrics_and_drain() {
    let mut config = config_for(spawn_upstream().await);
    config.rate_limits.insert(
        "authenticated".into(),
        RateLimit {
            per_minute: 1,
            burst: 4,
        },
    );
    let gw = start_threaded(config, 2).await;
    let token = gw.issuer.token("spread-user", &[]);
    // A new connection per request: the kernel spreads them over both threads' sockets, and
    // every thread draws from the same bucket.
    for i in 0..4 {
        let r = reqwest_like::Client::new()
            .get(&gw.url("/api/v1/trees"), Some(&token))
            .await;
        assert_eq!(r.status, 200, "request {i}");
    }
    let limited = reqwest_like::Client::new()
        .get(&gw.url("/api/v1/trees"), Some(&token))
        .await;
    assert_eq!(limited.status, 429);

    let text = gw.client.get(&gw.url("/metrics"), None).await;
    let text = String::from_utf8_lossy(&text.body);
    assert!(
        text.contains(
            r#"http_requests_total{service="gateway",method="GET",route="/api/{version}/trees",status="200"} 4"#
        ),
        "{text}"
    );

    // Every thread stops accepting (the kit's tests cover the drain of in-flight requests).
    gw.shutdown.trigger();
    let mut closed = false;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(gw.addr).await.is_err() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(closed, "a listener still accepts after shutdown");
}

#[tokio::test]
async fn anonymous_routes_are_limited_per_ip() {
    let mut config = config_for(spawn_upstream().await);
    config.rate_limits.insert(
        "credentials".into(),
        RateLimit {
            per_minute: 1,
            burst: 2,
        },
    );
    let gw = start(config).await;
    let post = || {
        http::Request::post(gw.url("/api/v1/auth/login"))
            .body(Body::from("{}"))
            .unwrap()
    };
    assert_eq!(gw.client.send(post()).await.status, 200);
    assert_eq!(gw.client.send(post()).await.status, 200);
    let r = gw.client.send(post()).await;
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").unwrap().parse::<u64>().unwrap() >= 30);
}

#[tokio::test]
async fn upstream_down_is_502_then_circuit_opens_and_closes_after_recovery() {
    let dead = dead_port().await;
    let mut config = config_for(dead);
    config.resilience.breaker_failures = 3;
    config.resilience.breaker_cooldown = Duration::from_millis(500);
    config.resilience.retries = 0;
    let gw = start(config).await;
    let token = gw.issuer.token("u1", &[]);
    let post = || {
        http::Request::post(gw.url("/api/v1/trees"))
            .header("authorization", format!("Bearer {token}"))
            .body(Body::from("{}"))
            .unwrap()
    };
    for i in 0..3 {
        let r = gw.client.send(post()).await;
        assert_eq!(r.status, 502, "attempt {i}");
        assert_eq!(r.json()["code"], "upstream_unavailable");
    }
    let open = gw.client.send(post()).await;
    assert_eq!(open.status, 503);
    assert_eq!(open.json()["code"], "upstream_circuit_open");
    assert!(open.header("retry-after").is_some());

    // The upstream comes back on the same port; after the cool-down one probe closes the circuit.
    let listener = tokio::net::TcpListener::bind(dead).await.unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, upstream_router()).await;
    });
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(gw.client.send(post()).await.status, 200);
    assert_eq!(gw.client.send(post()).await.status, 200);
    let text = gw.metrics.render();
    assert!(text.contains(r#"outcome="connect_error""#), "{text}");
}

#[tokio::test]
async fn slow_upstream_is_504() {
    // The test upstream answers /v1/slow/* after 3 s; give it a prefix of its own.
    let mut config = config_for(spawn_upstream().await);
    config.prefixes.insert("slow".into(), "genealogy".into());
    config.resilience.request_timeout = Duration::from_millis(200);
    let gw = start(config).await;
    let token = gw.issuer.token("u1", &[]);
    let r = gw
        .client
        .get(&gw.url("/api/v1/slow/thing"), Some(&token))
        .await;
    assert_eq!(r.status, 504);
    assert_eq!(r.json()["code"], "upstream_timeout");
}

#[tokio::test]
async fn idempotent_requests_retry_and_others_do_not() {
    let (flaky, count) = spawn_flaky_upstream(2).await;
    let gw = start(config_for(flaky)).await;
    let token = gw.issuer.token("u1", &[]);
    let r = gw.client.get(&gw.url("/api/v1/trees"), Some(&token)).await;
    assert_eq!(r.status, 200, "two 503s are retried away");
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 3);

    let (flaky, count) = spawn_flaky_upstream(1).await;
    let gw = start(config_for(flaky)).await;
    let token = gw.issuer.token("u1", &[]);
    let req = http::Request::post(gw.url("/api/v1/trees"))
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(
        gw.client.send(req).await.status,
        503,
        "POST is never replayed"
    );
    assert_eq!(count.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn bodies_over_the_route_limit_are_413() {
    let mut config = config_for(spawn_upstream().await);
    config.default_body_limit = 1000;
    config.rules.push(RouteRule {
        path: "/persons/import".into(),
        body_limit: Some(5000),
        ..RouteRule::default()
    });
    let gw = start(config).await;
    let token = gw.issuer.token("u1", &[]);
    let send = |path: &str, len: usize, chunked: bool| {
        let body = if chunked {
            let chunks = vec![Ok::<_, std::io::Error>(bytes::Bytes::from(vec![b'x'; len]))];
            Body::from_stream(futures_util::stream::iter(chunks))
        } else {
            Body::from(vec![b'x'; len])
        };
        http::Request::post(gw.url(path))
            .header("authorization", format!("Bearer {token}"))
            .body(body)
            .unwrap()
    };
    assert_eq!(
        gw.client
            .send(send("/api/v1/persons", 900, false))
            .await
            .status,
        200
    );
    let r = gw.client.send(send("/api/v1/persons", 1001, false)).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["code"], "payload_too_large");
    assert_eq!(
        gw.client
            .send(send("/api/v1/persons/import", 4000, false))
            .await
            .status,
        200,
        "a route rule raises the limit"
    );
    // Without Content-Length the limit is enforced while streaming.
    let r = gw.client.send(send("/api/v1/persons", 3000, true)).await;
    assert_eq!(r.status, 413);
}

#[tokio::test]
async fn cors_preflight_is_allowed_only_for_listed_origins() {
    let mut config = config_for(spawn_upstream().await);
    config.cors_origins = vec!["https://app.example.org".into()];
    let gw = start(config).await;
    let preflight = |origin: &str| {
        http::Request::options(gw.url("/api/v1/trees"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .body(Body::empty())
            .unwrap()
    };
    let ok = gw.client.send(preflight("https://app.example.org")).await;
    assert_eq!(ok.status, 200);
    assert_eq!(
        ok.header("access-control-allow-origin"),
        Some("https://app.example.org")
    );
    assert_eq!(ok.header("access-control-allow-credentials"), Some("true"));
    assert!(
        ok.header("access-control-allow-headers")
            .unwrap()
            .contains("authorization")
    );
    let denied = gw.client.send(preflight("https://evil.example")).await;
    assert!(denied.header("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn responses_carry_security_headers_request_id_and_timing() {
    let mut config = config_for(spawn_upstream().await);
    config.behind_tls = true;
    let gw = start(config).await;
    let r = gw.client.get(&gw.url("/healthz"), None).await;
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(r.header("x-frame-options"), Some("DENY"));
    assert!(
        r.header("content-security-policy")
            .unwrap()
            .contains("default-src 'self'")
    );
    assert!(r.header("strict-transport-security").is_some());
    assert!(r.header("x-response-time").unwrap().ends_with("ms"));
    assert!(r.header("x-request-id").is_some());

    let req = http::Request::get(gw.url("/api/v1/trees"))
        .header(
            "authorization",
            format!("Bearer {}", gw.issuer.token("u", &[])),
        )
        .header("x-request-id", "trace-me-123")
        .body(Body::empty())
        .unwrap();
    let r = gw.client.send(req).await;
    assert_eq!(r.header("x-request-id"), Some("trace-me-123"));
    assert_eq!(r.json()["headers"]["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn metrics_label_proxied_requests_by_prefix_not_raw_path() {
    let gw = start(config_for(spawn_upstream().await)).await;
    let token = gw.issuer.token("u1", &[]);
    for id in 0..5 {
        gw.client
            .get(&gw.url(&format!("/api/v1/persons/{id}")), Some(&token))
            .await;
    }
    let text = gw.client.get(&gw.url("/metrics"), None).await;
    let text = String::from_utf8_lossy(&text.body);
    assert!(
        text.contains(
            r#"http_requests_total{service="gateway",method="GET",route="/api/{version}/persons",status="200"} 5"#
        ),
        "{text}"
    );
    assert!(!text.contains("/persons/3"));
}

#[tokio::test]
async fn readiness_reports_upstreams_without_failing_and_docs_are_served() {
    let mut config = config_for(spawn_upstream().await);
    config
        .upstreams
        .insert("search".into(), format!("http://{}", dead_port().await));
    let gw = start(config).await;
    let r = gw.client.get(&gw.url("/readyz"), None).await;
    assert_eq!(
        r.status, 200,
        "a down upstream does not make the gateway unready"
    );
    let body = r.json();
    assert_eq!(body["checks"]["upstream:search"]["status"], "failing");
    assert_eq!(body["checks"]["upstream:auth"]["status"], "ok");
    assert_eq!(gw.client.get(&gw.url("/healthz"), None).await.status, 200);

    let doc = gw
        .client
        .get(&gw.url("/api/openapi.json"), None)
        .await
        .json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/openapi.json"].is_object());
    let page = gw.client.get(&gw.url("/api/docs"), None).await;
    assert!(String::from_utf8_lossy(&page.body).contains("/api/openapi.json"));
}

#[tokio::test]
async fn spa_is_served_with_index_fallback_for_client_routes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("index.html"), "<html>app</html>").unwrap();
    std::fs::write(dir.path().join("app.js"), "console.log(1)").unwrap();
    let mut config = config_for(spawn_upstream().await);
    config.spa_dir = Some(dir.path().to_owned());
    let gw = start(config).await;
    let js = gw.client.get(&gw.url("/app.js"), None).await;
    assert_eq!(js.status, 200);
    assert_eq!(&js.body[..], b"console.log(1)");
    let deep = gw.client.get(&gw.url("/trees/7/people"), None).await;
    assert_eq!(deep.status, 200);
    assert_eq!(&deep.body[..], b"<html>app</html>");
}

#[tokio::test]
async fn an_empty_web_app_directory_falls_back_to_the_landing_page() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_for(spawn_upstream().await);
    config.spa_dir = Some(dir.path().to_owned());
    let gw = start(config).await;
    let home = gw.client.get(&gw.url("/"), None).await;
    assert_eq!(home.status, 200);
    assert!(String::from_utf8_lossy(&home.body).contains("/api/docs"));
    let other = gw.client.get(&gw.url("/nothing-here"), None).await;
    assert_eq!(other.status, 404);
    assert_eq!(
        other.header("content-type"),
        Some("application/problem+json")
    );
}

#[tokio::test]
async fn server_threads_reuse_upstream_connections() {
    let (upstream, accepted) = spawn_scripted_upstream(
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}",
        true,
    )
    .await;
    let gw = start_threaded(config_for(upstream), 2).await;
    let token = gw.issuer.token("reuse-user", &[]);
    // One client connection, so one server thread and its pool serve every request.
    for i in 0..5 {
        let r = gw.client.get(&gw.url("/api/v1/trees"), Some(&token)).await;
        assert_eq!(r.status, 200, "request {i}");
        assert_eq!(&r.body[..], b"{}");
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn server_threads_answer_an_upstream_dropping_mid_response_with_a_problem() {
    let (upstream, _) = spawn_scripted_upstream(b"HTTP/1.1 200 OK\r\ncontent-le", false).await;
    let gw = start_threaded(config_for(upstream), 2).await;
    let token = gw.issuer.token("drop-user", &[]);
    let r = gw.client.get(&gw.url("/api/v1/trees"), Some(&token)).await;
    assert_eq!(r.status, 502);
    assert_eq!(r.json()["code"], "upstream_error");
}

#[tokio::test]
async fn the_direct_api_path_answers_as_the_router_does() {
    let mut config = config_for(spawn_upstream().await);
    config.cors_origins = vec!["https://app.example.org".into()];
    let (gw, router_addr) = start_with_router_beside(config).await;
    let token = gw.issuer.token("u1", &["USER"]);
    let admin_only = gw.issuer.token("u2", &[]);
    // Method, path, headers, body.
    type Case<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let requests: Vec<Case> = vec![
        (
            "GET",
            "/api/v1/trees/7?page=2",
            vec![("authorization", &token)],
            "",
        ),
        (
            "POST",
            "/api/v2/persons",
            vec![("authorization", &token)],
            "{\"a\":1}",
        ),
        ("GET", "/api/v1/trees", vec![], ""),
        (
            "GET",
            "/api/v1/trees",
            vec![("authorization", "Bearer nonsense")],
            "",
        ),
        (
            "GET",
            "/api/v1/users/42",
            vec![("authorization", &admin_only)],
            "",
        ),
        (
            "GET",
            "/api/v1/nowhere/1",
            vec![("authorization", &token)],
            "",
        ),
        ("GET", "/api/x", vec![], ""),
        ("GET", "/api/", vec![], ""),
        ("GET", "/api/openapi.json", vec![], ""),
        ("GET", "/api/docs", vec![], ""),
        (
            "GET",
            "/api/v1/trees",
            vec![
                ("authorization", &token),
                ("origin", "https://app.example.org"),
            ],
            "",
        ),
        (
            "GET",
            "/api/v1/trees",
            vec![
                ("authorization", &token),
                ("origin", "https://evil.example"),
            ],
            "",
        ),
        (
            "OPTIONS",
            "/api/v1/trees",
            vec![
                ("origin", "https://app.example.org"),
                ("access-control-request-method", "POST"),
            ],
            "",
        ),
        (
            "GET",
            "/api/v1/trees",
            vec![("authorization", &token), ("x-user-id", "forged")],
            "",
        ),
    ];
    // Differ by design between two requests: the clock, the remaining tokens and the reset.
    let varying = [
        "date",
        "x-response-time",
        "ratelimit-remaining",
        "ratelimit-reset",
    ];
    for (i, (method, path, headers, body)) in requests.iter().enumerate() {
        let mut answers = Vec::new();
        for addr in [gw.addr, router_addr] {
            let mut req = http::Request::builder()
                .method(*method)
                .uri(format!("http://{addr}{path}"))
                .header("x-request-id", format!("same-{i}"));
            for (name, value) in headers {
                let value = if *name == "authorization" && !value.starts_with("Bearer") {
                    format!("Bearer {value}")
                } else {
                    (*value).to_owned()
                };
                req = req.header(*name, value);
            }
            let r = gw
                .client
                .send(req.body(Body::from(body.to_string())).unwrap())
                .await;
            let mut kept: Vec<(String, String)> = r
                .headers
                .iter()
                .filter(|(k, _)| !varying.contains(&k.as_str()))
                .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
                .collect();
            kept.sort();
            // What the upstream saw, without the `host` of two different gateway addresses.
            let mut seen: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
            if let Some(h) = seen.get_mut("headers").and_then(|h| h.as_object_mut()) {
                h.remove("x-forwarded-host");
            }
            answers.push((r.status, kept, seen));
        }
        assert_eq!(
            answers[0], answers[1],
            "{method} {path} answered differently"
        );
    }
    let text = gw.client.get(&gw.url("/metrics"), None).await;
    let text = String::from_utf8_lossy(&text.body);
    for series in [
        r#"route="/api/{version}/trees",status="200"} 8"#,
        r#"route="/api/{version}/trees",status="401"} 4"#,
        r#"route="/api/{version}/persons",status="200"} 2"#,
        r#"route="/api/{version}/users",status="403"} 2"#,
        r#"route="/api/openapi.json",status="200"} 2"#,
        r#"route="unmatched",status="404"} 6"#,
    ] {
        assert!(text.contains(series), "{series} in\n{text}");
    }
}
