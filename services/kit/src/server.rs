//! The standard service router (health, metrics, request ids, request spans) and a server with
//! graceful shutdown on SIGTERM/SIGINT.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::MatchedPath;
use axum::routing::get;
use futures_util::future::BoxFuture;
use http::header::Entry;
use http::{HeaderName, HeaderValue, Request, Response};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument as _, Span, field};

use crate::connections::{MakeConnection, serve_connections};
use crate::digits::Digits;
use crate::health::{self, Health};
use crate::metrics::{self, Metrics};

/// Header carrying the request id end to end.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A constant, so the name is not parsed again for every response.
const X_RESPONSE_TIME: HeaderName = HeaderName::from_static("x-response-time");

/// Extra per-response behaviour of [`standard_router_with`].
#[derive(Debug, Clone, Default)]
pub struct StandardOptions {
    /// Headers added to every response that does not already carry them (security headers).
    pub response_headers: Vec<(HeaderName, HeaderValue)>,
    /// Whether to add `X-Response-Time` (milliseconds to response headers).
    pub response_time: bool,
}

/// Wraps a service's routes with `/healthz`, `/readyz`, `/metrics`, request-id generation and
/// propagation, a request span (request id, method, route, status, latency) and request metrics.
pub fn standard_router(
    service: &'static str,
    app: Router,
    health: Health,
    metrics: Metrics,
) -> Router {
    standard_router_with(service, app, health, metrics, StandardOptions::default())
}

/// [`standard_router`] plus `options`, all done by one middleware (one boxed future per
/// request rather than one per layer).
pub fn standard_router_with(
    service: &'static str,
    app: Router,
    health: Health,
    metrics: Metrics,
    options: StandardOptions,
) -> Router {
    StandardLayer::new(service, metrics, options).wrap(app, health)
}

#[derive(Debug)]
struct StandardState {
    service: &'static str,
    metrics: Metrics,
    options: StandardOptions,
}

/// The middleware of [`standard_router_with`] as a layer of its own, for a service that is not
/// a router (a server answering some requests without routing): request id, span, metrics, the
/// log event and `options`' response headers. The metrics route label comes from the response's
/// [`metrics::RouteLabel`], else the request's matched path, else "unmatched".
#[derive(Debug, Clone)]
pub struct StandardLayer {
    state: Arc<StandardState>,
}

impl StandardLayer {
    /// The layer for `service`, recording into `metrics`.
    pub fn new(service: &'static str, metrics: Metrics, options: StandardOptions) -> Self {
        Self {
            state: Arc::new(StandardState {
                service,
                metrics,
                options,
            }),
        }
    }

    /// `app` plus `/healthz`, `/readyz` (from `health`) and `/metrics`, all inside this layer:
    /// what [`standard_router_with`] builds, for a server that also uses the layer elsewhere.
    pub fn wrap(&self, app: Router, health: Health) -> Router {
        let ops = Router::new()
            .route("/healthz", get(health::healthz))
            .route("/readyz", get(health::readyz).with_state(health))
            .route(
                "/metrics",
                get(metrics::metrics_handler).with_state(self.state.metrics.clone()),
            );
        app.merge(ops).layer(self.clone())
    }

    /// Starts the standard handling of `req` for a service that answers it without [`Standard`]:
    /// the request id (the client's, else a new one, set on the request), the start time and the
    /// span. The caller runs its handling inside [`RequestScope::span`] and then calls
    /// [`RequestScope::finish`], which is what [`Standard`] does around its inner service.
    pub fn begin(&self, req: &mut Request<Body>) -> RequestScope {
        RequestScope::begin(&self.state, req)
    }
}

impl<S> tower::Layer<S> for StandardLayer {
    type Service = Standard<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Standard {
            inner,
            state: self.state.clone(),
        }
    }
}

/// Request id, span, metrics and response headers around one route's service.
#[derive(Debug, Clone)]
pub struct Standard<S> {
    inner: S,
    state: Arc<StandardState>,
}

impl<S> tower::Service<Request<Body>> for Standard<S>
where
    S: tower::Service<Request<Body>, Response = Response<Body>, Error = Infallible>,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response<Body>, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let scope = RequestScope::begin(&self.state, &mut req);
        let span = scope.span.clone();
        let future = self.inner.call(req);
        Box::pin(
            async move {
                let Ok(mut response) = future.await;
                scope.finish(&mut response, None);
                Ok(response)
            }
            .instrument(span),
        )
    }
}

/// One request between [`StandardLayer::begin`] and [`RequestScope::finish`].
#[derive(Debug)]
pub struct RequestScope {
    state: Arc<StandardState>,
    start: Instant,
    request_id: HeaderValue,
    method: &'static str,
    matched: Option<MatchedPath>,
    span: Span,
}

impl RequestScope {
    fn begin(state: &Arc<StandardState>, req: &mut Request<Body>) -> Self {
        let start = Instant::now();
        // One lookup whether the client sent an id or not.
        let request_id = match req.headers_mut().entry(REQUEST_ID) {
            Entry::Occupied(id) => id.get().clone(),
            Entry::Vacant(slot) => slot.insert(new_request_id()).clone(),
        };
        let method = metrics::normalise_method(req.method());
        let matched = req.extensions().get::<MatchedPath>().cloned();
        let span = request_span(req, &request_id, matched.as_ref());
        Self {
            state: state.clone(),
            start,
            request_id,
            method,
            matched,
            span,
        }
    }

    /// The request's span, to run its handling in (disabled when the log level leaves it out).
    pub fn span(&self) -> &Span {
        &self.span
    }

    /// Ends the request: metrics under `route` (else the response's [`metrics::RouteLabel`],
    /// else the matched path, else "unmatched"), the log event, the request id, the configured
    /// response headers and `X-Response-Time`. Call it inside the span.
    pub fn finish(self, response: &mut Response<Body>, route: Option<&str>) {
        let elapsed = self.start.elapsed();
        let status = response.status();
        let state = &self.state;
        let route =
            route.unwrap_or_else(|| metrics::response_route(response, self.matched.as_ref()));
        state.metrics.record_request(
            state.service,
            self.method,
            route,
            status.as_u16(),
            elapsed.as_secs_f64(),
        );
        if !self.span.is_disabled() {
            self.span.record("status", status.as_u16());
            self.span
                .record("latency_ms", elapsed.as_secs_f64() * 1000.0);
        }
        if status.is_server_error() {
            tracing::warn!("request failed");
        } else {
            tracing::info!("request served");
        }
        let headers = response.headers_mut();
        // Room for what follows, so the map grows at most once.
        headers.reserve(state.options.response_headers.len() + 2);
        // `entry`: one lookup per header where `contains_key` and `insert` took two.
        headers.entry(REQUEST_ID).or_insert(self.request_id);
        for (name, value) in &state.options.response_headers {
            if let Entry::Vacant(slot) = headers.entry(name) {
                slot.insert(value.clone());
            }
        }
        if state.options.response_time {
            headers.insert(X_RESPONSE_TIME, response_time(elapsed));
        }
    }
}

/// `elapsed` as milliseconds with three decimals (`1.234ms`, rounded to the microsecond),
/// written digit by digit from the end of a stack buffer: no formatting machinery, floating
/// point or `String` per request.
fn response_time(elapsed: Duration) -> HeaderValue {
    let micros = elapsed
        .as_secs()
        .saturating_mul(1_000_000)
        .saturating_add(u64::from((elapsed.subsec_nanos() + 500) / 1000));
    let millis = Digits::new(micros / 1000);
    // Below 1000, so each is one digit.
    let fraction = micros % 1000;
    let decimals = [fraction / 100, fraction / 10 % 10, fraction % 10].map(|d| b'0' + d as u8);
    // Up to 20 digits, '.', three decimals and "ms".
    let mut buf = [0u8; 26];
    let mut len = 0;
    for part in [millis.as_ref(), b".", &decimals, b"ms"] {
        buf[len..len + part.len()].copy_from_slice(part);
        len += part.len();
    }
    HeaderValue::from_bytes(&buf[..len]).unwrap_or_else(|_| HeaderValue::from_static("0.000ms"))
}

/// A random (version 4) UUID from the thread's generator: no system call per request.
///
/// The text lives in one shared allocation from the start, so the copies for the request and
/// the response are reference counts (a value copied from a slice allocates again when first
/// cloned).
fn new_request_id() -> HeaderValue {
    let id = uuid::Builder::from_random_bytes(rand::random()).into_uuid();
    let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
    id.hyphenated().encode_lower(&mut text);
    HeaderValue::from_maybe_shared(bytes::Bytes::from_owner(text))
        .unwrap_or_else(|_| HeaderValue::from_static("invalid"))
}

/// The request span; the trace context is read only when the span is recorded at all.
fn request_span(
    req: &Request<Body>,
    request_id: &HeaderValue,
    matched: Option<&MatchedPath>,
) -> Span {
    let route = matched.map_or(metrics::UNMATCHED_ROUTE, MatchedPath::as_str);
    let span = tracing::info_span!(
        "request",
        request_id = request_id.to_str().unwrap_or(""),
        method = %req.method(),
        route,
        status = field::Empty,
        latency_ms = field::Empty,
    );
    if !span.is_disabled() {
        crate::telemetry::set_parent_from(&span, req.headers());
    }
    span
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

/// Serves `app` (a [`Router`], or any [`MakeConnection`]) on `listener` until shutdown, then
/// stops accepting, marks `health` as draining and lets in-flight requests finish until the
/// grace deadline.
pub async fn serve<M: MakeConnection>(
    name: &str,
    listener: TcpListener,
    app: M,
    shutdown: Shutdown,
    health: Option<Health>,
) -> std::io::Result<()> {
    let addr = listener.local_addr()?;
    tracing::info!(service = name, %addr, "listening");
    let token = shutdown.token.clone();
    let server = serve_connections(listener, app, token.cancelled_owned(), move || {
        if let Some(h) = health {
            h.start_draining();
        }
    });
    let mut server = std::pin::pin!(server);
    tokio::select! {
        () = &mut server => Ok(()),
        () = shutdown.token.cancelled() => {
            if tokio::time::timeout(shutdown.grace, &mut server).await.is_ok() {
                tracing::info!(service = name, "drained");
            } else {
                tracing::warn!(service = name, grace = ?shutdown.grace, "drain deadline passed; closing remaining connections");
            }
            Ok(())
        }
    }
}

/// The number of server threads to use when none is configured: one per available core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get)
}

/// Binds `count` listening sockets to `addr` with `SO_REUSEPORT`, so the kernel spreads new
/// connections across them (one per server thread, no shared accept queue). With port 0 the
/// first socket picks the port and the others join it.
///
/// `SO_REUSEPORT` lets another process of the same user bind the port too; that is the usual
/// trade-off of this option (nginx's `reuseport` has it as well).
pub fn bind_reuseport(
    addr: SocketAddr,
    count: usize,
) -> std::io::Result<Vec<std::net::TcpListener>> {
    use socket2::{Domain, Protocol, Socket, Type};
    let mut addr = addr;
    let mut listeners = Vec::with_capacity(count.max(1));
    for _ in 0..count.max(1) {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
        socket.set_reuse_address(true)?;
        socket.set_reuse_port(true)?;
        socket.set_nonblocking(true)?;
        socket.bind(&addr.into())?;
        socket.listen(1024)?;
        let listener = std::net::TcpListener::from(socket);
        addr = listener.local_addr()?;
        listeners.push(listener);
    }
    Ok(listeners)
}

/// Serves each `(listener, router)` pair on a thread of its own with a single-threaded Tokio
/// runtime (thread per core: a request and its upstream connections stay on one thread, with
/// no work stealing or cross-thread wake-ups). Shutdown drains every thread as [`serve`] does;
/// returns when all have stopped, with the first error if one failed (which also triggers
/// shutdown, so the others stop too).
pub async fn serve_on_threads<M: MakeConnection>(
    name: &'static str,
    servers: Vec<(std::net::TcpListener, M)>,
    shutdown: Shutdown,
    health: Option<Health>,
) -> std::io::Result<()> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let count = servers.len();
    for (i, (listener, router)) in servers.into_iter().enumerate() {
        let tx = tx.clone();
        let shutdown = shutdown.clone();
        let health = health.clone();
        std::thread::Builder::new()
            .name(format!("{name}-{i}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            listener.set_nonblocking(true)?;
                            let listener = TcpListener::from_std(listener)?;
                            serve(name, listener, router, shutdown, health).await
                        })
                    });
                // The receiver is gone only if the caller stopped waiting.
                let _ = tx.send(result);
            })?;
    }
    drop(tx);
    let mut first_error = None;
    for _ in 0..count {
        let result = rx.recv().await.unwrap_or_else(|| {
            Err(std::io::Error::other(format!(
                "a {name} server thread panicked"
            )))
        });
        if let Err(e) = result {
            shutdown.trigger();
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
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

    #[test]
    fn request_ids_are_lowercase_v4_uuids() {
        let a = new_request_id();
        let text = a.to_str().unwrap();
        let id = uuid::Uuid::parse_str(text).unwrap();
        assert_eq!(id.get_version_num(), 4);
        assert_eq!(text, id.hyphenated().to_string());
        assert_ne!(new_request_id(), a);
        assert_eq!(a.clone(), a, "clones share the text");
    }

    #[tokio::test]
    async fn the_handler_sees_the_id_the_response_carries() {
        let app = Router::new().route(
            "/echo",
            get(|headers: http::HeaderMap| async move {
                headers
                    .get(&REQUEST_ID)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned()
            }),
        );
        let resp = standard_router("t", app, Health::default(), Metrics::new())
            .oneshot(Request::get("/echo").body(Body::empty()).unwrap())
            .await
            .unwrap();
        let id = resp.headers()[&REQUEST_ID].clone();
        let body = axum::body::to_bytes(resp.into_body(), 1024).await.unwrap();
        assert_eq!(body, id.as_bytes());
        assert_eq!(id.len(), 36);
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

    #[tokio::test]
    async fn threads_share_the_port_and_drain_on_shutdown() {
        let app = Router::new()
            .route("/fast", get(|| async { "fast" }))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    "done"
                }),
            );
        let listeners = bind_reuseport("127.0.0.1:0".parse().unwrap(), 2).unwrap();
        let addr = listeners[0].local_addr().unwrap();
        assert_eq!(listeners[1].local_addr().unwrap(), addr);
        let servers = listeners.into_iter().map(|l| (l, app.clone())).collect();
        let shutdown = Shutdown::new(Duration::from_secs(5));
        let server = tokio::spawn(serve_on_threads("t", servers, shutdown.clone(), None));

        // Separate connections land on either thread; each answers.
        for _ in 0..8 {
            let client = crate::http_client::build(Duration::from_secs(1));
            let req = Request::get(format!("http://{addr}/fast"))
                .body(Body::empty())
                .unwrap();
            assert_eq!(client.request(req).await.unwrap().status(), 200);
        }
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
        assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    }

    #[test]
    fn response_time_is_milliseconds_with_three_decimals() {
        let cases = [
            (Duration::ZERO, "0.000ms"),
            (Duration::from_nanos(499), "0.000ms"),
            (Duration::from_nanos(500), "0.001ms"),
            (Duration::from_micros(1), "0.001ms"),
            (Duration::from_micros(12_345), "12.345ms"),
            (Duration::from_nanos(999_999_500), "1000.000ms"),
            (Duration::from_secs(3600), "3600000.000ms"),
            (Duration::MAX, "18446744073709551.615ms"),
        ];
        for (elapsed, want) in cases {
            assert_eq!(response_time(elapsed), want, "{elapsed:?}");
        }
        // The same text as the floating-point formatting it replaces, away from rounding ties.
        for nanos in [1_234_567u64, 87_654_321, 5_000_001, 420_000_000_777] {
            let d = Duration::from_nanos(nanos);
            let ms = d.as_secs_f64() * 1000.0;
            assert_eq!(response_time(d), format!("{ms:.3}ms").as_str(), "{d:?}");
        }
    }

    #[tokio::test]
    async fn options_add_headers_and_response_time_without_overriding() {
        let app = Router::new().route(
            "/x",
            get(|| async { ([(http::header::X_FRAME_OPTIONS, "SAMEORIGIN")], "x") }),
        );
        let options = StandardOptions {
            response_headers: vec![
                (
                    http::header::X_FRAME_OPTIONS,
                    HeaderValue::from_static("DENY"),
                ),
                (
                    http::header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            response_time: true,
        };
        let router = standard_router_with("t", app, Health::default(), Metrics::new(), options);
        let resp = router
            .oneshot(Request::get("/x").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(resp.headers()["x-frame-options"], "SAMEORIGIN");
        assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        assert!(
            resp.headers()["x-response-time"]
                .to_str()
                .unwrap()
                .ends_with("ms")
        );
        assert!(resp.headers().contains_key(&REQUEST_ID));
    }
}
