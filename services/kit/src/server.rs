//! The standard service router (health, metrics, request ids, request spans) and a server with
//! graceful shutdown on SIGTERM/SIGINT.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::routing::get;
use http::{HeaderName, Request, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::{Span, field};

use crate::health::{self, Health};
use crate::metrics::{self, Metrics, RequestMetrics};

/// Header carrying the request id end to end.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps a service's routes with `/healthz`, `/readyz`, `/metrics`, request-id generation and
/// propagation, a request span (request id, method, route, status, latency) and request metrics.
pub fn standard_router(
    service: &'static str,
    app: Router,
    health: Health,
    metrics: Metrics,
) -> Router {
    let ops = Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz).with_state(health))
        .route(
            "/metrics",
            get(metrics::metrics_handler).with_state(metrics.clone()),
        );
    app.merge(ops)
        .layer(axum::middleware::from_fn_with_state(
            RequestMetrics { service, metrics },
            metrics::track_requests,
        ))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(make_request_span)
                .on_request(())
                .on_response(record_response),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}

fn make_request_span(req: &Request<Body>) -> Span {
    let request_id = req
        .headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str())
        .unwrap_or(metrics::UNMATCHED_ROUTE);
    let span = tracing::info_span!(
        "request",
        request_id,
        method = %req.method(),
        route,
        status = field::Empty,
        latency_ms = field::Empty,
    );
    crate::telemetry::set_parent_from(&span, req.headers());
    span
}

fn record_response(resp: &Response<Body>, latency: Duration, span: &Span) {
    span.record("status", resp.status().as_u16());
    span.record("latency_ms", latency.as_secs_f64() * 1000.0);
    if resp.status().is_server_error() {
        tracing::warn!("request failed");
    } else {
        tracing::info!("request served");
    }
}

/// Process-wide shutdown: a token triggered by SIGTERM/SIGINT, and the drain deadline.
#[derive(Clone, Debug)]
pub struct Shutdown {
    token: CancellationToken,
    grace: Duration,
}

impl Shutdown {
    /// A shutdown handle triggered only by [`Shutdown::trigger`].
    pub fn new(grace: Duration) -> Self {
        Self {
            token: CancellationToken::new(),
            grace,
        }
    }

    /// A shutdown handle that also triggers on SIGTERM or SIGINT.
    pub fn on_signals(grace: Duration) -> Self {
        let shutdown = Self::new(grace);
        let token = shutdown.token.clone();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("shutdown signal received; draining");
            token.cancel();
        });
        shutdown
    }

    /// Starts shutting down.
    pub fn trigger(&self) {
        self.token.cancel();
    }

    /// Resolves once shutdown has started.
    pub async fn started(&self) {
        self.token.cancelled().await;
    }

    /// The token, for background loops that must stop too.
    pub fn token(&self) -> CancellationToken {
        self.token.clone()
    }
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Serves `router` on `listener` until shutdown, then stops accepting, marks `health` as draining
/// and lets in-flight requests finish until the grace deadline.
pub async fn serve(
    name: &str,
    listener: TcpListener,
    router: Router,
    shutdown: Shutdown,
    health: Option<Health>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(service = name, %addr, "listening");
    let token = shutdown.token.clone();
    let server = axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        token.cancelled().await;
        if let Some(h) = health {
            h.start_draining();
        }
    });
    let mut server = std::pin::pin!(server.into_future());
    tokio::select! {
        result = &mut server => result,
        () = shutdown.token.cancelled() => {
            match tokio::time::timeout(shutdown.grace, &mut server).await {
                Ok(result) => {
                    tracing::info!(service = name, "drained");
                    result
                }
                Err(_) => {
                    tracing::warn!(service = name, grace = ?shutdown.grace, "drain deadline passed; closing remaining connections");
                    Ok(())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt;

    #[tokio::test]
    async fn standard_router_serves_ops_endpoints_and_request_ids() {
        let app = Router::new().route("/x", get(|| async { "x" }));
        let router = standard_router("t", app, Health::default(), Metrics::new());
        for path in ["/healthz", "/readyz", "/metrics", "/x"] {
            let resp = router
                .clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            assert!(resp.headers().contains_key(&REQUEST_ID));
        }
        let resp = router
            .oneshot(
                Request::get("/x")
                    .header(&REQUEST_ID, "abc-123")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(resp.headers()[&REQUEST_ID], "abc-123");
    }

    #[tokio::test]
    async fn drains_in_flight_requests_then_stops() {
        let app = Router::new().route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }),
        );
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shutdown = Shutdown::new(Duration::from_secs(5));
        let server = tokio::spawn(serve("t", listener, app, shutdown.clone(), None));

        let client = crate::http_client::build(Duration::from_secs(1));
        let in_flight = tokio::spawn(async move {
            let req = Request::get(format!("http://{addr}/slow"))
                .body(Body::empty())
                .unwrap();
            client.request(req).await.map(|r| r.status())
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        shutdown.trigger();
        assert_eq!(in_flight.await.unwrap().unwrap(), 200);
        server.await.unwrap().unwrap();
        // After shutdown nothing accepts on the address any more.
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }
}
