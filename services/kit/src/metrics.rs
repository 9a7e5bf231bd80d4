//! Prometheus metrics: a shared registry, HTTP request metrics by route template, `GET /metrics`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

/// Route label for requests that matched no route template; keeps label cardinality bounded.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// A response extension that overrides the route label (e.g. the gateway's `/api/{v}/auth/*`);
/// shared, so a handler can attach a label built once at start without allocating.
#[derive(Debug, Clone)]
pub struct RouteLabel(pub Arc<str>);

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: String,
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DurationLabels {
    service: String,
    method: String,
    route: String,
}

/// The process's metrics registry plus the HTTP request metrics recorded by [`track_requests`].
#[derive(Clone)]
pub struct Metrics {
    /// Distinguishes registries in the per-thread handle cache (tests build many).
    id: u64,
    registry: Arc<Mutex<Registry>>,
    requests: Family<RequestLabels, Counter>,
    durations: Family<DurationLabels, Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// A registry with the HTTP request metrics registered.
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let durations = Family::<DurationLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
            ])
        });
        registry.register(
            "http_requests",
            "HTTP requests served, by service, method, route template and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to response headers, by service, method and route template",
            durations.clone(),
        );
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            registry: Arc::new(Mutex::new(registry)),
            requests,
            durations,
        }
    }

    /// Registers a further metric (job queue depth, pool use, ...).
    pub fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        // A poisoned lock only means another registration panicked; the registry is still usable.
        let mut registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        registry.register(name, help, metric);
    }

    /// The text exposition of every registered metric.
    pub fn render(&self) -> String {
        let registry = self.registry.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &registry);
        out
    }

    /// Counts one request and observes its duration.
    ///
    /// `Family::get_or_create` builds an owned label set and takes the family's lock on every
    /// call; the handles are cached per thread instead (label sets are bounded by the route
    /// templates), so a request costs one hash lookup and no allocation.
    pub fn record_request(
        &self,
        service: &'static str,
        method: &'static str,
        route: &str,
        status: u16,
        seconds: f64,
    ) {
        let cached = HANDLES.try_with(|cache| {
            let mut cache = cache.borrow_mut();
            let by_route = cache.entry((self.id, service, method, status)).or_default();
            if let Some(handles) = by_route.get(route) {
                handles.observe(seconds);
            } else {
                let handles = self.handles(service, method, route, status);
                handles.observe(seconds);
                by_route.insert(route.into(), handles);
            }
        });
        if cached.is_err() {
            // The thread is exiting and its cache is gone: record without it.
            self.handles(service, method, route, status)
                .observe(seconds);
        }
    }

    fn handles(&self, service: &str, method: &str, route: &str, status: u16) -> Handles {
        let requests = self
            .requests
            .get_or_create(&RequestLabels {
                service: service.to_owned(),
                method: method.to_owned(),
                route: route.to_owned(),
                status,
            })
            .clone();
        let duration = self
            .durations
            .get_or_create(&DurationLabels {
                service: service.to_owned(),
                method: method.to_owned(),
                route: route.to_owned(),
            })
            .clone();
        Handles { requests, duration }
    }
}

/// One label set's request counter and duration histogram.
struct Handles {
    requests: Counter,
    duration: Histogram,
}

impl Handles {
    fn observe(&self, seconds: f64) {
        self.requests.inc();
        self.duration.observe(seconds);
    }
}

/// (registry id, service, method, status) → route → handles.
type HandleCache =
    HashMap<(u64, &'static str, &'static str, u16), HashMap<Box<str>, Handles, FxBuild>, FxBuild>;

thread_local! {
    static HANDLES: RefCell<HandleCache> = RefCell::new(HashMap::default());
}

/// The Fx hash (rustc's): a multiply and rotate per word. The handle cache's keys are bounded
/// sets chosen by the code (services, normalised methods, route templates, statuses), not by
/// clients, so they need no flooding-resistant SipHash, which cost two hashes per request.
#[derive(Debug, Default, Clone, Copy)]
struct FxBuild;

impl BuildHasher for FxBuild {
    type Hasher = FxHasher;

    fn build_hasher(&self) -> FxHasher {
        FxHasher(0)
    }
}

struct FxHasher(u64);

impl FxHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(word));
        }
    }

    fn write_u8(&mut self, n: u8) {
        self.add(u64::from(n));
    }

    fn write_u16(&mut self, n: u16) {
        self.add(u64::from(n));
    }

    fn write_u32(&mut self, n: u32) {
        self.add(u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.add(n);
    }

    fn write_usize(&mut self, n: usize) {
        self.add(n as u64);
    }
}

/// State for [`track_requests`]: which service is recording, into which registry.
#[derive(Clone, Debug)]
pub struct RequestMetrics {
    /// Service label value.
    pub service: &'static str,
    /// Registry to record into.
    pub metrics: Metrics,
}

/// Middleware recording `http_requests_total` and `http_request_duration_seconds`.
///
/// The route label is the matched route template (never the raw path), or the handler's
/// [`RouteLabel`] response extension, or [`UNMATCHED_ROUTE`].
pub async fn track_requests(
    State(state): State<RequestMetrics>,
    request: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let method = normalise_method(request.method());
    let matched = request.extensions().get::<MatchedPath>().cloned();
    let response = next.run(request).await;
    let route = response_route(&response, matched.as_ref());
    state.metrics.record_request(
        state.service,
        method,
        route,
        response.status().as_u16(),
        start.elapsed().as_secs_f64(),
    );
    response
}

/// The route label of a response: the handler's [`RouteLabel`], else the matched template, else
/// [`UNMATCHED_ROUTE`].
pub(crate) fn response_route<'a, B>(
    response: &'a http::Response<B>,
    matched: Option<&'a MatchedPath>,
) -> &'a str {
    response
        .extensions()
        .get::<RouteLabel>()
        .map(|r| &*r.0)
        .or(matched.map(MatchedPath::as_str))
        .unwrap_or(UNMATCHED_ROUTE)
}

/// Collapses unknown methods into one label value so clients cannot mint label values.
pub(crate) fn normalise_method(method: &http::Method) -> &'static str {
    match *method {
        http::Method::GET => "GET",
        http::Method::POST => "POST",
        http::Method::PUT => "PUT",
        http::Method::PATCH => "PATCH",
        http::Method::DELETE => "DELETE",
        http::Method::HEAD => "HEAD",
        http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

/// `GET /metrics` handler.
pub async fn metrics_handler(State(metrics): State<Metrics>) -> impl IntoResponse {
    (
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/openmetrics-text; version=1.0.0; charset=utf-8"),
        )],
        metrics.render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::body::Body;
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn labels_by_route_template_not_raw_path() {
        let metrics = Metrics::new();
        let app = Router::new()
            .route("/trees/{id}", get(|| async { "ok" }))
            .layer(axum::middleware::from_fn_with_state(
                RequestMetrics {
                    service: "test",
                    metrics: metrics.clone(),
                },
                track_requests,
            ));
        for id in ["1", "2", "3"] {
            let req = Request::get(format!("/trees/{id}"))
                .body(Body::empty())
                .unwrap();
            app.clone().oneshot(req).await.unwrap();
        }
        let req = Request::get("/nope/123").body(Body::empty()).unwrap();
        app.clone().oneshot(req).await.unwrap();

        let text = metrics.render();
        assert!(text.contains(
            r#"http_requests_total{service="test",method="GET",route="/trees/{id}",status="200"} 3"#
        ));
        assert!(text.contains(r#"route="unmatched",status="404"} 1"#));
        assert!(!text.contains("/trees/1"));
        assert!(text.contains("http_request_duration_seconds_bucket"));
    }

    #[test]
    fn fx_hash_tells_cache_keys_apart() {
        let h = FxBuild;
        let routes = [
            "/api/{version}/trees",
            "/api/{version}/persons",
            "unmatched",
            "/",
            "",
        ];
        let hashes: std::collections::HashSet<u64> = routes.iter().map(|r| h.hash_one(r)).collect();
        assert_eq!(hashes.len(), routes.len());
        assert_eq!(h.hash_one("/metrics"), h.hash_one("/metrics"));
        assert_ne!(
            h.hash_one((0u64, "gateway", "GET", 200u16)),
            h.hash_one((0u64, "gateway", "GET", 404u16))
        );
    }

    #[test]
    fn recorded_requests_count_once_per_label_set_with_the_cache() {
        let metrics = Metrics::new();
        for _ in 0..3 {
            metrics.record_request("svc", "GET", "/a", 200, 0.001);
        }
        metrics.record_request("svc", "GET", "/b", 200, 0.001);
        metrics.record_request("svc", "GET", "/a", 500, 0.001);
        let text = metrics.render();
        assert!(text.contains(
            r#"http_requests_total{service="svc",method="GET",route="/a",status="200"} 3"#
        ));
        assert!(text.contains(
            r#"http_requests_total{service="svc",method="GET",route="/b",status="200"} 1"#
        ));
        assert!(text.contains(
            r#"http_requests_total{service="svc",method="GET",route="/a",status="500"} 1"#
        ));
    }

    #[test]
    fn unknown_methods_collapse() {
        let m = http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(normalise_method(&m), "OTHER");
    }
}
