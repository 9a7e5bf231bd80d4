//! A real gateway on loopback in front of real HTTP upstreams, for the integration tests.

#![allow(
    dead_code,
    clippy::unwrap_used,
    reason = "test support: a failed setup step should panic"
)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::Request;
use axum::response::IntoResponse;
use axum::routing::any;
use dzinza_gateway::{Gateway, GatewayConfig};
use dzinza_kit::health::Health;
use dzinza_kit::identity::TokenValidator;
use dzinza_kit::metrics::Metrics;
use dzinza_kit::server::{self, Shutdown};
use dzinza_kit::testing::TestIssuer;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// What the echo upstream saw.
pub async fn echo(req: Request) -> axum::Json<Value> {
    let headers: BTreeMap<String, String> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_owned()))
        .collect();
    let method = req.method().to_string();
    let uri = req.uri().to_string();
    let mut bytes = 0u64;
    let mut stream = req.into_body().into_data_stream();
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => bytes += c.len() as u64,
            Err(_) => break,
        }
    }
    axum::Json(json!({ "method": method, "uri": uri, "headers": headers, "body_bytes": bytes }))
}

/// An upstream on loopback answering every path with [`echo`], plus `/v1/slow/*` that waits.
pub async fn spawn_upstream() -> SocketAddr {
    spawn_router(upstream_router()).await
}

pub fn upstream_router() -> Router {
    Router::new()
        .route(
            "/v1/slow/{*rest}",
            any(|| async {
                tokio::time::sleep(Duration::from_secs(3)).await;
                "late"
            }),
        )
        .route("/healthz", any(|| async { "ok" }))
        .fallback(echo)
}

pub async fn spawn_router(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    addr
}

/// An upstream answering 503 to the first `failures` requests, then echoing; counts requests.
pub async fn spawn_flaky_upstream(failures: usize) -> (SocketAddr, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let seen = count.clone();
    let router = Router::new().fallback(move |req: Request| {
        let seen = seen.clone();
        async move {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            if n < failures {
                (http::StatusCode::SERVICE_UNAVAILABLE, "busy").into_response()
            } else {
                echo(req).await.into_response()
            }
        }
    });
    (spawn_router(router).await, count)
}

/// A free loopback port with nothing listening on it.
pub async fn dead_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// A gateway under test.
pub struct TestGateway {
    pub addr: SocketAddr,
    pub issuer: TestIssuer,
    pub client: reqwest_like::Client,
    pub shutdown: Shutdown,
    pub metrics: Metrics,
}

impl TestGateway {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// Default config with every upstream pointed at `upstream`.
pub fn config_for(upstream: SocketAddr) -> GatewayConfig {
    let mut config = GatewayConfig::default();
    for url in config.upstreams.values_mut() {
        *url = format!("http://{upstream}");
    }
    config.resilience.retry_base_delay = Duration::from_millis(5);
    config
}

/// The gateway under test with its token issuer, metrics and health checks.
async fn build(config: GatewayConfig) -> (TestIssuer, Arc<Gateway>, Metrics, Health) {
    let issuer = TestIssuer::new("test-key");
    let jwks_url = issuer.serve_jwks().await.unwrap();
    let validator = TokenValidator::from_url(&jwks_url, "dzinza", "dzinza", Duration::from_secs(5))
        .unwrap()
        .with_min_refresh_interval(Duration::ZERO);
    let metrics = Metrics::new();
    let health = Health::default();
    let gw = Gateway::new(
        config,
        Some(Arc::new(validator)),
        &metrics,
        dzinza_gateway::openapi(),
    )
    .unwrap();
    gw.register_checks(&health);
    (issuer, gw, metrics, health)
}

pub async fn start(config: GatewayConfig) -> TestGateway {
    let (issuer, gw, metrics, health) = build(config).await;
    let server = dzinza_gateway::server(gw, health.clone(), metrics.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let shutdown = Shutdown::new(Duration::from_secs(1));
    tokio::spawn(server::serve(
        "gateway",
        listener,
        server,
        shutdown.clone(),
        Some(health),
    ));
    TestGateway {
        addr,
        issuer,
        client: reqwest_like::Client::new(),
        shutdown,
        metrics,
    }
}

/// One gateway served twice: as [`start`] serves it (API calls straight to the proxy) at the
/// returned gateway's address, and through its plain router at the second address.
pub async fn start_with_router_beside(config: GatewayConfig) -> (TestGateway, SocketAddr) {
    let (issuer, gw, metrics, health) = build(config).await;
    let shutdown = Shutdown::new(Duration::from_secs(1));
    let mut addrs = Vec::new();
    for direct in [true, false] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        addrs.push(listener.local_addr().unwrap());
        let (gw, health, metrics, shutdown) = (
            gw.clone(),
            health.clone(),
            metrics.clone(),
            shutdown.clone(),
        );
        tokio::spawn(async move {
            if direct {
                let app = dzinza_gateway::server(gw, health.clone(), metrics);
                server::serve("gateway", listener, app, shutdown, Some(health)).await
            } else {
                let app = dzinza_gateway::router(gw, health.clone(), metrics);
                server::serve("gateway", listener, app, shutdown, Some(health)).await
            }
        });
    }
    let gateway = TestGateway {
        addr: addrs[0],
        issuer,
        client: reqwest_like::Client::new(),
        shutdown,
        metrics,
    };
    (gateway, addrs[1])
}

/// Like [`start`], but served as the `dzinza` binary does by default: `threads` server threads,
/// each with its own runtime, `SO_REUSEPORT` listener and upstream pool.
pub async fn start_threaded(config: GatewayConfig, threads: usize) -> TestGateway {
    let (issuer, gw, metrics, health) = build(config).await;
    let listeners = server::bind_reuseport("127.0.0.1:0".parse().unwrap(), threads).unwrap();
    let addr = listeners[0].local_addr().unwrap();
    let servers = listeners
        .into_iter()
        .map(|l| {
            let server =
                dzinza_gateway::server(gw.with_own_pool(), health.clone(), metrics.clone());
            (l, server)
        })
        .collect();
    let shutdown = Shutdown::new(Duration::from_secs(1));
    tokio::spawn(server::serve_on_threads(
        "gateway",
        servers,
        shutdown.clone(),
        Some(health),
    ));
    TestGateway {
        addr,
        issuer,
        client: reqwest_like::Client::new(),
        shutdown,
        metrics,
    }
}

/// A minimal HTTP client over the kit's hyper client, returning status, headers and JSON.
pub mod reqwest_like {
    use super::*;

    pub struct Client {
        inner: dzinza_kit::http_client::HttpClient,
    }

    pub struct Resp {
        pub status: u16,
        pub headers: http::HeaderMap,
        pub body: bytes::Bytes,
    }

    impl Resp {
        pub fn json(&self) -> Value {
            serde_json::from_slice(&self.body).unwrap_or(Value::Null)
        }
        pub fn header(&self, name: &str) -> Option<&str> {
            self.headers.get(name).and_then(|v| v.to_str().ok())
        }
    }

    impl Client {
        pub fn new() -> Self {
            Self {
                inner: dzinza_kit::http_client::build(Duration::from_secs(2)),
            }
        }

        pub async fn send(&self, req: http::Request<Body>) -> Resp {
            let resp = self.inner.request(req).await.expect("request sent");
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.into_body().collect().await.unwrap().to_bytes();
            Resp {
                status,
                headers,
                body,
            }
        }

        pub async fn get(&self, url: &str, token: Option<&str>) -> Resp {
            let mut b = http::Request::get(url);
            if let Some(t) = token {
                b = b.header("authorization", format!("Bearer {t}"));
            }
            self.send(b.body(Body::empty()).unwrap()).await
        }
    }
}

/// A raw upstream that reads one request head per turn and writes `reply`, keeping the
/// connection open only if `keep_alive`; counts accepted connections.
pub async fn spawn_scripted_upstream(
    reply: &'static [u8],
    keep_alive: bool,
) -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    // The tests send no request bodies: a head ends the request.
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        let mut chunk = [0u8; 4096];
                        match socket.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    buf.clear();
                    if socket.write_all(reply).await.is_err() || !keep_alive {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}
